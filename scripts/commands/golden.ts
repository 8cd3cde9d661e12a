import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { prepareFile } from '../../lib/artifacts';
import { exportGoldenReferenceAs, goldenComparisonAs, validationResultsAs } from '../../lib/lifecycle/golden';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, positiveInt, printJson } from './output';
import { runPath, viaApi } from './remote';

const tolerance =
  (name: string) =>
  (value: string): number => {
    const x = Number(value);
    if (!(x >= 0 && x <= 1)) throw new InvalidArgumentError(`${name} must be a number from 0 to 1, got ${value}`);
    return x;
  };

interface GoldenOpts extends TokenOpts {
  version?: number;
  against?: string;
  reference?: string;
  metricTolerance?: number;
  scoreTolerance?: number;
  sameModel?: boolean;
  json?: boolean;
}

/** `golden run|export|list`: golden comparisons (MODELER, VALIDATOR, ADMIN) and validation results (every role). */
export function registerGoldenCommands(program: Command): void {
  const golden = program
    .command('golden')
    .description('golden comparison: a run checked against a locked run or a reference file, with tolerances');

  golden
    .command('run <runId>')
    .description('compare a version with a golden reference; the pass/fail report is kept with the run and audited')
    .option(
      '--version <n>',
      'model version (default: the locked one, else the newest approved, else 1)',
      positiveInt('--version'),
    )
    .option('--against <runId>', 'a locked run (compared at its locked version)')
    .option('--reference <file>', 'a reference file (access-perm golden export, or written by another tool)')
    .option('--metric-tolerance <x>', 'largest |Δ| of each OOF metric (default 0.005)', tolerance('--metric-tolerance'))
    .option(
      '--score-tolerance <x>',
      "largest |Δ| of a row's probability (default 0.05)",
      tolerance('--score-tolerance'),
    )
    .option('--same-model', "require the scoring spec's sha256 to equal the reference's")
    .option('--json', 'print the report as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: GoldenOpts) => {
        if (Boolean(opts.against) === Boolean(opts.reference))
          throw new InvalidArgumentError('name the golden reference: --against <locked run> or --reference <file>');
        const against = opts.against
          ? { runId: opts.against }
          : {
              reference: JSON.parse(await readFile(resolve(opts.reference!), 'utf8')) as unknown,
              name: opts.reference!,
            };
        const tolerances = {
          ...(opts.metricTolerance === undefined ? {} : { metric: opts.metricTolerance }),
          ...(opts.scoreTolerance === undefined ? {} : { score: opts.scoreTolerance }),
          ...(opts.sameModel ? { same_model: true } : {}),
        };
        const version = opts.version === undefined ? {} : { version: opts.version };
        const credential = await callerCredential(opts);
        const body = {
          ...version,
          ...('runId' in against ? { against_run: against.runId } : { reference: against.reference }),
          tolerances,
        };
        const report = await viaApi(credential, { method: 'POST', path: runPath(runId, '/golden'), body }, () =>
          goldenComparisonAs(credential, { runId, ...version, against, tolerances }),
        );
        if (opts.json) printJson(report);
        else
          for (const c of report.checks) console.log(`${c.passed ? 'ok  ' : 'FAIL'} ${c.name.padEnd(26)} ${c.detail}`);
        const verdict = `golden comparison ${report.id} of ${runId} v${report.version}: ${report.passed ? 'passed' : 'FAILED'}`;
        if (!report.passed) throw new Error(verdict);
        if (!opts.json) console.log(verdict);
      }),
    );

  golden
    .command('export <runId>')
    .description("a version's metrics, predictions and model hash as a golden reference file")
    .option(
      '--version <n>',
      'model version (default: the locked one, else the newest approved, else 1)',
      positiveInt('--version'),
    )
    .requiredOption('--out <file>', 'where to write the reference (JSON)')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: TokenOpts & { version?: number; out: string }) => {
        const credential = await callerCredential(opts);
        const reference = await viaApi(
          credential,
          { method: 'GET', path: runPath(runId, '/golden-reference'), query: { version: opts.version } },
          () => exportGoldenReferenceAs(credential, runId, opts.version),
        );
        await (await prepareFile(resolve(opts.out), `${JSON.stringify(reference)}\n`)).commit();
        err(`${runId} v${reference.source!.version}: ${reference.predictions.length} predictions -> ${opts.out}`);
      }),
    );

  golden
    .command('list <runId>')
    .description("a run's validation results: reproducibility tests and golden comparisons (every role)")
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const results = await viaApi(credential, { method: 'GET', path: runPath(runId, '/validation-results') }, () =>
          validationResultsAs(credential, runId),
        );
        if (opts.json) return printJson(results);
        for (const r of results.reproducibility)
          console.log(
            `repro   ${r.name.padEnd(22)} v${r.version} ${r.at} ${r.result ? (r.result.passed ? 'passed' : 'FAILED') : (r.failed ?? 'running')}`,
          );
        for (const g of results.golden)
          console.log(
            `golden  ${g.id.padEnd(22)} v${g.version} ${g.at} ${g.passed ? 'passed' : 'FAILED'} against ${g.reference.kind === 'run' ? `run ${g.reference.runId} v${g.reference.version}` : `a file (sha256 ${g.reference.sha256.slice(0, 12)}…)`} by ${g.by.userId}`,
          );
        if (results.reproducibility.length + results.golden.length === 0)
          err(`run ${runId} has no validation results yet`);
      }),
    );
}
