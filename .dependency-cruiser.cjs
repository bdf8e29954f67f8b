// Import boundaries, checked by `npm run lint:boundaries` (a step of `npm test`) with
// dependency-cruiser. docs/architecture.md explains the layers; this file is the rule book.
// Type-only imports count (tsPreCompilationDeps): a type from another component's internals
// couples to them as much as a value does.
//
// .dependency-cruiser-known-violations.json lists known violations to skip (`--ignore-known`);
// it is empty, and stays so: a rule that is wrong is changed here, with a comment saying why, and
// the baseline is never regenerated to hide a new violation.

/** Test code: integration tests and their helpers, unit tests, and test-*.ts support beside them. */
const TEST = '(^test/|[.]test[.]ts$|(^|/)test-[^/]+[.]ts$)';
/** Folders that ship as part of the executables (everything else is tests or tooling). */
const PRODUCT = '^(agent|cli|common|proto|server|transport|installer)/';

/**
 * Components and what others may import from them (their public surface). A component is a
 * top-level folder, or a sub-folder that is a component of its own inside it (server's parts, the
 * agent's reconciler, the spec library). Rules below are made from this table.
 * - `files`: the component's files (a sub-component's files are not its parent's).
 * - `surface`: what modules outside the component may import.
 * - `inside` (default `files`): who may import any of its files: the component itself and, for
 *   server/ and agent/, their sub-components.
 * A sub-component may import its parent's top-level files (server/jobs → server/errors.ts): the
 * parent's shared context. Everything else crosses a boundary only through the surface.
 */
const COMPONENTS = [
  // server's parts, each behind its index.ts.
  ...['store', 'jobs', 'pxe', 'state', 'shells', 'http', 'ops', 'services', 'postgres', 'bus'].map((part) => ({
    name: `server/${part}`,
    files: `^server/${part}/`,
    surface: `^server/${part}/index[.]ts$`,
  })),
  // The web page: a browser bundle built on its own (tsup's second entry); nothing imports it.
  { name: 'server/web', files: '^server/web/', surface: '^$' },
  { name: 'agent/reconcile', files: '^agent/reconcile/', surface: '^agent/reconcile/index[.]ts$' },
  // The spec library has two entries: index.ts (everything), and schema.ts alone (the types and
  // zod schemas) for the agent, which would otherwise bundle the YAML parser it never uses
  // (about 260 KB more in the standalone executable).
  { name: 'common/spec', files: '^common/spec/', surface: '^common/spec/(index|schema)[.]ts$' },
  // The executables' top-level files; their entry points are bin.ts, run as dist/*.js. Only the
  // server offers anything to others (to their tests); nothing imports the agent or the CLI.
  { name: 'server', files: '^server/[^/]+$', inside: '^server/', surface: '^server/index[.]ts$' },
  { name: 'agent', files: '^agent/[^/]+$', inside: '^agent/', surface: '^$' },
  { name: 'cli', files: '^cli/', surface: '^$' },
  // The transport's gRPC and NATS parts are internal: transport/index.ts names what is public.
  { name: 'transport', files: '^transport/', surface: '^transport/index[.]ts$' },
  // common/'s top-level files are small leaf modules (errors, labels, limits, logger, …), each
  // public on its own: a barrel would pull the logger (pino) into the browser bundle that only
  // wants format.ts. common/spec is a component of its own (above).
  { name: 'common', files: '^common/[^/]+$', surface: '^common/[^/]+[.]ts$' },
  // The wire contract: the generated code is the shared language; proto/ holds nothing else to import.
  { name: 'proto', files: '^proto/', surface: '^proto/gen/' },
  // The fuzzer as a library (test/fuzz.test.ts runs a short fixed run of it).
  { name: 'bench', files: '^bench/', surface: '^bench/fuzz/fuzz[.]mjs$' },
  { name: 'test', files: '^test/', surface: '^$' },
  { name: 'scripts', files: '^scripts/', surface: '^$' },
  { name: 'installer', files: '^installer/', surface: '^$' },
];

/** The gRPC and HTTP adapters: thin layers over the services that never touch a store. */
const ADAPTERS = '^server/(control-service[.]ts|state/control-handlers[.]ts|pxe/control-handlers[.]ts|http/)';

module.exports = {
  forbidden: [
    // One rule per component: from outside it, only its public surface may be imported. This
    // covers tests too: a test imports public surfaces or the files of its own component.
    // From test code, a component's contract suites (test-*.ts: the cases every implementation of
    // one of its interfaces must pass) are public too, so a driver elsewhere (server/postgres) runs
    // the very suite the embedded implementation runs.
    ...COMPONENTS.map(({ name, files, inside = files, surface }) => ({
      name: `public-surface:${name}`,
      comment: `${name} is imported from outside only through ${surface === '^$' ? 'nothing (nothing outside imports it)' : surface}`,
      severity: 'error',
      from: { pathNot: `(${inside})|${TEST}` },
      to: { path: files, pathNot: surface },
    })),
    ...COMPONENTS.map(({ name, files, inside = files, surface }) => ({
      name: `public-surface-for-tests:${name}`,
      comment: `tests outside ${name} import only ${surface === '^$' ? 'nothing of it' : surface} and its test-*.ts contract suites`,
      severity: 'error',
      from: { path: TEST, pathNot: inside },
      to: { path: files, pathNot: `(${surface})|(/test-[^/]+[.]ts$)` },
    })),
    // Production code never runs test code or test helpers.
    {
      name: 'no-test-code-in-production',
      comment: 'Shipped code must not import tests or their helpers (test/, *.test.ts, test-*.ts).',
      severity: 'error',
      from: { path: PRODUCT, pathNot: TEST },
      to: { path: TEST },
    },
    // What the executables import at run time must be installed by `npm install --omit=dev`.
    {
      name: 'no-dev-deps-in-production',
      comment: 'Shipped code imports only dependencies, not devDependencies (types from @types are fine: they vanish).',
      severity: 'error',
      from: { path: PRODUCT, pathNot: TEST },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    // A package that works only because another one brought it along breaks on its next release.
    {
      name: 'no-undeclared-packages',
      comment: 'Every package imported is named in package.json (no reliance on transitive installs).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-unresolvable',
      comment: 'Every import resolves to a file or package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    // Cycles, between components or inside one, make load order and layering a guess.
    {
      name: 'no-circular',
      comment: 'No import cycles.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    // Layers between the top-level components, so that no cycle can form between them:
    // proto/gen ← common ← transport ← agent | cli | server (the three never import each other).
    {
      name: 'layers:proto-imports-nothing-of-ours',
      comment: 'The generated contract depends on no component.',
      severity: 'error',
      from: { path: '^proto/gen/' },
      to: { path: '^(agent|cli|common|server|transport)/' },
    },
    {
      name: 'layers:common-is-below-everything',
      comment: 'common/ serves every component and imports none of them (only proto/gen).',
      severity: 'error',
      from: { path: '^common/', pathNot: TEST },
      to: { path: '^(agent|cli|server|transport)/' },
    },
    {
      name: 'layers:transport-is-below-agent-server-cli',
      comment: 'The transports carry messages for agent and server; they know neither.',
      severity: 'error',
      from: { path: '^transport/', pathNot: TEST },
      to: { path: '^(agent|cli|server)/' },
    },
    {
      name: 'layers:executables-are-independent',
      comment: 'agent, cli and server share code only through common/, transport/ and proto/gen.',
      severity: 'error',
      from: { path: '^(agent|cli|server)/', pathNot: TEST },
      to: { path: '^(agent|cli|server)/', pathNot: '^$1/' },
    },
    {
      name: 'layers:web-page-runs-in-a-browser',
      comment: 'server/web is a browser bundle that talks to the server only over the HTTP API: it imports only itself, the browser-safe common modules (format.ts, asciicast.ts: no Node built-ins) and packages; not even types of the server (it declares the JSON it reads in server/web/model.ts).',
      severity: 'error',
      from: { path: '^server/web/' },
      to: { pathNot: '^(server/web/|common/(format|asciicast)[.]ts$|node_modules/)' },
    },
    {
      name: 'layers:store-is-the-bottom-of-the-server',
      comment: 'server/store holds the SQL; it imports no other part of the server (only server/errors.ts).',
      severity: 'error',
      from: { path: '^server/store/' },
      to: { path: '^server/', pathNot: '^server/(store/|errors[.]ts$)' },
    },
    {
      name: 'adapters-do-not-touch-stores',
      comment: 'gRPC Control handlers and the HTTP API call the services; only services use the stores (issue 13, DESIGN.md layers).',
      severity: 'error',
      from: { path: ADAPTERS, pathNot: TEST },
      to: { path: '^server/store/' },
    },
  ],
  options: {
    exclude: { path: '^(dist|[.]cache)/' },
    doNotFollow: { path: 'node_modules' },
    // Packages keep their node_modules/ path even where node_modules is a link (git worktrees).
    preserveSymlinks: true,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
