import tseslint from 'typescript-eslint';

const connectOutsideClient = {
  selector: "CallExpression[callee.object.name=/^(Native)?Connection$/][callee.property.name='connect']",
  message:
    'Connect through client/ (connectClient, connectWorker, startLocalWorker): it applies the Temporal settings.',
};
const startByBareName = {
  selector:
    "CallExpression[callee.object.property.name='workflow'][callee.property.name=/^(start|execute|signalWithStart)$/][arguments.0.type='Literal']",
  message: 'Start workflows with the typed starts of client/workflows.ts, whose arguments are type-checked.',
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.tools/**',
      '.data/**',
      '.build/**',
      'runs/**',
      'bench/.venv/**',
      'bench/out/**',
      'dist/**',
      'data/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // One Temporal client module (DESIGN "Modules that own one thing"): connections come from client/ only.
    files: ['**/*.ts'],
    ignores: ['client/**'],
    rules: { 'no-restricted-syntax': ['error', connectOutsideClient] },
  },
  {
    // Scripts and the worker start workflows through client/'s typed starts (a later block replaces the rule's list).
    files: ['scripts/**/*.ts', 'worker/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', connectOutsideClient, startByBareName] },
  },
  {
    // Tests build loosely-typed config objects on purpose (they also feed invalid values).
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no native modules, no domain I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process'],
              message: 'Node built-ins are not allowed in workflow code.',
            },
            {
              group: ['**/lib/**', '**/activities', '@duckdb/*', 'onnxruntime-node', 'apache-arrow'],
              allowTypeImports: true,
              message: 'Workflows call activities; they import domain code as types only.',
            },
          ],
        },
      ],
    },
  },
);
