/**
 * Someone who reaches the Temporal server (start, signal, update, terminate, read any history, run or complete
 * activities) but holds no access-perm token or key, attacking a governed run the way they would: with the `temporal`
 * CLI. Each attack must fail with nothing written or changed. docs/security.md links every claim to a test here.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findTemporalCli,
  startDevServer,
  startLocalWorker,
  type DevServer,
  type LocalWorker,
  type TemporalServer,
  connectClient,
} from '../../client';
import { sha256File } from '../../lib/hash';
import { tokenSecretPath } from '../../lib/keys';
import { issueCapability, queryAudit } from '../../lib/governance';
import { LOCK_FILE, resolveRunDir } from '../../lib/run';
import { capabilitySchema, type Capability } from '../../schemas/governance';
import type { LifecycleState, Verdict } from '../../schemas/lifecycle';
import { makeTeam, type Team } from '../governance/fixtures';
import { pipelineInput, serverFromEnv, smallConfig, useTempDataDir, writeConfig } from '../helpers';
import { governedRun, recordHistories, RUN, signed, type GovernedRun } from './scenario';

const exec = promisify(execFile);
let root: string;
let server: DevServer;
let target: TemporalServer;
let worker: LocalWorker | null = null;
let client: Client;
let team: Team;
let run: GovernedRun;

/** The `temporal` CLI against the test server; resolves with stdout, or with the error's output and code. */
async function temporal(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await exec(findTemporalCli(), [...args, '--address', server.address], { maxBuffer: 64 << 20 });
    return { code: 0, out: stdout };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: `${x.stdout}${x.stderr}` };
  }
}
const ok = async (...args: string[]): Promise<string> => {
  const r = await temporal(...args);
  if (r.code !== 0) throw new Error(`temporal ${args.join(' ')} failed: ${r.out}`);
  return r.out;
};

/** `temporal workflow start` of trainingPipeline under `workflowId` with `input`, as someone on the server would. */
const startTraining = (workflowId: string, input: unknown): Promise<string> =>
  ok(
    'workflow',
    'start',
    '--type',
    'trainingPipeline',
    '--task-queue',
    'access-perm',
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify(input),
  );

/** Every payload of a history as `temporal workflow show --output json` prints it, decoded to text. */
function payloadTexts(history: unknown): string[] {
  const texts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.data === 'string' && o.metadata && typeof o.metadata === 'object')
      texts.push(Buffer.from(o.data, 'base64').toString('utf8'));
    for (const v of Object.values(o)) walk(v);
  };
  walk(history);
  return texts;
}

/** Capabilities found anywhere in a decoded payload. */
function capabilitiesIn(text: string): Capability[] {
  const found: Capability[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const parsed = capabilitySchema.safeParse(node);
    if (parsed.success) found.push(parsed.data);
    for (const v of Object.values(node)) walk(v);
  };
  try {
    walk(JSON.parse(text));
  } catch {
    // not JSON: no capability
  }
  return found;
}

/** A worker; `workflowsOnly` runs workflow tasks but no activity (they wait on the queue for someone to run). */
async function startWorker(workflowsOnly = false): Promise<void> {
  worker = await startLocalWorker(target, {
    overrides: { shutdownGraceTime: '1s', ...(workflowsOnly ? { activities: {} } : {}) },
  });
}
async function stopWorker(): Promise<void> {
  await worker?.stop();
  worker = null;
}

const lifecycleState = async (): Promise<LifecycleState> =>
  JSON.parse(await ok('workflow', 'query', '--workflow-id', `lifecycle-${RUN}`, '--name', 'state', '--output', 'json'))
    .queryResult[0] as LifecycleState;

/** The verdict a `temporal workflow update execute` printed. */
const verdictOf = (out: string): Verdict => JSON.parse(out).result as Verdict;

/** Hashes of every file the lock froze, and of the lock itself: what no attack may change. */
async function frozen(): Promise<Record<string, string>> {
  const dir = await resolveRunDir(RUN);
  const lock = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as { artifacts: { path: string }[] };
  const hashes: Record<string, string> = { [LOCK_FILE]: await sha256File(join(dir, LOCK_FILE)) };
  for (const a of lock.artifacts) hashes[a.path] = await sha256File(join(dir, a.path));
  return hashes;
}

let before: Record<string, string>;

beforeAll(async () => {
  root = await useTempDataDir('security');
  team = await makeTeam();
  server = await startDevServer({ dbFile: join(root, 'temporal.sqlite') });
  target = await serverFromEnv(server.address);
  await startWorker();
  client = await connectClient(target);
  run = await governedRun(client, root, team);
  if (process.env.RECORD_HISTORIES === '1')
    await recordHistories(server.address, run, join(import.meta.dirname, '..', 'replay'));
  before = await frozen();
});

afterAll(async () => {
  await client?.connection.close();
  await stopWorker();
  await server?.stop();
});

describe('someone with access to the Temporal server and no token', () => {
  it('finds no token, no token secret and no usable capability in any history', async () => {
    expect(run.state).toMatchObject({ status: 'locked', deployment: { approvedBy: 'validator' } });
    const listed = JSON.parse(
      `[${(await ok('workflow', 'list', '--output', 'jsonl')).trim().split('\n').join(',')}]`,
    ) as {
      execution: { workflowId: string; runId: string };
    }[];
    // The pipeline, the lifecycle, the version build, the reproduction, a monitoring window, an elevation timer.
    expect(listed.length).toBeGreaterThanOrEqual(6);
    const secret = (await readFile(tokenSecretPath(), 'utf8')).trim();
    const tokens = [team.admin, ...Object.values(team.tokens)];
    const capabilities: Capability[] = [];
    for (const { execution } of listed) {
      const history = JSON.parse(
        await ok(
          'workflow',
          'show',
          '--workflow-id',
          execution.workflowId,
          '--run-id',
          execution.runId,
          '--output',
          'json',
        ),
      ) as unknown;
      for (const text of payloadTexts(history)) {
        expect(text, execution.workflowId).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
        expect(text).not.toContain(secret);
        for (const token of tokens) expect(text).not.toContain(token);
        capabilities.push(...capabilitiesIn(text));
      }
    }
    // Every capability a history shows was used by the step it was issued for: its claim is on file.
    expect(capabilities.length).toBeGreaterThanOrEqual(7);
    for (const cap of capabilities)
      await expect(
        access(join(`${root}.keyring`, 'capability-claims', `${cap.id}.json`)),
        cap.op,
      ).resolves.toBeUndefined();
  });

  it('replays a capability copied from a history: refused as used, audited, nothing changes', async () => {
    const history = JSON.parse(await ok('workflow', 'show', '--workflow-id', `lifecycle-${RUN}`, '--output', 'json'));
    const lock = payloadTexts(history)
      .map((t) => JSON.parse(t) as Record<string, unknown>)
      .find((p) => (p.capability as Capability | undefined)?.op === 'lockRun')!;
    expect(lock).toBeDefined();
    const out = await ok(
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      `lifecycle-${RUN}`,
      '--name',
      'lockRun',
      '--input',
      JSON.stringify(lock),
      '--output',
      'json',
    );
    expect(verdictOf(out)).toMatchObject({ ok: false, error: 'AuthenticationError' });
    expect(verdictOf(out).message).toMatch(/already used/);
    // The same copy as a signal: refused in the journal.
    await ok(
      'workflow',
      'signal',
      '--workflow-id',
      `lifecycle-${RUN}`,
      '--name',
      'lockRun',
      '--input',
      JSON.stringify(lock),
    );
    const refusedAs = await queryAudit({ action: 'authentication_failed', run_id: RUN });
    expect(
      refusedAs.filter((e) => e.reason === 'capability already used (capabilities are single-use)').length,
    ).toBeGreaterThanOrEqual(1);
    expect(await frozen()).toEqual(before);
  });

  it('terminates the lifecycle and starts it again with a state of its choosing: it comes back locked', async () => {
    await ok('workflow', 'terminate', '--workflow-id', `lifecycle-${RUN}`, '--reason', 'attack');
    // A state in the input is not an input the workflow takes.
    const forged = JSON.stringify({ runId: RUN, state: { status: 'trained', lock: null } });
    await ok(
      'workflow',
      'start',
      '--type',
      'runLifecycle',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      `lifecycle-${RUN}`,
      '--input',
      forged,
    );
    const refused = await temporal('workflow', 'result', '--workflow-id', `lifecycle-${RUN}`);
    expect(refused.out).toMatch(/invalid runLifecycle input.*Unrecognized key: "state"/s);
    // A journal is carried only across the workflow's own continue-as-new, never from a start.
    const journal = {
      events: [
        {
          at: new Date().toISOString(),
          operation: 'lockRun',
          userId: 'root',
          outcome: 'accepted',
          message: 'unlocked',
        },
      ],
      denials: [],
      generation: 9,
    };
    await ok(
      'workflow',
      'start',
      '--type',
      'runLifecycle',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      `lifecycle-${RUN}`,
      '--input',
      JSON.stringify({ runId: RUN, journal }),
    );
    let state: LifecycleState | null = null;
    for (let i = 0; i < 60 && !state; i++) state = await lifecycleState().catch(() => null);
    expect(state).toMatchObject({
      status: 'locked',
      lock: { locked_by: 'validator' },
      generation: 0,
      deployment: { approvedBy: 'validator' },
    });
    expect(state!.events.map((e) => e.message)).not.toContain('unlocked');
    // A change with a fresh, valid capability is refused by the records, audited, and writes nothing.
    const change = await signed(team.tokens.MODELER, 'fileOverride', {
      reason: 'after restart',
      change: { kind: 'threshold', threshold: 0.3 },
    });
    const out = await ok(
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      `lifecycle-${RUN}`,
      '--name',
      'fileOverride',
      '--input',
      JSON.stringify(change),
      '--output',
      'json',
    );
    expect(verdictOf(out)).toMatchObject({ ok: false, error: 'RunLockedError' });
    expect(await readdir(join(await resolveRunDir(RUN), 'versions'))).toEqual(['v2']);
    expect(await frozen()).toEqual(before);
  });

  it('starts the internal child workflows directly: refused before any step, audited, nothing written', async () => {
    const repro = 'v2-aaaaaaaaaaaa';
    await ok(
      'workflow',
      'start',
      '--type',
      'reproduceRun',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      `${RUN}-repro-${repro}`,
      '--input',
      JSON.stringify({ runId: RUN, repro, reproDir: '../../../..' }),
    );
    expect((await temporal('workflow', 'result', '--workflow-id', `${RUN}-repro-${repro}`)).out).toMatch(
      /runs only as a child of lifecycle-sec-a/,
    );
    await ok(
      'workflow',
      'start',
      '--type',
      'modelVersionPipeline',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      `${RUN}-v2`,
      '--input',
      JSON.stringify({ runId: RUN, version: 2, nSplits: 2, retrain: false, artifacts: [] }),
    );
    expect((await temporal('workflow', 'result', '--workflow-id', `${RUN}-v2`)).out).toMatch(
      /runs only as a child of lifecycle-sec-a/,
    );
    const audited = await queryAudit({ action: 'permission_denied', resource_type: 'workflow' });
    expect(audited.map((e) => e.attempted_action).sort()).toEqual(
      expect.arrayContaining(['modelVersionPipeline', 'reproduceRun']),
    );
    await expect(access(join(await resolveRunDir(RUN), 'repro', repro))).rejects.toThrow();
    expect(await frozen()).toEqual(before);
  });

  it('runs activities on their own (standalone) or from a workflow of another kind: refused and audited', async () => {
    const cases: Array<[string, unknown]> = [
      ['lockRun', { runId: RUN, step: '1', request: {} }],
      ['approveDeployment', { runId: RUN, step: '1', request: {} }],
      ['writeManifest', { runId: RUN }],
      ['prepareRun', { runId: 'sec-standalone', configPath: join(root, 'sec.yaml'), capability: null }],
      ['expireElevation', { userId: 'viewer', elevationId: 'x' }],
    ];
    for (const [type, input] of cases) {
      const r = await temporal(
        'activity',
        'execute',
        '--activity-id',
        `attack-${type}`,
        '--type',
        type,
        '--task-queue',
        'access-perm',
        '--start-to-close-timeout',
        '1m',
        '--input',
        JSON.stringify(input),
      );
      expect(r.code, type).not.toBe(0);
      expect(r.out, type).toMatch(/CallerRefusedError|runs only inside/);
    }
    const audited = await queryAudit({ action: 'permission_denied', resource_type: 'activity' });
    expect(new Set(audited.map((e) => e.attempted_action))).toEqual(new Set(cases.map(([t]) => t)));
    await expect(access(join(root, 'runs', 'sec-standalone'))).rejects.toThrow();
    expect(await frozen()).toEqual(before);
  });

  it("completes an activity in the workflow's place: the workflow is fooled, the records are not", async () => {
    await stopWorker();
    await startWorker(true);
    const denied = await pipelineInput('sec-fake', join(root, 'sec.yaml'), team.tokens.VIEWER);
    await startTraining('sec-fake', denied);
    // No worker runs prepareRun: the attacker completes it with the result of a run that was prepared.
    const fake = {
      runId: 'sec-fake',
      configHash: 'f'.repeat(64),
      dataHash: 'f'.repeat(64),
      nSplits: 2,
      generatedData: false,
      artifacts: [],
    };
    for (let i = 0; ; i++) {
      const r = await temporal(
        'activity',
        'complete',
        '--workflow-id',
        'sec-fake',
        '--activity-id',
        '1',
        '--result',
        JSON.stringify(fake),
      );
      if (r.code === 0) break;
      if (i > 40) throw new Error(r.out);
      await new Promise((res) => setTimeout(res, 250));
    }
    await stopWorker();
    await startWorker();
    const result = await temporal('workflow', 'result', '--workflow-id', 'sec-fake');
    expect(result.out).toMatch(/FolderWriteRefusedError|no owner record/);
    await expect(access(join(root, 'runs', 'sec-fake', 'features'))).rejects.toThrow();
  });

  it('starts monitoring by hand: a window without a capability is refused, a scheduled start reads only the plan', async () => {
    const outside = join(tmpdir(), `access-perm-window-${process.pid}.csv`);
    await writeFile(outside, await readFile(run.windowCsv));
    const named = `monitor-${RUN}-attack-named`;
    await ok(
      'workflow',
      'start',
      '--type',
      'monitoringWorkflow',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      named,
      '--input',
      JSON.stringify({ runId: RUN, window: { current: outside } }),
    );
    expect((await temporal('workflow', 'result', '--workflow-id', named)).out).toMatch(
      /a window without a capability is refused/,
    );
    // With a capability, a CSV outside the folders workflows may read is refused by path.
    const request = { runId: RUN, window: { current: outside } };
    const capability = await issueCapability(
      { token: team.tokens.MODELER },
      { op: 'monitorWindow', runId: RUN, request },
    );
    const pathed = `monitor-${RUN}-attack-path`;
    await ok(
      'workflow',
      'start',
      '--type',
      'monitoringWorkflow',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      pathed,
      '--input',
      JSON.stringify({ ...request, capability }),
    );
    expect((await temporal('workflow', 'result', '--workflow-id', pathed)).out).toMatch(
      /is outside the folders workflows may read/,
    );
    // A scheduled start carries the run only: it monitors the CSV the ADMIN's plan names, nothing else.
    const scheduled = `monitor-${RUN}-attack-scheduled`;
    await ok(
      'workflow',
      'start',
      '--type',
      'monitoringWorkflow',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      scheduled,
      '--input',
      JSON.stringify({ runId: RUN }),
    );
    await ok('workflow', 'result', '--workflow-id', scheduled);
    const info = JSON.parse(
      await readFile(join(await resolveRunDir(RUN), 'monitoring', 'windows', scheduled, 'window.json'), 'utf8'),
    ) as { source: string; requestedBy: string };
    expect(info).toMatchObject({ source: run.windowCsv, requestedBy: 'system:monitoring-schedule' });
    // A finished window is never rewritten under its own id.
    await ok(
      'workflow',
      'start',
      '--type',
      'monitoringWorkflow',
      '--task-queue',
      'access-perm',
      '--workflow-id',
      run.workflows.monitoring,
      '--input',
      JSON.stringify({ runId: RUN }),
    );
    expect((await temporal('workflow', 'result', '--workflow-id', run.workflows.monitoring)).out).toMatch(
      /is complete: it is never rewritten/,
    );
  });

  it('names paths outside the data directory in a config or an input: refused before anything is written', async () => {
    const escape = await writeConfig(
      root,
      'escape.yaml',
      smallConfig(join(root, 'data'), (c) => (c.artifacts = { dir: '../escaped-runs' })),
    );
    const input = await pipelineInput('sec-escape', escape, team.admin);
    await startTraining('sec-escape', input);
    expect((await temporal('workflow', 'result', '--workflow-id', 'sec-escape')).out).toMatch(
      /artifacts\.dir \.\.\/escaped-runs is outside the data directory/,
    );
    await expect(access(join(root, '..', 'escaped-runs'))).rejects.toThrow();
    // A config outside the folders workflows may read is refused by path, whoever signed for it.
    const elsewhere = join(tmpdir(), `access-perm-elsewhere-${process.pid}`);
    await mkdir(elsewhere, { recursive: true });
    const foreign = await writeConfig(elsewhere, 'c.yaml', smallConfig(join(root, 'data')));
    const signedForeign = await pipelineInput('sec-foreign', foreign, team.admin);
    await startTraining('sec-foreign', signedForeign);
    expect((await temporal('workflow', 'result', '--workflow-id', 'sec-foreign')).out).toMatch(
      /config .* is outside the folders workflows may read/,
    );
    await expect(access(join(root, 'runs', 'sec-foreign'))).rejects.toThrow();
    // So is a submission file (read by validation) that leaves them through a relative path.
    const outside = relative(join(root, 'data'), join(elsewhere, 'submission.csv'));
    const sneaky = await writeConfig(
      root,
      'sneaky.yaml',
      smallConfig(join(root, 'data'), (c) => (c.data.submission = outside)),
    );
    await startTraining('sec-submission', await pipelineInput('sec-submission', sneaky, team.admin));
    expect((await temporal('workflow', 'result', '--workflow-id', 'sec-submission')).out).toMatch(
      /input file \(submission\) .* is outside the folders workflows may read/,
    );
  });

  it('trains again under the locked run id: refused at the first step', async () => {
    const again = await pipelineInput(RUN, join(root, 'sec.yaml'), team.admin);
    await startTraining(RUN, again);
    expect((await temporal('workflow', 'result', '--workflow-id', RUN)).out).toMatch(/locked by validator/);
    expect(await frozen()).toEqual(before);
    // With lock.json deleted as well (someone who can also write the data directory): the keyring knows the lock.
    const lockPath = join(await resolveRunDir(RUN), LOCK_FILE);
    const lockText = await readFile(lockPath, 'utf8');
    await rm(lockPath);
    try {
      await startTraining(RUN, await pipelineInput(RUN, join(root, 'sec.yaml'), team.admin));
      expect((await temporal('workflow', 'result', '--workflow-id', RUN)).out).toMatch(
        /is locked \(the keyring holds its lock's signature\) but its lock\.json was deleted/,
      );
    } finally {
      await writeFile(lockPath, lockText);
    }
    expect(await frozen()).toEqual(before);
  });
});
