import { execFile } from 'node:child_process';
import { cp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCategorical } from '../lib/features/matrix';
import { deploymentPath, readDeployment, writeDeployment } from '../lib/run/deployment';
import { ArtifactIntegrityError, InputError, UnknownRunError } from '../lib/errors';
import { exportOnnx, parseModel, predictProba } from '../lib/gbdt';
import { addUser, auditLogPath, issueToken, queryAudit } from '../lib/governance';
import { sha256Hex } from '../lib/hash';
import { approveDeployment, exportBundle, lockRun } from '../lib/lifecycle/lock';
import { registerSchedule } from '../lib/monitor/store';
import { lifecycleView, LOCK_FILE, readFeatures, resolveRunDir } from '../lib/run';
import {
  openRunModel,
  RequestFeatureBuilder,
  RunNotScorableError,
  scoreCsvChunks,
  scoreCsvFile,
  type RequestFeatures,
  type RunModel,
  type ScoreRequest,
} from '../lib/scoring';
import type { FeatureMatrix } from '../schemas/matrix';
import { cliInProcess, copyRun, runCreator, useTempDataDir } from './helpers';
import { trainedRun } from './scoringRun';

const exec = promisify(execFile);
const RUN = 'score-a';
/** Signed records the lifecycle wrote and later replaced: what an attacker could put back. */
let lockBeforeApproval: string;
let otherDeployment: string;
let root: string;
let dataDir: string;
let model: RunModel;
let interactions: ScoreRequest[];

async function readRequests(path: string): Promise<ScoreRequest[]> {
  const [, ...lines] = (await readFile(path, 'utf8')).trim().split('\n');
  return lines.map((l) => {
    const [userId, appId] = l.split(',');
    return { userId: userId!, appId: appId! };
  });
}

function matrixOf(f: RequestFeatures, inputs: RunModel['inputs']): FeatureMatrix {
  const m: FeatureMatrix = { rowCount: f.rows, categorical: [], numeric: [] };
  for (const i of inputs) {
    const col = f.columns[i.name]!;
    if (i.type === 'string') m.categorical.push(encodeCategorical(i.name, col as string[]));
    else m.numeric.push({ name: i.name, values: Float64Array.from(col as ArrayLike<number>) });
  }
  return m;
}

beforeAll(async () => {
  root = await useTempDataDir('scoring');
  ({ dataDir } = await trainedRun(root, RUN));
  model = await openRunModel(RUN);
  interactions = await readRequests(join(dataDir, 'interactions.csv'));
});

afterAll(async () => {
  await model?.close();
});

describe('openRunModel', () => {
  it("reads the run's threshold and scores with the ONNX export of its verified scoring spec", async () => {
    const metrics = JSON.parse(await readFile(join(await resolveRunDir(RUN), 'metrics.json'), 'utf8')) as {
      oof: { threshold: number };
    };
    expect(model.threshold).toBe(metrics.oof.threshold);
    const spec = parseModel(await readFile(join(await resolveRunDir(RUN), 'model/model.json'), 'utf8'));
    expect(model.modelSha256).toBe(sha256Hex(exportOnnx(spec)));
    expect(model.lock).toBeNull();
    expect(model.metadata.users.sameAsTraining).toBe(true);
  });

  it('refuses a modified model, a model the deployment does not pin, unknown and unfinished runs', async () => {
    await copyRun(RUN, 'score-tampered');
    const path = join(await resolveRunDir('score-tampered'), 'model/model.json');
    await writeFile(path, `${await readFile(path, 'utf8')} `);
    await expect(openRunModel('score-tampered')).rejects.toThrow(ArtifactIntegrityError);
    await expect(openRunModel('score-tampered')).rejects.toThrow(/model\/model\.json was modified/);

    await expect(openRunModel(RUN, { expectedModelSha256: '0'.repeat(64) })).rejects.toThrow(
      /the deployment expects 0{64}/,
    );
    await expect(openRunModel('no-such-run')).rejects.toThrow(UnknownRunError);

    await cp(join(await resolveRunDir(RUN), 'run.json'), join(await resolveRunDir('score-unfinished'), 'run.json'), {
      recursive: true,
    });
    await expect(openRunModel('score-unfinished')).rejects.toThrow(RunNotScorableError);
  });
});

describe('request features', () => {
  it('are the training features: the lookup path equals the SQL path and the run’s feature table', async () => {
    const paths = { users: model.metadata.users.path, apps: model.metadata.apps.path };
    const builder = await RequestFeatureBuilder.open(paths, model.featureOptions, model.inputs);
    try {
      expect(builder.usesLookup).toBe(true);
      // Unknown ids are answered from the sentinel-path values derived at open; padded ids still take the SQL.
      expect(builder.answersUnknownIds).toEqual({ user: true, app: true });
      const odd = [
        { userId: 'ghost-user', appId: interactions[0]!.appId },
        { userId: interactions[0]!.userId, appId: 'ghost-app' },
        { userId: 'ghost-user-2', appId: 'ghost-app-2' },
        { userId: ` ${interactions[1]!.userId} `, appId: interactions[1]!.appId },
        { userId: 'access-perm-unknown-user-1', appId: 'access-perm-unknown-app-1' },
      ];
      const rows = [...interactions, ...odd];
      const fast = await builder.build(rows);
      const sql = await builder.viaSql(rows);
      expect(fast).toEqual(sql);

      const { matrix } = await readFeatures(await resolveRunDir(RUN));
      for (const c of matrix.categorical) {
        const got = fast.columns[c.name] as string[];
        for (let i = 0; i < matrix.rowCount; i++) expect(got[i]).toBe(c.dictionary[c.codes[i]!]);
      }
      for (const c of matrix.numeric) {
        expect(Array.from(fast.columns[c.name] as Float64Array).slice(0, matrix.rowCount)).toEqual([...c.values]);
      }
    } finally {
      builder.close();
    }
  });

  it("an unknown id that a version's category groups name takes the SQL, as the groups rewrite it", async () => {
    const paths = { users: model.metadata.users.path, apps: model.metadata.apps.path };
    const knownApp = interactions[0]!.appId;
    // 'retired-app' was in training (so a group names it) but is gone from apps_metadata.csv.
    const rewrite = { binning: { appId: { kind: 'categorical' as const, groups: [['retired-app', knownApp]] } } };
    const builder = await RequestFeatureBuilder.open(paths, model.featureOptions, model.inputs, rewrite);
    try {
      expect(builder.answersUnknownIds).toEqual({ user: true, app: true });
      const user = interactions[0]!.userId;
      const rows = [
        { userId: user, appId: 'retired-app' },
        { userId: user, appId: 'never-seen-app' },
        { userId: user, appId: knownApp },
      ];
      const fast = await builder.build(rows);
      expect(fast).toEqual(await builder.viaSql(rows));
      expect(fast.columns.appId).toEqual([`retired-app|${knownApp}`, '__OTHER__', `retired-app|${knownApp}`]);
      expect([...fast.unknownApp]).toEqual([1, 1, 0]);
    } finally {
      builder.close();
    }
  });

  it('score unknown users and apps on the sentinel path and flag them', async () => {
    const known = interactions[0]!;
    const rows = [
      { userId: 'ghost-user', appId: known.appId },
      { userId: known.userId, appId: 'ghost-app' },
      { userId: `  ${known.userId}`, appId: known.appId },
      known,
    ];
    const f = await model.features(rows);
    expect([...f.unknownUser]).toEqual([1, 0, 0, 0]);
    expect([...f.unknownApp]).toEqual([0, 1, 0, 0]);
    expect(f.columns.department_filled![0]).toBe('__UNKNOWN__');
    expect(f.columns.managerId![0]).toBe('__UNKNOWN__');
    expect(Number.isNaN(f.columns.seniority![0] as number)).toBe(true);
    expect(f.columns.category![1]).toBe('__UNKNOWN__');
    expect(f.columns.appId![1]).toBe('ghost-app');
    const scored = await model.scoreFeatures(f);
    expect(scored.probability.every((p) => p > 0 && p < 1)).toBe(true);
    expect(scored.probability[2]).toBe(scored.probability[3]);
  });
});

describe('scores', () => {
  it('match the scoring spec evaluated in TypeScript, with labels at the run threshold', async () => {
    const spec = parseModel(await readFile(join(await resolveRunDir(RUN), 'model/model.json'), 'utf8'));
    const f = await model.features(interactions);
    const scored = await model.scoreFeatures(f);
    const expected = predictProba(spec, matrixOf(f, model.inputs));
    let worst = 0;
    for (let i = 0; i < f.rows; i++) worst = Math.max(worst, Math.abs(scored.probability[i]! - expected[i]!));
    expect(worst).toBeLessThan(1e-5);
    for (let i = 0; i < f.rows; i++) expect(scored.label[i]).toBe(scored.probability[i]! >= model.threshold ? 1 : 0);
    expect(new Set(scored.label).size).toBe(2);
  });

  it('are explained exactly: base log-odds + SHAP contributions = the log-odds of the probability', async () => {
    const f = await model.features(interactions.slice(0, 50));
    const { probability } = await model.scoreFeatures(f);
    const all = await model.explain(f, model.inputs.length);
    all.forEach((e, i) => {
      const sum = e.contributions.reduce((s, c) => s + c.shap, e.expectedValue);
      const p = probability[i]!;
      expect(sum).toBeCloseTo(Math.log(p / (1 - p)), 4);
      const abs = e.contributions.map((c) => Math.abs(c.shap));
      expect(abs).toEqual([...abs].sort((a, b) => b - a));
    });
    const [top2] = await model.explain(await model.features([interactions[0]!]), 2);
    expect(top2!.contributions).toHaveLength(2);
    expect(top2!.contributions[0]!.value).toBe(f.columns[top2!.contributions[0]!.feature]![0]);
  });
});

describe('batch CSV scoring', () => {
  it('streams chunk by chunk with the same scores as one batch', async () => {
    const input = join(dataDir, 'interactions.csv');
    const seen: number[] = [];
    const probs: number[] = [];
    const { rows } = await scoreCsvChunks(
      model,
      input,
      ({ firstRow, scored }) => {
        seen.push(firstRow);
        probs.push(...scored.probability);
      },
      { chunkRows: 400 },
    );
    expect(rows).toBe(interactions.length);
    expect(seen).toEqual([0, 400, 800, 1200]);
    const whole = await model.score(interactions);
    expect(probs).toEqual([...whole.probability]);
  });

  it('keeps file order and line numbers while chunks are scored in two scoring threads as the next is read', async () => {
    const threaded = await openRunModel(RUN, { scoringThreads: 2 });
    try {
      const input = join(dataDir, 'interactions.csv');
      const seen: number[] = [];
      const probs: number[] = [];
      await scoreCsvChunks(
        threaded,
        input,
        async ({ firstRow, scored }) => {
          // A slow consumer: the next chunks are being read and scored meanwhile.
          await new Promise((r) => setTimeout(r, 5));
          seen.push(firstRow);
          probs.push(...scored.probability);
        },
        { chunkRows: 150 },
      );
      expect(seen).toEqual(Array.from({ length: Math.ceil(interactions.length / 150) }, (_, k) => k * 150));
      expect(probs).toEqual([...(await model.score(interactions)).probability]);

      // A bad line after chunks were written (DuckDB reads 2,048 rows at a time): named with its line, and no
      // output left behind.
      const dir = join(root, 'bad-late');
      const good = Array.from({ length: 3000 }, (_, i) => interactions[i % interactions.length]!)
        .map((r) => `${r.userId},${r.appId}`)
        .join('\n');
      await cp(join(dataDir, 'submission.csv'), join(dir, 'keep.csv'), { recursive: true });
      await writeFile(join(dir, 'late.csv'), `userId,appId\n${good}\n77,\n${good}\n`);
      const written: number[] = [];
      await expect(
        scoreCsvFile(threaded, join(dir, 'late.csv'), join(dir, 'late.pred.csv'), {
          chunkRows: 100,
          onProgress: (done) => written.push(done),
        }),
      ).rejects.toThrow(/late\.csv line 3002: column appId is empty/);
      expect(written.length).toBeGreaterThan(0);
      expect((await readdir(dir)).sort()).toEqual(['keep.csv', 'late.csv']);
    } finally {
      await threaded.close();
    }
  });

  it('rejects a bad payload naming file, line and column, and writes nothing', async () => {
    const dir = join(root, 'bad');
    await cp(join(dataDir, 'submission.csv'), join(dir, 'ok.csv'), { recursive: true });
    const cases: Array<[string, string, RegExp]> = [
      ['no-app.csv', 'userId,app\n1,2\n', /no-app\.csv line 1: missing column appId/],
      ['empty-app.csv', 'userId,appId\n1,2\n3,4\n5,\n', /empty-app\.csv line 4: column appId is empty/],
      [
        'ragged.csv',
        'userId,appId\n1,2\n3,4\n5,6,7\n',
        /ragged\.csv line 4: malformed CSV — Expected Number of Columns: 2 Found: 3/,
      ],
      ['quote.csv', 'userId,appId\n1,"2\n3,4\n', /quote\.csv line 2: malformed CSV/],
      ['header-only.csv', 'userId,appId\n', /header-only\.csv: no rows to score/],
    ];
    for (const [name, text, message] of cases) {
      await writeFile(join(dir, name), text);
      const out = join(dir, `${name}.pred.csv`);
      const attempt = scoreCsvFile(model, join(dir, name), out);
      await expect(attempt).rejects.toThrow(InputError);
      await expect(scoreCsvFile(model, join(dir, name), out)).rejects.toThrow(message);
    }
    await expect(scoreCsvFile(model, join(dir, 'absent.csv'), join(dir, 'x.csv'))).rejects.toThrow(/file not found/);
    expect((await readdir(dir)).sort()).toEqual([
      'empty-app.csv',
      'header-only.csv',
      'no-app.csv',
      'ok.csv',
      'quote.csv',
      'ragged.csv',
    ]);
  });

  it('`access-perm score` writes predictions equal to in-process scores, with --explain columns, and audits the batch', async () => {
    const admin = (await runCreator()).token;
    await addUser({ token: admin }, { userId: 'vera', role: 'VIEWER', reason: 'reads predictions' });
    const viewer = (await issueToken({ token: admin }, { userId: 'vera' })).token;
    const input = join(dataDir, 'submission.csv');
    const output = join(root, 'predictions.csv');
    const bin = join(process.cwd(), 'bin/access-perm.mjs');
    const env = { ...process.env, ACCESS_PERM_TOKEN: viewer };
    const args = [bin, 'score', '--run', RUN, '--input', input, '--output', output, '--explain', '2', '--json'];
    const { stdout } = await exec('node', args, { env });
    const summary = JSON.parse(stdout) as { rows: number; runId: string; threshold: number };
    const requests = await readRequests(input);
    expect(summary).toMatchObject({ rows: requests.length, runId: RUN, threshold: model.threshold });

    const [header, ...lines] = (await readFile(output, 'utf8')).trim().split('\n');
    expect(header).toBe(
      'userId,appId,approval_probability,predicted_label,top1_feature,top1_value,top1_shap,top2_feature,top2_value,top2_shap',
    );
    const scored = await model.score(requests);
    const explained = await model.explain(await model.features(requests), 2);
    expect(lines).toHaveLength(requests.length);
    lines.forEach((line, i) => {
      const cells = line.split(',');
      expect(cells.slice(0, 2)).toEqual([requests[i]!.userId, requests[i]!.appId]);
      expect(Math.abs(Number(cells[2]) - scored.probability[i]!)).toBeLessThanOrEqual(6e-7);
      expect(Number(cells[3])).toBe(scored.label[i]);
      expect(cells[4]).toBe(explained[i]!.contributions[0]!.feature);
      expect(Number(cells[6])).toBeCloseTo(explained[i]!.contributions[0]!.shap, 5);
    });
    const audit = await queryAudit({ action: 'batch_scored', user_id: 'vera' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ resource_id: RUN, correlation_id: RUN, user_role: 'VIEWER', source: 'cli' });
  });
});

describe('`access-perm score` without --run: the deployed run', () => {
  it('refuses while nothing is deployed, naming what to do; then scores with the deployed locked run and names it', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: (await runCreator()).token };
    const input = join(dataDir, 'submission.csv');
    const output = join(root, 'deployed.csv');
    const score = (...extra: string[]) => cliInProcess(env, 'score', '--input', input, '--output', output, ...extra);

    expect(await readDeployment()).toBeNull();
    const none = await score();
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe(
      'access-perm: no run is deployed yet: pass --run <id>, or approve a locked run for deployment',
    );
    await expect(stat(output)).rejects.toThrow(/ENOENT/);

    // What the lifecycle does before a validator's deployment approval: a monitoring schedule, the lock, the approval.
    const validator = { userId: 'val', role: 'VALIDATOR' as const };
    await registerSchedule({
      runId: RUN,
      scheduleId: `monitor-${RUN}`,
      cron: '0 3 * * *',
      current: input,
      configuredBy: 'root',
      configuredAt: new Date().toISOString(),
    });
    await lockRun({
      runId: RUN,
      runDir: await resolveRunDir(RUN),
      version: 1,
      reproducibilityPassed: true,
      actor: validator,
      reason: 'ready',
      claim: 'test:1',
    });
    lockBeforeApproval = await readFile(join(await resolveRunDir(RUN), LOCK_FILE), 'utf8');
    await approveDeployment({
      runId: RUN,
      runDir: await resolveRunDir(RUN),
      actor: validator,
      reason: 'ship it',
      claim: 'test:2',
    });
    const deployment = (await readDeployment())!;
    expect(deployment).toMatchObject({ run_id: RUN, model_sha256: model.modelSha256 });

    const requests = await readRequests(input);
    const told = await score();
    expect(told.code, told.stderr).toBe(0);
    expect(told.stderr).toMatch(
      new RegExp(`^scored ${requests.length.toLocaleString('en-US')} rows with ${RUN} v1 in .* → ${output}$`, 'm'),
    );
    const json = await score('--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      runId: RUN,
      version: 1,
      modelSha256: deployment.model_sha256,
      threshold: model.threshold,
      rows: requests.length,
    });
    const [, ...lines] = (await readFile(output, 'utf8')).trim().split('\n');
    const expected = await model.score(requests);
    expect(lines).toHaveLength(requests.length);
    lines.forEach((line, i) =>
      expect(Math.abs(Number(line.split(',')[2]) - expected.probability[i]!)).toBeLessThanOrEqual(6e-7),
    );

    // A deployment record pinning another model is refused, naming the run and both hashes.
    await writeDeployment({ ...deployment, model_sha256: 'e'.repeat(64) });
    otherDeployment = await readFile(deploymentPath(), 'utf8');
    const pinned = await score('--json');
    expect(pinned.code).toBe(1);
    expect(pinned.stderr).toMatch(new RegExp(`${RUN}.*${deployment.model_sha256}.*the deployment expects e{64}`));
    await writeDeployment(deployment);
  });
  it('refuses a locked run whose records were changed without the key, and scores with the metadata frozen at lock', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: (await runCreator()).token };
    const input = join(dataDir, 'submission.csv');
    const score = () => cliInProcess(env, 'score', '--input', input, '--output', join(root, 'tampered.csv'));
    const runDir = await resolveRunDir(RUN);
    const lockPath = join(runDir, LOCK_FILE);
    const lockText = await readFile(lockPath, 'utf8');
    const deploymentText = await readFile(deploymentPath(), 'utf8');
    const bundle = join(root, 'bundle-tampered');
    /** Score (our CLI, the deployed run), open, export and the lifecycle must all refuse, naming the record. */
    async function refusedEverywhere(pattern: RegExp): Promise<void> {
      await expect(openRunModel(RUN)).rejects.toThrow(pattern);
      await expect(exportBundle(runDir, bundle)).rejects.toThrow(pattern);
      // Every lifecycle operation (review, reproduce, lock, deploy) decides from this view of the records.
      await expect(lifecycleView(RUN, runDir)).rejects.toThrow(pattern);
      const scored = await score();
      expect(scored.code).toBe(1);
      expect(scored.stderr).toMatch(pattern);
    }

    // The model swapped: other bytes in model.onnx, its sha256 updated in lock.json.
    const lock = JSON.parse(lockText) as { artifacts: { path: string; role: string; sha256: string }[] };
    const onnxRef = lock.artifacts.find((a) => a.role === 'model-onnx')!;
    const onnxBytes = await readFile(join(runDir, onnxRef.path));
    const swapped = Buffer.concat([onnxBytes, Buffer.from('swapped')]);
    await writeFile(join(runDir, onnxRef.path), swapped);
    onnxRef.sha256 = sha256Hex(swapped);
    await writeFile(lockPath, JSON.stringify(lock));
    await refusedEverywhere(/lock\.json of run score-a does not match its signature/);
    await writeFile(join(runDir, onnxRef.path), onnxBytes);

    // lock.json deleted: the keyring knows the run is locked.
    await rm(lockPath);
    await refusedEverywhere(/run score-a is locked .* but its lock\.json was deleted/);

    // An older signed lock.json put back (from before the deployment approval).
    await writeFile(lockPath, lockBeforeApproval);
    await refusedEverywhere(/lock\.json of run score-a is signed but is not the latest one/);
    await writeFile(lockPath, lockText);

    // deployment.json edited, or an older signed one put back.
    const deployment = JSON.parse(deploymentText) as Record<string, unknown>;
    await writeFile(deploymentPath(), JSON.stringify({ ...deployment, deployed_by: 'mallory' }));
    expect((await score()).stderr).toMatch(/deployment record .* does not match its signature/);
    await writeFile(deploymentPath(), otherDeployment);
    expect((await score()).stderr).toMatch(/deployment record .* is not the latest one/);
    await rm(deploymentPath());
    expect((await score()).stderr).toMatch(/deployment\.json was deleted, though a run was deployed/);
    await writeFile(deploymentPath(), deploymentText);
    expect((await score()).code).toBe(0);

    // The live users table changes after the lock: the locked run keeps scoring with its frozen copy.
    const requests = await readRequests(input);
    const frozen = await openRunModel(RUN);
    const before = await frozen.score(requests);
    expect(frozen.metadata.users).toMatchObject({ frozen: true, path: expect.stringContaining(runDir) });
    const liveBefore = await openRunModel(RUN, { liveMetadata: true });
    const usersPath = liveBefore.metadata.users.path;
    await liveBefore.close();
    const usersText = await readFile(usersPath, 'utf8');
    const [header, ...rows] = usersText.trimEnd().split('\n');
    // Every user takes the next user's attributes, keeping its own id.
    const moved = rows.map((row, i) => {
      const next = rows[(i + 1) % rows.length]!.split(',');
      return [row.split(',')[0], ...next.slice(1)].join(',');
    });
    await writeFile(usersPath, `${[header, ...moved].join('\n')}\n`);
    try {
      const again = await openRunModel(RUN);
      expect((await again.score(requests)).probability).toEqual(before.probability);
      const live = await openRunModel(RUN, { liveMetadata: true });
      expect(live.metadata.users).toMatchObject({ frozen: false, sameAsTraining: false });
      expect((await live.score(requests)).probability).not.toEqual(before.probability);
      await Promise.all([again.close(), live.close()]);
    } finally {
      await writeFile(usersPath, usersText);
      await frozen.close();
    }
  });
  it('writes no output when the batch cannot be audited (a link in place of the audit log, refused)', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: (await runCreator()).token };
    const output = join(root, 'unaudited.csv');
    const log = auditLogPath();
    await rename(log, `${log}.saved`);
    await symlink('/dev/full', log);
    try {
      const r = await cliInProcess(
        env,
        'score',
        '--run',
        RUN,
        '--input',
        join(dataDir, 'submission.csv'),
        '--output',
        output,
      );
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(
        /^access-perm: cannot write the audit log .* symbolic link inside the data directory/,
      );
    } finally {
      await rm(log);
      await rename(`${log}.saved`, log);
    }
    await expect(stat(output)).rejects.toThrow(/ENOENT/);
    expect((await readdir(root)).filter((f) => f.startsWith('unaudited'))).toEqual([]);
  });
});
