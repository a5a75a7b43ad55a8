import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
