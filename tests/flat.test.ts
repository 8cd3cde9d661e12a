import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { readVerified } from '../lib/artifacts';
import { loadConfig, parseConfig } from '../lib/config';
import { queryRows, sqlString, withDuckDb } from '../lib/data/duck';
import { flatExampleCsv, writeFlatExample } from '../lib/data/generateFlat';
import { ConfigError } from '../lib/errors';
import { stratifiedKFold } from '../lib/folds';
import { versionBinningTables } from '../lib/lifecycle/versions';
import { PROJECT_ROOT } from '../lib/paths';
import type { RunRef } from '../lib/pipeline/run';
import { loadRunData } from '../lib/report';
import { openRunModel } from '../lib/scoring';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import { runCreator, useTempDataDir, writeConfig } from './helpers';

// The flat input mode end to end through the pipeline activities (no server), on a generated table with a signal.
const activities = createActivities();
const env = new MockActivityEnvironment();
const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
  env.run(fn as (...a: unknown[]) => Promise<R>, ...args) as Promise<R>;

const ROWS = 2000;
let root: string;
let csv: string;

function flatConfig(path: string, patch: (d: Record<string, unknown>) => void = () => {}): Record<string, unknown> {
  const data: Record<string, unknown> = {
    mode: 'flat',
    path,
    categorical: ['region', 'role', 'resource'],
    numeric: ['tenure_years', 'risk_score'],
    label: 'approved',
    group: 'team',
    id_columns: ['request_id'],
  };
  patch(data);
  return {
    name: 'flat-test',
    data,
    model: { catboost: { iterations: 40, learning_rate: 0.2, depth: 4, random_seed: 7 } },
    validation: { n_splits: 3, expectations: { min_rows: 100, mostly: 0.95 } },
  };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.catch((err: unknown) => err);
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

beforeAll(async () => {
  root = await useTempDataDir('flat');
  csv = await writeFlatExample(join(root, 'data', 'approvals.csv'), { rows: ROWS, seed: 5 });
});

describe('flat mode config', () => {
  const parse = (patch: (d: Record<string, unknown>) => void) => () =>
    parseConfig(flatConfig('t.csv', patch), 'flat.yaml', root);

  it('accepts a declared table and resolves its path against the config folder', () => {
    const config = parseConfig(flatConfig('t.csv'), 'flat.yaml', root);
    expect(config.data).toMatchObject({ mode: 'flat', path: join(root, 't.csv'), group: 'team', fold_seed: 42 });
  });

  it('names duplicate, overlapping and reserved columns', () => {
    expect(parse((d) => (d.categorical = ['role', 'role']))).toThrow(
      /data\.categorical\.1: column "role" is declared twice/,
    );
    expect(parse((d) => (d.numeric = ['tenure_years', 'role']))).toThrow(
      /column "role" is declared as both categorical and numeric/,
    );
    expect(parse((d) => (d.group = 'approved'))).toThrow(
      /data\.group: column "approved" is declared as both label and group/,
    );
    expect(parse((d) => (d.categorical = ['fold']))).toThrow(/column "fold" is a reserved name/);
    expect(
      parse((d) => {
        d.categorical = [];
        d.numeric = [];
      }),
    ).toThrow(/at least one categorical or numeric/);
  });

  it('the bundled example (config/flat-example.yaml) is the generator output for seed 42', async () => {
    const config = await loadConfig('config/flat-example.yaml');
    expect(config.config.data.mode).toBe('flat');
    const bundled = await readFile(join(PROJECT_ROOT, 'data/flat-example/approvals.csv'), 'utf8');
    expect(bundled).toBe(flatExampleCsv({ rows: 2000, seed: 42 }));
  });

  it('rejects unknown keys and seed-mode keys in a flat block', () => {
    expect(parse((d) => (d.dir = './x'))).toThrow(ConfigError);
    expect(parse((d) => (d.dir = './x'))).toThrow(/dir/);
  });

  it('prepareRun names a declared column that is not in the CSV', async () => {
    const path = await writeConfig(
      root,
      'missing-col.yaml',
      flatConfig(csv, (d) => (d.numeric = ['tenure', 'risk_score'])),
    );
    const e = await failure(
      run(activities.prepareRun, { runId: 'flat-bad', configPath: path, token: (await runCreator()).token }),
    );
    expect(e.type).toBe('ConfigError');
    expect(e.message).toContain('data.numeric: column "tenure" is not in');
  });
});

describe('flat mode pipeline', () => {
  let ref: RunRef;
  const artifacts: ArtifactRef[] = [];
  const folds: FoldSummary[] = [];

  it('prepareRun hashes the one input table', async () => {
    const configPath = await writeConfig(root, 'flat.yaml', flatConfig(csv));
    const prepared = await run(activities.prepareRun, {
      runId: 'flat-1',
      configPath,
      token: (await runCreator()).token,
    });
    ref = { runId: prepared.runId, runDir: prepared.runDir };
    artifacts.push(...prepared.artifacts);
    const info = JSON.parse(await readFile(join(ref.runDir, 'run.json'), 'utf8')) as {
      dataFiles: Record<string, string>;
    };
    expect(Object.keys(info.dataFiles)).toEqual(['flat']);
  });

  it('validateData checks the declared columns, the 0/1 label and mostly-castable numerics', async () => {
    const summary = await run(activities.validateData, ref);
    artifacts.push(...summary.artifacts);
    expect(summary.tables).toEqual([expect.objectContaining({ table: 'flat', success: true })]);
    const report = JSON.parse(await readFile(join(ref.runDir, 'validation/flat.json'), 'utf8')) as {
      results: Array<{ expectation: string; kwargs: { column?: string }; result: { unexpected_count: number } }>;
    };
    // risk_score holds ~1 % "n/a": unexpected, but within mostly = 0.95.
    const risk = report.results.find(
      (r) => r.expectation === 'expect_column_values_to_be_of_type' && r.kwargs.column === 'risk_score',
    );
    expect(risk?.result.unexpected_count).toBeGreaterThan(0);
  });

  it('buildFeatures keeps the declared columns, fills the sentinel and folds by group', async () => {
    const summary = await run(activities.buildFeatures, ref);
    artifacts.push(...summary.artifacts);
    expect(summary.rows).toBe(ROWS);
    const features = `read_parquet(${sqlString(join(ref.runDir, 'features/features.parquet'))})`;
    const checks = await withDuckDb(async (conn) => {
      const cols = await queryRows(conn, `SELECT column_name FROM (DESCRIBE SELECT * FROM ${features})`);
      const [r] = await queryRows(
        conn,
        `SELECT count(*) FILTER (WHERE region = '__UNKNOWN__') AS sentinel, count(*) FILTER (WHERE region IS NULL) AS nulls,
           count(*) FILTER (WHERE risk_score IS NULL) AS risk_null,
           (SELECT count(*) FROM (SELECT team FROM ${features} GROUP BY team HAVING count(DISTINCT fold) > 1)) AS split
         FROM ${features}`,
      );
      return { columns: cols.map((c) => String(c.column_name)), r };
    });
    expect(checks.columns).toEqual([
      'row_idx',
      'team',
      'request_id',
      'region',
      'role',
      'resource',
      'tenure_years',
      'risk_score',
      'label',
      'fold',
    ]);
    expect(Number(checks.r?.sentinel)).toBeGreaterThan(0);
    expect(Number(checks.r?.nulls)).toBe(0);
    expect(Number(checks.r?.risk_null)).toBeGreaterThan(0); // "n/a" → NULL → NaN for the model
    expect(Number(checks.r?.split)).toBe(0); // GroupKFold: a team never spans folds
  });

  it('trains every fold and the final model on the declared features', async () => {
    for (let fold = 0; fold < 3; fold++) {
      const result = await run(activities.trainFold, ref, fold);
      folds.push(result.summary);
      artifacts.push(...result.artifacts);
      expect(result.summary.trainRows + result.summary.validRows).toBe(ROWS);
    }
    const final = await run(activities.trainFinalModel, ref);
    artifacts.push(...final.artifacts);
    const model = JSON.parse(await readFile(join(ref.runDir, 'model/model.json'), 'utf8')) as {
      features: Array<{ name: string }>;
    };
    expect(model.features.map((f) => f.name).sort()).toEqual(
      ['region', 'resource', 'risk_score', 'role', 'tenure_years'].sort(),
    );
  });

  it('evaluate learns the signal and writes the report, segments and data audit of the flat table', async () => {
    const result = await run(activities.evaluate, ref, folds);
    artifacts.push(...result.artifacts);
    expect(result.metrics.rocAuc).toBeGreaterThan(0.75);
    expect(result.foldAuc.every((a) => a > 0.7)).toBe(true);
    const paths = result.artifacts.map((a) => a.path);
    for (const f of ['report/report.html', 'report/model_card.md', 'predictions/oof.parquet'])
      expect(paths).toContain(f);
    const data = await loadRunData(ref.runDir);
    expect(data.metrics.audit).toMatchObject({ rows: ROWS, groups: { column: 'team', count: 100 } });
    expect(data.metrics.audit?.users).toBeUndefined();
    expect(data.metrics.audit?.raw.map((t) => t.table)).toEqual(['flat']);
    const dims = new Set(data.metrics.segments?.rows.map((r) => r.dimension));
    expect([...dims].sort()).toEqual(['region', 'resource', 'role']);
    expect(data.oof.keyColumns).toEqual(['team', 'request_id']);
    expect(data.oof.key[0]).toMatch(/^team-\d{3}\u001fr\d{6}$/);
    const card = await readFile(join(ref.runDir, 'report/model_card.md'), 'utf8');
    expect(card).toContain('GroupKFold(3) by `team`');
    expect(card).toContain('`tenure_years`');
    const report = await readFile(join(ref.runDir, 'report/report.md'), 'utf8');
    expect(report).toContain('100 groups of `team`');
    expect(report).not.toContain('Machine accounts');
  });

  it('binning tables and the monitoring baseline cover the declared features', async () => {
    const tables = await versionBinningTables(ref.runDir, ref.runDir);
    expect(tables.map((t) => t.feature).sort()).toEqual(['region', 'resource', 'risk_score', 'role', 'tenure_years']);
    expect(tables.find((t) => t.feature === 'risk_score')?.bins.at(-1)?.label).toBe('(missing)');
    const baseline = await run(activities.monitoringBaseline, ref);
    artifacts.push(...baseline.artifacts);
    expect(baseline.rows).toBe(ROWS);
    const path = await run(activities.writeManifest, ref, artifacts);
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { artifacts: ArtifactRef[] };
    for (const a of manifest.artifacts) await readVerified(ref.runDir, a);
  });

  it('request scoring refuses a flat-mode run with a clear error', async () => {
    await expect(openRunModel(ref.runId)).rejects.toThrow(/flat-mode runs are scored from feature rows/);
  });
});

describe('flat mode without a group column', () => {
  it('stratifiedKFold deals each class evenly over the folds, deterministically', () => {
    const labels = Uint8Array.from({ length: 103 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const folds = stratifiedKFold(labels, 4, 9);
    expect(stratifiedKFold(labels, 4, 9)).toEqual(folds);
    const sizes = [0, 0, 0, 0];
    const positives = [0, 0, 0, 0];
    folds.forEach((f, i) => {
      sizes[f]!++;
      positives[f]! += labels[i]!;
    });
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(Math.max(...positives) - Math.min(...positives)).toBeLessThanOrEqual(1);
  });

  it('folds rows by the seeded stratified KFold and fails validation on a bad label, naming the column', async () => {
    const configPath = await writeConfig(
      root,
      'flat-rows.yaml',
      flatConfig(csv, (d) => {
        delete d.group;
        d.id_columns = [];
      }),
    );
    const token = (await runCreator()).token;
    const prepared = await run(activities.prepareRun, { runId: 'flat-rows', configPath, token });
    const ref = { runId: prepared.runId, runDir: prepared.runDir };
    const summary = await run(activities.buildFeatures, ref);
    expect(summary.foldRows).toHaveLength(3);
    expect(Math.max(...summary.foldRows) - Math.min(...summary.foldRows)).toBeLessThanOrEqual(1);

    const badCsv = join(root, 'data', 'bad.csv');
    await writeFile(badCsv, flatExampleCsv({ rows: 300, seed: 2 }).replace(/,1\n/, ',yes\n'));
    const badPath = await writeConfig(root, 'flat-bad-label.yaml', flatConfig(badCsv));
    const bad = await run(activities.prepareRun, { runId: 'flat-bad-label', configPath: badPath, token });
    const e = await failure(run(activities.validateData, { runId: bad.runId, runDir: bad.runDir }));
    expect(e.type).toBe('DataValidationError');
    expect(e.message).toContain('expect_column_values_to_be_in_set(column="approved"');
  });
});
