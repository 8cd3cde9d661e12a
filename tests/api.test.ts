import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { whoMay } from '../api/openapi';
import { OPERATIONS } from '../api/operations';
import { PROJECT_ROOT } from '../lib/paths';
import { buildControlPlane } from '../api/server';
import { addUser, CELL, cellFor, issueToken, MATRIX, minimumRole, queryAudit } from '../lib/governance';
import { parseModel } from '../lib/gbdt';
import { pipelineHandle } from '../client/workflows';
import { ROLES, type Permission, type Role } from '../schemas/governance';
import { OVERRIDE_PERMISSION, type OverrideKind } from '../schemas/lifecycle';
import {
  cliInProcess,
  runCli,
  runCreator,
  serverFromEnv,
  smallConfig,
  startTemporalStack,
  useTempDataDir,
  writeConfig,
  type TemporalStack,
} from './helpers';
import { trainedRun } from './scoringRun';

const RUN = 'api-done';
let root: string;
let stack: TemporalStack;
let app: FastifyInstance;
let base: string;
let slowConfig: string;
const tokens = {} as Record<Role, string>;

beforeAll(async () => {
  root = await useTempDataDir('api');
  tokens.ADMIN = (await runCreator()).token;
  for (const role of ['VIEWER', 'ANALYST', 'MODELER', 'VALIDATOR'] as const) {
    await addUser({ token: tokens.ADMIN }, { userId: `api-${role.toLowerCase()}`, role, reason: 'api tests' });
    tokens[role] = (await issueToken({ token: tokens.ADMIN }, { userId: `api-${role.toLowerCase()}` })).token;
  }
  stack = await startTemporalStack(root);
  await trainedRun(root, RUN);
  slowConfig = await writeConfig(
    root,
    'slow.yaml',
    smallConfig(join(root, 'data'), (c) => (c.model.catboost.iterations = 20000)),
  );
  app = await buildControlPlane({ temporal: () => serverFromEnv(stack.server.address) });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

/** A request as a role (or with no token), JSON in and out. */
async function call(
  role: Role | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers; bytes: Buffer }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let parsed: unknown = text;
  if (res.headers.get('content-type')?.startsWith('application/json')) parsed = JSON.parse(text);
  return { status: res.status, body: parsed, headers: res.headers, bytes };
}

describe('the control-plane API (access-perm api) on a real server', () => {
  it('describes itself: valid OpenAPI 3.1 listing every operation with its permission, and a docs page', async () => {
    const doc = await call(null, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    const result = await new Validator().validate(doc.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.body.openapi).toBe('3.1.0');
    const listed = Object.values(doc.body.paths as Record<string, Record<string, { operationId: string }>>).flatMap(
      (p) => Object.values(p).map((o) => o.operationId),
    );
    expect(listed.sort()).toEqual(OPERATIONS.map((o) => o.id).sort());
    expect(doc.body.paths['/system/config/{key}'].put['x-permission']).toBe('system_configuration');
    // Every permission of the seed-3 matrix is needed by at least one operation.
    const needed = new Set(OPERATIONS.map((o) => o.permission));
    expect(MATRIX.map((r) => r.permission).filter((p) => !needed.has(p))).toEqual([]);
    // docs/api.md lists every operation with its permission, as the server states it.
    const reference = await readFile(join(PROJECT_ROOT, 'docs', 'api.md'), 'utf8');
    for (const op of OPERATIONS)
      expect(reference).toContain(`| \`${op.method} ${op.path}\` | ${op.summary} | ${whoMay(op)} |`);
    const docs = await call(null, 'GET', '/docs');
    expect(docs.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'");
    for (const op of OPERATIONS) expect(docs.body).toContain(`${op.method} ${op.path}`);
  });

  it('seed-3 §8 scenario 2: a MODELER PUT /system/config/spark_partitions gets the seed body and is audited', async () => {
    const denied = await call('MODELER', 'PUT', '/system/config/spark_partitions', { value: 8, reason: 'more' });
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      error: 'Permission denied',
      required_permission: 'system_configuration',
      minimum_role: 'ADMIN',
    });
    expect(await queryAudit({ user_id: 'api-modeler', action: 'permission_denied' })).toEqual([
      expect.objectContaining({
        attempted_action: 'system_configuration',
        source: 'api',
        resource_id: 'spark_partitions',
      }),
    ]);
    const unknown = await call('ADMIN', 'PUT', '/system/config/spark_partitions', { value: 8, reason: 'more' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/no system setting "spark_partitions"/);
    const set = await call('ADMIN', 'PUT', '/system/config/alerts.recipient_users', {
      value: ['api-validator'],
      reason: 'on call',
    });
    expect(set).toMatchObject({ status: 200, body: { before: [], after: ['api-validator'], changed: true } });
  });

  it('seed-3 §8 scenario 3: a VIEWER POST /runs is refused with the seed body; a denied caller learns nothing of the run', async () => {
    const denied = await call(
      'VIEWER',
      'POST',
      '/runs',
      { config_path: slowConfig },
      { 'idempotency-key': 'viewer-key-1' },
    );
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      error: 'Permission denied',
      required_permission: 'create_run',
      user_role: 'VIEWER',
      message: expect.stringMatching(/^Viewers have read-only access/),
    });
    // Denied before the lookup: the same answer for a run that exists and one that does not.
    for (const run of [RUN, 'no-such-run']) {
      const d = await call('VALIDATOR', 'DELETE', `/runs/${run}`, { reason: 'tidy' });
      expect(d.status, run).toBe(403);
      expect(d.body.required_permission).toBe('delete_run_artifacts');
    }
    expect((await call('MODELER', 'DELETE', '/runs/no-such-run', { reason: 'tidy' })).status).toBe(404);
    expect((await call(null, 'GET', '/runs')).status).toBe(401);
    const bad = await call('MODELER', 'DELETE', `/runs/${RUN}`, { reason: '  ' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^reason: a reason is required/);
  });

  it('POST /runs with an Idempotency-Key starts one run however often it is retried; cancel stops it', async () => {
    const key = { 'idempotency-key': 'start-slow-0001' };
    const body = { config_path: slowConfig, run_id: 'api-slow' };
    const first = await call('ANALYST', 'POST', '/runs', body, key);
    expect(first).toMatchObject({ status: 202, body: { run_id: 'api-slow', replayed: false } });
    const retried = await Promise.all([1, 2, 3].map(() => call('ANALYST', 'POST', '/runs', body, key)));
    for (const r of retried) expect(r).toMatchObject({ status: 202, body: { run_id: 'api-slow', replayed: true } });
    const other = await call('ANALYST', 'POST', '/runs', { ...body, run_id: 'api-other' }, key);
    expect(other.status).toBe(422);
    expect((await call('ANALYST', 'POST', '/runs', body)).status).toBe(400);
    const handle = pipelineHandle(stack.client, 'api-slow');
    await vi.waitUntil(async () => (await call('ANALYST', 'GET', '/runs/api-slow')).body.state === 'running', {
      timeout: 30_000,
      interval: 200,
    });
    // A running run is shown with its workflow's status on the Temporal server (a run terminated there would
    // show TERMINATED: pipeline.test.ts).
    const listed = (await call('VIEWER', 'GET', '/runs')).body as { runs: { runId: string }[] };
    expect(listed.runs.find((r) => r.runId === 'api-slow')).toMatchObject({
      state: 'running',
      serverStatus: 'RUNNING',
    });
    // An ANALYST cancels its own run; another ANALYST could not (the owner is checked after the pre-check).
    const cancel = await call('ANALYST', 'POST', '/runs/api-slow/cancel', { reason: 'wrong config' });
    expect(cancel).toMatchObject({ status: 202, body: { runId: 'api-slow' } });
    await handle.result().catch(() => undefined);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const ended = (await call('VIEWER', 'GET', '/runs/api-slow')).body as Record<string, unknown>;
    expect(ended).toMatchObject({ state: 'cancelled', info: { createdBy: { userId: 'api-analyst' } } });
    expect(ended).not.toHaveProperty('serverStatus');
    expect((await call('ANALYST', 'POST', '/runs/api-slow/cancel', { reason: 'again' })).status).toBe(409);
    const starts = await queryAudit({ run_id: 'api-slow', action: 'run_created' });
    expect(starts).toHaveLength(1);
  });

  it('reads a version out: artifacts verified by sha256, the scoring spec for ANALYST and up, report and model card for all', async () => {
    const listed = await call('VIEWER', 'GET', `/runs/${RUN}/artifacts`);
    expect(listed.status).toBe(200);
    const onnxRef = listed.body.artifacts.find((a: { path: string }) => a.path === 'model/model.onnx');
    const onnx = await call('VIEWER', 'GET', `/runs/${RUN}/artifact?path=model/model.onnx`);
    expect(onnx.status).toBe(200);
    expect(onnx.headers.get('x-artifact-sha256')).toBe(onnxRef.sha256);
    expect(createHash('sha256').update(onnx.bytes).digest('hex')).toBe(onnxRef.sha256);
    expect((await call('VIEWER', 'GET', `/runs/${RUN}/scoring-spec`)).status).toBe(403);
    const spec = await call('ANALYST', 'GET', `/runs/${RUN}/scoring-spec`);
    expect(parseModel(spec.bytes.toString()).threshold).toBeGreaterThan(0);
    const report = await call('VIEWER', 'GET', `/runs/${RUN}/report`);
    expect(report.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(report.body).toMatch(/^<!doctype html>/i);
    expect((await call('VIEWER', 'GET', `/runs/${RUN}/model-card?version=1`)).body).toMatch(/^# /);
    const scored = await call('VIEWER', 'POST', `/runs/${RUN}/scores`, [
      { userId: 'u-1', appId: 'a-1', requestId: 'r1' },
      { userId: 'nobody', appId: 'nothing' },
    ]);
    expect(scored.status).toBe(200);
    expect(scored.body.predictions).toHaveLength(2);
    expect(scored.body.predictions[0]).toMatchObject({ requestId: 'r1', approval_probability: expect.any(Number) });
    const missing = await call('VIEWER', 'GET', `/runs/${RUN}/artifacts?version=4`);
    expect(missing).toMatchObject({ status: 404, body: { message: expect.stringMatching(/has no version 4/) } });
  });

  it('names what is wrong in the newer operations: explain batch size, a capability request, a window outside the readable folders, a sign-in', async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => ({ userId: `u-${i}`, appId: 'a-1' }));
    const tooMany = await call('VIEWER', 'POST', `/runs/${RUN}/scores?explain=3`, rows);
    expect(tooMany).toMatchObject({
      status: 400,
      body: { message: 'with explain, at most 1,000 requests per call' },
    });
    const capability = await call('MODELER', 'POST', '/capabilities', { op: 'lockRun', run_id: RUN, request: {} });
    expect(capability).toMatchObject({
      status: 400,
      body: { message: expect.stringMatching(/^request for lockRun: reason/) },
    });
    const outside = await call('ANALYST', 'POST', `/runs/${RUN}/monitoring/windows`, { current: '/etc/hostname' });
    expect(outside).toMatchObject({
      status: 422,
      body: {
        error: 'Job failed',
        message: expect.stringMatching(/failed at step load: .*outside the folders workflows may read/),
      },
    });
    expect(await call(null, 'POST', '/session', {})).toMatchObject({
      status: 400,
      body: { message: expect.stringMatching(/^token: /) },
    });
    const forged = await call(null, 'POST', '/session', { token: `${tokens.VIEWER.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
  });

  it('users and tokens: an ADMIN adds a user and issues a token; its owner revokes it; the audit log answers seed-3 §4 queries', async () => {
    const added = await call('ADMIN', 'POST', '/users', { user_id: 'api-new', role: 'ANALYST', reason: 'joins' });
    expect(added).toMatchObject({ status: 201, body: { userId: 'api-new', role: 'ANALYST' } });
    expect((await call('MODELER', 'POST', '/tokens', { user_id: 'api-new' })).status).toBe(403);
    const issued = await call('ADMIN', 'POST', '/tokens', { user_id: 'api-new', ttl: '1h' });
    expect(issued.status).toBe(201);
    const own = { authorization: `Bearer ${issued.body.token}` };
    expect((await call(null, 'GET', '/me', undefined, own)).body).toMatchObject({ userId: 'api-new', role: 'ANALYST' });
    const revoked = await call(null, 'DELETE', `/tokens/${issued.body.jti}`, undefined, own);
    expect(revoked).toMatchObject({ status: 200, body: { jti: issued.body.jti } });
    expect((await call(null, 'GET', '/me', undefined, own)).status).toBe(401);
    const audit = await call('VALIDATOR', 'GET', '/audit-logs?action=user_added&user_id=api-new');
    expect(audit.body.entries).toEqual([
      expect.objectContaining({ assigned_by: 'root', new_role: 'ANALYST', source: 'api' }),
    ]);
    expect((await call('VIEWER', 'GET', '/audit-logs')).status).toBe(403);
    const badQuery = await call('VALIDATOR', 'GET', '/audit-logs?status=maybe');
    expect(badQuery.status).toBe(400);
  });

  it('the lifecycle over HTTP: seed-3 §8 scenario 1 for an ANALYST, an override by a MODELER, a validator review', async () => {
    // The run starts from a registered config, which it records.
    const document = stringify(
      smallConfig(join(root, 'data'), (c) => {
        c.model.catboost.iterations = 10;
        c.validation.n_splits = 2;
      }),
    );
    const registered = await call('ANALYST', 'POST', '/configs', { id: 'life', document, visibility: 'team' });
    expect(registered).toMatchObject({
      status: 201,
      body: { id: 'life', owner: 'api-analyst', versions: [{ version: 1 }] },
    });
    expect((await call('VIEWER', 'GET', '/configs')).body.configs).toEqual([]);
    expect((await call('VIEWER', 'GET', '/configs/life')).status).toBe(404);
    expect((await call('VIEWER', 'POST', '/configs', { id: 'v', document })).status).toBe(403);
    const both = await call(
      'ADMIN',
      'POST',
      '/runs',
      { config_id: 'life', config_path: 'x' },
      { 'idempotency-key': 'both-0001' },
    );
    expect(both.status).toBe(400);
    const started = await call(
      'ADMIN',
      'POST',
      '/runs',
      { config_id: 'life', run_id: 'api-life' },
      { 'idempotency-key': 'start-life-0001' },
    );
    expect(started.status).toBe(202);
    await pipelineHandle(stack.client, 'api-life').result();
    expect((await call('VIEWER', 'GET', '/runs/api-life')).body.info.registeredConfig).toMatchObject({
      id: 'life',
      version: 1,
    });
    await vi.waitUntil(async () => (await call('VIEWER', 'GET', '/runs/api-life/lifecycle')).status === 200, {
      timeout: 20_000,
      interval: 200,
    });

    // Scenario 1, the seed's route and body.
    const split = { reason: 'Want to split age bin', binning: { kind: 'numeric', borders: [2, 5] } };
    const denied = await call('ANALYST', 'POST', '/runs/api-life/bins/seniority/override', split);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      error: 'Permission denied',
      required_permission: 'binning_override',
      user_role: 'ANALYST',
      minimum_role: 'MODELER',
      message: expect.stringMatching(/^Only users with MODELER or higher role can perform manual overrides/),
    });
    expect(await queryAudit({ user_id: 'api-analyst', action: 'permission_denied', run_id: 'api-life' })).toEqual([
      expect.objectContaining({ attempted_action: 'binning_override', status: 'denied', reason: 'Insufficient role' }),
    ]);

    const filed = await call('MODELER', 'POST', '/runs/api-life/overrides/merge_bins', {
      feature: 'seniority',
      bins: [0, 1],
      reason: 'juniors behave alike',
    });
    expect(filed).toMatchObject({
      status: 202,
      body: { ok: true, overrideId: 'ov-1', status: 'manual_override_pending_review' },
    });
    const invalid = await call('MODELER', 'POST', '/runs/api-life/overrides/merge_bins', {
      feature: 'seniority',
      reason: 'x',
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(/^bins: /);
    await vi.waitUntil(
      async () =>
        (await call('VIEWER', 'GET', '/runs/api-life/lifecycle')).body.overrides?.[0]?.status === 'pending_review',
      { timeout: 60_000, interval: 300 },
    );
    // The author's role cannot review; a VALIDATOR can; ANALYST cannot run reproducibility.
    expect(
      (await call('MODELER', 'POST', '/runs/api-life/overrides/ov-1/review', { decision: 'approve', reason: 'mine' }))
        .status,
    ).toBe(403);
    const approved = await call('VALIDATOR', 'POST', '/runs/api-life/overrides/ov-1/review', {
      decision: 'approve',
      reason: 'checked the bins',
    });
    expect(approved).toMatchObject({ status: 200, body: { ok: true, status: 'approved' } });
    expect((await call('ANALYST', 'POST', '/runs/api-life/reproducibility')).status).toBe(403);
    const lock = await call('VALIDATOR', 'POST', '/runs/api-life/lock', { reason: 'ready' });
    expect(lock.status).toBe(409);
    expect(lock.body.message).toMatch(/cannot be locked yet/);

    // Golden comparison: an unlocked run is no reference (409); a reference exported from a run is.
    const unlocked = await call('VALIDATOR', 'POST', '/runs/api-life/golden', { against_run: RUN });
    expect(unlocked.status).toBe(409);
    expect((await call('ANALYST', 'GET', `/runs/${RUN}/golden-reference`)).status).toBe(403);
    const reference = (await call('MODELER', 'GET', `/runs/${RUN}/golden-reference`)).body;
    expect(reference).toMatchObject({ format: 'access-perm/golden-reference@1', source: { runId: RUN, version: 1 } });
    const checked = await call('VALIDATOR', 'POST', '/runs/api-life/golden', {
      version: 1,
      reference,
      tolerances: { metric: 1, score: 1 },
    });
    expect(checked).toMatchObject({ status: 200, body: { passed: true, version: 1, reference: { kind: 'file' } } });
    const results = await call('VIEWER', 'GET', '/runs/api-life/validation-results');
    expect(results.body.golden.map((g: { id: string }) => g.id)).toEqual([checked.body.id]);

    // The rest of seed-3's reading, reporting and monitoring rows.
    const bins = await call('VIEWER', 'GET', '/runs/api-life/bins?feature=seniority&version=2');
    expect(bins).toMatchObject({ status: 200, body: { version: 2, tables: [{ feature: 'seniority' }] } });
    const trail = await call('VIEWER', 'GET', '/runs/api-life/override-audit');
    expect(trail.body.entries.map((e: { action: string }) => e.action)).toEqual(['merge_bins', 'override_approved']);
    const compared = await call('VIEWER', 'GET', `/compare?a=${RUN}&b=api-life`);
    expect(compared.body.metrics.length).toBeGreaterThan(3);
    expect((await call('VIEWER', 'GET', '/runs/api-life/monitoring')).body).toEqual({ windows: [] });
    expect((await call('VALIDATOR', 'POST', '/runs/api-life/reports')).status).toBe(403);
    expect(
      (await call('VIEWER', 'POST', '/runs/api-life/retrain', {}, { 'idempotency-key': 'retrain-0001' })).status,
    ).toBe(403);
    const bundle = await call('MODELER', 'GET', '/runs/api-life/deployment-bundle');
    expect(bundle).toMatchObject({ status: 409, body: { message: expect.stringMatching(/is not locked/) } });
    expect((await call('MODELER', 'GET', '/health')).status).toBe(403);
    expect((await call('ADMIN', 'GET', '/health')).body).toMatchObject({ temporal: 'reachable', deployment: null });
    const features = await call('ANALYST', 'PUT', '/configs/life/features', {
      ignored_features: ['managerId'],
      reason: 'managers change too often',
    });
    expect(features).toMatchObject({ status: 200, body: { versions: [{ version: 1 }, { version: 2 }] } });
    const csv = await call('VALIDATOR', 'GET', '/audit-logs/export?format=csv&action=override_approved');
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(String(csv.body).split('\n').filter(Boolean)).toHaveLength(2);
    expect((await call('ANALYST', 'GET', '/audit-logs/export')).status).toBe(403);
    expect((await call('ADMIN', 'POST', '/audit-logs/checkpoints')).status).toBe(201);
    expect((await call('VALIDATOR', 'GET', '/audit-logs/verification')).body).toMatchObject({ ok: true });
  });

  it('the CLI through the API (ACCESS_PERM_API or --api) prints what the local CLI prints, errors and exit codes too', async () => {
    // In this process (no process start per command): locally on the shared data directory, then through the API.
    const local = (role: Role, ...args: string[]) =>
      cliInProcess({ ACCESS_PERM_TOKEN: tokens[role], TEMPORAL_ADDRESS: stack.server.address }, ...args);
    const remote = (role: Role, ...args: string[]) =>
      cliInProcess({ ACCESS_PERM_TOKEN: tokens[role], ACCESS_PERM_API: base, TEMPORAL_ADDRESS: undefined }, ...args);
    const cases: Array<[Role, string[]]> = [
      ['VIEWER', ['runs', 'list']],
      ['VIEWER', ['lifecycle', 'api-life']],
      ['VIEWER', ['bins', 'api-life', '--feature', 'seniority']],
      ['VIEWER', ['artifacts', RUN]],
      ['VIEWER', ['export-card', RUN, '--version', '1']],
      ['ANALYST', ['export-spec', RUN]],
      ['VIEWER', ['export-spec', RUN]],
      ['VIEWER', ['view-report', RUN]],
      ['VIEWER', ['download', RUN, 'model/model.onnx']],
      ['VIEWER', ['override-audit', 'api-life']],
      ['VIEWER', ['compare', RUN, 'api-life']],
      ['VIEWER', ['golden', 'list', 'api-life']],
      ['VIEWER', ['monitor', 'history', '--run', 'api-life']],
      ['ADMIN', ['users', 'list']],
      ['VALIDATOR', ['auth', 'whoami']],
      ['VALIDATOR', ['audit', 'query', '--run-id', 'api-life', '--action', 'override_approved']],
      ['VALIDATOR', ['audit', 'export', '--format', 'csv', '--action', 'override_approved']],
      ['VIEWER', ['audit', 'export', '--format', 'jsonl']],
      ['VIEWER', ['keys', 'show']],
      ['ADMIN', ['system', 'config', 'show']],
      ['MODELER', ['system', 'config', 'set', 'spark_partitions', '4', '--reason', 'more']],
      ['VALIDATOR', ['configs', 'list']],
      ['VALIDATOR', ['lock', 'api-life', '--reason', 'ready']],
      ['VIEWER', ['runs', 'show', 'nowhere']],
    ];
    const differences: string[] = [];
    for (const [role, args] of cases) {
      const [here, there] = [await local(role, ...args), await remote(role, ...args)];
      if (JSON.stringify(here) !== JSON.stringify(there))
        differences.push(
          `${role} ${args.join(' ')}:\n  local  ${JSON.stringify(here).slice(0, 300)}\n  remote ${JSON.stringify(there).slice(0, 300)}`,
        );
    }
    expect(differences).toEqual([]);
    // A folder is named by where it is.
    const shown = await remote('VIEWER', 'runs', 'show', 'api-life');
    expect(shown.stdout).toMatch(/^run +api-life \(approved\)\nfolder +on http:\/\/127\.0\.0\.1:\d+/);

    // Batch scoring streams the file through the API in chunks: the same predictions and explanations, byte for byte.
    // In the data directory: the monitoring window must lie where workflows may read.
    const dir = await mkdtemp(join(root, 'remote-cli-'));
    const input = join(dir, 'requests.csv');
    const rows = (await readFile(join(root, 'data', 'interactions.csv'), 'utf8')).split('\n').slice(1, 701);
    const requests = rows.map((line) => line.split(',').slice(0, 2).join(','));
    await writeFile(input, `userId,appId\n${[...requests, 'nobody,nothing'].join('\n')}\n`);
    const score = (run: typeof local, out: string) =>
      run(
        'VIEWER',
        'score',
        '--run',
        RUN,
        '--input',
        input,
        '--output',
        join(dir, out),
        '--chunk-rows',
        '256',
        '--explain',
        '2',
      );
    expect((await score(local, 'local.csv')).code).toBe(0);
    const scored = await score(remote, 'remote.csv');
    expect(scored.stderr).toMatch(
      new RegExp(`scored 701 rows with ${RUN} v1 .*, \\d+ unknown users, \\d+ unknown apps`),
    );
    const predictions = await readFile(join(dir, 'remote.csv'), 'utf8');
    expect(predictions).toBe(await readFile(join(dir, 'local.csv'), 'utf8'));
    expect(predictions.split('\n', 1)[0]).toBe(
      'userId,appId,approval_probability,predicted_label,top1_feature,top1_value,top1_shap,top2_feature,top2_value,top2_shap',
    );

    // Changes: a run started and followed, an override filed and rejected, a golden check, a window monitored,
    // users and tokens, audit proofs, each carried out by the server.
    const started = await remote('ANALYST', 'pipeline', 'run', '--config-id', 'life', '--run-id', 'api-remote');
    expect(started).toMatchObject({ code: 0, stderr: expect.stringContaining(`run api-remote on ${base}`) });
    expect(started.stdout).toMatch(/^run +api-remote +\(\d+ rows, [\d.]+ s\)\nOOF +ROC-AUC 0\.\d{4}/);
    expect(started.stdout).toMatch(/\nartifacts +on http:/);
    const filed = await remote(
      'ANALYST',
      'override',
      'api-remote',
      '--auto-bins',
      'seniority',
      '--reason',
      'fewer bins',
      '--wait',
    );
    expect(filed.stdout, filed.stderr).toMatch(
      /^override ov-1 filed; .*\nversion 2 ready: OOF ROC-AUC 0\.\d{4} \(version 1: 0\.\d{4}\)/s,
    );
    const delegated = await remote(
      'MODELER',
      'delegate',
      'api-remote',
      'ov-1',
      '--to',
      'api-new',
      '--reason',
      'theirs',
    );
    expect(delegated.stdout).toMatch(
      /^dlg-\S+: api-new may now review ov-1 of api-remote \(delegated by api-modeler\)\n$/,
    );
    const rejected = await remote(
      'VALIDATOR',
      'review',
      'api-remote',
      'ov-1',
      '--decision',
      'approve',
      '--reason',
      'fine',
    );
    expect(rejected).toMatchObject({ code: 0, stdout: expect.stringMatching(/; status approved\n$/) });
    const reference = join(dir, 'golden.json');
    expect((await remote('MODELER', 'golden', 'export', RUN, '--out', reference)).code).toBe(0);
    const golden = await remote(
      'VALIDATOR',
      'golden',
      'run',
      RUN,
      '--reference',
      reference,
      '--score-tolerance',
      '0',
      '--same-model',
    );
    expect(golden.stdout).toMatch(new RegExp(`golden comparison \\S+ of ${RUN} v1: passed\\n$`));
    const window = await remote('ANALYST', 'monitor', 'run', '--run', RUN, '--current', input, '--label', 'remote');
    expect(window).toMatchObject({
      stderr: '',
      code: 0,
      stdout: expect.stringMatching(/^window +remote \(\S+, 701 rows\)\ndrift +/),
    });
    expect((await remote('VIEWER', 'monitor', 'history', '--run', RUN)).stdout).toMatch(/ 701 .* remote\n$/);
    const issued = await remote(
      'ADMIN',
      'auth',
      'issue',
      '--user',
      'api-viewer',
      '--ttl',
      '1h',
      '--out',
      join(dir, 'viewer.token'),
    );
    expect(issued.stderr).toMatch(/^token \S+ for api-viewer, expires /);
    const revoked = await cliInProcess(
      { ACCESS_PERM_API: base, ACCESS_PERM_TOKEN: undefined },
      'auth',
      'revoke',
      '--token-file',
      join(dir, 'viewer.token'),
    );
    expect(revoked.stdout).toMatch(/^revoked token \S+ of api-viewer\n$/);
    const [entry] = await queryAudit({ action: 'override_approved', run_id: 'api-remote' });
    const proof = join(dir, 'proof.json');
    expect((await remote('ADMIN', 'audit', 'checkpoint')).stdout).toMatch(/^checkpoint: \d+ entries/);
    expect((await remote('VALIDATOR', 'audit', 'prove', '--entry', entry!.audit_id, '--out', proof)).code).toBe(0);
    expect((await local('VIEWER', 'audit', 'check-proof', proof)).stdout).toBe(
      `proof OK: ${entry!.audit_id} is in the signed audit log\n`,
    );
    const capability = await remote(
      'MODELER',
      'auth',
      'capability',
      '--op',
      'runReproducibility',
      '--run',
      'api-remote',
    );
    expect(JSON.parse(capability.stdout)).toMatchObject({
      capability: { user: 'api-modeler', op: 'runReproducibility' },
    });
    const file = join(dir, 'remote.yaml');
    await writeFile(file, stringify(smallConfig(join(root, 'data'))));
    const create = ['configs', 'create', '--id', 'remote-cfg', '--file', file, '--visibility', 'team'];
    expect((await remote('VALIDATOR', ...create)).code).toBe(3);
    expect((await remote('ANALYST', ...create)).stdout).toMatch(/^config remote-cfg v1 registered \(team\)/);
    const deleted = await remote('MODELER', 'runs', 'delete', 'api-slow', '--reason', 'cancelled, never used');
    expect(deleted.stdout).toMatch(/^run api-slow deleted \(was cancelled\)/);
    expect(await queryAudit({ run_id: 'api-slow', action: 'run_deleted' })).toEqual([
      expect.objectContaining({ user_id: 'api-modeler', source: 'api' }),
    ]);
    // Options that name this machine's folders are refused, not silently applied on the server.
    expect((await remote('ADMIN', 'audit', 'backup', '--dest', dir)).stderr).toMatch(
      /--dest works on a local data directory only/,
    );

    // A real process: --api anywhere on the line, a denial exits 3, an unreachable API is named.
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.MODELER, ACCESS_PERM_DATA_DIR: join(dir, 'nothing') };
    const denied = await runCli(
      env,
      'system',
      'config',
      'set',
      'spark_partitions',
      '4',
      '--reason',
      'more',
      '--api',
      base,
    );
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(
      /^access-perm: permission denied: Only ADMIN can configure system settings\..*\[required_permission system_configuration, your role MODELER, minimum_role ADMIN\]/,
    );
    const away = await runCli({ ...env, ACCESS_PERM_API: 'http://127.0.0.1:1' }, 'runs', 'list');
    expect(away.code).toBe(1);
    expect(away.stderr).toMatch(/cannot reach the control-plane API at http:\/\/127\.0\.0\.1:1 \(ACCESS_PERM_API\)/);
  });

  it('the seed-3 matrix over HTTP, all 40 permissions × 5 roles: a refused cell gets the §8 body and an audit entry, an allowed cell does the operation', async () => {
    /** A request of one cell. */
    interface Cell {
      method: string;
      path: string;
      body?: unknown;
      idempotent?: boolean;
    }
    const lifecycleOf = async (run: string) => (await call('VIEWER', 'GET', `/runs/${run}/lifecycle`)).body;
    // Settled: answering (a lifecycle that has just restarted answers 409 a moment) with no job running.
    const settled = (run: string) =>
      vi.waitUntil(
        async () => {
          const res = await call('VIEWER', 'GET', `/runs/${run}/lifecycle`);
          return res.status === 200 && !res.body.job;
        },
        { timeout: 60_000, interval: 200 },
      );
    const stateOf = async (run: string) => (await call('VIEWER', 'GET', `/runs/${run}`)).body.state as string;
    // Each lifecycle run takes one change at a time: a filed override is built, then a validator approves it
    // before the next is filed. Two runs share the work so their builds overlap.
    const pipelines = { 'api-life': Promise.resolve(), 'api-remote': Promise.resolve() };
    type LifeRun = keyof typeof pipelines;
    const runFor = (role: Role): LifeRun => (ROLES.indexOf(role) % 2 === 0 ? 'api-life' : 'api-remote');
    /** Queues `step` on the run without waiting for it; the next change of that run waits (a failure surfaces there). */
    const afterIt = (run: LifeRun, step: () => Promise<unknown>): Promise<void> => {
      pipelines[run] = pipelines[run].then(async () => void (await step()));
      pipelines[run].catch(() => undefined);
      return Promise.resolve();
    };
    const approveNext = (run: LifeRun) =>
      afterIt(run, async () => {
        await settled(run);
        const pending = (await lifecycleOf(run)).overrides.find(
          (o: { status: string }) => o.status === 'pending_review',
        );
        const review = await call('VALIDATOR', 'POST', `/runs/${run}/overrides/${pending.id}/review`, {
          decision: 'approve',
          reason: 'matrix',
        });
        expect(review.status, JSON.stringify(review.body)).toBe(200);
      });
    const override = (kind: string, change: Record<string, unknown>) => async (role: Role) => {
      const run = runFor(role);
      if (cellFor(role, OVERRIDE_PERMISSION[kind as OverrideKind]) !== CELL.no) await pipelines[run];
      return { method: 'POST', path: `/runs/${run}/overrides/${kind}`, body: { ...change, reason: `matrix ${role}` } };
    };
    const reference = (await call('MODELER', 'GET', `/runs/${RUN}/golden-reference`)).body;
    const document = stringify(smallConfig(join(root, 'data')));
    const started = (prefix: string, role: Role) => `mx-${prefix}-${role.toLowerCase()}`;

    // Every permission with one real operation that needs it, in an order where each finds what it needs;
    // `then` runs after an allowed cell succeeded.
    const cases: Array<{
      permission: Permission;
      cell: (role: Role) => Cell | Promise<Cell>;
      then?: (role: Role) => Promise<unknown>;
    }> = [
      { permission: 'view_runs', cell: () => ({ method: 'GET', path: '/runs/api-life' }) },
      {
        permission: 'create_run',
        cell: (role) => ({
          method: 'POST',
          path: '/runs',
          body: { config_path: slowConfig, run_id: started('start', role) },
          idempotent: true,
        }),
        then: (role) =>
          vi.waitUntil(async () => (await stateOf(started('start', role))) === 'running', { timeout: 30_000 }),
      },
      {
        permission: 'cancel_run',
        cell: (role) => ({
          method: 'POST',
          path: `/runs/${started('start', role)}/cancel`,
          body: { reason: 'matrix' },
        }),
        then: (role) =>
          vi.waitUntil(async () => (await stateOf(started('start', role))) === 'cancelled', { timeout: 30_000 }),
      },
      {
        permission: 'delete_run_artifacts',
        cell: (role) => ({
          method: 'DELETE',
          path: `/runs/${started('start', role === 'MODELER' ? 'ANALYST' : 'MODELER')}`,
          body: { reason: 'matrix' },
        }),
      },
      {
        permission: 'train_model',
        cell: (role) => ({
          method: 'POST',
          path: `/runs/${RUN}/retrain`,
          body: { run_id: started('retrain', role) },
          idempotent: true,
        }),
        then: async (role) => {
          const run = started('retrain', role);
          await vi.waitUntil(async () => (await stateOf(run)) === 'running', { timeout: 30_000 });
          await call('ADMIN', 'POST', `/runs/${run}/cancel`, { reason: 'the matrix needs only its start' });
        },
      },
      { permission: 'view_config', cell: () => ({ method: 'GET', path: '/configs' }) },
      {
        permission: 'create_config',
        cell: (role) => ({ method: 'POST', path: '/configs', body: { id: started('cfg', role), document } }),
      },
      {
        permission: 'edit_config',
        cell: (role) => ({
          method: 'PUT',
          path: `/configs/${started('cfg', role)}`,
          body: { document: document.replace('name: test', 'name: edited'), reason: 'matrix' },
        }),
      },
      {
        permission: 'select_features',
        cell: (role) => ({
          method: 'PUT',
          path: `/configs/${started('cfg', role)}/features`,
          body: { ignored_features: ['managerId'], reason: 'matrix' },
        }),
      },
      {
        permission: 'share_config',
        cell: (role) => ({
          method: 'PUT',
          path: `/configs/${started('cfg', role)}/visibility`,
          body: { visibility: 'everyone', reason: 'matrix' },
        }),
      },
      {
        permission: 'delete_config',
        cell: (role) => ({ method: 'DELETE', path: `/configs/${started('cfg', role)}`, body: { reason: 'matrix' } }),
      },
      // The threshold override needs binning_override and builds no new model: the cheapest operation of the cell.
      {
        permission: 'binning_override',
        cell: override('threshold', { threshold: 0.45 }),
        then: (role) => approveNext(runFor(role)),
      },
      {
        permission: 'auto_generate_bins',
        cell: override('auto_bins', { feature: 'seniority', max_bins: 4 }),
        then: (role) => approveNext(runFor(role)),
      },
      {
        permission: 'merge_bins',
        cell: override('merge_bins', { feature: 'seniority', bins: [0, 1] }),
        then: (role) => approveNext(runFor(role)),
      },
      {
        permission: 'enforce_monotonicity',
        cell: override('enforce_monotonicity', { feature: 'seniority', direction: 1 }),
        then: (role) => approveNext(runFor(role)),
      },
      {
        permission: 'adjust_regularization',
        cell: override('regularization', { params: { l2_leaf_reg: 4 } }),
        then: (role) => approveNext(runFor(role)),
      },
      { permission: 'view_binning', cell: () => ({ method: 'GET', path: '/runs/api-life/bins?feature=seniority' }) },
      { permission: 'view_override_audit', cell: () => ({ method: 'GET', path: '/runs/api-life/override-audit' }) },
      {
        permission: 'run_reproducibility',
        cell: async (role) => {
          const run = runFor(role);
          if (cellFor(role, 'run_reproducibility') !== CELL.no) await pipelines[run];
          return { method: 'POST', path: `/runs/${run}/reproducibility` };
        },
        then: (role) => afterIt(runFor(role), () => settled(runFor(role))),
      },
      {
        permission: 'view_reproducibility',
        cell: () => ({ method: 'GET', path: '/runs/api-life/validation-results' }),
      },
      {
        permission: 'configure_monitoring',
        cell: () => ({
          method: 'PUT',
          path: '/runs/api-life/monitoring/schedule',
          body: { current: join(root, 'data', 'submission.csv') },
        }),
      },
      {
        permission: 'lock_run',
        cell: async (role) => {
          const run = role === 'VALIDATOR' ? 'api-life' : 'api-remote';
          await Promise.all(Object.values(pipelines));
          if (run === 'api-remote') {
            const schedule = { current: join(root, 'data', 'submission.csv') };
            expect((await call('ADMIN', 'PUT', `/runs/${run}/monitoring/schedule`, schedule)).status).toBe(200);
          }
          return { method: 'POST', path: `/runs/${run}/lock`, body: { reason: 'matrix' } };
        },
      },
      {
        permission: 'approve_deployment',
        cell: (role) => ({
          method: 'POST',
          path: `/runs/${role === 'VALIDATOR' ? 'api-life' : 'api-remote'}/deployment`,
          body: { reason: 'matrix' },
        }),
      },
      { permission: 'export_run', cell: () => ({ method: 'GET', path: '/runs/api-remote/deployment-bundle' }) },
      {
        permission: 'golden_comparison',
        cell: () => ({
          method: 'POST',
          path: `/runs/${RUN}/golden`,
          body: { reference, tolerances: { metric: 1, score: 1 } },
        }),
      },
      { permission: 'download_artifacts', cell: () => ({ method: 'GET', path: `/runs/${RUN}/artifacts` }) },
      { permission: 'export_scoring_spec', cell: () => ({ method: 'GET', path: `/runs/${RUN}/scoring-spec` }) },
      { permission: 'export_model_card', cell: () => ({ method: 'GET', path: `/runs/${RUN}/model-card` }) },
      { permission: 'view_reports', cell: () => ({ method: 'GET', path: `/runs/${RUN}/report` }) },
      { permission: 'generate_report', cell: () => ({ method: 'POST', path: `/runs/${RUN}/reports` }) },
      { permission: 'compare_models', cell: () => ({ method: 'GET', path: `/compare?a=${RUN}&b=api-life` }) },
      {
        permission: 'view_model_performance',
        cell: () => ({ method: 'POST', path: `/runs/${RUN}/scores`, body: [{ userId: 'u-1', appId: 'a-1' }] }),
      },
      { permission: 'view_monitoring', cell: () => ({ method: 'GET', path: `/runs/${RUN}/monitoring` }) },
      { permission: 'view_system_health', cell: () => ({ method: 'GET', path: '/health' }) },
      { permission: 'view_audit_logs', cell: () => ({ method: 'GET', path: '/audit-logs?run_id=api-life&limit=5' }) },
      {
        permission: 'export_audit_logs',
        cell: () => ({ method: 'GET', path: '/audit-logs/export?action=run_deleted' }),
      },
      {
        permission: 'system_configuration',
        cell: () => ({
          method: 'PUT',
          path: '/system/config/worker.max_concurrent_activities',
          body: { value: 8, reason: 'matrix' },
        }),
      },
      { permission: 'manage_backups', cell: () => ({ method: 'POST', path: '/audit-logs/checkpoints' }) },
      {
        permission: 'manage_users',
        cell: () => ({
          method: 'POST',
          path: '/users',
          body: { user_id: 'mx-user', role: 'VIEWER', reason: 'matrix' },
        }),
      },
      {
        permission: 'assign_roles',
        cell: () => ({ method: 'PUT', path: '/users/mx-user/role', body: { role: 'ANALYST', reason: 'matrix' } }),
      },
    ];
    expect(cases.map((c) => c.permission).sort()).toEqual(MATRIX.map((r) => r.permission).sort());

    const users = {
      VIEWER: 'api-viewer',
      ANALYST: 'api-analyst',
      MODELER: 'api-modeler',
      VALIDATOR: 'api-validator',
      ADMIN: 'root',
    };
    const wrong: string[] = [];
    const refused: Array<[string, string]> = [];
    let allowed = 0;
    for (const { permission, cell, then } of cases) {
      for (const role of ROLES) {
        const { method, path, body, idempotent } = await cell(role);
        const key: Record<string, string> = idempotent ? { 'idempotency-key': `matrix-${permission}-${role}` } : {};
        const res = await call(role, method, path, body, key);
        const what = `${permission} ${role} (${method} ${path})`;
        if (cellFor(role, permission) === CELL.no) {
          const seed = res.body as { required_permission?: string; user_role?: string; minimum_role?: string };
          if (
            res.status !== 403 ||
            seed.required_permission !== permission ||
            seed.user_role !== role ||
            seed.minimum_role !== minimumRole(permission)
          )
            wrong.push(
              `${what}: not refused as the seed says (${res.status} ${JSON.stringify(res.body).slice(0, 160)})`,
            );
          refused.push([users[role], permission]);
          continue;
        }
        allowed++;
        if (res.status < 200 || res.status > 299) {
          wrong.push(`${what}: allowed, but ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        await then?.(role);
      }
    }
    await Promise.all(Object.values(pipelines));
    // Every refusal is on record: at once, or (a repeat within the server's minute) counted in its summary after an
    // entry for the same user and permission.
    const denials = (await queryAudit({ action: 'permission_denied' })).filter((e) => e.source === 'api');
    for (const [user, permission] of refused)
      if (!denials.some((e) => e.user_id === user && e.attempted_action === permission))
        wrong.push(`${permission} ${user}: refusal not audited`);
    expect(wrong).toEqual([]);
    expect([allowed, refused.length]).toEqual([124, 76]);
    // What the allowed cells did is in the records: both runs locked and the second deployed.
    expect((await call('VIEWER', 'GET', '/runs/api-life')).body.state).toBe('locked');
    expect((await call('VIEWER', 'GET', '/runs/api-remote')).body.state).toBe('deployed');
  }, 240_000);
});
