import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readVerified } from '../lib/artifacts';
import { readManifest, resolveRunDir, showRun } from '../lib/run';
import { addUser, issueToken, PermissionDeniedError, queryAudit } from '../lib/governance';
import { authorizeRunCancel } from '../lib/pipeline/cancel';
import { PIPELINE_STEPS, type PipelineProgress } from '../schemas/run';
import { progressQuery, TASK_QUEUE } from '../workflows/definitions';
import { pollEvery, startTrainingPipeline, type DevServer } from '../client';
import {
  runCreator,
  smallConfig,
  smallDataset,
  cliInProcess,
  startTemporalStack,
  temporalCli,
  useTempDataDir,
  writeConfig,
  type TemporalStack,
  pipelineInput,
} from './helpers';

let root: string;
let stack: TemporalStack;
let server: DevServer;
let client: Client;
let goodConfig: string;
let token: string;

beforeAll(async () => {
  root = await useTempDataDir('pipeline');
  token = (await runCreator()).token;
  stack = await startTemporalStack(root);
  client = stack.client;
  server = stack.server;
  const data = await smallDataset(join(root, 'data'), 3000);
  goodConfig = await writeConfig(root, 'good.yaml', smallConfig(data));
});

afterAll(async () => {
  await stack?.stop();
});

describe('trainingPipeline on a real Temporal dev server', () => {
  it('runs end to end and leaves a verified, content-addressed run', async () => {
    const seen: string[] = [];
    const handle = await startTrainingPipeline(client, {
      runId: 'it-e2e',
      input: await pipelineInput('it-e2e', goodConfig, token),
    });
    const poll = pollEvery(200, async () => seen.push((await handle.query(progressQuery)).step));
    const result = await handle.result();
    await poll.stop();
    expect(result.runId).toBe('it-e2e');
    expect(result.rows).toBe(3000);
    expect(result.folds).toHaveLength(3);
    expect(result.metrics.rocAuc).toBeGreaterThan(0.75);
    expect(result.metrics.accuracy).toBeGreaterThan(0.65);
    expect(new Set(seen).size).toBeGreaterThanOrEqual(2);
    const final = await handle.query(progressQuery);
    expect(final).toMatchObject({ status: 'completed', step: 'manifest' });

    const runDir = await resolveRunDir(result.runId);
    const manifest = await readManifest(runDir);
    const roles = new Set(manifest.artifacts.map((a) => a.role));
    for (const role of [
      'config',
      'validation-report',
      'features',
      'oof-scores',
      'model',
      'metrics',
      'oof-predictions',
      'monitoring-reference',
    ]) {
      expect(roles).toContain(role);
    }
    for (const a of manifest.artifacts) await readVerified(runDir, a);
    const model = JSON.parse(await readFile(join(runDir, 'model/model.json'), 'utf8')) as { threshold?: number };
    expect(model.threshold).toBe(result.metrics.threshold);
    const metrics = JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as {
      oof: { rocAuc: number };
    };
    expect(metrics.oof.rocAuc).toBe(result.metrics.rocAuc);
  });

  it('stops at validation with a non-retryable error naming the table, and writes the report', async () => {
    const dir = join(root, 'contradictory');
    await smallDataset(dir, 1500);
    const csvPath = join(dir, 'interactions.csv');
    const lines = (await readFile(csvPath, 'utf8')).trimEnd().split('\n');
    const [user, app, label] = lines[1]!.split(',');
    await writeFile(csvPath, `${lines.join('\n')}\n${user},${app},${label === '1' ? '0' : '1'}\n`);
    const configPath = await writeConfig(root, 'contradictory.yaml', smallConfig(dir));
    const handle = await startTrainingPipeline(client, {
      runId: 'it-contradictory',
      input: await pipelineInput('it-contradictory', configPath, token),
    });
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause?.cause as Error & { type?: string; nonRetryable?: boolean };
    expect(cause.type).toBe('DataValidationError');
    expect(cause.message).toMatch(/table interactions.*expect_no_contradictory_labels/);
    const progress: PipelineProgress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ status: 'failed', step: 'validate' });
    await access(
      join(process.env.ACCESS_PERM_DATA_DIR!, 'runs', 'it-contradictory', 'validation', 'interactions.json'),
    );
    // The run records how it ended, and the failure is audited with its reason.
    expect(await showRun('it-contradictory')).toMatchObject({
      state: 'failed',
      end: { state: 'failed', step: 'validate', error: expect.stringMatching(/expect_no_contradictory_labels/) },
    });
    expect(await queryAudit({ run_id: 'it-contradictory', action: 'run_failed' })).toEqual([
      expect.objectContaining({
        user_id: 'system:pipeline',
        status: 'failure',
        reason: expect.stringMatching(/^data validation failed for table interactions/),
        details: { step: 'validate', created_by: 'root' },
      }),
    ]);
    // Non-retryable: the activity ran once.
    const history = await handle.fetchHistory();
    const attempts = history.events
      ?.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0);
    expect(Math.max(...(attempts ?? [0]))).toBe(1);
  });

  it('rejects a bad config before any data step runs', async () => {
    const configPath = await writeConfig(
      root,
      'bad.yaml',
      smallConfig(join(root, 'data'), (c) => (c.validation.n_splits = 1)),
    );
    const handle = await startTrainingPipeline(client, {
      runId: 'it-badconfig',
      input: await pipelineInput('it-badconfig', configPath, token),
    });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect((error.cause?.cause as Error).message).toMatch(/validation\.n_splits/);
    expect((await handle.query(progressQuery)).step).toBe('prepare');
  });

  it('refuses a forged, replayed or mismatched capability before any step runs, and audits it', async () => {
    const refused = async (runId: string, input: unknown): Promise<Error & { type?: string }> => {
      const handle = await client.workflow.start('trainingPipeline', {
        taskQueue: TASK_QUEUE,
        workflowId: runId,
        args: [input],
      });
      const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect((await handle.query(progressQuery)).step).toBe('prepare');
      return error.cause?.cause as Error & { type?: string };
    };
    const good = await pipelineInput('it-forged', goodConfig, token);
    const forged = { ...good, capability: { ...good.capability, mac: 'a'.repeat(64) } };
    expect(await refused('it-forged', forged)).toMatchObject({
      type: 'AuthenticationError',
      message: expect.stringMatching(/invalid signature/),
    });
    // A capability for another run, or for another config, is refused whoever presents it.
    expect(await refused('it-other-run', good)).toMatchObject({
      message: expect.stringMatching(/another operation, run or request/),
    });
    expect(await refused('it-forged', { ...good, configPath: join(root, 'bad.yaml') })).toMatchObject({
      message: expect.stringMatching(/another operation, run or request/),
    });
    // Used once (by it-e2e above), a capability is spent: a copy read from that run's history starts nothing.
    const e2e = await client.workflow.getHandle('it-e2e').fetchHistory();
    const started = e2e.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const copied = JSON.parse(Buffer.from(started.data!).toString()) as unknown;
    await client.workflow.getHandle('it-e2e').result();
    expect(await refused('it-e2e', copied)).toMatchObject({ message: expect.stringMatching(/already used/) });
    // The refused start cannot mark the completed run it named as failed, nor audit it as failed: its end is refused.
    expect((await showRun('it-e2e')).state).toBe('completed');
    expect(await queryAudit({ run_id: 'it-e2e', action: 'run_failed' })).toHaveLength(0);
    expect(
      (await queryAudit({ run_id: 'it-e2e', action: 'permission_denied' })).filter(
        (e) => e.attempted_action === 'recordRunEnd',
      ),
    ).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/does not own run it-e2e: not the run's end/) }),
    ]);
    const audited = await queryAudit({ action: 'authentication_failed' });
    expect(
      audited.filter((e) => e.source === 'workflow' && e.resource_id === 'it-forged').length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('rejects malformed workflow input', async () => {
    const handle = await client.workflow.start('trainingPipeline', {
      taskQueue: TASK_QUEUE,
      workflowId: 'it-badinput',
      args: [{ config: 'x' }],
    });
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.cause?.message).toMatch(/invalid trainingPipeline input/);
  });

  it('is started, queried and awaited with the temporal CLI, as docs/pipeline.md documents', async () => {
    const address = server.address;
    // The capability comes from `access-perm auth capability`; the token stays with access-perm.
    const issued = await cliInProcess(
      { ...process.env, ACCESS_PERM_TOKEN: token },
      'auth',
      'capability',
      '--op',
      'createRun',
      '--run',
      'cli-run-1',
      '--request',
      JSON.stringify({ configPath: goodConfig }),
    );
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.stdout).not.toContain(token);
    const input = issued.stdout.trim();
    expect(
      await temporalCli(
        address,
        'workflow',
        'start',
        '--type',
        'trainingPipeline',
        '--task-queue',
        'access-perm',
        '--workflow-id',
        'cli-run-1',
        '--input',
        input,
      ),
    ).toMatch(/cli-run-1/);
    const query = await temporalCli(
      address,
      'workflow',
      'query',
      '--workflow-id',
      'cli-run-1',
      '--name',
      'progress',
      '--output',
      'json',
    );
    expect(query).toMatch(/"runId":\s*"cli-run-1"/);
    expect(query).toMatch(/"step":\s*"(prepare|validate|features|train|evaluate|monitoringBaseline|manifest)"/);
    const result = await temporalCli(address, 'workflow', 'result', '--workflow-id', 'cli-run-1', '--output', 'json');
    expect(result).toMatch(/"rocAuc"/);
    expect(await temporalCli(address, 'workflow', 'describe', '--workflow-id', 'cli-run-1')).toMatch(/Completed/i);
  });
});

describe('runs cancel: through Temporal, by the seed-3 cancel_run cell, audited', () => {
  let slowConfig: string;
  let tokens: Record<'ANALYST' | 'VIEWER' | 'MODELER', string>;

  beforeAll(async () => {
    slowConfig = await writeConfig(
      root,
      'slow.yaml',
      smallConfig(join(root, 'data'), (c) => (c.model.catboost.iterations = 20000)),
    );
    tokens = {} as typeof tokens;
    for (const role of ['ANALYST', 'VIEWER', 'MODELER'] as const) {
      await addUser({ token }, { userId: `c-${role.toLowerCase()}`, role, reason: 'cancel tests' });
      tokens[role] = (await issueToken({ token }, { userId: `c-${role.toLowerCase()}` })).token;
    }
  });

  /** Starts the slow run as root and waits until it reaches `step` (its creator is on record from `validate`). */
  async function trainingRun(runId: string, step: PipelineProgress['step'] = 'train') {
    const handle = await startTrainingPipeline(client, { runId, input: await pipelineInput(runId, slowConfig, token) });
    const past = PIPELINE_STEPS.indexOf(step);
    await vi.waitUntil(async () => (await handle.query(progressQuery)).stepIndex >= past, {
      timeout: 60_000,
      interval: 200,
    });
    return handle;
  }

  it('stops a training run in flight: the workflow ends cancelled, the run says so, both sides audited', async () => {
    const handle = await trainingRun('it-cancel');
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.MODELER, TEMPORAL_ADDRESS: server.address };
    const sent = Date.now();
    const cli = await cliInProcess(env, 'runs', 'cancel', 'it-cancel', '--reason', 'wrong feature set');
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^run it-cancel cancelled during train \(\d\/3 folds done\)\n$/);
    expect(Date.now() - sent).toBeLessThan(30_000);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'cancelled', step: 'train' });
    expect(await showRun('it-cancel')).toMatchObject({
      state: 'cancelled',
      end: { state: 'cancelled', step: 'train' },
    });
    const audited = await queryAudit({ run_id: 'it-cancel' });
    expect(audited.map((e) => [e.action, e.user_id])).toEqual([
      ['run_created', 'root'],
      ['run_cancel_requested', 'c-modeler'],
      ['run_cancelled', 'system:pipeline'],
    ]);
    expect(audited[1]).toMatchObject({ reason: 'wrong feature set', before: { state: 'running' } });
    // Ended, it cannot be cancelled again.
    const again = await cliInProcess(env, 'runs', 'cancel', 'it-cancel', '--reason', 'again');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/run it-cancel is not running: it is cancelled/);
  });

  it("a run terminated straight on Temporal has no end record: runs list and show give its workflow's status beside it", async () => {
    await trainingRun('it-terminated', 'validate');
    await temporalCli(server.address, 'workflow', 'terminate', '--workflow-id', 'it-terminated', '--reason', 'by hand');
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.MODELER, TEMPORAL_ADDRESS: server.address };
    const list = await cliInProcess(env, 'runs', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { runId: string; state: string; serverStatus?: string }[];
    expect(listed.find((r) => r.runId === 'it-terminated')).toMatchObject({
      state: 'running',
      serverStatus: 'TERMINATED',
    });
    // Only runs whose records say running are asked about.
    for (const r of listed) if (r.state !== 'running') expect(r).not.toHaveProperty('serverStatus');
    const shown = await cliInProcess(env, 'runs', 'show', 'it-terminated');
    expect(shown.stdout).toMatch(
      /^run {8}it-terminated \(running\) {2}\(its workflow is TERMINATED on Temporal: it stopped without its end record/,
    );
    // With no server to ask, the listing says so instead of failing.
    const offline = await cliInProcess(
      { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      'runs',
      'show',
      'it-terminated',
      '--json',
    );
    expect(offline.code, offline.stderr).toBe(0);
    expect((JSON.parse(offline.stdout) as { serverStatus: string }).serverStatus).toMatch(/^unknown: .*127\.0\.0\.1:1/);
  });

  it('a VIEWER is denied before the run is looked up; an ANALYST may cancel only runs it created', async () => {
    const viewer = await authorizeRunCancel({ token: tokens.VIEWER }, 'no-such-run').catch((e: unknown) => e);
    expect(viewer).toBeInstanceOf(PermissionDeniedError);
    expect(viewer).toMatchObject({ required_permission: 'cancel_run', user_role: 'VIEWER' });
    const handle = await trainingRun('it-cancel-owned', 'validate');
    const analyst = await authorizeRunCancel({ token: tokens.ANALYST }, 'it-cancel-owned').catch((e: unknown) => e);
    expect(analyst).toBeInstanceOf(PermissionDeniedError);
    expect((analyst as Error).message).toMatch(/own/);
    expect(await queryAudit({ run_id: 'it-cancel-owned', action: 'permission_denied' })).toEqual([
      expect.objectContaining({ user_id: 'c-analyst', reason: 'Not the owner of the resource' }),
    ]);
    await expect(authorizeRunCancel({ token: tokens.MODELER }, 'it-e2e')).rejects.toThrow(
      /run it-e2e is not running: it is completed/,
    );
    // A cancellation sent straight to Temporal (no access-perm user) still ends the run, recorded without a requester.
    await temporalCli(server.address, 'workflow', 'cancel', '--workflow-id', 'it-cancel-owned');
    await handle.result().catch(() => undefined);
    expect((await showRun('it-cancel-owned')).state).toBe('cancelled');
    expect((await queryAudit({ run_id: 'it-cancel-owned' })).map((e) => e.action)).toEqual([
      'run_created',
      'permission_denied',
      'run_cancelled',
    ]);
  });
});
