import { join, resolve } from 'node:path';
import { prepareFile } from '../../lib/artifacts';
import {
  downloadArtifactAs,
  exportModelCardAs,
  generateReportAs,
  overrideAuditAs,
  exportScoringSpecAs,
  listArtifactsAs,
  viewReportAs,
  type ExportedArtifact,
} from '../../lib/lifecycle/exports';
import type { Command } from 'commander';
import { compareRunsAs, writeComparison } from '../../lib/report';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, positiveInt, printJson } from './output';
import { fetchArtifact, localOnly, remoteApi, runPath, viaApi } from './remote';
import type { Credential } from '../../lib/governance';

const versionArg = positiveInt('--version');

/** Writes an exported artifact to `--out` (whole or not at all), else to stdout; says what it was on stderr. */
async function deliver(exported: ExportedArtifact, out: string | undefined): Promise<void> {
  const { artifact, version, runId } = exported;
  if (out) {
    await (await prepareFile(resolve(out), exported.content)).commit();
    err(`${runId} v${version} ${artifact.path} (sha256 ${artifact.sha256}, verified) -> ${out}`);
  } else process.stdout.write(exported.content);
}

type ExportOpts = TokenOpts & { version?: number; out?: string };

/** One exported artifact of a version, from the remote API or the local run folder, verified either way. */
async function exported(
  opts: ExportOpts,
  runId: string,
  route: string,
  query: Record<string, string>,
  local: (credential: Credential) => Promise<ExportedArtifact>,
): Promise<ExportedArtifact> {
  const credential = await callerCredential(opts);
  return remoteApi() ? fetchArtifact(credential, runId, route, { ...query, version: opts.version }) : local(credential);
}

const exportOptions = (command: Command): Command =>
  command
    .option('--version <n>', 'model version (default: the locked one, else the newest approved, else 1)', versionArg)
    .option('--out <file>', 'write to this file instead of stdout')
    .addOption(tokenFileOption());

export function registerReportCommands(program: Command): void {
  program
    .command('report <runId>')
    .description(
      "write a run's report (report.md, self-contained report.html, model_card.md, figures as PNG + SVG) for a version",
    )
    .option('--version <n>', 'model version (default: the locked one, else the newest approved, else 1)', versionArg)
    .option(
      '--out <dir>',
      'output folder (default: <data dir>/reports/<runId>, or <runId>-v<n> for a later version; the run folder is left unchanged)',
    )
    .option('--json', 'print the written files with their sha256 as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { out?: string; json?: boolean; version?: number } & TokenOpts) => {
        localOnly('--out', opts.out);
        const credential = await callerCredential(opts);
        const report = await viaApi<
          Pick<Awaited<ReturnType<typeof generateReportAs>>, 'dir' | 'figures' | 'version'> & { files: unknown }
        >(
          credential,
          { method: 'POST', path: runPath(runId, '/reports'), query: { version: opts.version } },
          async () => {
            const r = await generateReportAs(credential, runId, {
              ...(opts.version === undefined ? {} : { version: opts.version }),
              ...(opts.out === undefined ? {} : { out: opts.out }),
            });
            return { ...r, files: r.artifacts };
          },
        );
        const { version } = report;
        if (opts.json)
          return printJson({ runId, version, dir: report.dir, figures: report.figures, files: report.files });
        console.log(`version    ${version}`);
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
        const credential = await callerCredential(opts);
        const c = await viaApi<Awaited<ReturnType<typeof compareRunsAs>>>(
          credential,
          { method: 'GET', path: '/compare', query: { a: runA, b: runB } },
          () => compareRunsAs(credential, runA, runB),
        );
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

  exportOptions(
    program
      .command('artifacts <runId>')
      .description("list a version's artifacts with role, size and sha256 (every role)")
      .option('--json', 'print JSON'),
  ).action(
    governed(async (runId: string, opts: ExportOpts & { json?: boolean }) => {
      const credential = await callerCredential(opts);
      const listed = await viaApi<Awaited<ReturnType<typeof listArtifactsAs>>>(
        credential,
        { method: 'GET', path: runPath(runId, '/artifacts'), query: { version: opts.version } },
        () => listArtifactsAs(credential, runId, opts.version),
      );
      if (opts.json) return printJson(listed);
      console.log(`run ${runId} version ${listed.version}: ${listed.artifacts.length} artifacts`);
      for (const a of listed.artifacts)
        console.log(`  ${a.role.padEnd(22)} ${a.path.padEnd(40)} ${a.sha256}  ${a.bytes} B`);
    }),
  );
  exportOptions(
    program
      .command('download <runId> <artifact>')
      .description(
        'one artifact by its manifest path (e.g. model/model.onnx), verified against its sha256 (every role)',
      ),
  ).action(
    governed(async (runId: string, path: string, opts: ExportOpts) =>
      deliver(
        await exported(opts, runId, '/artifact', { path }, (c) => downloadArtifactAs(c, runId, path, opts.version)),
        opts.out,
      ),
    ),
  );
  exportOptions(
    program
      .command('export-spec <runId>')
      .description('the JSON scoring spec (trees, borders, CTR tables, threshold), verified (ANALYST and up)'),
  ).action(
    governed(async (runId: string, opts: ExportOpts) =>
      deliver(
        await exported(opts, runId, '/scoring-spec', {}, (c) => exportScoringSpecAs(c, runId, opts.version)),
        opts.out,
      ),
    ),
  );
  exportOptions(
    program.command('export-card <runId>').description('the model card (Markdown), verified (every role)'),
  ).action(
    governed(async (runId: string, opts: ExportOpts) =>
      deliver(
        await exported(opts, runId, '/model-card', {}, (c) => exportModelCardAs(c, runId, opts.version)),
        opts.out,
      ),
    ),
  );
  exportOptions(
    program
      .command('view-report <runId>')
      .description('the report the pipeline wrote for a version, Markdown or --html, verified (every role)')
      .option('--html', 'the self-contained HTML report instead of Markdown'),
  ).action(
    governed(async (runId: string, opts: ExportOpts & { html?: boolean }) =>
      deliver(
        await exported(opts, runId, '/report', { format: opts.html ? 'html' : 'md' }, (c) =>
          viewReportAs(c, runId, opts.html ? 'html' : 'md', opts.version),
        ),
        opts.out,
      ),
    ),
  );

  program
    .command('override-audit <runId>')
    .description(
      "the run's override audit trail: every override and review, who, when, why, before and after (every role)",
    )
    .option('--json', 'print the entries as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const { entries } = await viaApi(
          credential,
          { method: 'GET', path: runPath(runId, '/override-audit') },
          async () => ({
            entries: await overrideAuditAs(credential, runId),
          }),
        );
        if (opts.json) return printJson(entries);
        if (entries.length === 0) return err(`run ${runId} has no overrides yet`);
        for (const e of entries)
          console.log(
            `${e.timestamp} ${e.action.padEnd(28)} ${e.user_id.padEnd(16)} ${e.status.padEnd(8)} ${e.reason ?? ''}`,
          );
      }),
    );
}
