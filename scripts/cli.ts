import { Command } from 'commander';
import { err } from './commands/output';

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
    commands: ['lifecycle', 'bins', 'override', 'review', 'repro', 'lock', 'deploy', 'export'],
    load: async () => (await import('./commands/lifecycle')).registerLifecycleCommands,
  },
  { commands: ['monitor'], load: async () => (await import('./commands/monitor')).registerMonitorCommands },
  { commands: ['configs'], load: async () => (await import('./commands/configs')).registerConfigCommands },
  { commands: ['golden'], load: async () => (await import('./commands/golden')).registerGoldenCommands },
  { commands: ['system'], load: async () => (await import('./commands/system')).registerSystemCommands },
];

// A reader that stops early (`access-perm … | head`) closes the pipe: that ends the output, not in a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(): Promise<void> {
  const program = new Command();
  program
    .name('access-perm')
    .description('Approval prediction for app-permission requests, trained and governed as Temporal workflows.')
    .showHelpAfterError();
  const first = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const group = GROUPS.find((g) => first !== undefined && g.commands.includes(first));
  for (const g of group ? [group] : GROUPS) (await g.load())(program);
  await program.parseAsync(process.argv);
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

main().catch((e: unknown) => {
  const message = rootMessage(e);
  err(`access-perm: ${message.split('\n')[0]}`);
  process.exitCode = 1;
});
