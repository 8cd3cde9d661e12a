#!/usr/bin/env node
// Builds the workflow bundle workers load (.build/workflows.js, stamped with a hash of the workflow sources) when
// it is missing or older than the sources; `--force` rebuilds it anyway. Run by bootstrap after npm install.
import { register } from 'tsx/esm/api';

register();
const { buildWorkflowBundle, isWorkflowBundleFresh, WORKFLOW_BUNDLE } = await import('../worker/bundle.ts');
const say = (line) => process.stderr.write(`build-workflows: ${line}\n`);

if (!process.argv.includes('--force') && (await isWorkflowBundleFresh())) {
  say(`${WORKFLOW_BUNDLE} is up to date`);
} else {
  const started = Date.now();
  const stamp = await buildWorkflowBundle().catch((e) => {
    say(`failed: ${e.message}`);
    process.exit(1);
  });
  say(
    `${WORKFLOW_BUNDLE} built in ${((Date.now() - started) / 1000).toFixed(1)} s (sources ${stamp.sourcesSha256.slice(0, 12)})`,
  );
}
