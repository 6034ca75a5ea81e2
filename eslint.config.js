import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-dev/**',
      'node_modules/**',
      'bench/results/**',
      '.local/**',
      'eslint.config.js',
      // CI helper scripts (plain Node, outside the TypeScript project).
      '.ci/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The console's browser code: its own project, with the DOM library the Node code must not see.
    files: ['shared/admin/console/browser/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.console.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // Tests use vitest's asymmetric matchers (typed any) and read untyped wire payloads.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
