import { Command } from 'commander';
import { API_ENV, err } from './commands/output';

type Register = (program: Command) => void;

/**
 * Each command group's module, loaded only when one of its commands runs: `runs list` does not pay for loading
 * Temporal, DuckDB, onnxruntime and vega. `--help` and unknown commands load every group.
 */
const GROUPS: Array<{ commands: string[]; load: () => Promise<Register> }> = [
  { commands: ['dev', 'worker'], load: async () => (await import('./commands/server')).registerServerCommands },
  { commands: ['data'], load: async () => (await import('./commands/data')).registerDataCommands },
  { commands: ['pipeline', 'demo'], load: async () => (await import('./commands/pipeline')).registerPipelineCommands },
  { commands: ['runs'], load: async () => (await import('./commands/runs')).registerRunCommands },
  { commands: ['score'], load: async () => (await import('./commands/score')).registerScoreCommands },
  { commands: ['serve', 'api'], load: async () => (await import('./commands/serve')).registerServeCommands },
  {
    commands: [
      'report',
      'compare',
      'artifacts',
      'download',
      'export-spec',
      'export-card',
      'view-report',
      'override-audit',
    ],
    load: async () => (await import('./commands/report')).registerReportCommands,
  },
  {
    commands: ['users', 'auth', 'audit', 'keys'],
    load: async () => (await import('./commands/governance')).registerGovernanceCommands,
  },
  {
    commands: ['lifecycle', 'bins', 'override', 'review', 'delegate', 'repro', 'lock', 'deploy', 'export'],
    load: async () => (await import('./commands/lifecycle')).registerLifecycleCommands,
  },
  { commands: ['monitor'], load: async () => (await import('./commands/monitor')).registerMonitorCommands },
  { commands: ['configs'], load: async () => (await import('./commands/configs')).registerConfigCommands },
  { commands: ['golden'], load: async () => (await import('./commands/golden')).registerGoldenCommands },
  { commands: ['system'], load: async () => (await import('./commands/system')).registerSystemCommands },
];

/**
 * Takes `--api URL` (or `--api=URL`) out of the arguments, wherever it stands, into ACCESS_PERM_API: every
 * governed command then goes through that control-plane API.
 */
function takeApiOption(argv: string[]): string[] {
  const i = argv.findIndex((a) => a === '--api' || a.startsWith('--api='));
  if (i < 0) return argv;
  const inline = argv[i]!.startsWith('--api=');
  const url = inline ? argv[i]!.slice('--api='.length) : argv[i + 1];
  if (!url || url.startsWith('-')) throw new Error('--api takes the URL of a control-plane API (access-perm api)');
  process.env[API_ENV] = url;
  return [...argv.slice(0, i), ...argv.slice(i + (inline ? 1 : 2))];
}

/** Commander has printed a usage error or the help: the command ends with this exit code. */
class ParseEnded extends Error {
  constructor(readonly exitCode: number) {
    super(`command line ended with exit code ${exitCode}`);
  }
}

/** Parses `argv` (node, script, arguments…) and runs the command it names. */
async function run(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('access-perm')
    .description('Approval prediction for app-permission requests, trained and governed as Temporal workflows.')
    .option('--api <url>', 'send governed commands to this control-plane API (as ACCESS_PERM_API does)')
    .showHelpAfterError()
    // Usage errors and --help end the command, not the process (the CLI also runs inside tests).
    .exitOverride((e) => {
      throw new ParseEnded(e.exitCode);
    });
  argv = takeApiOption(argv);
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const group = GROUPS.find((g) => first !== undefined && g.commands.includes(first));
  for (const g of group ? [group] : GROUPS) (await g.load())(program);
  await program.parseAsync(argv);
}

/** Temporal wraps the failure that matters ("Workflow Update failed", "Activity task failed"): say the cause. */
function rootMessage(e: unknown): string {
  let error = e;
  while (
    error instanceof Error &&
    error.cause instanceof Error &&
    /^(Workflow Update failed|Activity task failed|Workflow execution failed)/.test(error.message)
  )
    error = error.cause;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The CLI: runs one command line; a failure becomes one line on stderr and exit code 1 (denials and refused tokens
 * set their own codes). Tests call it in-process, with its output captured.
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  await run(argv).catch((e: unknown) => {
    if (e instanceof ParseEnded) return void (process.exitCode = e.exitCode);
    err(`access-perm: ${rootMessage(e).split('\n')[0]}`);
    process.exitCode = 1;
  });
}
