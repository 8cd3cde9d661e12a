/**
 * Scoring a model version trained on rewritten features (issue 6 × issue 8): a categorical bin override builds
 * version 2 on a feature table whose categories are regrouped; lib/scoring must apply the same rewrite, pick the
 * right version (approved, locked) and the lock and deployment bundle must carry the rewrite.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OTHER_CATEGORY } from '../lib/binning';
import { ArtifactIntegrityError } from '../lib/errors';
import { parseModel, predictProba } from '../lib/gbdt';
import { addUser, issueToken } from '../lib/governance';
import {
  downloadArtifactAs,
  exportModelCardAs,
  exportScoringSpecAs,
  listArtifactsAs,
  viewReportAs,
} from '../lib/lifecycle/exports';
import { approveDeployment, exportBundle, lockRun } from '../lib/lifecycle/lock';
import { fileOverride, recordReview } from '../lib/lifecycle/overrides';
import { versionBinningTables } from '../lib/lifecycle/versions';
import { driftWindow, loadWindow, scoreWindow, windowFolder } from '../lib/monitor';
import { readWindowScoring } from '../lib/monitor/score';
import { registerSchedule } from '../lib/monitor/store';
import { OVERRIDE_SPEC_FILE, readFeatures, resolveRunDir, runFolderAt } from '../lib/run';
import { openRunModel, RunNotScorableError, type RunModel, type ScoreRequest } from '../lib/scoring';
import { ServedModel } from '../lib/serve';
import type { Actor, OverrideChange, OverrideRecord } from '../schemas/lifecycle';
import { cliInProcess, runCreator, useTempDataDir } from './helpers';
import { trainAndFinalize, trainedRun } from './scoringRun';

const exec = promisify(execFile);
const RUN = 'score-v';
const modeler: Actor = { userId: 'modeler', role: 'MODELER' };
const validator: Actor = { userId: 'validator', role: 'VALIDATOR' };
let root: string;
let dataDir: string;
let runDir: string;
let requests: ScoreRequest[];
let feature: string;
let merged: string[];
let override: OverrideRecord;

const versionDir = () => join(runDir, 'versions', 'v2');

async function withModel<T>(fn: (m: RunModel) => Promise<T>, options?: Parameters<typeof openRunModel>[1]) {
  const model = await openRunModel(RUN, options);
  try {
    return await fn(model);
  } finally {
    await model.close();
  }
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

beforeAll(async () => {
  root = await useTempDataDir('scoring-version');
  ({ dataDir } = await trainedRun(root, RUN));
  runDir = await resolveRunDir(RUN);
  const [, ...lines] = (await readFile(join(dataDir, 'interactions.csv'), 'utf8')).trim().split('\n');
  requests = lines.map((l) => {
    const [userId, appId] = l.split(',');
    return { userId: userId!, appId: appId! };
  });
  // Merge the two largest apps into one bin: the version's appId column holds '<a>|<b>' where the raw data has a or b.
  feature = 'appId';
  const table = (await versionBinningTables(runDir, runDir)).find((t) => t.feature === feature)!;
  merged = (table.binning as { groups: string[][] }).groups.slice(0, 2).flat();
  const change: OverrideChange = { kind: 'merge_bins', feature, bins: [0, 1] };
  await runCreator();
  // What the lifecycle's fileOverride activity and modelVersionPipeline child workflow do, without a server.
  const filed = await fileOverride({
    runId: RUN,
    runDir,
    overrideId: 'ov-1',
    fromVersion: 1,
    version: 2,
    change,
    reason: 'the two largest apps behave alike',
    actor: modeler,
    claim: 'test:1',
  });
  await trainAndFinalize(
    { ...runFolderAt(RUN, runDir), dir: join(runDir, 'versions/v2') },
    filed.nSplits,
    filed.artifacts,
  );
  override = {
    id: 'ov-1',
    change,
    reason: 'the two largest apps behave alike',
    requestedBy: modeler,
    requestedAt: new Date().toISOString(),
    before: filed.before,
    after: filed.after,
    version: 2,
    status: 'pending_review',
  };
}, 60_000);

describe('the version openRunModel scores', () => {
  // `serve --run` without --version: the service follows the version the run's records mean.
  const served = new ServedModel(RUN, 50);
  afterAll(() => served.close());

  it('is the trained run while the override waits for review; an explicit version is honoured', async () => {
    expect(await withModel(async (m) => m.version)).toBe(1);
    await served.start();
    expect(served.status()).toMatchObject({ source: 'explicit', runId: RUN, version: 1 });
    expect(await withModel(async (m) => m.modelDir, { version: 2 })).toBe(versionDir());
    await expect(openRunModel(RUN, { version: 3 })).rejects.toThrow(/has no version 3 \(versions 1\.\.2\)/);
  });

  it('is the newest approved version once a validator approves it', async () => {
    const review = { decision: 'approve' as const, by: validator, reason: 'fine', at: new Date().toISOString() };
    await recordReview({ runId: RUN, runDir, override, review, delegation: null });
    await withModel(async (m) => {
      expect(m.version).toBe(2);
      expect(m.modelDir).toBe(versionDir());
      expect(m.lock).toBeNull();
    });
    await vi.waitUntil(() => served.status().version === 2, { timeout: 10_000, interval: 50 });
    expect(served.status()).toMatchObject({ lastError: null, lock: null });
  });
});

describe('reading a version out: artifacts, scoring spec, model card, report (seed-3 reporting and export)', () => {
  const tokens = {} as Record<'VIEWER' | 'ANALYST', string>;
  beforeAll(async () => {
    const admin = (await runCreator()).token;
    for (const role of ['VIEWER', 'ANALYST'] as const) {
      await addUser({ token: admin }, { userId: `x-${role.toLowerCase()}`, role, reason: 'export tests' });
      tokens[role] = (await issueToken({ token: admin }, { userId: `x-${role.toLowerCase()}` })).token;
    }
  });

  it('defaults to the version scoring uses, names the versions there are, and verifies every byte', async () => {
    const viewer = { token: tokens.VIEWER };
    const listed = await listArtifactsAs(viewer, RUN);
    expect(listed.version).toBe(2);
    expect(listed.artifacts.map((a) => a.path)).toContain(OVERRIDE_SPEC_FILE);
    expect((await listArtifactsAs(viewer, RUN, 1)).artifacts.map((a) => a.path)).not.toContain(OVERRIDE_SPEC_FILE);
    await expect(listArtifactsAs(viewer, RUN, 9)).rejects.toThrow(/run score-v has no version 9 \(versions 1\.\.2\)/);
    const onnx = await downloadArtifactAs(viewer, RUN, 'model/model.onnx', 1);
    expect(createHash('sha256').update(onnx.content).digest('hex')).toBe(onnx.artifact.sha256);
    await expect(downloadArtifactAs(viewer, RUN, 'model.onnx')).rejects.toThrow(
      /has no artifact "model\.onnx" \(did you mean model\/model\.onnx\?\)/,
    );
    // A changed file is refused by name.
    const report = join(runDir, 'report', 'report.md');
    const original = await readFile(report);
    await appendFile(report, '\nall good\n');
    try {
      const e = await viewReportAs(viewer, RUN, 'md', 1).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ArtifactIntegrityError);
      expect((e as Error).message).toMatch(/report\/report\.md/);
    } finally {
      await writeFile(report, original);
    }
    expect((await viewReportAs(viewer, RUN, 'md', 1)).content.toString()).toMatch(/^# /);
  });

  it('a scoring spec for ANALYST and up (a VIEWER is denied), a model card for every role', async () => {
    await expect(exportScoringSpecAs({ token: tokens.VIEWER }, RUN)).rejects.toMatchObject({
      required_permission: 'export_scoring_spec',
      user_role: 'VIEWER',
    });
    const v2 = await exportScoringSpecAs({ token: tokens.ANALYST }, RUN);
    const v1 = await exportScoringSpecAs({ token: tokens.ANALYST }, RUN, 1);
    expect(v2.artifact.path).toBe('model/model.json');
    expect(parseModel(v2.content.toString()).threshold).toBeGreaterThan(0);
    expect(v2.artifact.sha256).not.toBe(v1.artifact.sha256);
    const card = await exportModelCardAs({ token: tokens.VIEWER }, RUN);
    expect(card).toMatchObject({ version: 2, artifact: { path: 'report/model_card.md' } });
  });

  it('`report --version 2` writes the report of version 2; the CLI exports to a file or stdout', async () => {
    const env = { ...process.env, ACCESS_PERM_TOKEN: (await runCreator()).token };
    const out = join(root, 'report-v2');
    const written = await cliInProcess(env, 'report', RUN, '--version', '2', '--out', out, '--json');
    expect(written.code).toBe(0);
    expect(JSON.parse(written.stdout)).toMatchObject({ runId: RUN, version: 2 });
    const card = await readFile(join(out, 'model_card.md'), 'utf8');
    expect(card).toContain(RUN);
    const viewer = { ...process.env, ACCESS_PERM_TOKEN: tokens.VIEWER };
    const spec = join(root, 'spec-v1.json');
    const analyst = { ...process.env, ACCESS_PERM_TOKEN: tokens.ANALYST };
    const exported = await cliInProcess(analyst, 'export-spec', RUN, '--version', '1', '--out', spec);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/^score-v v1 model\/model\.json \(sha256 [0-9a-f]{64}, verified\) -> /);
    expect(parseModel(await readFile(spec, 'utf8')).threshold).toBeGreaterThan(0);
    const shown = await cliInProcess(viewer, 'view-report', RUN);
    expect(shown.stdout).toMatch(/^# /);
  });
});

describe('scoring a version trained on regrouped categories', () => {
  it("equals the TS evaluator on the version's own feature table, and would differ without the rewrite", async () => {
    const spec = parseModel(await readFile(join(versionDir(), 'model/model.json'), 'utf8'));
    const own = await readFeatures(versionDir());
    const base = await readFeatures(runDir);
    expect(own.matrix.rowCount).toBe(requests.length);
    await withModel(async (m) => {
      const f = await m.features(requests);
      const values = new Set(f.columns[feature] as string[]);
      expect(merged).toHaveLength(2);
      expect(values.has(merged.join('|'))).toBe(true);
      expect(merged.some((v) => values.has(v))).toBe(false);
      const scored = await m.scoreFeatures(f);
      expect(maxDiff(scored.probability, predictProba(spec, own.matrix))).toBeLessThan(1e-6);
      // The same model on the run's un-rewritten features: what scoring without the rewrite would return.
      expect(maxDiff(scored.probability, predictProba(spec, base.matrix))).toBeGreaterThan(1e-3);
      // Unknown ids are still flagged (the flags are taken before the rewrite).
      const odd = await m.features([{ userId: 'ghost', appId: 'ghost-app' }]);
      expect([odd.unknownUser[0], odd.unknownApp[0]]).toEqual([1, 1]);
      expect(odd.columns[feature]![0]).toBe(OTHER_CATEGORY);
    });
  });

  it('`access-perm score --version 1` scores the trained run instead of the approved version', async () => {
    const token = (await runCreator()).token;
    const input = join(root, 'few.csv');
    const rows = requests.slice(0, 20);
    await writeFile(input, `userId,appId\n${rows.map((r) => `${r.userId},${r.appId}`).join('\n')}\n`);
    const output = join(root, 'p.csv');
    const args = ['score', '--run', RUN, '--version', '1', '--input', input, '--output', output, '--json'];
    const { stdout } = await exec('node', [join(process.cwd(), 'bin/access-perm.mjs'), ...args], {
      env: { ...process.env, ACCESS_PERM_TOKEN: token },
    });
    expect(JSON.parse(stdout)).toMatchObject({ runId: RUN, version: 1, rows: rows.length });
    const expected = await withModel(async (m) => (await m.score(rows)).probability, { version: 1 });
    const [, ...lines] = (await readFile(output, 'utf8')).trim().split('\n');
    lines.forEach((line, i) => expect(Math.abs(Number(line.split(',')[2]) - expected[i]!)).toBeLessThanOrEqual(6e-7));
  });
});

describe('monitoring a run whose approved version regroups categories', () => {
  it("scores the window with that version and measures drift against the version's own reference", async () => {
    const ref = await windowFolder({ runId: RUN, windowId: 'w-same-data' });
    await loadWindow(ref, { current: join(dataDir, 'interactions.csv') }, 'validator');
    await scoreWindow(ref);
    expect((await readWindowScoring(ref)).version).toBe(2);
    // The training data again: against v1's reference the merged '<a>|<b>' apps would be new categories.
    const drift = await driftWindow(ref);
    expect(drift.maxNewCategoryRate?.rate ?? 0).toBe(0);
    expect(drift.drifted).not.toContain(feature);
  });
});

describe('locking a version trained on regrouped categories', () => {
  it('freezes its overrides.json, scores the locked version only, ships the rewrite in the bundle', async () => {
    await registerSchedule({
      runId: RUN,
      scheduleId: `monitor-${RUN}`,
      cron: '0 3 * * *',
      current: join(root, 'few.csv'),
      configuredBy: 'admin',
      configuredAt: new Date().toISOString(),
    });
    // The approved version 2, unlocked: its ONNX graph is exported in memory from the scoring spec.
    const before = await withModel(async (m) => (await m.score(requests)).probability);
    const lock = await lockRun({
      runId: RUN,
      runDir,
      version: 2,
      reproducibilityPassed: true,
      actor: validator,
      reason: 'ready',
      claim: 'test:1',
    });
    expect(lock.version).toBe(2);
    // Once locked, only the locked version is scored, with the frozen graph and the frozen rewrite.
    await expect(openRunModel(RUN, { version: 1 })).rejects.toThrow(RunNotScorableError);
    await expect(openRunModel(RUN, { version: 1 })).rejects.toThrow(/locked at version 2 by validator/);
    await withModel(async (m) => {
      expect(m.lock?.version).toBe(2);
      const f = await m.features(requests);
      expect(new Set(f.columns[feature] as string[]).has(OTHER_CATEGORY)).toBe(true);
      expect(maxDiff((await m.scoreFeatures(f)).probability, before)).toBe(0);
    });
    await approveDeployment({ runId: RUN, runDir, actor: validator, reason: 'go', claim: 'test:3' });
    const files = await exportBundle(runDir, join(root, 'bundle'));
    expect(files.map((p) => p.split('/').at(-1))).toContain(OVERRIDE_SPEC_FILE);

    await appendFile(join(versionDir(), OVERRIDE_SPEC_FILE), ' ');
    await expect(openRunModel(RUN)).rejects.toThrow(ArtifactIntegrityError);
    await expect(openRunModel(RUN)).rejects.toThrow(/versions\/v2\/overrides\.json/);
  });
});
