import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The folders cli/ wires together and testing/ may import (all but cli/ and client/). */
const BELOW_CLI = [
  "api",
  "kube",
  "runtime",
  "docker",
  "environment",
  "source",
  "agent",
  "controllers",
  "registry",
  "simulated",
];
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
  // The simulated runtime, a measurement tool: real agents on in-memory engines.
  simulated: ["api", "kube", "runtime", "docker", "agent"],
  cli: [...BELOW_CLI, "client"],
  testing: BELOW_CLI,
};

/**
 * One import rule: import the file that defines a name (`../kube/client.js`), never a
 * folder's index. The one index.ts is client/index.ts, the entry point of `berth/client`.
 */
const DEEP_IMPORTS_MESSAGE =
  "Import the file that defines the name, not a folder index (docs/architecture.md, Imports).";
const deepImportsInSource = {
  group: [
    "./index.js",
    "../index.js",
    "../*/index.js",
    "../../*/index.js",
    "!../client/index.js",
    "!../../client/index.js",
  ],
  message: DEEP_IMPORTS_MESSAGE,
};

/** Most lines of one function in shipped code (blank lines and comments not counted). */
const MAX_FUNCTION_LINES = 60;
/**
 * Functions still longer, each file with the most its longest function may have and why:
 * the limit holds them where they are until they are split.
 */
const LONG_FUNCTIONS = {
  "controller/src/controllers/definition/definition-controller.ts": [
    69,
    "reconcileDefinition: split pending",
  ],
  "controller/src/controllers/scheduler/scheduler-controller.ts": [66, "reconcile: split pending"],
  "controller/src/kube/watch-stream.ts": [77, "openWatchStream: split pending"],
  "controller/src/agent/options.ts": [68, "agentOptionsFromFlags: split pending"],
  "controller/src/source/source-gc.ts": [67, "collectSources: split pending"],
  "controller/src/runtime/leader.ts": [66, "tryAcquireOrRenew: split pending"],
  "controller/src/agent/image-gc.ts": [63, "collectImages: split pending"],
  "controller/src/agent/disk-gc.ts": [61, "pass: split pending"],
  "controller/src/runtime/flags.ts": [61, "parseFlags: split pending"],
};

function functionLengthRules() {
  const rule = (max) => ["error", { max, skipBlankLines: true, skipComments: true, IIFEs: true }];
  return [
    {
      files: ["controller/src/**/*.ts"],
      ignores: ["**/*.test.ts", "controller/src/testing/**"],
      rules: { "max-lines-per-function": rule(MAX_FUNCTION_LINES) },
    },
    ...Object.entries(LONG_FUNCTIONS).map(([file, [max]]) => ({
      files: [file],
      rules: { "max-lines-per-function": rule(max) },
    })),
  ];
}

function layerRules(folder, allowed, { tests }) {
  const forbidden = Object.keys(LAYERS).filter(
    (other) => other !== folder && !allowed.includes(other) && !(tests && other === "testing"),
  );
  return {
    files: [tests ? `controller/src/${folder}/**/*.test.ts` : `controller/src/${folder}/**/*.ts`],
    ...(tests ? {} : { ignores: ["**/*.test.ts"] }),
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            deepImportsInSource,
            ...(forbidden.length === 0
              ? []
              : [
                  {
                    group: forbidden.flatMap((other) => [`../${other}/*`, `../../${other}/*`]),
                    message: `controller/src/${folder}/ may import only ${[...allowed, ...(tests ? ["testing"] : [])].join(", ") || "itself"} (the layers in eslint.config.js, docs/architecture.md).`,
                  },
                ]),
          ],
        },
      ],
    },
  };
}

/**
 * Files stay small enough to read in one sitting: about 350 lines of code and comments
 * (blank lines not counted). Tests are exempt; so are the files below, each for its reason.
 */
const MAX_LINES = { max: 350, skipBlankLines: true, skipComments: false };
const LONG_FILES = [
  // The API types are the single source of truth the CRDs are generated from: one file,
  // so a kind's fields, markers and doc comments are read together.
  "controller/src/api/types.ts",
  // The Definition reconciler's steps are being moved into files of their own (issue 18,
  // item 4); the exemption goes with that change.
  "controller/src/controllers/definition/definition-controller.ts",
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "reports/", ".stryker-tmp/", ".stryker-tmp-changed/"] },
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
  {
    files: ["test/**/*.ts", "hack/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/controller/src/*/index.js", "!**/controller/src/client/index.js"],
              message: DEEP_IMPORTS_MESSAGE,
            },
          ],
        },
      ],
    },
  },
  {
    files: ["controller/src/**/*.ts"],
    ignores: ["**/*.test.ts", ...LONG_FILES],
    rules: { "max-lines": ["error", MAX_LINES] },
  },
  ...functionLengthRules(),
  ...Object.entries(LAYERS).flatMap(([folder, allowed]) => [
    layerRules(folder, allowed, { tests: false }),
    layerRules(folder, allowed, { tests: true }),
  ]),
  {
    // The registry's web index runs in the browser.
    files: ["controller/src/registry/web/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: Object.fromEntries(
        [
          "AbortController",
          "document",
          "fetch",
          "location",
          "Node",
          "sessionStorage",
          "setInterval",
          "setTimeout",
          "TextDecoderStream",
          "URL",
          "window",
        ].map((name) => [name, "readonly"]),
      ),
    },
  },
);
