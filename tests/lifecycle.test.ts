import { access, appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readVerified } from '../lib/artifacts';
import { readDeployment } from '../lib/run/deployment';
import { trainGbdt, predictProba } from '../lib/gbdt';
import { addUser, delegateApproval, isAllowed, issueCapability, issueToken, queryAudit } from '../lib/governance';
import { OTHER_BIN } from '../lib/binning';
import { queryRows, withDuckDb } from '../lib/data/duck';
import { keyringDir } from '../lib/keys';
import { lifecycleView, LOCK_FILE, readLock, readManifest } from '../lib/run';
import { applyCategoryGroups, createVersion, planOverride, versionBinningTables } from '../lib/lifecycle/versions';
import { registerSchedule } from '../lib/monitor/store';
import { readOutbox } from '../lib/notify';
import type { CapabilityOperation } from '../schemas/governance';
import type { FeatureMatrix } from '../schemas/matrix';
import {
  EMPTY_OVERRIDE_SPEC,
  OVERRIDE_PERMISSION,
  type BinningTable,
  type LifecycleState,
  type Verdict,
} from '../schemas/lifecycle';
import { pipelineActivities } from '../worker/worker';
import { TASK_QUEUE } from '../workflows/definitions';
import {
  approveDeploymentUpdate,
  fileOverrideSignal,
  fileOverrideUpdate,
  lockRunUpdate,
  reviewOverrideUpdate,
  runReproducibilityUpdate,
  stateQuery,
} from '../workflows/lifecycleDefinitions';
import {
  connectClient,
  LIFECYCLE_UPDATES,
  lifecycleHandle,
  startDevServer,
  startLocalWorker,
  startTrainingPipeline,
  withRecords,
  type DevServer,
  type LifecycleUpdate,
  type TemporalServer,
} from '../client';
import { makeTeam, type Team } from './governance/fixtures';
import {
  pipelineInput,
  cliInProcess,
  serverFromEnv,
  smallConfig,
  smallDataset,
  temporalCli,
  useTempDataDir,
  writeConfig,
  copyRun,
} from './helpers';

let root: string;
let server: DevServer;
let target: TemporalServer;
let stopWorker: () => Promise<void>;
let client: Client;
let team: Team;
let analyst2: string;
let runA: WorkflowHandle;
let runB: WorkflowHandle;
let runBFirstRunId: string;
let configPath: string;
const runsDir = () => join(root, 'runs');

/** A worker on the test server, from the prebuilt workflow bundle, so a restart takes a moment. */
async function startWorker(): Promise<void> {
  const local = await startLocalWorker(target, { overrides: { shutdownGraceTime: '1s' } });
  stopWorker = () => local.stop();
}

/** The CLI (in this process) against the test's server, with `token` as the caller's token. */
const cli = (token: string, ...args: string[]) =>
  cliInProcess({ TEMPORAL_ADDRESS: server.address, ACCESS_PERM_TOKEN: token }, ...args);

const state = (h: WorkflowHandle): Promise<LifecycleState> => h.query(stateQuery);

/** `body` with a capability for it, issued to the holder of `token` for run `runId`: what our CLI sends. */
async function signed<B extends Record<string, unknown>>(
  token: string,
  op: CapabilityOperation,
  body: B,
  runId = 'lc-a',
) {
  return { ...body, capability: await issueCapability({ token, source: 'cli' }, { op, runId, request: body }) };
}

/** `body` sent to `h` as the update `op`, signed for the holder of `token`: the verdict. */
async function updateAs(
  h: WorkflowHandle,
  token: string,
  op: LifecycleUpdate,
  body: Record<string, unknown>,
  runId: string,
): Promise<Verdict> {
  return h.executeUpdate(LIFECYCLE_UPDATES[op] as typeof lockRunUpdate, {
    args: [(await signed(token, op, body, runId)) as never],
  });
}

/** The input `access-perm auth capability` prints for the `temporal` CLI (the real command, as docs show it). */
async function capabilityInput(token: string, op: CapabilityOperation, runId: string, body: object): Promise<string> {
  const out = await cli(token, 'auth', 'capability', '--op', op, '--run', runId, '--request', JSON.stringify(body));
  expect(out.code, out.stderr).toBe(0);
  return out.stdout.trim();
}

/** Polls the state until `done` holds (background jobs, signals) or fails after `ms`. */
async function until(h: WorkflowHandle, done: (s: LifecycleState) => boolean, ms = 60_000): Promise<LifecycleState> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await state(h).catch(() => null);
    if (s && done(s)) return s;
    if (Date.now() > end) throw new Error(`timed out; last state ${JSON.stringify(s?.events.at(-1))}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
const idle = (h: WorkflowHandle) => until(h, (s) => s.job === null);

beforeAll(async () => {
  root = await useTempDataDir('lifecycle');
  team = await makeTeam();
  await addUser({ token: team.admin }, { userId: 'analyst2', role: 'ANALYST', reason: 'delegated reviewer' });
  analyst2 = (await issueToken({ token: team.admin }, { userId: 'analyst2' })).token;
  server = await startDevServer({ dbFile: join(root, 'temporal.sqlite') });
  target = await serverFromEnv(server.address);
  await startWorker();
  client = await connectClient(target);
  const data = await smallDataset(join(root, 'data'), 2000);
  configPath = await writeConfig(
    root,
    'config.yaml',
    smallConfig(data, (c) => {
      c.model.catboost.iterations = 10;
      c.validation.n_splits = 2;
    }),
  );
  await (
    await startTrainingPipeline(client, { runId: 'lc-a', input: await pipelineInput('lc-a', configPath, team.admin) })
  ).result();
  runA = lifecycleHandle(client, 'lc-a');
  // A second run for rejection, delegation and continue-as-new: a copy of the trained folder with its own
  // lifecycle, started with a short history limit.
  await copyRun('lc-a', 'lc-b');
  runB = await client.workflow.start('runLifecycle', {
    taskQueue: TASK_QUEUE,
    workflowId: 'lifecycle-lc-b',
    args: [{ runId: 'lc-b', historyLimit: 60 }],
  });
  runBFirstRunId = (runB as WorkflowHandle & { firstExecutionRunId: string }).firstExecutionRunId;
  await copyRun('lc-a', 'lc-c');
});

afterAll(async () => {
  await client?.connection.close();
  await stopWorker?.();
  await server?.stop();
});

describe('monotone constraints in the trainer', () => {
  it('keeps predictions monotone in a constrained feature even when the data says otherwise', () => {
    const n = 2000;
    const x = new Float64Array(n);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = i % 100;
      // Approval falls with x except for a bump in the middle: unconstrained trees follow the bump.
      const p = x[i]! > 40 && x[i]! < 60 ? 0.9 : 1 - x[i]! / 100;
      labels[i] = (i * 7919) % 100 < p * 100 ? 1 : 0;
    }
    const matrix: FeatureMatrix = { rowCount: n, categorical: [], numeric: [{ name: 'x', values: x }] };
    const params = { iterations: 40, depth: 3, learning_rate: 0.3, random_seed: 1 };
    const grid: FeatureMatrix = {
      rowCount: 100,
      categorical: [],
      numeric: [{ name: 'x', values: Float64Array.from({ length: 100 }, (_, i) => i) }],
    };
    const free = predictProba(trainGbdt(matrix, labels, params), grid);
    const down = predictProba(trainGbdt(matrix, labels, { ...params, monotone_constraints: { x: -1 } }), grid);
    const rises = (p: Float64Array) => p.some((v, i) => i > 0 && v > p[i - 1]! + 1e-12);
    expect(rises(free)).toBe(true);
    expect(rises(down)).toBe(false);
  });
});

describe('trainer parameters set by overrides', () => {
  it('never splits on ignored features and splits numeric features only at given borders', () => {
    const n = 1000;
    const a = Float64Array.from({ length: n }, (_, i) => i % 50);
    const b = Float64Array.from({ length: n }, (_, i) => (i * 37) % 50);
    const labels = Uint8Array.from({ length: n }, (_, i) => (a[i]! + b[i]! > 50 ? 1 : 0));
    const matrix: FeatureMatrix = {
      rowCount: n,
      categorical: [],
      numeric: [
        { name: 'a', values: a },
        { name: 'b', values: b },
      ],
    };
    const model = trainGbdt(matrix, labels, {
      iterations: 20,
      depth: 3,
      random_seed: 3,
      ignored_features: ['b'],
      feature_borders: { a: [10.5, 30.5] },
    });
    const splits = model.trees.flatMap((t) => t.splits);
    const used = new Set(splits.map((sp) => (sp.type === 'float' ? model.floatFeatures[sp.feature]!.name : '')));
    expect([...used]).toEqual(['a']);
    expect(new Set(splits.map((sp) => (sp.type === 'float' ? sp.border : NaN)))).toEqual(new Set([10.5, 30.5]));
    expect(model.features.map((f) => f.name)).toEqual(['a', 'b']);
  });
});

describe('override plans on a trained run folder', () => {
  it('groups categories in the new version (rare ones become __OTHER__) and records the full diff', async () => {
    const runDir = join(runsDir(), 'lc-a');
    const tables = await versionBinningTables(runDir, runDir);
    const category = tables.find((t) => t.feature === 'category')!;
    const [first, second, third] = (category.binning as { groups: string[][] }).groups.flat();
    const plan = await planOverride(runDir, runDir, {
      kind: 'bin_override',
      feature: 'category',
      binning: { kind: 'categorical', groups: [[first!, second!], [third!]] },
    });
    expect((plan.after as { bins: { label: string }[] }).bins.map((x) => x.label)).toEqual([
      `${first} | ${second}`,
      third,
      OTHER_BIN,
    ]);
    const target = join(root, 'grouped.parquet');
    await applyCategoryGroups(join(runDir, 'features', 'features.parquet'), target, plan.spec);
    const values = await withDuckDb((conn) =>
      queryRows(conn, `SELECT DISTINCT category FROM read_parquet('${target}') ORDER BY 1`),
    );
    expect(values.map((r) => r.category)).toEqual([`${first}|${second}`, third, '__OTHER__'].sort());
    await expect(
      planOverride(runDir, runDir, { kind: 'merge_bins', feature: 'seniority', bins: [0, 2] }),
    ).rejects.toThrow(/adjacent/);
    await expect(planOverride(runDir, runDir, { kind: 'feature_selection', ignored: ['salary'] })).rejects.toThrow(
      /unknown feature salary/,
    );
  });

  it('auto-generates bins with a bin count (numeric) or a rare share (categorical); ANALYST may, VALIDATOR may not', async () => {
    const runDir = join(runsDir(), 'lc-a');
    type View = { bins: { label: string; count: number }[] };
    const numeric = await planOverride(runDir, runDir, { kind: 'auto_bins', feature: 'seniority', max_bins: 3 });
    const numericBins = (numeric.after as View).bins.filter((b) => b.label !== '(missing)');
    expect(numericBins.length).toBeLessThanOrEqual(3);
    expect((numeric.before as View).bins.length).toBeGreaterThan(numericBins.length);
    expect(numeric.spec.binning.seniority).toMatchObject({ kind: 'numeric' });

    const categorical = await planOverride(runDir, runDir, { kind: 'auto_bins', feature: 'appId', min_share: 0.02 });
    const bins = (categorical.after as View).bins;
    const rows = bins.reduce((n, b) => n + b.count, 0);
    // Every kept category holds at least 2% of the rows; the rest are in the other bin.
    expect(bins.length).toBeGreaterThan(2);
    for (const b of bins.filter((x) => x.label !== OTHER_BIN)) expect(b.count).toBeGreaterThanOrEqual(0.02 * rows);
    expect(bins.at(-1)!.label).toBe(OTHER_BIN);

    await expect(planOverride(runDir, runDir, { kind: 'auto_bins', feature: 'appId', max_bins: 3 })).rejects.toThrow(
      /appId is categorical: give min_share, not max_bins/,
    );
    expect(isAllowed({ userId: 'a', role: 'ANALYST' }, OVERRIDE_PERMISSION.auto_bins).allowed).toBe(true);
    expect(isAllowed({ userId: 'a', role: 'ANALYST' }, OVERRIDE_PERMISSION.bin_override).allowed).toBe(false);
    expect(isAllowed({ userId: 'v', role: 'VALIDATOR' }, OVERRIDE_PERMISSION.auto_bins).allowed).toBe(false);
  });
});

describe('run lifecycle on a real Temporal dev server', () => {
  it('starts when training completes: state trained, binning tables in the manifest, viewable by a VIEWER', async () => {
    const s = await until(runA, () => true);
    expect(s).toMatchObject({ runId: 'lc-a', status: 'trained', currentVersion: 1, ownerId: 'root' });
    const runDir = join(runsDir(), 'lc-a');
    const manifest = await readManifest(runDir);
    const model = manifest.artifacts.find((a) => a.path === 'model/model.json')!;
    expect(s.versions[0]!.modelSha256).toBe(model.sha256);
    const tablesRef = manifest.artifacts.find((a) => a.path === 'binning/tables.json')!;
    const tables = JSON.parse((await readVerified(runDir, tablesRef)).toString()) as BinningTable[];
    expect(tables.map((t) => t.feature)).toEqual(expect.arrayContaining(['seniority', 'appId', 'department_filled']));

    const viewed = await cli(team.tokens.VIEWER, 'bins', 'lc-a', '--feature', 'seniority', '--json');
    expect(viewed.code).toBe(0);
    const seniority = (JSON.parse(viewed.stdout) as { tables: BinningTable[] }).tables[0]!;
    expect(seniority.bins.reduce((n, b) => n + b.count, 0)).toBe(2000);
    expect(seniority.iv).toBeCloseTo(
      seniority.bins.reduce((v, b) => v + b.iv, 0),
      10,
    );
    for (const b of seniority.bins) expect(Number.isFinite(b.woe)).toBe(true);
  });

  it('refuses each role what the matrix refuses, audits every denial and keeps it in the state', async () => {
    // seed-3 §8 scenario 1 through the installed temporal binary: an ANALYST tries a manual bin override.
    const analystAttempt = await capabilityInput(team.tokens.ANALYST, 'fileOverride', 'lc-a', {
      reason: 'Want to split seniority bin',
      change: { kind: 'bin_override', feature: 'seniority', binning: { kind: 'numeric', borders: [3, 8] } },
    });
    const out = await temporalCli(
      server.address,
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      'lifecycle-lc-a',
      '--name',
      'fileOverride',
      '--input',
      analystAttempt,
      '--output',
      'json',
    );
    expect(out).toMatch(/"required_permission":\s*"binning_override"/);
    expect(out).toMatch(/"minimum_role":\s*"MODELER"/);
    expect(out).toMatch(/"ok":\s*false/);

    const attempt = async (
      update: typeof lockRunUpdate | typeof fileOverrideUpdate | typeof reviewOverrideUpdate,
      token: string,
      body: Record<string, unknown>,
    ) =>
      runA.executeUpdate(update as typeof lockRunUpdate, {
        args: [(await signed(token, update.name as CapabilityOperation, body)) as never],
      });
    const merge = { kind: 'merge_bins', feature: 'seniority', bins: [0, 1] };
    const cases: [string, Promise<Verdict>, string][] = [
      [
        'VALIDATOR merges bins',
        attempt(fileOverrideUpdate, team.tokens.VALIDATOR, { reason: 'x', change: merge }),
        'merge_bins',
      ],
      ['MODELER locks', attempt(lockRunUpdate, team.tokens.MODELER, { reason: 'x' }), 'lock_run'],
      ['VIEWER locks', attempt(lockRunUpdate, team.tokens.VIEWER, { reason: 'x' }), 'lock_run'],
      [
        'ANALYST reviews without a delegation',
        attempt(reviewOverrideUpdate, team.tokens.ANALYST, {
          overrideId: 'ov-1',
          decision: 'approve',
          reason: 'x',
        }),
        'approve_deployment',
      ],
      [
        'VALIDATOR regenerates bins',
        attempt(fileOverrideUpdate, team.tokens.VALIDATOR, {
          reason: 'x',
          change: { kind: 'auto_bins', feature: 'seniority', max_bins: 3 },
        }),
        'auto_generate_bins',
      ],
      [
        'VIEWER adjusts regularisation',
        attempt(fileOverrideUpdate, team.tokens.VIEWER, {
          reason: 'x',
          change: { kind: 'regularization', params: { l2_leaf_reg: 20 } },
        }),
        'adjust_regularization',
      ],
    ];
    for (const [what, pending, permission] of cases) {
      const v = await pending;
      expect(v, what).toMatchObject({ ok: false, error: 'PermissionDeniedError' });
      expect(v.denial, what).toMatchObject({ required_permission: permission });
    }
    // A missing reason never reaches the workflow's history: the update's validator rejects it.
    const noReason = await signed(team.tokens.MODELER, 'fileOverride', { reason: ' ', change: merge as never });
    await expect(runA.executeUpdate(fileOverrideUpdate, { args: [noReason] })).rejects.toBeInstanceOf(
      WorkflowUpdateFailedError,
    );

    // The same as a signal cannot answer: the refusal lands in the state, and the workflow carries on.
    await runA.signal(fileOverrideSignal, noReason);
    await until(runA, (x) => x.events.some((e) => /invalid fileOverride request: reason/.test(e.message)));

    const s = await state(runA);
    // The updates above ran concurrently; the workflow serialises them in arrival order.
    expect(s.denials.map((d) => d.permission).sort()).toEqual([
      'adjust_regularization',
      'approve_deployment',
      'auto_generate_bins',
      'binning_override',
      'lock_run',
      'lock_run',
      'merge_bins',
    ]);
    // Each denial names who was refused.
    expect(s.denials.find((d) => d.permission === 'binning_override')!.userId).toBe('analyst');
    expect(
      s.denials
        .filter((d) => d.permission === 'lock_run')
        .map((d) => d.userId)
        .sort(),
    ).toEqual(['modeler', 'viewer']);
    expect(s.status).toBe('trained');
    const audited = await queryAudit({ action: 'permission_denied', run_id: 'lc-a' });
    expect(audited.find((e) => e.attempted_action === 'binning_override')).toMatchObject({
      user_id: 'analyst',
      user_role: 'ANALYST',
      status: 'denied',
      source: 'workflow',
    });
  });

  it('a MODELER bin merge builds version 2 in a child workflow, notifies validators and blocks locking', async () => {
    const v = await runA.executeUpdate(fileOverrideUpdate, {
      args: [
        await signed(team.tokens.MODELER, 'fileOverride', {
          reason: 'seniority below the second border behaves alike',
          change: { kind: 'merge_bins' as const, feature: 'seniority', bins: [0, 1] },
        }),
      ],
    });
    expect(v).toMatchObject({ ok: true, overrideId: 'ov-1', status: 'manual_override_pending_review' });
    const blocked = await runA.executeUpdate(lockRunUpdate, {
      args: [await signed(team.tokens.VALIDATOR, 'lockRun', { reason: 'ship' })],
    });
    expect(blocked.ok).toBe(false);

    const s = await idle(runA);
    const ov = s.overrides[0]!;
    expect(ov).toMatchObject({ status: 'pending_review', version: 2, requestedBy: { userId: 'modeler' } });
    expect(s).toMatchObject({ status: 'manual_override_pending_review', currentVersion: 2 });
    const after = ov.after as { binning: { borders: number[] }; bins: unknown[] };
    const before = ov.before as { bins: unknown[] };
    expect(after.bins.length).toBe(before.bins.length - 1);
    const v2 = join(runsDir(), 'lc-a', 'versions', 'v2');
    const model = JSON.parse(await readFile(join(v2, 'model', 'model.json'), 'utf8')) as {
      params: { feature_borders: Record<string, number[]> };
    };
    expect(model.params.feature_borders.seniority).toEqual(after.binning.borders);
    for (const a of (await readManifest(v2)).artifacts) await readVerified(v2, a);

    const [entry] = await queryAudit({ action: 'merge_bins', run_id: 'lc-a' });
    expect(entry).toMatchObject({ user_id: 'modeler', resource_id: 'lc-a/seniority', reason: expect.any(String) });
    expect(entry!.before).toBeTruthy();
    expect(entry!.after).toBeTruthy();
    const alerts = await readOutbox({ role: 'VALIDATOR', runId: 'lc-a' });
    expect(alerts.map((n) => n.kind)).toContain('override_pending_review');
  });

  it('survives a worker restart while the review is pending; the approval sent by temporal CLI signal lands', async () => {
    const pending = async (): Promise<string> => {
      for (let i = 0; ; i++) {
        const out = await temporalCli(
          server.address,
          'workflow',
          'list',
          '--query',
          'RunStatus="manual_override_pending_review"',
        );
        if (out.includes('lifecycle-lc-a') || i === 20) return out;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    expect(await pending()).toContain('lifecycle-lc-a');
    const approval = await capabilityInput(team.tokens.VALIDATOR, 'reviewOverride', 'lc-a', {
      overrideId: 'ov-1',
      decision: 'approve',
      reason: 'stable AUC, simpler bins',
    });
    await stopWorker();
    await temporalCli(
      server.address,
      'workflow',
      'signal',
      '--workflow-id',
      'lifecycle-lc-a',
      '--name',
      'reviewOverride',
      '--input',
      approval,
    );
    await startWorker();
    const s = await until(runA, (x) => x.status === 'approved');
    expect(s.overrides[0]!.review).toMatchObject({ decision: 'approve', by: { userId: 'validator' } });
    expect(s.versions).toHaveLength(2);
    const [approved] = await queryAudit({ action: 'override_approved', run_id: 'lc-a' });
    expect(approved).toMatchObject({ user_id: 'validator', resource_id: 'ov-1' });
    expect((await readOutbox({ user: 'modeler', runId: 'lc-a' })).map((n) => n.kind)).toContain('override_approved');
  });

  it('reproduces version 2 exactly, then locks only when every requirement is met', async () => {
    // `repro --wait` returns once the test has finished, with every check and the outcome.
    const repro = await cli(team.tokens.MODELER, 'repro', 'lc-a', '--wait');
    expect(repro.code, repro.stderr).toBe(0);
    expect(repro.stdout).toMatch(/^ok +model file sha256$/m);
    expect(repro.stdout).toMatch(/version 2 reproduced exactly/);
    const s = await state(runA);
    expect(s.job).toBeNull();
    expect(s.reproducibility).toMatchObject({ passed: true, version: 2 });
    expect(s.reproducibility!.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['model file sha256', 'OOF metrics', 'OOF predictions fold 0 sha256']),
    );
    await access(join(runsDir(), 'lc-a', s.reproducibility!.artifact));

    // A test that cannot run fails the command, although an earlier passed result is still in the state.
    const interactions = join(root, 'data', 'interactions.csv');
    const original = await readFile(interactions);
    await appendFile(interactions, `${original.toString('utf8').split('\n')[1]}\n`); // one decision twice
    const changed = await cli(team.tokens.VALIDATOR, 'repro', 'lc-a', '--wait').finally(() =>
      writeFile(interactions, original),
    );
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/input data changed since the run: \S*interactions\.csv sha256/);
    expect((await state(runA)).reproducibility).toMatchObject({ passed: true, version: 2 });

    const early = await runA.executeUpdate(lockRunUpdate, {
      args: [await signed(team.tokens.VALIDATOR, 'lockRun', { reason: 'ship' })],
    });
    expect(early).toMatchObject({ ok: false, error: 'LockRequirementError' });
    expect(early.message).toMatch(/monitoring schedule/);
    // The test that ran and the refused lock are both on record.
    expect(await queryAudit({ action: 'reproducibility_test', run_id: 'lc-a' })).toEqual([
      expect.objectContaining({ user_id: 'modeler', resource_id: 'lc-a/v2', status: 'success' }),
    ]);
    const refusedLock = await queryAudit({ action: 'lifecycle_refused', run_id: 'lc-a', user_id: 'validator' });
    expect(refusedLock.at(-1)).toMatchObject({
      attempted_action: 'lockRun',
      reason: expect.stringMatching(/schedule/),
    });
    // What `access-perm monitor schedule` registers next to the Temporal Schedule (tests/monitoring.test.ts).
    await registerSchedule({
      runId: 'lc-a',
      scheduleId: 'monitor-lc-a',
      cron: '0 2 * * *',
      current: join(root, 'data', 'interactions.csv'),
      configuredBy: 'admin',
      configuredAt: new Date().toISOString(),
    });

    // The signed plan alone is not enough: the Schedule that runs it must be on the Temporal server.
    const unscheduled = await cli(team.tokens.VALIDATOR, 'lock', 'lc-a', '--reason', 'validated for release');
    expect(unscheduled.stderr).toMatch(/not met: monitoring schedule in place/);
    await client.schedule.create({
      scheduleId: 'monitor-lc-a',
      spec: { cronExpressions: ['0 2 * * *'] },
      action: {
        type: 'startWorkflow',
        workflowType: 'monitoringWorkflow',
        taskQueue: TASK_QUEUE,
        args: [{ runId: 'lc-a' }],
      },
      state: { paused: true },
    });
    // A workflow answering under the lifecycle's id (one started on the Temporal server in place of ours) is
    // believed for its journal only: what the CLI, API and console show of versions, reviews and the lock is read
    // from the records.
    const claimed = { ...(await state(runA)), status: 'locked' as const, currentVersion: 7, reproducibility: null };
    const shown = await withRecords('lc-a', claimed);
    expect(shown).toMatchObject({ status: 'approved', currentVersion: 2, lock: null });
    expect(shown.reproducibility).toMatchObject({ version: 2, passed: true });
    // Someone who writes the data directory points the version's users table at the keyring's token secret just
    // before the lock, to have it frozen into the data directory: the lock reads the config its manifest recorded.
    const versionConfig = join(runsDir(), 'lc-a', 'versions', 'v2', 'config.json');
    const recordedConfig = await readFile(versionConfig, 'utf8');
    const planted = JSON.parse(recordedConfig) as { data: Record<string, unknown> };
    planted.data.users = join(keyringDir(), 'token.secret');
    await writeFile(versionConfig, JSON.stringify(planted));
    const stolen = await cli(team.tokens.VALIDATOR, 'lock', 'lc-a', '--reason', 'validated for release');
    expect(stolen.code).not.toBe(0);
    expect(stolen.stderr).toMatch(/config\.json was modified: sha256/);
    expect(await readLock(join(runsDir(), 'lc-a'))).toBeNull();
    await writeFile(versionConfig, recordedConfig);

    const locked = await cli(team.tokens.VALIDATOR, 'lock', 'lc-a', '--reason', 'validated for release');
    expect(locked.code).toBe(0);
    const after = await state(runA);
    expect(after.status).toBe('locked');
    expect(after.lock).toMatchObject({ locked_by: 'validator', version: 2, deployment_approved: false });
    const lock = (await readLock(join(runsDir(), 'lc-a')))!;
    expect(lock.artifacts.map((a) => a.path)).toEqual(
      expect.arrayContaining([
        'versions/v2/model/model.onnx',
        'versions/v2/model/model.json',
        'versions/v2/manifest.json',
      ]),
    );
  });

  it('a locked run is immutable: changes fail naming who locked it, are audited, and change nothing', async () => {
    const v = await runA.executeUpdate(fileOverrideUpdate, {
      args: [
        await signed(team.tokens.MODELER, 'fileOverride', {
          reason: 'late tweak',
          change: { kind: 'threshold' as const, threshold: 0.4 },
        }),
      ],
    });
    expect(v).toMatchObject({ ok: false, error: 'RunLockedError', status: 'locked' });
    expect(v.message).toMatch(/Run lc-a is locked by validator .* Cannot modify locked runs/);
    const viaCli = await cli(team.tokens.MODELER, 'override', 'lc-a', '--threshold', '0.4', '--reason', 'late tweak');
    expect(viaCli.code).toBe(1);
    expect(viaCli.stderr.trim().split('\n')).toHaveLength(1);
    expect(viaCli.stderr).toMatch(/locked by validator/);
    const s = await state(runA);
    expect(s.overrides).toHaveLength(1);
    expect(s.currentVersion).toBe(2);
    // The refusal in the state names who was refused (the token was valid; only the run's state said no).
    expect(s.events.at(-1)).toMatchObject({ operation: 'fileOverride', outcome: 'refused', userId: 'modeler' });
    // seed-3 §5 "no re-runs of same config": training again under the locked run's id stops at the first step.
    const rerun = (await client.workflow
      .execute('trainingPipeline', {
        taskQueue: TASK_QUEUE,
        workflowId: 'lc-a',
        args: [await pipelineInput('lc-a', configPath, team.admin)],
      })
      .catch((e: unknown) => e)) as WorkflowFailedError;
    expect(rerun).toBeInstanceOf(WorkflowFailedError);
    expect(rerun.cause?.cause).toMatchObject({ type: 'RunLockedError' });
    const refused = await queryAudit({ action: 'lifecycle_refused', run_id: 'lc-a' });
    expect(refused.filter((e) => e.user_id === 'modeler' && /locked by validator/.test(e.reason ?? ''))).toHaveLength(
      2,
    );
  });

  it('deployment approval points deployment.json at the run; export bundles it; a tampered file is refused', async () => {
    const early = await cli(team.tokens.MODELER, 'export', 'lc-a', '--out', join(root, 'bundle0'));
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/lc-a is locked but not approved for deployment.*access-perm deploy lc-a/);
    const v = await runA.executeUpdate(approveDeploymentUpdate, {
      args: [await signed(team.tokens.VALIDATOR, 'approveDeployment', { reason: 'go' })],
    });
    expect(v.ok).toBe(true);
    const lock = (await readLock(join(runsDir(), 'lc-a')))!;
    const onnx = lock.artifacts.find((a) => a.role === 'model-onnx')!;
    expect(await readDeployment()).toMatchObject({
      run_id: 'lc-a',
      model_sha256: onnx.sha256,
      deployed_by: 'validator',
    });

    const out = join(root, 'bundle');
    const exported = await cli(team.tokens.MODELER, 'export', 'lc-a', '--out', out);
    expect(exported.code).toBe(0);
    for (const f of ['model.onnx', 'model.json', 'model_card.md', 'manifest.json', 'threshold.json', LOCK_FILE])
      await access(join(out, f));
    const [exportedEntry] = await queryAudit({ action: 'run_exported', run_id: 'lc-a' });
    expect(exportedEntry).toMatchObject({ user_id: 'modeler', source: 'cli', status: 'success' });
    expect(exportedEntry!.details).toMatchObject({ out, files: expect.arrayContaining(['model.onnx', LOCK_FILE]) });

    await appendFile(join(runsDir(), 'lc-a', 'versions', 'v2', 'model', 'model.json'), ' ');
    const tampered = await cli(team.tokens.MODELER, 'export', 'lc-a', '--out', join(root, 'bundle2'));
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/versions\/v2\/model\/model\.json was modified/);
  });

  it('ANALYST may enforce monotonicity; a delegated approval records both people; rejection is final; state survives continue-as-new', async () => {
    // `override --wait` returns once the new version is built and waits for review.
    const mono = await cli(
      team.tokens.ANALYST,
      'override',
      'lc-b',
      '--monotone',
      'seniority:1',
      '--reason',
      'longer tenure must never lower the approval score',
      '--wait',
    );
    expect(mono.code, mono.stderr).toBe(0);
    expect(mono.stdout).toMatch(/override ov-1 filed/);
    expect(mono.stdout).toMatch(/version 2 ready: OOF ROC-AUC 0\.\d{4} \(version 1: 0\.\d{4}\)/);
    expect(await state(runB)).toMatchObject({ job: null, overrides: [{ id: 'ov-1', status: 'pending_review' }] });
    const model = JSON.parse(await readFile(join(runsDir(), 'lc-b', 'versions', 'v2', 'model', 'model.json'), 'utf8'));
    expect(model.params.monotone_constraints).toEqual({ seniority: 1 });

    await delegateApproval(
      { token: team.tokens.MODELER },
      { overrideId: 'ov-1', runId: 'lc-b', delegateTo: 'analyst2', reason: 'analyst2 knows the tenure data' },
    );
    const delegated = await runB.executeUpdate(reviewOverrideUpdate, {
      args: [
        await signed(
          analyst2,
          'reviewOverride',
          { overrideId: 'ov-1', decision: 'approve', reason: 'monotone and AUC unchanged' },
          'lc-b',
        ),
      ],
    });
    expect(delegated).toMatchObject({ ok: true, status: 'approved' });
    const [entry] = await queryAudit({ action: 'override_approved', run_id: 'lc-b' });
    expect(entry).toMatchObject({ user_id: 'analyst2', delegated_by: 'modeler', delegated_to: 'analyst2' });

    expect(
      (
        await runB.executeUpdate(fileOverrideUpdate, {
          args: [
            await signed(
              team.tokens.MODELER,
              'fileOverride',
              { reason: 'fewer false approvals', change: { kind: 'threshold' as const, threshold: 0.7 } },
              'lc-b',
            ),
          ],
        })
      ).ok,
    ).toBe(true);
    await idle(runB);
    const rejected = await runB.executeUpdate(reviewOverrideUpdate, {
      args: [
        await signed(
          team.tokens.VALIDATOR,
          'reviewOverride',
          { overrideId: 'ov-2', decision: 'reject', reason: 'cut not justified by costs' },
          'lc-b',
        ),
      ],
    });
    expect(rejected).toMatchObject({ ok: true, status: 'rejected' });
    const again = await runB.executeUpdate(fileOverrideUpdate, {
      args: [
        await signed(
          team.tokens.MODELER,
          'fileOverride',
          { reason: 'retry', change: { kind: 'threshold' as const, threshold: 0.6 } },
          'lc-b',
        ),
      ],
    });
    expect(again).toMatchObject({ ok: false, status: 'rejected' });
    expect(again.message).toMatch(/rejection is final/);
    const repro = await signed(team.tokens.VALIDATOR, 'runReproducibility', {}, 'lc-b');
    expect((await runB.executeUpdate(runReproducibilityUpdate, { args: [repro] })).ok).toBe(false);
    expect((await readOutbox({ user: 'modeler', runId: 'lc-b' })).map((n) => n.kind)).toContain('override_rejected');

    const s = await until(runB, (x) => x.generation >= 1);
    expect(s.status).toBe('rejected');
    expect(s.overrides.map((o) => [o.id, o.status])).toEqual([
      ['ov-1', 'approved'],
      ['ov-2', 'rejected'],
    ]);
    expect(s.overrides[0]!.review).toMatchObject({ by: { userId: 'analyst2' }, delegatedBy: 'modeler' });
    const description = await runB.describe();
    expect(description.runId).not.toBe(runBFirstRunId);
  });

  it("a review that lands before the build's follow-up is taken as it is, and the lifecycle goes on", async () => {
    // The records show a version built as soon as its build wrote them, so a validator can approve it before the
    // lifecycle's own follow-up (telling validators) runs. A worker holds that follow-up until the approval landed.
    await stopWorker();
    const activities = pipelineActivities();
    let release = () => {};
    const approved = new Promise<void>((resolve) => (release = resolve));
    const held = await startLocalWorker(target, {
      overrides: {
        shutdownGraceTime: '1s',
        activities: {
          ...activities,
          versionBuilt: async (input: { runId: string; version: number }) => {
            await approved;
            return activities.versionBuilt(input);
          },
        },
      },
    });
    try {
      const runC = await client.workflow.start('runLifecycle', {
        taskQueue: TASK_QUEUE,
        workflowId: 'lifecycle-lc-c',
        args: [{ runId: 'lc-c' }],
      });
      const threshold = { reason: 'fewer false approvals', change: { kind: 'threshold', threshold: 0.6 } };
      const filed = await updateAs(runC, team.tokens.MODELER, 'fileOverride', threshold, 'lc-c');
      expect(filed).toMatchObject({ ok: true, overrideId: 'ov-1' });
      const builtOnRecord = async () =>
        (await lifecycleView('lc-c', join(runsDir(), 'lc-c'))).overrides[0]?.status === 'pending_review';
      await vi.waitUntil(builtOnRecord, { timeout: 60_000, interval: 200 });
      const approval = { overrideId: 'ov-1', decision: 'approve', reason: 'the cut is justified' };
      const review = await updateAs(runC, team.tokens.VALIDATOR, 'reviewOverride', approval, 'lc-c');
      expect(review).toMatchObject({ ok: true, status: 'approved' });
      release();
      const s = await until(
        runC,
        (x) => x.events.some((e) => e.operation === 'fileOverride' && e.outcome !== 'accepted'),
        30_000,
      );
      expect(s.events.filter((e) => e.operation === 'fileOverride').at(-1)).toMatchObject({
        outcome: 'completed',
        message: 'version 2 built; ov-1 was already approved',
      });
      expect((await readOutbox({ role: 'VALIDATOR', runId: 'lc-c' })).map((n) => n.kind)).not.toContain(
        'override_pending_review',
      );
      // It still answers: a failed workflow task would leave this update without a verdict.
      const lock = await updateAs(runC, team.tokens.VALIDATOR, 'lockRun', { reason: 'ship' }, 'lc-c');
      expect(lock).toMatchObject({ ok: false, status: 'approved' });
      expect(lock.message).toMatch(/cannot be locked yet/);
    } finally {
      release();
      await held.stop();
      await startWorker();
    }
  });

  it('builds a version only on files the signed manifests recorded: a swapped model, edited config or planted spec is not used', async () => {
    const runDir = join(runsDir(), 'lc-b');
    const v2 = join(runDir, 'versions', 'v2');
    const threshold = { kind: 'threshold' as const, threshold: 0.55 };
    // An overrides.json planted where the manifest lists none is not the version's spec.
    await writeFile(join(runDir, 'overrides.json'), JSON.stringify({ ...EMPTY_OVERRIDE_SPEC, threshold: 0.01 }));
    expect((await planOverride(runDir, runDir, threshold)).spec.threshold).toBe(0.55);
    expect((await planOverride(runDir, runDir, threshold)).spec).toEqual({ ...EMPTY_OVERRIDE_SPEC, threshold: 0.55 });
    // The previous version's model swapped (any bytes) is refused, not copied into the new version.
    const modelFile = join(v2, 'model', 'model.json');
    const model = await readFile(modelFile, 'utf8');
    const swapped = model.replace(/"bias": ?-?[0-9.e-]+/, '"bias": 5');
    expect(swapped).not.toBe(model);
    await writeFile(modelFile, swapped);
    await expect(createVersion(runDir, v2, 9, await planOverride(runDir, v2, threshold))).rejects.toThrow(
      /model\/model\.json was modified: sha256 /,
    );
    await expect(access(join(runDir, 'versions', 'v9'))).rejects.toThrow(/ENOENT/);
    await writeFile(modelFile, model);
    // The run's config edited (say, other training parameters) is refused before anything is planned.
    const configFile = join(runDir, 'config.json');
    const config = await readFile(configFile, 'utf8');
    const edited = config.replace('"iterations": ', '"iterations": 1');
    expect(edited).not.toBe(config);
    await writeFile(configFile, edited);
    await expect(planOverride(runDir, v2, threshold)).rejects.toThrow(/config\.json was modified/);
    await writeFile(configFile, config);

    // The lifecycle's records are signed for their place: version 3's rejection cannot be turned into an approval,
    // by hand or with version 2's signed approval copied over it.
    const reviewFile = join(runDir, 'versions', 'v3', 'review.json');
    const rejection = await readFile(reviewFile, 'utf8');
    await writeFile(reviewFile, rejection.replace('"decision": "reject"', '"decision": "approve"'));
    await expect(lifecycleView('lc-b', runDir)).rejects.toThrow(/review\.json does not match its signature/);
    await writeFile(reviewFile, await readFile(join(v2, 'review.json'), 'utf8'));
    await expect(lifecycleView('lc-b', runDir)).rejects.toThrow(
      /review\.json is the record of lc-b\/versions\/v2\/review\.json, copied here: refused/,
    );
    await writeFile(reviewFile, rejection);
    expect((await lifecycleView('lc-b', runDir)).status).toBe('rejected');
  });
});
