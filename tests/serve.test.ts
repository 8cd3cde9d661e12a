import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, parseModel } from '../lib/gbdt';
import { sha256Hex } from '../lib/hash';
import { deploymentPath, writeDeployment } from '../lib/run/deployment';
import { addUser, issueToken, queryAudit } from '../lib/governance';
import { resolveRunDir } from '../lib/run';
import { buildService, readInferenceLog, ServedModel } from '../lib/serve';
import { MAX_PREDICT_ROWS } from '../schemas/serving';
import { copyRun, runCli, runCreator, useTempDataDir } from './helpers';
import { trainedRun } from './scoringRun';

const exec = promisify(execFile);
const RUN = 'serve-a';
let base: string;
let app: FastifyInstance;
let served: ServedModel;
const tokens: Record<'admin' | 'viewer' | 'analyst', string> = { admin: '', viewer: '', analyst: '' };
let modelSha: string;
/** Rows answered 200 by /predict and /explain on `app`, for the inference log check. */
let scoredRows = 0;

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; url?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${opts.url ?? base}${path}`, {
    method,
    headers,
    ...(opts.raw !== undefined
      ? { body: opts.raw }
      : opts.body !== undefined
        ? { body: JSON.stringify(opts.body) }
        : {}),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (
    res.status === 200 &&
    (path.startsWith('/predict') || path.startsWith('/explain')) &&
    (opts.url ?? base) === base
  ) {
    scoredRows += (body.predictions ?? body.explanations).length;
  }
  return { status: res.status, body, headers: res.headers };
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const root = await useTempDataDir('serve');
  await trainedRun(root, RUN);
  tokens.admin = (await runCreator()).token;
  for (const [userId, role] of [
    ['vic', 'VIEWER'],
    ['ana', 'ANALYST'],
  ] as const) {
    await addUser({ token: tokens.admin }, { userId, role, reason: 'scoring service test' });
  }
  tokens.viewer = (await issueToken({ token: tokens.admin }, { userId: 'vic' })).token;
  tokens.analyst = (await issueToken({ token: tokens.admin }, { userId: 'ana' })).token;
  modelSha = sha256Hex(
    exportOnnx(parseModel(await readFile(join(await resolveRunDir(RUN), 'model/model.json'), 'utf8'))),
  );
  served = new ServedModel(RUN);
  await served.start();
  // Every test calls from 127.0.0.1: a generous failure limit keeps the refusal tests from blocking the others.
  app = await buildService({ served, logWindowMs: 60_000, authFailureLimit: 1000 });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  await served?.close();
});

describe('authentication and authorization', () => {
  it('answers 401 with a reason for missing and refused tokens, on every endpoint', async () => {
    for (const [method, path] of [
      ['GET', '/health'],
      ['POST', '/predict'],
      ['POST', '/explain'],
      ['GET', '/runs'],
      ['GET', `/runs/${RUN}`],
      ['GET', '/audit-logs'],
      ['GET', '/openapi.json'],
    ] as const) {
      const r = await call(method, path, method === 'POST' ? { body: [{ userId: '1', appId: '2' }] } : {});
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.body).toEqual({
        error: 'Not authenticated',
        reason: 'missing',
        message: expect.stringMatching(/missing token/),
      });
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const forged = `${tokens.viewer.slice(0, -4)}AAAA`;
    const r = await call('POST', '/predict', { token: forged, body: [{ userId: '1', appId: '2' }] });
    expect(r.status).toBe(401);
    expect(r.body.reason).toMatch(/signature|malformed/);
    expect((await call('GET', '/runs', { token: 'garbage' })).body.reason).toBe('malformed');
  });

  it('answers 403 with the seed-3 §8 body when the role lacks the permission', async () => {
    const health = await call('GET', '/health', { token: tokens.viewer });
    expect(health.status).toBe(403);
    expect(health.body).toEqual({
      error: 'Permission denied',
      required_permission: 'view_system_health',
      user_role: 'VIEWER',
      minimum_role: 'ADMIN',
      allowed_roles: ['ADMIN'],
      message: expect.any(String),
    });
    const audit = await call('GET', '/audit-logs', { token: tokens.viewer });
    expect(audit.status).toBe(403);
    expect(audit.body).toMatchObject({
      required_permission: 'view_audit_logs',
      user_role: 'VIEWER',
      minimum_role: 'ANALYST',
    });
  });
});

describe('a flood of bad tokens', () => {
  it('is answered 429 past the limit, summarised in the audit log, and does not block good tokens elsewhere', async () => {
    const limited = await buildService({ served, authFailureLimit: 5, refusalWindowMs: 1500, blockedDelayMs: 15 });
    const url = await limited.listen({ port: 0, host: '127.0.0.1' });
    const before = (await queryAudit({ action: 'authentication_failed' })).length;
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++)
        statuses.push((await call('POST', '/predict', { token: `garbage-${i}`, url, body: [] })).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
      const t0 = performance.now();
      const blocked = await call('GET', '/runs', { token: tokens.viewer, url });
      // Held back before it is answered, so a flooder cannot spin on cheap 429s.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(14);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // The first refusal of each kind (bad token; 429 on /predict; 429 on /runs) was written at once, the repeats
      // wait for the interval's summary.
      expect((await queryAudit({ action: 'authentication_failed' })).length - before).toBe(3);
      await new Promise((r) => setTimeout(r, 1700));
      const entries = (await queryAudit({ action: 'authentication_failed' })).slice(before);
      expect(entries).toHaveLength(5);
      const summaries = entries.filter((e) => e.details?.repeated !== undefined);
      expect(summaries.map((e) => e.details!.repeated).sort((a, b) => Number(a) - Number(b))).toEqual([4, 34]);
      expect(summaries.every((e) => String(e.details!.aggregated_source).startsWith('client-'))).toBe(true);
      // The interval over, the client may try again; the shared service never blocked it.
      expect((await call('GET', '/runs', { token: tokens.viewer, url })).status).toBe(200);
      expect((await call('GET', '/runs', { token: tokens.viewer })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('GET /health', () => {
  it('reports the loaded model, its hash and uptime to an ADMIN', async () => {
    const r = await call('GET', '/health', { token: tokens.admin });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      model_loaded: true,
      source: 'explicit',
      run_id: RUN,
      model_sha256: modelSha,
      lock: null,
      metadata_same_as_training: { users: true, apps: true },
      metadata_frozen: false,
      last_error: null,
    });
    expect(r.body.uptime_seconds).toBeGreaterThanOrEqual(0);
  });
});

describe('POST /predict', () => {
  it('scores a viewer’s batch exactly as the run model does in process, flagging unknown ids', async () => {
    const rows = [
      { userId: '100001', appId: '5001', requestId: 'r-1' },
      { userId: 100002, appId: 5003 },
      { userId: 'nobody-knows-me', appId: '5001' },
      { userId: '100001', appId: 'app-from-the-future' },
    ];
    const r = await call('POST', '/predict', { token: tokens.viewer, body: rows });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ run_id: RUN, model_sha256: modelSha });
    const expected = await served.use((m) =>
      m.score(rows.map((x) => ({ userId: String(x.userId), appId: String(x.appId) }))),
    );
    expect(r.body.predictions).toHaveLength(4);
    r.body.predictions.forEach((p: any, i: number) => {
      expect(p.approval_probability).toBeCloseTo(expected.probability[i]!, 5);
      expect(p.predicted_label).toBe(expected.label[i]);
      expect(p.userId).toBe(String(rows[i]!.userId));
    });
    expect(r.body.predictions[0].requestId).toBe('r-1');
    expect(r.body.predictions[1]).not.toHaveProperty('requestId');
    expect(r.body.predictions.map((p: any) => [p.unknown_user, p.unknown_app])).toEqual([
      [false, false],
      [false, false],
      [true, false],
      [false, true],
    ]);
  });

  it('answers 400 naming the row and the field, and 413 over the size limit', async () => {
    const bad = async (body: unknown) => {
      const r = await call('POST', '/predict', { token: tokens.viewer, body });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('Invalid request');
      return r.body;
    };
    const missing = await bad([{ userId: '1', appId: '2' }, { userId: '1', appId: '2' }, { userId: '3' }]);
    expect(missing.message).toMatch(/^row 2: appId: /);
    expect(missing.issues[0]).toMatchObject({ row: 2, field: 'appId' });
    expect((await bad([{ userId: '', appId: '2' }])).message).toBe('row 0: userId: must not be empty');
    expect((await bad([{ userId: '1', appId: '2', role: 'ADMIN' }])).message).toMatch(/^row 0: role: Unrecognized key/);
    expect((await bad({ userId: '1', appId: '2' })).message).toMatch(/expected array/);
    expect((await bad([])).message).toMatch(/at least one request/);
    const many = Array.from({ length: MAX_PREDICT_ROWS + 1 }, () => ({ userId: '1', appId: '2' }));
    expect((await bad(many)).message).toMatch(/at most 10,000 requests/);
    const notJson = await call('POST', '/predict', { token: tokens.viewer, raw: '[{"userId": ' });
    expect(notJson.status).toBe(400);

    const huge = JSON.stringify([{ userId: 'x'.repeat(3 * 1024 * 1024), appId: '1' }]);
    const tooBig = await call('POST', '/predict', { token: tokens.viewer, raw: huge });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ error: 'Payload too large' });
  });
});

describe('POST /explain', () => {
  it('returns the top SHAP contributions that, with the base, make up the log-odds', async () => {
    const rows = [{ userId: '100001', appId: '5001' }];
    const all = await call('POST', '/explain?top=50', { token: tokens.viewer, body: rows });
    expect(all.status).toBe(200);
    const [e] = all.body.explanations;
    const logit = e.contributions.reduce((s: number, c: any) => s + c.shap, e.expected_value);
    expect(1 / (1 + Math.exp(-logit))).toBeCloseTo(e.approval_probability, 5);
    const two = await call('POST', '/explain?top=2', { token: tokens.viewer, body: rows });
    expect(two.body.explanations[0].contributions).toEqual(e.contributions.slice(0, 2));
    expect(two.body.explanations[0].contributions[0]).toEqual({
      feature: expect.any(String),
      value: expect.anything(),
      shap: expect.any(Number),
    });
    const badTop = await call('POST', '/explain?top=0', { token: tokens.viewer, body: rows });
    expect(badTop.status).toBe(400);
    expect(badTop.body.message).toMatch(/^top: /);
  });
});

describe('runs and audit logs', () => {
  it('GET /runs and /runs/:id show state, metrics and lock to a viewer; unknown runs are 404', async () => {
    const list = await call('GET', '/runs', { token: tokens.viewer });
    expect(list.status).toBe(200);
    expect(list.body.runs.map((r: any) => r.runId)).toContain(RUN);
    const one = await call('GET', `/runs/${RUN}`, { token: tokens.viewer });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ runId: RUN, state: 'completed', lock: null, served: { model_sha256: modelSha } });
    expect(one.body.metrics.threshold).toBeGreaterThan(0);
    expect((await call('GET', '/runs/no-such-run', { token: tokens.viewer })).status).toBe(404);
    expect((await call('GET', '/runs/..%2Fetc', { token: tokens.viewer })).status).toBe(404);
  });

  it('GET /audit-logs runs the governance queries for an analyst; bad filters are 400', async () => {
    const denied = await call('GET', '/audit-logs?action=permission_denied&user_id=vic', { token: tokens.analyst });
    expect(denied.status).toBe(200);
    expect(denied.body.count).toBeGreaterThanOrEqual(2);
    expect(denied.body.entries.map((e: any) => e.attempted_action)).toEqual(
      expect.arrayContaining(['view_system_health', 'view_audit_logs']),
    );
    expect(denied.body.entries.every((e: any) => e.source === 'api' && e.user_id === 'vic')).toBe(true);
    const bad = await call('GET', '/audit-logs?colour=blue', { token: tokens.analyst });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/colour/);
  });

  it('GET /openapi.json describes every endpoint with the validated request schema', async () => {
    const r = await call('GET', '/openapi.json', { token: tokens.viewer });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths).sort()).toEqual(
      ['/audit-logs', '/explain', '/health', '/openapi.json', '/predict', '/runs', '/runs/{id}'].sort(),
    );
    expect(r.body.components.schemas.PredictRequest).toMatchObject({ type: 'array', maxItems: MAX_PREDICT_ROWS });
    expect(r.body.paths['/predict'].post.description).toMatch(/view_model_performance/);
  });
});

describe('deployment', () => {
  it('serves nothing until a run is deployed, then hot-reloads when the deployment changes', async () => {
    const reloads: Array<{ runId: string | null; lastError: string | null }> = [];
    const watched = new ServedModel(undefined, 100, {
      onReload: (s) => reloads.push({ runId: s.runId, lastError: s.lastError }),
    });
    await watched.start();
    const other = await buildService({ served: watched });
    const url = await other.listen({ port: 0, host: '127.0.0.1' });
    try {
      const health = () => call('GET', '/health', { token: tokens.admin, url });
      expect((await health()).status).toBe(503);
      const none = await call('POST', '/predict', { token: tokens.viewer, url, body: [{ userId: '1', appId: '2' }] });
      expect(none).toMatchObject({ status: 503, body: { error: 'No model' } });

      const deployed = { model_sha256: modelSha, deployed_at: new Date().toISOString(), deployed_by: 'root' };
      await writeDeployment({ run_id: RUN, ...deployed });
      await waitFor('the deployed run', async () => (await health()).body.run_id === RUN);
      expect((await health()).body).toMatchObject({ source: 'deployment', deployment: { run_id: RUN } });

      await copyRun(RUN, 'serve-b');
      await writeDeployment({ run_id: 'serve-b', ...deployed, model_sha256: 'f'.repeat(64) });
      await waitFor('the refused reload', async () => (await health()).body.last_error !== null);
      expect((await health()).body).toMatchObject({
        run_id: RUN,
        last_error: expect.stringMatching(/deployment expects f{64}/),
      });

      await writeDeployment({ run_id: 'serve-b', ...deployed });
      await waitFor('the reload', async () => (await health()).body.run_id === 'serve-b');
      const p = await call('POST', '/predict', {
        token: tokens.viewer,
        url,
        body: [{ userId: '100001', appId: '5001' }],
      });
      expect(p.body.run_id).toBe('serve-b');
      // A deployment record written by hand (no signature) is refused by the hot reload; serve-b keeps serving.
      const { signature: _signature, ...unsigned } = JSON.parse(await readFile(deploymentPath(), 'utf8')) as Record<
        string,
        unknown
      >;
      await writeFile(deploymentPath(), JSON.stringify({ ...unsigned, run_id: RUN }));
      await waitFor('the refused hand-written record', async () => (await health()).body.last_error !== null);
      expect((await health()).body).toMatchObject({
        run_id: 'serve-b',
        last_error: expect.stringMatching(/deployment record .* is not signed: refused/),
      });
      // Each load and each refusal was reported (what `serve` prints), the refusal naming the expected hash.
      expect(reloads).toEqual([
        { runId: RUN, lastError: null },
        { runId: RUN, lastError: expect.stringMatching(/serve-b: .*deployment expects f{64}/) },
        { runId: 'serve-b', lastError: null },
        { runId: 'serve-b', lastError: expect.stringMatching(/is not signed/) },
      ]);
    } finally {
      await other.close();
      await watched.close();
    }
  });
});

describe('docs/scoring.md', () => {
  it("runs the page's curl examples against the service", async () => {
    const page = await readFile(join(import.meta.dirname, '..', 'docs', 'scoring.md'), 'utf8');
    const block = /<!-- curl-examples[^>]*-->\s*```bash\n([\s\S]*?)```/.exec(page)?.[1] ?? '';
    const commands = block.split('\n').filter((l) => l.startsWith('curl '));
    expect(commands.length).toBeGreaterThanOrEqual(6);
    for (const command of commands) {
      const { stdout } = await exec('bash', ['-c', command.replaceAll('http://127.0.0.1:8000', base)], {
        env: { ...process.env, ACCESS_PERM_TOKEN: tokens.admin },
      });
      const body = JSON.parse(stdout);
      expect(body, command).not.toHaveProperty('error');
      scoredRows += (body.predictions ?? body.explanations ?? []).length;
      if (body.predictions) expect(body.predictions[1]).toMatchObject({ unknown_user: true, unknown_app: false });
    }
  });
});

describe('`access-perm serve`', () => {
  it('prints run, version, model sha256 and URL on start-up; SIGTERM writes the last window and exits 0', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.admin };
    const bin = join(process.cwd(), 'bin/access-perm.mjs');
    const child = spawn('node', [bin, 'serve', '--run', RUN, '--version', '1', '--port', '0'], { env });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await waitFor('the start-up line', async () => / on http:\/\/\S+\n/.test(stderr), 60_000);
      const line = /^access-perm: serving .*$/m.exec(stderr)?.[0] ?? '';
      const threshold = (await served.use(async (m) => m.threshold)).toFixed(4);
      const started = new RegExp(
        `^access-perm: serving run ${RUN} v1 \\(unlocked, model sha256 ${modelSha}, threshold ${threshold}\\) on (http://127\\.0\\.0\\.1:\\d+)$`,
      ).exec(line);
      expect(started, line).not.toBeNull();
      const url = started![1]!;
      const health = await call('GET', '/health', { token: tokens.admin, url });
      expect(health.body).toMatchObject({ run_id: RUN, model_version: 1, model_sha256: modelSha, source: 'explicit' });
      const rows = [
        { userId: '100001', appId: '5001' },
        { userId: 'ghost', appId: '5002' },
        { userId: '100003', appId: '5003' },
      ];
      const before = (await readInferenceLog()).length;
      expect((await call('POST', '/predict', { token: tokens.viewer, url, body: rows })).status).toBe(200);
      scoredRows += rows.length; // logged by the child under the same run and model (checked in the last test)
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/access-perm: SIGTERM: finishing requests in flight and stopping/);
      const written = (await readInferenceLog()).slice(before);
      expect(written).toContainEqual(
        expect.objectContaining({ run_id: RUN, requests: 1, rows: 3, unknown_users: 1, errors: 0 }),
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses --version without --run, and a version the run does not have', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.admin };
    const alone = await runCli(env, 'serve', '--version', '2', '--port', '0');
    expect(alone.code).toBe(1);
    expect(alone.stderr.trim()).toBe(
      'access-perm: --version needs --run <id>: the deployed run is served at its locked version',
    );
    const absent = await runCli(env, 'serve', '--run', RUN, '--version', '2', '--port', '0');
    expect(absent.code).toBe(1);
    expect(absent.stderr.trim()).toBe(`access-perm: run ${RUN} has no version 2 (versions 1..1)`);
    expect(() => new ServedModel(undefined, 100, { version: 2 })).toThrow(/only be chosen with an explicit run/);
  });
});

describe('shutdown and inference log', () => {
  it('finishes requests in flight on close and appends the window with counts, approval rate and latency', async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => ({
      userId: String(100001 + (i % 700)),
      appId: String(5001 + (i % 90)),
    }));
    const inFlight = call('POST', '/predict', { token: tokens.viewer, body: rows });
    await new Promise((r) => setTimeout(r, 20));
    const closing = app.close();
    const last = await inFlight;
    expect(last.status).toBe(200);
    await closing;
    const windows = (await readInferenceLog()).filter((w) => w.run_id === RUN && w.model_sha256 === modelSha);
    const rowsLogged = windows.reduce((s, w) => s + w.rows, 0);
    expect(rowsLogged).toBe(scoredRows);
    expect(windows.reduce((s, w) => s + w.errors, 0)).toBeGreaterThanOrEqual(6);
    for (const w of windows) {
      expect(w.approved).toBeLessThanOrEqual(w.rows);
      expect(w.approval_rate).toBeCloseTo(w.approved / w.rows, 12);
      expect(w.latency_ms.counts.reduce((a, b) => a + b, 0)).toBe(w.requests + w.errors);
    }
    expect(windows.reduce((s, w) => s + w.approved, 0)).toBeGreaterThan(0);
    // No request's ids reach the log (as JSON strings: a latency sum's digits may spell an id by chance).
    expect(JSON.stringify(windows)).not.toMatch(/"100\d{3}"|nobody-knows-me/);
  });
});
