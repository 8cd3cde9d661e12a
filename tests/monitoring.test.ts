import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { startMonitoring, startTrainingPipeline } from '../client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVerified } from '../lib/artifacts';
import { addUser, issueCapability, issueToken, queryAudit } from '../lib/governance';
import {
  alertWindow,
  driftWindow,
  hasMonitoringSchedule,
  loadWindow,
  performanceWindow,
  readHistory,
  readMonitoringManifest,
  readWindowInfo,
  reportWindow,
  scoreWindow,
  validateWindow,
  windowFolder,
  windowIdOf,
  type WindowResultFile,
} from '../lib/monitor';
import { readOutbox } from '../lib/notify';
import { resolveRunDir } from '../lib/run';
import type { MonitoringInput, MonitoringProgress } from '../schemas/monitoring';
import type { PipelineResult } from '../schemas/run';
import { monitoringProgressQuery } from '../workflows/definitions';
import {
  cliInProcess,
  runCreator,
  smallConfig,
  smallDataset,
  startTemporalStack,
  temporalCli,
  useTempDataDir,
  writeConfig,
  type CliResult,
  type TemporalStack,
  pipelineInput,
} from './helpers';

let root: string;
let stack: TemporalStack;
let client: Client;
let token: string;
let run: PipelineResult;
/** The run's folder (payloads carry its id only). */
let runDir: string;
let interactions: string[];

/** Writes a window CSV from interaction lines (header `userId,appId,permission`), optionally transformed. */
async function windowCsv(name: string, lines: string[], header = 'userId,appId,permission'): Promise<string> {
  const path = join(root, name);
  await writeFile(path, `${header}\n${lines.join('\n')}\n`);
  return path;
}

/** A window's id (= its workflow id): monitoring workflows of a run are named `monitor-<run>-…`. */
const windowOf = (name: string): string => `monitor-${run.runId}-${name}`;

/**
 * Starts a manual window as `access-perm monitor run` does: the window and a capability for exactly it, issued to
 * the test's ADMIN (or none: what a starter without access-perm can send).
 */
async function monitor(name: string, window: { current: string; label?: string }, withCapability = true) {
  const request = { runId: run.runId, window };
  const input = withCapability
    ? { ...request, capability: await issueCapability({ token }, { op: 'monitorWindow', runId: run.runId, request }) }
    : request;
  return startMonitoring(client, { workflowId: windowOf(name), input: input as MonitoringInput });
}

/** Runs the CLI (in this process) with this test's data directory and server. */
const cli = (tokenValue: string, ...args: string[]): Promise<CliResult> =>
  cliInProcess({ TEMPORAL_ADDRESS: stack.server.address, ACCESS_PERM_TOKEN: tokenValue }, ...args);

beforeAll(async () => {
  root = await useTempDataDir('monitoring');
  token = (await runCreator()).token;
  stack = await startTemporalStack(root);
  client = stack.client;
  const data = await smallDataset(join(root, 'data'), 2500);
  const config = await writeConfig(
    root,
    'run.yaml',
    smallConfig(data, (c) => {
      c.model.catboost.iterations = 20;
      c.validation.n_splits = 2;
      // Monitoring finds a run below a non-default artifacts.dir by its id.
      c.artifacts = { dir: 'monitored' };
    }),
  );
  run = await (
    await startTrainingPipeline(client, { runId: 'mon-run', input: await pipelineInput('mon-run', config, token) })
  ).result();
  runDir = await resolveRunDir(run.runId);
  expect(runDir).toBe(join(root, 'monitored', 'mon-run'));
  interactions = (await readFile(join(data, 'interactions.csv'), 'utf8')).trim().split('\n').slice(1);
});

afterAll(async () => {
  await stack?.stop();
});

describe('monitoringWorkflow on a real Temporal dev server', () => {
  it('monitors a window like the reference: no drift, performance near OOF, report and JSON content-hashed', async () => {
    // Every other request (the file is grouped by user, so a prefix would be a different population).
    const current = await windowCsv(
      'same.csv',
      interactions.filter((_, i) => i % 2 === 0),
    );
    const handle = await monitor('mon-same', { current, label: 'same population' });
    const result = await handle.result();
    expect(result.rows).toBe(1250);
    expect(result.drift.driftedDataset).toBe(false);
    expect(result.drift.share).toBeLessThan(0.5);
    expect(result.drift.targetDrifted).toBe(false);
    expect(result.alerts).toEqual([]);
    // Rows the model was trained on: in-sample accuracy is at least the out-of-fold one, minus noise.
    const acc = result.performance.metrics.accuracy!;
    expect(acc.reference).toBeCloseTo(run.metrics.accuracy, 10);
    expect(acc.current).toBeGreaterThan(run.metrics.accuracy - 0.05);
    const progress: MonitoringProgress = await handle.query(monitoringProgressQuery);
    expect(progress).toMatchObject({ status: 'completed', step: 'alert', windowId: windowOf('mon-same') });

    const manifest = await readMonitoringManifest(run.runId, runDir);
    const entry = manifest.windows.find((w) => w.windowId === windowOf('mon-same'))!;
    const roles = entry.artifacts.map((a) => a.role);
    expect(roles).toEqual(expect.arrayContaining(['monitoring-report', 'monitoring-result', 'monitoring-figure']));
    for (const a of entry.artifacts) await readVerified(runDir, a);
    const html = await readFile(join(runDir, result.report.html), 'utf8');
    expect(html).toMatch(/<h1[^>]*>Monitoring report — same population<\/h1>/);
    expect(html).toMatch(/<svg/);
    expect(html).not.toMatch(/(src|href)="https?:/);
    const json = JSON.parse(await readFile(join(runDir, result.report.json), 'utf8')) as WindowResultFile;
    expect(json.drift.features).toHaveLength(10);
    expect(json.performance.labelled).toBe(true);
    const history = await readHistory(runDir);
    expect(history.map((h) => h.window_id)).toContain(windowOf('mon-same'));
  });

  it('flags dataset drift and a performance drop: audit entries and notifications to validators and admins', async () => {
    // One department's requests with flipped labels: covariate shift in most features, and the model now mostly wrong.
    const users = (await readFile(join(root, 'data', 'users_metadata.csv'), 'utf8')).trim().split('\n');
    const header = users[0]!.split(',');
    const dept = header.indexOf('department');
    const byDept = new Map<string, Set<string>>();
    for (const line of users.slice(1)) {
      const cells = line.split(',');
      const d = cells[dept] ?? '';
      if (d) byDept.set(d, (byDept.get(d) ?? new Set()).add(cells[0]!));
    }
    const [, members] = [...byDept.entries()].sort((a, b) => b[1].size - a[1].size)[0]!;
    const lines = interactions
      .filter((l) => members.has(l.split(',')[0]!))
      .map((l) => {
        const [u, a, y] = l.split(',');
        return `${u},${a},${y === '1' ? 0 : 1}`;
      });
    expect(lines.length).toBeGreaterThan(200);
    const current = await windowCsv('drifted.csv', lines);
    const result = await (await monitor('mon-drift', { current })).result();
    expect(result.drift.driftedDataset).toBe(true);
    expect(result.drift.drifted).toEqual(expect.arrayContaining(['department_filled', 'managerId']));
    expect(result.performance.metrics.accuracy!.change).toBeLessThan(-0.3);
    expect(result.alerts.map((a) => a.kind).sort()).toEqual(['drift_alert', 'performance_alert']);

    const audit = await queryAudit({ run_id: run.runId });
    const alerts = audit.filter((e) => e.resource_id === `${run.runId}/${windowOf('mon-drift')}`);
    expect(alerts.map((e) => e.action).sort()).toEqual(['drift_alert', 'performance_alert']);
    expect(alerts.every((e) => e.user_id === 'system:monitoring' && e.user_role === 'SYSTEM')).toBe(true);
    const outbox = await readOutbox({ runId: run.runId, role: 'VALIDATOR' });
    const sent = outbox.filter((n) => n.details.window_id === windowOf('mon-drift'));
    expect(sent.map((n) => n.kind).sort()).toEqual(['drift_alert', 'performance_alert']);
    expect(sent.every((n) => n.to.roles.includes('ADMIN'))).toBe(true);
    const auditIds = new Set(alerts.map((e) => e.audit_id));
    expect(sent.every((n) => auditIds.has(String(n.details.audit_id)))).toBe(true);
    // A retried alert step raises nothing twice.
    await alertWindow(await windowFolder({ runId: run.runId, windowId: windowOf('mon-drift') }));
    expect(
      (await readOutbox({ runId: run.runId })).filter((n) => n.details.window_id === windowOf('mon-drift')),
    ).toHaveLength(2);
    expect(
      (await queryAudit({ run_id: run.runId })).filter(
        (e) => e.resource_id === `${run.runId}/${windowOf('mon-drift')}`,
      ),
    ).toHaveLength(2);
    // A workflow stopped after its report step (a terminate sent straight to Temporal) has already raised the
    // alerts: the report step raises them before it records the window. The steps run here as the activities run
    // them, and the alert step never does.
    // Someone who writes the data directory also plants outbox lines for the window ahead of time, as if its
    // alerts had gone out: what went out is recorded in the window's signed ledger, so they are raised anyway.
    const stopped = {
      ...(await windowFolder({ runId: run.runId, windowId: windowOf('mon-drift-stopped') })),
      execution: 'e-1',
    };
    const outboxFile = join(root, 'notifications', 'outbox.jsonl');
    const planted = sent.map((n) => JSON.stringify({ ...n, details: { ...n.details, window_id: stopped.windowId } }));
    await writeFile(outboxFile, `${planted.join('\n')}\n`, { flag: 'a' });
    await loadWindow(stopped, { current }, 'tester');
    for (const step of [validateWindow, scoreWindow, driftWindow, performanceWindow, reportWindow]) await step(stopped);
    expect((await readMonitoringManifest(run.runId, runDir)).windows.map((w) => w.windowId)).toContain(
      stopped.windowId,
    );
    const stoppedAudit = (await queryAudit({ run_id: run.runId })).filter(
      (e) => e.resource_id === `${run.runId}/${stopped.windowId}`,
    );
    expect(stoppedAudit.map((e) => e.action).sort()).toEqual(['drift_alert', 'performance_alert']);
    const raised = (await readOutbox({ runId: run.runId })).filter(
      (n) => n.details.window_id === stopped.windowId && stoppedAudit.some((e) => e.audit_id === n.details.audit_id),
    );
    expect(raised.map((n) => n.kind).sort()).toEqual(['drift_alert', 'performance_alert']);
    // A workflow started again under the window's id (another execution) cannot redo the recorded window's steps,
    // and removing its result does not reopen it.
    const impostor = { ...stopped, execution: 'e-2' };
    await expect(reportWindow(impostor)).rejects.toThrow(/belongs to the execution that loaded it \(e-1\), not e-2/);
    await rm(join(stopped.windowDir, 'result.json'));
    await expect(loadWindow(impostor, { current }, 'tester')).rejects.toThrow(/is complete: it is never rewritten/);
    // The alert step reads the result the signed manifest recorded: editing its alerts away is refused, not obeyed.
    const window = await windowFolder({ runId: run.runId, windowId: windowOf('mon-drift') });
    const resultFile = join(window.windowDir, 'result.json');
    const recorded = await readFile(resultFile, 'utf8');
    await writeFile(resultFile, `${JSON.stringify({ ...(JSON.parse(recorded) as object), alerts: [] })}\n`);
    await expect(alertWindow(window)).rejects.toThrow(/result\.json was modified: sha256 /);
    await writeFile(resultFile, recorded);
    // So do the steps before it: each reads what the previous one wrote through the window's signed file record.
    const driftFile = join(window.windowDir, 'drift.json');
    const drift = await readFile(driftFile, 'utf8');
    await writeFile(driftFile, drift.replace(/"drifted_dataset":true/, '"drifted_dataset":false'));
    expect(await readFile(driftFile, 'utf8')).not.toBe(drift);
    await expect(reportWindow(window)).rejects.toThrow(/drift\.json was modified: sha256 /);
    await writeFile(driftFile, drift);
    const ledgerFile = join(window.windowDir, 'files.json');
    const ledger = await readFile(ledgerFile, 'utf8');
    await writeFile(ledgerFile, ledger.replace(/"sha256": "[0-9a-f]+"/, `"sha256": "${'0'.repeat(64)}"`));
    await expect(readWindowInfo(window)).rejects.toThrow(
      /file record of monitoring window .* does not match its signature/,
    );
    await writeFile(ledgerFile, ledger);
  });

  it('monitors an unlabelled window: drift and prediction drift, no target drift, no performance', async () => {
    const current = await windowCsv(
      'unlabelled.csv',
      interactions.slice(1200, 1700).map((l) => l.split(',').slice(0, 2).join(',')),
      'userId,appId',
    );
    const result = await (await monitor('mon-unlabelled', { current })).result();
    expect(result.performance.labelled).toBe(false);
    expect(result.performance.metrics).toEqual({});
    expect(result.drift.targetDrifted).toBeNull();
    expect(result.drift.predictionDrifted).not.toBeNull();
  });

  it('refuses a window that breaks the scoring contract, non-retryable, with the report written', async () => {
    const current = await windowCsv('bad.csv', [...interactions.slice(0, 50), '100001,,1', 'u1,a1,2']);
    const handle = await monitor('mon-bad', { current });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = error.cause?.cause as Error & { type?: string };
    expect(cause.type).toBe('DataValidationError');
    expect(cause.message).toMatch(/expect_column_values_to_not_be_null\(column="appId"\)/);
    expect(cause.message).toMatch(/expect_column_values_to_be_in_set\(column="permission"\)/);
    expect((await handle.query(monitoringProgressQuery)).step).toBe('validate');
    const report = JSON.parse(
      await readFile(join(runDir, 'monitoring', 'windows', windowOf('mon-bad'), 'validation.json'), 'utf8'),
    ) as { success: boolean };
    expect(report.success).toBe(false);
  });

  it('refuses a window without a capability, and a scheduled start while no schedule is configured', async () => {
    const current = await windowCsv('anon.csv', interactions.slice(0, 100));
    const named = (await (await monitor('mon-anon', { current }, false)).result().catch((e: unknown) => e)) as Error;
    expect((named as WorkflowFailedError).cause?.message).toMatch(/a window without a capability is refused/);
    const scheduled = await startMonitoring(client, {
      workflowId: windowOf('mon-unscheduled'),
      input: { runId: run.runId },
    });
    const error = (await scheduled.result().catch((e: unknown) => e)) as WorkflowFailedError;
    const cause = error.cause?.cause as Error & { type?: string };
    expect(cause.type).toBe('GovernanceError');
    expect(cause.message).toMatch(/no capability and no monitoring schedule/);
  });

  it('`monitor schedule` is ADMIN-only, idempotent, and its Temporal Schedule runs the workflow when triggered', async () => {
    const current = await windowCsv('nightly.csv', interactions.slice(300, 1100));
    await addUser({ token }, { userId: 'ana', role: 'ANALYST', reason: 'monitoring test' });
    const ana = (await issueToken({ token }, { userId: 'ana' })).token;
    const denied = await cli(ana, 'monitor', 'schedule', '--run', run.runId, '--current', current);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/required_permission configure_monitoring, your role ANALYST, minimum_role ADMIN/);
    expect(await hasMonitoringSchedule(run.runId)).toBe(false);

    const first = await cli(token, 'monitor', 'schedule', '--run', run.runId, '--current', current, '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ created: true, cron: '0 2 * * *' });
    const again = await cli(
      token,
      'monitor',
      'schedule',
      '--run',
      run.runId,
      '--current',
      current,
      '--cron',
      '30 3 * * *',
      '--json',
    );
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, cron: '30 3 * * *' });
    expect(await hasMonitoringSchedule(run.runId)).toBe(true);
    const scheduleId = `monitor-${run.runId}`;
    const described = await temporalCli(
      stack.server.address,
      'schedule',
      'describe',
      '--schedule-id',
      scheduleId,
      '--output',
      'json',
    );
    // The server keeps the cron as a calendar: the next fire times show the update took.
    expect(described).toMatch(/"futureActionTimes": \[\s*"[^"]+T03:30:00Z"/);
    const configured = (await queryAudit({ action: 'monitoring_configured' })).map((e) => e.result);
    expect(configured).toEqual(['created', 'updated']);

    const before = (await readHistory(runDir)).length;
    await temporalCli(stack.server.address, 'schedule', 'trigger', '--schedule-id', scheduleId);
    const deadline = Date.now() + 60_000;
    let history = await readHistory(runDir);
    while (history.length === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      history = await readHistory(runDir);
    }
    const scheduled = history.at(-1)!;
    expect(history.length).toBe(before + 1);
    expect(scheduled.window_id.startsWith(`${scheduleId}-`)).toBe(true);
    expect(scheduled.rows).toBe(800);
    await readFile(join(runDir, scheduled.report_html));

    // A night that records no window shows in `monitor status`: here the feed's CSV is gone, so the window fails.
    await rm(current);
    await temporalCli(stack.server.address, 'schedule', 'trigger', '--schedule-id', scheduleId);
    type Recent = { workflowId: string; status: string; recorded: boolean };
    const recentRuns = async (): Promise<Recent[]> => {
      const status = await cli(token, 'monitor', 'status', '--run', run.runId, '--json');
      expect(status.code, status.stderr).toBe(0);
      return (JSON.parse(status.stdout) as { schedule: { recentRuns: Recent[] } }).schedule.recentRuns;
    };
    let recent = await recentRuns();
    while ((recent.length < 2 || recent[1]!.status === 'RUNNING') && Date.now() < deadline + 30_000) {
      await new Promise((r) => setTimeout(r, 500));
      recent = await recentRuns();
    }
    expect(recent.map((r) => [r.status, r.recorded])).toEqual([
      ['COMPLETED', true],
      ['FAILED', false],
    ]);
    expect(windowIdOf(recent[0]!.workflowId)).toBe(scheduled.window_id);
    const printed = await cli(token, 'monitor', 'status', '--run', run.runId);
    expect(printed.stdout).toMatch(new RegExp(`${recent[1]!.workflowId} FAILED, NOT RECORDED`));

    const trend = await cli(token, 'monitor', 'history', '--run', run.runId, '--json');
    expect(trend.code, trend.stderr).toBe(0);
    const rows = JSON.parse(trend.stdout) as Array<{ label: string; dataset_drift: boolean; roc_auc: number | null }>;
    expect(rows).toHaveLength(history.length);
    expect(rows.some((r) => r.dataset_drift)).toBe(true);
    expect(rows.filter((r) => r.roc_auc === null)).toHaveLength(1);
  });
});
