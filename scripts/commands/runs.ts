import type { Command } from 'commander';
import { authorize } from '../../lib/governance';
import { deleteRunAs } from '../../lib/pipeline/deleteRun';
import { assertRunId, listRuns, readTestMetrics, showRun, type RunDetails, type RunListing } from '../../lib/run';
import type { RunInfo, Tombstone } from '../../schemas/run';
import type { CancelledRun } from '../../client';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, printJson, reasonOption } from './output';
import { callApi, remoteApi } from './remote';

export function registerRunCommands(program: Command): void {
  const runs = program.command('runs').description('training runs in the data directory');
  runs
    .command('list')
    .description('list runs, newest first')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: { json?: boolean } & TokenOpts) => {
        const credential = await callerCredential(opts);
        const list = remoteApi()
          ? (await callApi<{ runs: RunListing[] }>(credential, 'GET', '/runs')).runs
          : await authorize(credential, 'view_runs')
              .then(listRuns)
              .then(async (runs) => (await import('../../client')).withLocalServerStatus(runs));
        if (opts.json) return printJson(list);
        if (list.length === 0) return err('no runs yet: start one with access-perm pipeline run --config <yaml>');
        for (const r of list) {
          const auc = r.rocAuc === null ? '      -' : r.rocAuc.toFixed(4);
          const acc = r.accuracy === null ? '      -' : r.accuracy.toFixed(4);
          console.log(
            `${r.runId.padEnd(34)} ${r.state.padEnd(14)} ${(r.startedAt ?? '-').padEnd(24)} AUC ${auc}  acc ${acc}${r.problem ? `  (${r.problem})` : ''}${stoppedOnServer(r)}`,
          );
        }
      }),
    );
  runs
    .command('show <runId>')
    .description('show a run: config, data hash, metrics, artifacts')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { json?: boolean } & TokenOpts) => {
        const credential = await callerCredential(opts);
        const remote = remoteApi();
        const run: Omit<RunDetails, 'runDir'> & { runDir?: string } = remote
          ? await callApi(credential, 'GET', `/runs/${encodeURIComponent(assertRunId(runId))}`)
          : await authorize(credential, 'view_runs', { type: 'run', id: assertRunId(runId) })
              .then(() => showRun(runId))
              .then(async (r) => (await (await import('../../client')).withLocalServerStatus([r]))[0]!);
        const test = run.runDir ? await readTestMetrics(run.runDir) : null;
        if (opts.json) return printJson({ ...run, test });
        console.log(`run        ${run.runId} (${run.state})${stoppedOnServer(run)}`);
        console.log(`folder     ${run.runDir ?? `on ${remote}`}`);
        const by = run.info.createdBy as RunInfo['createdBy'] | undefined; // absent in runs made before it was recorded
        console.log(
          `started    ${run.info.startedAt}${by ? ` by ${by.userId} (${by.role}${by.temporaryRole ? ', temporary' : ''})` : ''}`,
        );
        if (run.tombstone) {
          const t = run.tombstone;
          console.log(`deleted    by ${t.deleted_by.userId} (${t.deleted_by.role}) at ${t.deleted_at}: ${t.reason}`);
          console.log(`           was ${t.state_before}; removed ${t.removed.files} files, ${t.removed.bytes} B`);
        }
        if (run.end)
          console.log(`ended      ${run.end.state} at ${run.end.at} during ${run.end.step}: ${run.end.error}`);
        console.log(`config     ${run.info.configPath} (sha256 ${run.info.configHash.slice(0, 12)}…)`);
        console.log(`data       sha256 ${run.info.dataHash.slice(0, 12)}…`);
        if (run.metrics) {
          const m = run.metrics;
          console.log(
            `metrics    ROC-AUC ${m.rocAuc.toFixed(4)}  PR-AUC ${m.prAuc.toFixed(4)}  accuracy ${m.accuracy.toFixed(4)} @ ${m.threshold.toFixed(4)}  logloss ${m.logloss.toFixed(4)} (out of fold)`,
          );
          const ci = run.intervals;
          if (ci)
            console.log(
              `           ${Math.round(ci.level * 100)}% intervals (bootstrap over ${ci.unit}): ROC-AUC [${ci.rocAuc.lower.toFixed(4)}, ${ci.rocAuc.upper.toFixed(4)}]  accuracy [${ci.accuracy.lower.toFixed(4)}, ${ci.accuracy.upper.toFixed(4)}]`,
            );
        }
        if (test)
          console.log(
            `test       ROC-AUC ${test.rocAuc.toFixed(4)}  PR-AUC ${test.prAuc.toFixed(4)}  accuracy ${test.accuracy.toFixed(4)} @ ${test.threshold.toFixed(4)}  logloss ${test.logloss.toFixed(4)} (hold-out ${test.source}, ${test.rows} rows)`,
          );
        for (const a of run.manifest?.artifacts ?? [])
          console.log(`  ${a.role.padEnd(22)} ${a.path.padEnd(36)} ${a.sha256.slice(0, 12)}…  ${a.bytes} B`);
      }),
    );
  runs
    .command('cancel <runId>')
    .description('cancel a running run through Temporal (ANALYST: own runs; MODELER, ADMIN: any); audited')
    .addOption(reasonOption())
    .option('--no-wait', 'return once the cancellation is sent, without waiting for the run to stop')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: TokenOpts & { reason: string; wait: boolean; json?: boolean }) => {
        const credential = await callerCredential(opts);
        // The API answers once the cancellation is sent: `runs show` tells when the run stopped.
        const done = remoteApi()
          ? await callApi<CancelledRun>(credential, 'POST', `/runs/${encodeURIComponent(runId)}/cancel`, {
              body: { reason: opts.reason },
            })
          : await (await import('../../client')).cancelRun({ runId, reason: opts.reason, credential, wait: opts.wait });
        if (opts.json) return printJson(done);
        const p = done.progress;
        console.log(
          done.stopped
            ? `run ${runId} cancelled during ${p!.step}${p!.step === 'train' ? ` (${p!.folds.done}/${p!.folds.total} folds done)` : ''}`
            : `run ${runId}: cancellation sent${p ? ` (it was at ${p.step})` : ''}; runs show ${runId} tells when it stopped`,
        );
      }),
    );
  runs
    .command('delete <runId>')
    .description("remove a run's artifacts, keeping a signed tombstone with its manifest (MODELER, ADMIN); audited")
    .addOption(reasonOption())
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: TokenOpts & { reason: string; json?: boolean }) => {
        const credential = await callerCredential(opts);
        const { resumed, ...tombstone } = remoteApi()
          ? await callApi<Tombstone & { resumed: boolean }>(
              credential,
              'DELETE',
              `/runs/${encodeURIComponent(runId)}`,
              {
                body: { reason: opts.reason },
              },
            )
          : await deleteRunAs(credential, runId, opts.reason).then((d) => ({ ...d.tombstone, resumed: d.resumed }));
        if (opts.json) return printJson({ ...tombstone, resumed });
        console.log(
          resumed
            ? `run ${runId}: finished removing the artifacts of the deletion by ${tombstone.deleted_by.userId} at ${tombstone.deleted_at}`
            : `run ${runId} deleted (was ${tombstone.state_before}): ${tombstone.removed.files} files, ${tombstone.removed.bytes} B removed; the tombstone keeps its manifest (runs show ${runId})`,
        );
      }),
    );
}

/**
 * What the Temporal server says of a run whose records say running, when that is not RUNNING: it was terminated,
 * timed out or lost there, and will not end by itself.
 */
function stoppedOnServer(run: { serverStatus?: string }): string {
  const s = run.serverStatus;
  if (s === undefined || s === 'RUNNING') return '';
  return s.startsWith('unknown')
    ? `  (its workflow's status on Temporal is ${s})`
    : `  (its workflow is ${s} on Temporal: it stopped without its end record, and will not end by itself)`;
}
