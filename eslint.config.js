// One linter and formatter: ESLint with typescript-eslint (type-aware promise
// checks) and @stylistic (formatting). Biome was tried first, but this
// environment's npm registry serves only its Linux binaries, so `npm ci`
// cannot reproduce a lockfile that lists it.
import js from "@eslint/js";
import stylistic from "@stylistic/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "data/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  stylistic.configs.customize({ indent: 2, quotes: "double", semi: true, braceStyle: "1tbs", commaDangle: "always-multiline", arrowParens: true }),
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js", "*.ts"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@stylistic/max-len": ["error", { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreComments: true, ignoreRegExpLiterals: true }],
      "@stylistic/operator-linebreak": ["error", "after", { overrides: { "?": "before", ":": "before" } }],
      "@stylistic/quotes": ["error", "double", { avoidEscape: true }],
      "@stylistic/quote-props": ["error", "as-needed"],
      "@stylistic/lines-between-class-members": ["error", "always", { exceptAfterSingleLine: true }],
      // TypeScript already checks names; the few plain .mjs fixtures run under Node.
      "no-undef": "off",
    },
  },
  { files: ["**/*.mjs", "**/*.js"], ...tseslint.configs.disableTypeChecked },
);
