import { builtinModules } from 'node:module';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The modules of lib/, bottom to top (docs/architecture.md): a module imports only from modules before it, so the
 * module graph has no cycle. Modules in one group are peers (file-level `import-x/no-cycle` keeps them acyclic).
 */
const LIB_ORDER = [
  ['errors', 'hash', 'rng', 'lock', 'paths', 'artifacts', 'config', 'metrics', 'folds'],
  ['keys'],
  ['settings'],
  ['data'],
  ['features'],
  ['gbdt'],
  ['training'],
  ['evaluation'],
  ['binning'],
  ['run'],
  ['governance'],
  ['notify'],
  ['configs'],
  ['report'],
  ['scoring'],
  ['monitor'],
  ['pipeline'],
  ['lifecycle'],
  ['serve'],
];

/** `./lib/<name>` for a folder module, `./lib/<name>.ts` for a file module. */
const libPath = (name) =>
  ['errors', 'hash', 'rng', 'lock', 'paths', 'settings', 'artifacts', 'config', 'metrics', 'folds'].includes(name)
    ? `./lib/${name}.ts`
    : `./lib/${name}`;

/** Every lib module may not import any module of a later group. */
const libZones = LIB_ORDER.slice(0, -1).flatMap((group, rank) =>
  group.map((name) => ({
    target: libPath(name),
    from: LIB_ORDER.slice(rank + 1)
      .flat()
      .map(libPath),
    message: `lib/${name} sits below these modules (docs/architecture.md): move the shared code down instead.`,
  })),
);

/** The top-level layers: scripts → api → client/worker → workflows/activities → lib → schemas. */
const layerZones = [
  {
    target: './schemas',
    from: ['./lib', './activities', './workflows', './worker', './client', './api', './scripts'],
  },
  { target: './lib', from: ['./activities', './workflows', './worker', './client', './api', './scripts'] },
  { target: './activities', from: ['./workflows', './worker', './client', './api', './scripts'] },
  { target: './workflows', from: ['./worker', './client', './api', './scripts'] },
  { target: './worker', from: ['./client', './api', './scripts'] },
  { target: './client', from: ['./api', './scripts'] },
  { target: './api', from: ['./scripts'] },
].map((zone) => ({ ...zone, message: 'imports point down the layers only (docs/architecture.md).' }));

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

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
      // AssemblyScript (its own types and decorators), built by scripts/build-wasm.mjs.
      'lib/gbdt/wasm/assembly/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.mjs', '.js', '.json'] })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...libZones] }],
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
    files: ['scripts/**/*.ts', 'worker/**/*.ts', 'api/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', connectOutsideClient, startByBareName] },
  },
  {
    // Tests build loosely-typed config objects on purpose (they also feed invalid values).
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The domain knows nothing of Temporal: activities and the client module adapt it.
    files: ['lib/**/*.ts', 'schemas/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@temporalio/*'], message: 'lib/ and schemas/ keep no Temporal import.' }] },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no native modules, no domain I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
          patterns: [
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
