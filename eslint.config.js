import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layers of controller/src, lowest first: a folder may import only the folders listed
 * for it (docs/architecture.md draws the same picture). `testing/` holds test doubles: any
 * test may import it, code that ships may not.
 */
export const LAYERS = {
  api: [],
  client: [],
  kube: ["api"],
  runtime: ["api", "kube"],
  docker: ["api", "runtime"],
  environment: ["api", "kube", "docker"],
  source: ["api", "kube", "runtime", "docker"],
  agent: ["api", "kube", "runtime", "docker", "environment", "source"],
  controllers: ["api", "kube", "runtime", "environment", "source"],
  registry: ["api", "kube", "runtime", "client"],
  cli: [
    "api",
    "kube",
    "runtime",
    "docker",
    "environment",
    "source",
    "agent",
    "controllers",
    "registry",
    "client",
  ],
  testing: ["api", "kube", "runtime", "docker", "environment", "source", "agent", "controllers", "registry"],
};

function layerRules(folder, allowed, { tests }) {
  const forbidden = Object.keys(LAYERS).filter(
    (other) => other !== folder && !allowed.includes(other) && !(tests && other === "testing"),
  );
  if (forbidden.length === 0) return undefined;
  return {
    files: [tests ? `controller/src/${folder}/**/*.test.ts` : `controller/src/${folder}/**/*.ts`],
    ...(tests ? {} : { ignores: ["**/*.test.ts"] }),
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: forbidden.map((other) => `../${other}/*`),
              message: `controller/src/${folder}/ may import only ${[...allowed, ...(tests ? ["testing"] : [])].join(", ") || "itself"} (the layers in eslint.config.js, docs/architecture.md).`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "reports/", ".stryker-tmp/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
    },
  },
  ...Object.entries(LAYERS).flatMap(([folder, allowed]) =>
    [layerRules(folder, allowed, { tests: false }), layerRules(folder, allowed, { tests: true })].filter(
      (config) => config !== undefined,
    ),
  ),
);
