import { join } from 'node:path';
import type { Command } from 'commander';
import { authorize } from '../../lib/governance';
import { dataDir } from '../../lib/paths';
import { assertRunId, resolveRunDir } from '../../lib/run';
import { compareRuns, writeComparison, writeRunReport } from '../../lib/report';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, printJson } from './output';

const defaultReportsDir = (): string => join(dataDir(), 'reports');

export function registerReportCommands(program: Command): void {
  program
    .command('report <runId>')
    .description("write a run's report (report.md, self-contained report.html, model_card.md, figures as PNG + SVG)")
    .option(
      '--out <dir>',
      'output folder (default: <data dir>/reports/<runId>; the run folder itself is left unchanged)',
    )
    .option('--json', 'print the written files with their sha256 as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { out?: string; json?: boolean } & TokenOpts) => {
        await authorize(await callerCredential(opts), 'generate_report', { type: 'run', id: assertRunId(runId) });
        const out = opts.out ?? join(defaultReportsDir(), runId);
        const report = await writeRunReport(await resolveRunDir(runId), out);
        if (opts.json) return printJson({ runId, dir: report.dir, figures: report.figures, files: report.artifacts });
        console.log(`report     ${join(report.dir, 'report.html')}`);
        console.log(`markdown   ${join(report.dir, 'report.md')}`);
        console.log(`model card ${join(report.dir, 'model_card.md')}`);
        console.log(`figures    ${report.figures.length} (PNG + SVG) in ${join(report.dir, 'figures')}`);
      }),
    );

  program
    .command('compare <runA> <runB>')
    .description(
      'compare two runs: metric deltas, parameter and config diffs, importance changes, prediction agreement',
    )
    .option('--out <dir>', 'also write compare.md, compare.html and compare.json into this folder')
    .option('--json', 'print the comparison as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runA: string, runB: string, opts: { out?: string; json?: boolean } & TokenOpts) => {
        const resource = { type: 'run_comparison', id: `${assertRunId(runA)}..${assertRunId(runB)}`, runId: runA };
        await authorize(await callerCredential(opts), 'compare_models', resource);
        const c = await compareRuns(await resolveRunDir(runA), await resolveRunDir(runB));
        if (opts.out) {
          const files = await writeComparison(c, opts.out);
          err(`wrote ${files.map((f) => join(opts.out!, f.path)).join(', ')}`);
        }
        if (opts.json) return printJson(c);
        const w = Math.max(...c.metrics.map((m) => m.metric.length));
        const num = (x: number | null): string => (x === null ? '–' : x.toFixed(4)).padStart(10);
        console.log(`A ${c.a.runId}\nB ${c.b.runId}${c.sameData ? '' : '  (different input data)'}`);
        console.log(`${''.padEnd(w)} ${'A'.padStart(10)} ${'B'.padStart(10)} ${'B − A'.padStart(10)}`);
        for (const m of c.metrics) console.log(`${m.metric.padEnd(w)} ${num(m.a)} ${num(m.b)} ${num(m.delta)}`);
        const g = c.agreement;
        console.log(
          `agreement  ${(100 * g.agreementRate).toFixed(2)}% of ${g.matchedRows} shared rows (only A approves ${g.onlyAApproves}, only B approves ${g.onlyBApproves}); score correlation ${g.scoreCorrelation.toFixed(4)}`,
        );
        for (const p of c.params) console.log(`param      ${p.key}: ${JSON.stringify(p.a)} → ${JSON.stringify(p.b)}`);
        for (const p of c.config) console.log(`config     ${p.key}: ${JSON.stringify(p.a)} → ${JSON.stringify(p.b)}`);
      }),
    );
}
