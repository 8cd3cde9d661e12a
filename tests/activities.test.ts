import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { addUser, issueToken, queryAudit } from '../lib/governance';
import { readVerified } from '../lib/artifacts';
import { sqlString, queryRows, withDuckDb } from '../lib/data/duck';
import { loadCsvAsText } from '../lib/data/raw';
import { backfilledColumns, buildFeatureTable, CATEGORICAL_FEATURES } from '../lib/features';
import { parseConfig } from '../lib/config';
import { resolveRunDir } from '../lib/run';
import type { RunRef } from '../schemas/run';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import {
  asWorkflow,
  createRunCapability,
  runCreator,
  smallConfig,
  smallDataset,
  useTempDataDir,
  writeConfig,
} from './helpers';

// Each activity runs in Temporal's activity context (heartbeats, cancellation) on real data, DuckDB and threads, as
// the run's own trainingPipeline execution (what the activities check of their caller).
const activities = createActivities();
const { env, run } = asWorkflow('trainingPipeline', 'act-1');
const heartbeats: unknown[] = [];
env.on('heartbeat', (d: unknown) => heartbeats.push(d));
/** prepareRun of run `runId` as that run's own workflow, with a createRun capability issued to `token`. */
const prepare = async (runId: string, configPath: string, token: string) =>
  asWorkflow('trainingPipeline', runId).run(activities.prepareRun, {
    runId,
    configPath,
    capability: await createRunCapability(runId, configPath, token),
  });

let root: string;
let configPath: string;
let ref: RunRef;
let dir: string;
const artifacts: ArtifactRef[] = [];
const folds: FoldSummary[] = [];

beforeAll(async () => {
  root = await useTempDataDir('activities');
  const data = await smallDataset(join(root, 'data'), 2500);
  configPath = await writeConfig(root, 'c.yaml', smallConfig(data));
});

describe('pipeline activities on generated sample data', () => {
  it('prepareRun snapshots config and data hashes', async () => {
    const prepared = await prepare('act-1', configPath, (await runCreator()).token);
    ref = { runId: prepared.runId };
    dir = await resolveRunDir(prepared.runId);
    expect(prepared.nSplits).toBe(3);
    expect(prepared.dataHash).toMatch(/^[0-9a-f]{64}$/);
    artifacts.push(...prepared.artifacts);
    const snapshot = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      validation: { n_splits: number };
    };
    expect(snapshot.validation.n_splits).toBe(3);
  });

  it('prepareRun raises a non-retryable ConfigError for a bad config', async () => {
    const bad = await writeConfig(
      root,
      'bad.yaml',
      smallConfig(join(root, 'data'), (c) => (c.model = 'oops')),
    );
    const error = await prepare('act-bad', bad, (await runCreator()).token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('ConfigError');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('prepareRun refuses a VIEWER (seed-3 §8 scenario 3), non-retryable, and audits the denial', async () => {
    const root = { token: (await runCreator()).token };
    await addUser(root, { userId: 'vera', role: 'VIEWER', reason: 'read-only reviewer' });
    const viewer = (await issueToken(root, { userId: 'vera' })).token;
    const error = await prepare('act-viewer', configPath, viewer).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('PermissionDeniedError');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).details?.[0]).toMatchObject({
      required_permission: 'create_run',
      user_role: 'VIEWER',
    });
    const denied = await queryAudit({ user_id: 'vera', action: 'permission_denied' });
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ attempted_action: 'create_run', status: 'denied' });
  });

  it('validateData passes every raw table', async () => {
    const summary = await run(activities.validateData, ref);
    expect(summary.tables.every((t) => t.success)).toBe(true);
    artifacts.push(...summary.artifacts);
  });

  it('buildFeatures follows seed-2: sentinel, manager backfill, seniority diff, folds by user', async () => {
    const summary = await run(activities.buildFeatures, ref);
    artifacts.push(...summary.artifacts);
    expect(summary.rows).toBe(2500);
    expect(summary.foldRows.reduce((a, b) => a + b, 0)).toBe(2500);
    const features = `read_parquet(${sqlString(join(dir, 'features/features.parquet'))})`;
    const users = `read_csv(${sqlString(join(root, 'data', 'users_metadata.csv'))}, all_varchar = true)`;
    const checks = await withDuckDb(async (conn) => {
      const [nulls] = await queryRows(
        conn,
        `SELECT ${CATEGORICAL_FEATURES.map((c) => `count(*) FILTER (WHERE ${c} IS NULL)`).join(' + ')} AS n FROM ${features}`,
      );
      // Backfill: a user without department takes the manager's, when the manager's is known.
      const [backfill] = await queryRows(
        conn,
        `SELECT count(*) AS n, count(*) FILTER (WHERE f.department_filled = m.department) AS ok
         FROM ${features} f JOIN ${users} u ON u.userId = f.userId JOIN ${users} m ON m.userId = u.managerId
         WHERE u.department IS NULL AND m.department IS NOT NULL`,
      );
      // Seniority too (seed-2: "department, office, seniority"); the difference stays the user's own (NULL here).
      const [seniority] = await queryRows(
        conn,
        `SELECT count(*) AS n, count(*) FILTER (WHERE f.seniority = CAST(m.seniority AS DOUBLE) AND f.manager_seniority_diff IS NULL) AS ok
         FROM ${features} f JOIN ${users} u ON u.userId = f.userId JOIN ${users} m ON m.userId = u.managerId
         WHERE u.seniority IS NULL AND m.seniority IS NOT NULL`,
      );
      const [sentinel] = await queryRows(
        conn,
        `SELECT count(*) FILTER (WHERE f.department_filled <> '__UNKNOWN__') AS wrong FROM ${features} f JOIN ${users} u ON u.userId = f.userId
         LEFT JOIN ${users} m ON m.userId = u.managerId WHERE u.department IS NULL AND m.department IS NULL`,
      );
      const [diff] = await queryRows(
        conn,
        `SELECT count(*) FILTER (WHERE abs(f.manager_seniority_diff - (CAST(u.seniority AS DOUBLE) - CAST(m.seniority AS DOUBLE))) > 1e-9) AS wrong
         FROM ${features} f JOIN ${users} u ON u.userId = f.userId JOIN ${users} m ON m.userId = u.managerId`,
      );
      const [groups] = await queryRows(
        conn,
        `SELECT count(*) AS n FROM (SELECT userId FROM ${features} GROUP BY userId HAVING count(DISTINCT fold) > 1)`,
      );
      return {
        nulls: Number(nulls?.n),
        backfill,
        seniority,
        sentinel: Number(sentinel?.wrong),
        diff: Number(diff?.wrong),
        split: Number(groups?.n),
      };
    });
    expect(checks.nulls).toBe(0);
    expect(Number(checks.backfill?.n)).toBeGreaterThan(0);
    expect(checks.backfill?.ok).toBe(checks.backfill?.n);
    expect(Number(checks.seniority?.n)).toBeGreaterThan(0);
    expect(checks.seniority?.ok).toBe(checks.seniority?.n);
    expect(checks.sentinel).toBe(0);
    expect(checks.diff).toBe(0);
    expect(checks.split).toBe(0); // GroupKFold: a user never spans folds
  });

  it('a stored config saying manager_backfill: true keeps what it meant (department and office, not seniority)', async () => {
    const data = join(root, 'data');
    const seniorities = await withDuckDb(async (conn) => {
      for (const [table, file] of [
        ['users', 'users_metadata.csv'],
        ['apps', 'apps_metadata.csv'],
        ['interactions', 'interactions.csv'],
      ])
        await loadCsvAsText(conn, table!, join(data, file!));
      const counts: Record<string, number> = {};
      for (const setting of [true, ['department', 'officeLocation', 'seniority']] as const) {
        await buildFeatureTable(conn, 'interactions', { sentinel: '__UNKNOWN__', managerBackfill: setting }, true);
        const [row] = await queryRows(
          conn,
          'SELECT count(*) FILTER (WHERE seniority IS NULL) AS missing FROM features',
        );
        counts[String(setting)] = Number(row?.missing);
      }
      return counts;
    });
    expect(seniorities['true']).toBeGreaterThan(seniorities['department,officeLocation,seniority']!);
    expect(backfilledColumns(true)).toEqual(['department', 'officeLocation']);
    expect(backfilledColumns(false)).toEqual([]);
    expect(parseConfig({ data: { mode: 'seed', dir: data } }, 'x.yaml', root).features.manager_backfill).toEqual([
      'department',
      'officeLocation',
      'seniority',
    ]);
  });

  it('trainFold trains off the main thread, heartbeats, and scores only held-out users', async () => {
    heartbeats.length = 0;
    for (let fold = 0; fold < 3; fold++) {
      const result = await run(activities.trainFold, ref, fold);
      folds.push(result.summary);
      artifacts.push(...result.artifacts);
      expect(result.summary.trainRows + result.summary.validRows).toBe(2500);
      expect(result.summary.rocAuc).toBeGreaterThan(0.6);
    }
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
  });

  it('trainFinalModel writes a parseable model of the configured size', async () => {
    const result = await run(activities.trainFinalModel, ref);
    artifacts.push(...result.artifacts);
    const model = JSON.parse(await readFile(join(dir, 'model/model.json'), 'utf8')) as {
      trees: unknown[];
      features: Array<{ name: string }>;
    };
    expect(model.trees.length).toBe(30);
    const names = model.features.map((f) => f.name);
    expect(names).toContain('managerId');
    expect(names).not.toContain('userId'); // the CV group is never a feature
  });

  it('evaluate computes OOF metrics and stamps the threshold into the model', async () => {
    const result = await run(activities.evaluate, ref, folds);
    artifacts.push(...result.artifacts);
    expect(result.foldAuc).toHaveLength(3);
    expect(result.metrics.rows).toBe(2500);
    expect(result.metrics.threshold).toBeGreaterThan(0);
    const model = JSON.parse(await readFile(join(dir, 'model/model.json'), 'utf8')) as { threshold: number };
    expect(model.threshold).toBe(result.metrics.threshold);
    // The step also produces the run's report, model card and figures, each returned as an artifact.
    const paths = result.artifacts.map((a) => a.path);
    for (const f of ['report/report.html', 'report/report.md', 'report/model_card.md', 'report/figures/roc_pr.png'])
      expect(paths).toContain(f);
    const html = await readFile(join(dir, 'report/report.html'), 'utf8');
    expect(html).toContain(result.metrics.rocAuc.toFixed(4));
  });

  it('monitoringBaseline saves features, label and OOF score for every row', async () => {
    const result = await run(activities.monitoringBaseline, ref);
    artifacts.push(...result.artifacts);
    expect(result.rows).toBe(2500);
  });

  it('writeManifest lists each artifact once, with verified hashes', async () => {
    await run(activities.writeManifest, ref, artifacts);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { artifacts: ArtifactRef[] };
    const paths = manifest.artifacts.map((a) => a.path);
    expect(new Set(paths).size).toBe(paths.length);
    for (const a of manifest.artifacts) await readVerified(dir, a);
  });
});
