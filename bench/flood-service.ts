/**
 * The scoring service for bench/flood.ts, in a process of its own: built as `access-perm serve --run <id>` builds it
 * (ServedModel, buildService with the CLI's defaults, 127.0.0.1), except that the refusal interval is given in
 * milliseconds (the CLI takes whole seconds), which the bench's approximation of the old per-refusal audit needs.
 *
 *   node --import tsx bench/flood-service.ts --run <id> [--auth-failure-limit N] [--refusal-window-ms M]
 *
 * Without the two options the production defaults apply (20 refused tokens per 60 s). Prints `serving on <url>` on
 * stderr once listening; SIGTERM closes it as the CLI does (open refusal intervals write their summaries), then exits.
 */
import { parseArgs } from 'node:util';
import { buildService, ServedModel } from '../lib/serve';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    'auth-failure-limit': { type: 'string' },
    'refusal-window-ms': { type: 'string' },
  },
});
if (!args.run) throw new Error('--run <id> is required');
const served = new ServedModel(args.run);
await served.start();
const app = await buildService({
  served,
  logWindowMs: 60_000,
  ...(args['auth-failure-limit'] ? { authFailureLimit: Number(args['auth-failure-limit']) } : {}),
  ...(args['refusal-window-ms'] ? { refusalWindowMs: Number(args['refusal-window-ms']) } : {}),
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stderr.write(`serving on ${address}\n`);
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => served.close())
    .then(() => process.exit(0));
});
