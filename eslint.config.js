// Type-aware lint: floating and misused promises are bugs in a job runner.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules", "dist", ".data", "coverage", "src/api/dashboard/static/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read the environment only in src/config.ts." },
      ],
    },
  },
  {
    // bin/rigflow.mjs is the CLI's entry: it hands the CLI its environment (RIGFLOW_URL, API_TOKEN).
    files: [
      "src/config.ts",
      "test/**",
      "bench/**",
      "vitest.config.ts",
      "vitest.firmware.config.ts",
      "bin/**",
    ],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // The dashboard's browser modules (served as they are, no build): browser globals, no type info.
    files: ["src/dashboard/**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.browser },
  },
  { files: ["eslint.config.js", "bin/**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
