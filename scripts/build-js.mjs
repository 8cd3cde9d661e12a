#!/usr/bin/env node
// Builds the prebuilt CLI and thread programs (.build/js/, lib/prebuilt.mjs) when missing or older than the sources;
// `--force` rebuilds anyway. Run by bootstrap after npm install.
import { BUILD_DIR_NAME, buildPrograms, freshBuildDir } from '../lib/prebuilt.mjs';

const say = (line) => process.stderr.write(`build-js: ${line}\n`);

if (!process.argv.includes('--force') && freshBuildDir()) {
  say(`${BUILD_DIR_NAME} is up to date`);
} else {
  const started = Date.now();
  const stamp = await buildPrograms().catch((e) => {
    say(`failed: ${e.message}`);
    process.exit(1);
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (stamp) say(`${BUILD_DIR_NAME}/${stamp.dir} built in ${seconds} s from ${stamp.inputs.length} files`);
  else say(`sources changed during the build: left stale (the TypeScript runs through tsx until rebuilt)`);
}
