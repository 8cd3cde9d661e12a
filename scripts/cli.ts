import { Command } from 'commander';
import { registerDataCommands } from './commands/data';
import { registerGovernanceCommands } from './commands/governance';
import { registerLifecycleCommands } from './commands/lifecycle';
import { registerMonitorCommands } from './commands/monitor';
import { err } from './commands/output';
import { registerPipelineCommands } from './commands/pipeline';
import { registerReportCommands } from './commands/report';
import { registerRunCommands } from './commands/runs';
import { registerScoreCommands } from './commands/score';
import { registerServeCommands } from './commands/serve';
import { registerServerCommands } from './commands/server';

const program = new Command();
program
  .name('access-perm')
  .description('Approval prediction for app-permission requests, trained and governed as Temporal workflows.')
  .showHelpAfterError();

registerServerCommands(program);
registerDataCommands(program);
registerPipelineCommands(program);
registerRunCommands(program);
registerScoreCommands(program);
registerServeCommands(program);
registerReportCommands(program);
registerGovernanceCommands(program);
registerLifecycleCommands(program);
registerMonitorCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  err(`access-perm: ${message.split('\n')[0]}`);
  process.exitCode = 1;
});
