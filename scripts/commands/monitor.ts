import type { Command } from 'commander';
import { resolve } from 'node:path';
import {
  configureMonitoringSchedule,
  DEFAULT_MONITORING_CRON,
  monitoringScheduleStatus,
  runMonitoring,
} from '../../client';
import { authorize } from '../../lib/governance';
import { windowFileAs, type WindowResultFile } from '../../lib/monitor/publish';
import { monitoringTrendAs } from '../../lib/monitor/store';
import { completedRunManifest } from '../../lib/monitor/window';
import { assertRunId, resolveRunDir } from '../../lib/run';
import {
  monitoringScheduleId,
  type MonitoringProgress,
  type MonitoringResult,
  type ScheduleRecord,
} from '../../schemas/monitoring';
import { installWorkerLogging } from '../../worker/worker';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, positiveInt, printJson } from './output';
import { runPath, viaApi } from './remote';

const fmt = (x: number | null | undefined, d = 4): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);

function progressPrinter(): (p: MonitoringProgress) => void {
  let last = '';
  return (p) => {
    const line = `[${p.stepIndex + 1}/${p.steps.length}] ${p.step}: ${p.message}`;
    if (line !== last) err(line);
    last = line;
  };
}

interface RunOpts extends TokenOpts {
  run: string;
  current: string;
  label?: string;
  json?: boolean;
  worker: boolean;
}

interface StatusOpts extends TokenOpts {
  run: string;
  json?: boolean;
}

interface WindowOpts extends TokenOpts {
  run: string;
  window: string;
  json?: boolean;
}

interface ScheduleOpts extends TokenOpts {
  run: string;
  current: string;
  cron: string;
  reason?: string;
  json?: boolean;
}

interface HistoryOpts extends TokenOpts {
  run: string;
  last?: number;
  json?: boolean;
}

export function registerMonitorCommands(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('drift and performance monitoring of a trained run on new windows of requests');

  monitor
    .command('run')
    .description('monitor one window now: run monitoringWorkflow and wait (needs generate_report)')
    .requiredOption('--run <id>', 'the trained run to monitor')
    .requiredOption('--current <csv>', 'the window: userId, appId and, when known, permission')
    .option('--label <name>', 'name of the window in reports and history (default: file name and time)')
    .option('--json', 'print the result as JSON')
    .option('--no-worker', 'do not start a worker in this process (workers already poll the server)')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: RunOpts) => {
        const runId = assertRunId(opts.run);
        const credential = await callerCredential(opts);
        const label = opts.label ? { label: opts.label } : {};
        const result = await viaApi<MonitoringResult & { report_path: string }>(
          credential,
          { method: 'POST', path: runPath(runId, '/monitoring/windows'), body: { current: opts.current, ...label } },
          async () => {
            await authorize(credential, 'generate_report', { type: 'monitoring_window', runId });
            const runDir = await resolveRunDir(runId);
            await completedRunManifest(runId, runDir);
            installWorkerLogging('ERROR');
            const done = await runMonitoring({
              runId,
              current: opts.current,
              ...label,
              credential,
              startWorker: opts.worker,
              onProgress: progressPrinter(),
              log: err,
            });
            return { ...done, report_path: resolve(runDir, done.report.html) };
          },
        );
        if (opts.json) return printJson(result);
        const d = result.drift;
        console.log(`window     ${result.label} (${result.windowId}, ${result.rows} rows)`);
        console.log(
          `drift      ${d.driftedDataset ? 'DATASET DRIFT' : 'no dataset drift'}: ${d.drifted.length} features drifted (share ${fmt(d.share, 2)}, threshold ${d.threshold})${d.drifted.length ? `: ${d.drifted.join(', ')}` : ''}`,
        );
        console.log(
          `target     ${d.targetDrifted === null ? 'unlabelled' : d.targetDrifted ? 'drifted' : 'stable'}; prediction ${d.predictionDrifted ? 'drifted' : 'stable'}`,
        );
        for (const [name, m] of Object.entries(result.performance.metrics))
          console.log(
            `metric     ${name.padEnd(10)} ${fmt(m.current)} (reference ${fmt(m.reference)}, ${fmt(m.change)})`,
          );
        for (const a of result.alerts) console.log(`ALERT      ${a.kind}: ${a.subject}`);
        console.log(`report     ${result.report_path}`);
      }),
    );

  monitor
    .command('schedule')
    .description(
      "create or update the run's nightly Temporal Schedule (ADMIN: configure_monitoring); needs a running server",
    )
    .requiredOption('--run <id>', 'the trained run to monitor')
    .requiredOption(
      '--current <csv>',
      'the CSV each night reads (the data feed refreshes it before the schedule fires)',
    )
    .option('--cron <expr>', 'cron expression (UTC)', DEFAULT_MONITORING_CRON)
    .option('--reason <text>', 'why, for the audit log')
    .option('--json', 'print the schedule record as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: ScheduleOpts) => {
        const credential = await callerCredential(opts);
        const reason = opts.reason ? { reason: opts.reason } : {};
        const { created, server, address, ...record } = await viaApi<
          ScheduleRecord & { created: boolean; server: string; address?: string }
        >(
          credential,
          {
            method: 'PUT',
            path: runPath(opts.run, '/monitoring/schedule'),
            body: { current: opts.current, cron: opts.cron, ...reason },
          },
          async () => {
            const done = await configureMonitoringSchedule({
              credential,
              runId: opts.run,
              current: opts.current,
              cron: opts.cron,
              ...reason,
              log: err,
            });
            return { ...done.record, created: done.created, server: done.server, address: done.address };
          },
        );
        if (opts.json) return printJson({ ...record, created, address });
        console.log(
          `schedule   ${record.scheduleId} ${created ? 'created' : 'updated'} on ${server}: cron '${record.cron}', window ${record.current}`,
        );
        console.log(`trigger    temporal schedule trigger --schedule-id ${record.scheduleId}`);
      }),
    );

  monitor
    .command('history')
    .description("the run's monitoring trend: one line per stored window, oldest first (needs view_monitoring)")
    .requiredOption('--run <id>', 'the monitored run')
    .option('--last <n>', 'only the last n windows', positiveInt('--last'))
    .option('--json', 'print JSON rows')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: HistoryOpts) => {
        const runId = assertRunId(opts.run);
        const credential = await callerCredential(opts);
        const { windows: rows } = await viaApi(
          credential,
          { method: 'GET', path: runPath(runId, '/monitoring'), query: { last: opts.last } },
          async () => ({ windows: await monitoringTrendAs(credential, runId, opts.last) }),
        );
        if (opts.json) return printJson(rows);
        if (rows.length === 0) return err(`no monitoring windows stored for ${runId}`);
        console.log(
          `${'monitored at'.padEnd(25)} ${'rows'.padStart(8)} ${'drift share'.padStart(11)} dataset  target  pred.  ${'ROC-AUC'.padStart(7)} ${'accuracy'.padStart(8)} alerts  label`,
        );
        const flag = (b: boolean | null): string => (b === null ? '–' : b ? 'DRIFT' : 'ok');
        for (const r of rows)
          console.log(
            `${r.monitored_at.padEnd(25)} ${String(r.rows).padStart(8)} ${fmt(r.drift_share, 2).padStart(11)} ${flag(r.dataset_drift).padEnd(8)} ${flag(r.target_drift).padEnd(7)} ${flag(r.prediction_drift).padEnd(6)} ${fmt(r.roc_auc).padStart(7)} ${fmt(r.accuracy).padStart(8)} ${String(r.alerts).padStart(6)}  ${r.label}`,
          );
      }),
    );

  monitor
    .command('status')
    .description("the run's monitoring plan and Temporal schedule: paused or not, the next runs, the recent ones")
    .requiredOption('--run <id>', 'the monitored run')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: StatusOpts) => {
        const runId = assertRunId(opts.run);
        const credential = await callerCredential(opts);
        const status = await viaApi(credential, { method: 'GET', path: runPath(runId, '/monitoring/schedule') }, () =>
          monitoringScheduleStatus(credential, runId),
        );
        if (opts.json) return printJson(status);
        const { plan, schedule } = status;
        console.log(
          plan
            ? `plan       cron '${plan.cron}', window ${plan.current} (${plan.configuredBy}, ${plan.configuredAt})`
            : 'plan       none: an ADMIN schedules nightly monitoring with access-perm monitor schedule',
        );
        if (!schedule)
          return console.log(`schedule   none on this Temporal server (id ${monitoringScheduleId(runId)})`);
        console.log(
          `schedule   ${schedule.scheduleId}${schedule.paused ? ' PAUSED' : ''}${schedule.note ? ` (${schedule.note})` : ''}`,
        );
        console.log(`next       ${schedule.nextRuns.join(', ') || '–'}`);
        for (const r of schedule.recentRuns)
          console.log(
            `ran        ${r.startedAt} ${r.workflowId ?? ''} ${r.status}${r.recorded ? ', recorded' : r.status === 'RUNNING' ? '' : ', NOT RECORDED'}`,
          );
      }),
    );

  monitor
    .command('window')
    .description('one monitored window: drift per feature, performance and calibration, alerts (needs view_monitoring)')
    .requiredOption('--run <id>', 'the monitored run')
    .requiredOption('--window <id>', 'the window id (monitor history --json lists them)')
    .option('--json', "print the window's result.json")
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: WindowOpts) => {
        const runId = assertRunId(opts.run);
        const credential = await callerCredential(opts);
        const result = await viaApi(
          credential,
          { method: 'GET', path: runPath(runId, `/monitoring/windows/${encodeURIComponent(opts.window)}`) },
          async () => JSON.parse(await windowFileAs(credential, runId, opts.window, 'result')) as WindowResultFile,
        );
        if (opts.json) return printJson(result);
        const { window, drift, performance, alerts } = result;
        console.log(
          `window     ${window.windowId} (${window.label}), ${window.rows} rows, monitored ${window.startedAt}`,
        );
        console.log(
          `drift      ${drift.features.filter((f) => f.drifted).length}/${drift.features.length} features (share ${fmt(drift.dataset.share, 2)})${drift.dataset.drifted_dataset ? ': DATASET DRIFT' : ''}`,
        );
        console.log(
          `${'feature'.padEnd(24)} ${'test'.padEnd(14)} ${'score'.padStart(8)} ${'threshold'.padStart(9)} ${'PSI'.padStart(7)}  drift`,
        );
        for (const f of drift.features)
          console.log(
            `${f.column.padEnd(24)} ${f.test.padEnd(14)} ${fmt(f.score).padStart(8)} ${fmt(f.threshold, 3).padStart(9)} ${fmt(f.psi, 3).padStart(7)}  ${f.drifted ? 'DRIFT' : 'ok'}`,
          );
        const m = performance.current;
        console.log(
          m
            ? `metrics    ROC-AUC ${fmt(m.rocAuc)}, accuracy ${fmt(m.accuracy)}, Brier ${fmt(m.brier)}, logloss ${fmt(m.logloss)} on ${performance.rows} labelled rows`
            : 'metrics    – (the window has no labels)',
        );
        console.log(`alerts     ${alerts.map((a) => `${a.kind} (${a.subject})`).join(', ') || 'none'}`);
      }),
    );
}
