import type { Command } from 'commander';
import { writeSyntheticDataset } from '../../lib/data/generate';
import { err, positiveInt, printJson } from './output';

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('input data');
  data
    .command('generate')
    .description('write a deterministic synthetic data set in the seed schema (users, apps, interactions, submission)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--interactions <n>', 'labelled interactions to generate', positiveInt('--interactions'), 116_063)
    .option('--seed <n>', 'random seed', (v) => Number(v), 42)
    .action(async (opts: { out: string; interactions: number; seed: number }) => {
      let lastPct = -1;
      const summary = await writeSyntheticDataset(
        opts.out,
        { seed: opts.seed, interactions: opts.interactions },
        (done, total) => {
          const pct = Math.floor((100 * done) / total);
          if (pct !== lastPct && pct % 10 === 0) err(`generating… ${pct}%`);
          lastPct = pct;
        },
      );
      printJson(summary);
    });
}
