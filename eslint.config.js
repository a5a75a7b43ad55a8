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
const LONG_FUNCTIONS = {};

/**
 * Timing logic waits on the injected Clock (runtime/clock.ts), so tests on the fake clock
 * cover it. The raw timers left, each file with why.
 */
const RAW_TIMERS_ALLOWED = {
  "controller/src/runtime/clock.ts": "the real clock itself",
  "controller/src/kube/watch-stream.ts":
    "the wait for an HTTP answer, below runtime/ (the informer's watchdog on the clock bounds the watch)",
  "controller/src/cli/registry-commands.ts":
    "holds the process open while `berth register` heartbeats; times nothing",
  "controller/src/registry/web-api.ts": "the keepalive comment of an open event stream, a socket-level timer",
  "controller/src/registry/server.ts": "the grace before a stopping server cuts its open connections",
  "controller/src/registry/service-reads.ts":
    "an open event stream's keepalive and re-authorization timers, tied to its socket",
  "controller/src/client/registry-client.ts": "the berth/client package depends on nothing of Berth",
};

function rawTimerRules() {
  return [
    {
      files: ["controller/src/**/*.ts"],
      ignores: ["**/*.test.ts", "controller/src/testing/**", ...Object.keys(RAW_TIMERS_ALLOWED)],
      rules: {
        "no-restricted-globals": [
          "error",
          ...["setTimeout", "setInterval"].map((name) => ({
            name,
            message: "Wait on the injected Clock (runtime/clock.ts), not a raw timer.",
          })),
        ],
        "no-restricted-syntax": [
          "error",
          {
            selector: "ImportDeclaration[source.value=/^(node:)?timers(\\u002Fpromises)?$/]",
            message: "Wait on the injected Clock (runtime/clock.ts), not a raw timer.",
          },
        ],
      },
    },
  ];
}

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
];

export default tseslint.config(
  {
    ignores: [
      "dist/",
      ".berth/",
      "node_modules/",
      "coverage/",
      "reports/",
      ".stryker-tmp/",
      ".stryker-tmp-changed/",
    ],
  },
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
  ...rawTimerRules(),
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
