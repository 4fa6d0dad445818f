// Lint rules for the whole tree (npm run check). Source is checked with type information
// (typescript-eslint's recommended type-checked set: floating promises, awaits of non-promises,
// needless assertions); tests with the plain recommended set, since tap's t.test() calls are meant
// to float. Formatting is Prettier's, not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.dev-state/', '.scratch/', '.tap/', 'test/vectors/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    files: ['lib/**/*.ts', 'daemons/**/*.ts', 'bin/**/*.ts', 'bin/**/*.cts', 'bench/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Interface methods are declared async even without an await: a DaemonError they throw then
      // reaches the caller as a rejection, which is what every caller handles.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    extends: [tseslint.configs.recommended],
  },
  {
    files: ['**/*.ts', '**/*.cts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  prettier,
);
