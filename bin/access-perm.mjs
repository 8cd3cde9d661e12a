#!/usr/bin/env node
// Entry point: runs the prebuilt CLI when it matches the sources (lib/prebuilt.mjs), else loads the TypeScript
// sources through tsx.
import { prebuiltProgram } from '../lib/prebuilt.mjs';

const prebuilt = prebuiltProgram('cli');
if (!prebuilt) (await import('tsx/esm/api')).register();
// A reader that stops early (`access-perm … | head`) closes the pipe: that ends the output, not in a stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import(prebuilt ?? '../scripts/cli.ts');
await main();
