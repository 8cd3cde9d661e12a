import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { readVerified } from '../lib/artifacts';
import { loadConfig, parseConfig } from '../lib/config';
import { queryRows, sqlString, withDuckDb } from '../lib/data/duck';
import { flatExampleCsv, writeFlatExample } from '../lib/data/generateFlat';
import { encodeCategorical, toNumeric } from '../lib/features/matrix';
import { ConfigError } from '../lib/errors';
import { stratifiedKFold } from '../lib/folds';
import { parseModel, predictProba } from '../lib/gbdt';
import { versionBinningTables } from '../lib/lifecycle/versions';
import { averagePrecision, logloss, metricsAtThreshold, rocAuc } from '../lib/metrics';
import { PROJECT_ROOT } from '../lib/paths';
import { readTestMetrics, resolveRunDir } from '../lib/run';
import type { RunRef } from '../schemas/run';
import { loadRunData } from '../lib/report';
import { openRunModel } from '../lib/scoring';
import { openFlatRunModel, scoreFlatCsvFile } from '../lib/scoring/flat';
import type { FeatureMatrix } from '../schemas/matrix';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import { cliInProcess, runCreator, useTempDataDir, writeConfig, asWorkflow, createRunCapability } from './helpers';

// The flat input mode end to end through the pipeline activities (no server), on a generated table with a signal.
const activities = createActivities();
/** Runs an activity of run `runId` as that run's own trainingPipeline execution (what activities check). */
const runAs = (runId: string) => asWorkflow('trainingPipeline', runId).run;
/** The run's prepareRun, with a createRun capability issued to `token`. */
const prepare = async (runId: string, configPath: string, token: string) =>
  runAs(runId)(activities.prepareRun, {
    runId,
    configPath,
    capability: await createRunCapability(runId, configPath, token),
  });

const ROWS = 2000;
const TEST_ROWS = 300;
let root: string;
let csv: string;
/** The same table with the label as text: granted / denied. */
let stringCsv: string;
/** A hold-out file of the same population (string labels) with categories training never saw. */
let testCsv: string;

/** Rewrites the generator's last column (approved 0/1) with `labels[0]` / `labels[1]`. */
function relabel(text: string, labels: [string, string]): string {
  return text.replace(/,([01])\n/g, (_, v: string) => `,${labels[Number(v)]}\n`);
}

/** Parses the generated CSV in plain TypeScript (independently of the pipeline's SQL) into the model's inputs. */
function parseFlatCsv(text: string, positive: string): { matrix: FeatureMatrix; labels: Uint8Array; ids: string[] } {
  const [header, ...lines] = text.trim().split('\n');
  const names = header!.split(',');
  const rows = lines.map((l) => l.split(','));
  const col = (c: string) => rows.map((r) => r[names.indexOf(c)]!);
  const categorical = ['region', 'role', 'resource'].map((c) =>
    encodeCategorical(
      c,
      col(c).map((v) => (v.trim() === '' ? '__UNKNOWN__' : v.trim())),
    ),
  );
  const numeric = ['tenure_years', 'risk_score'].map((c) =>
    toNumeric(
      c,
      col(c).map((v) => (v.trim() === '' || Number.isNaN(Number(v)) ? null : Number(v))),
    ),
  );
  return {
    matrix: { rowCount: rows.length, categorical, numeric },
    labels: Uint8Array.from(col('approved'), (v) => (v === positive ? 1 : 0)),
    ids: col('request_id'),
  };
}

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
  stringCsv = join(root, 'data', 'approvals-text.csv');
  await writeFile(stringCsv, relabel(flatExampleCsv({ rows: ROWS, seed: 5 }), ['denied', 'granted']));
  // Rows after the training table's (same seed and teams: the same latent effects), with unseen categories.
  const holdOut = flatExampleCsv({ rows: TEST_ROWS, seed: 5, teams: 100, skipRows: ROWS })
    .split('\n')
    .map((line, i) => {
      if (i === 0 || line === '') return line;
      const cells = line.split(',');
      if (i % 10 === 0) cells[4] = 'res-never-seen';
      if (i % 25 === 0) cells[2] = 'mars';
      return cells.join(',');
    })
    .join('\n');
  testCsv = join(root, 'data', 'approvals-test.csv');
  await writeFile(testCsv, relabel(holdOut, ['denied', 'granted']));
});

describe('flat mode config', () => {
  const parse = (patch: (d: Record<string, unknown>) => void) => () =>
    parseConfig(flatConfig('t.csv', patch), 'flat.yaml', root);

  it('accepts a declared table and resolves its path against the config folder', () => {
    const config = parseConfig(flatConfig('t.csv'), 'flat.yaml', root);
    expect(config.data).toMatchObject({ mode: 'flat', path: join(root, 't.csv'), group: 'team', fold_seed: 42 });
  });

  it('reads the label object form, `table` as an alias of `path` and a test file, in a form that parses again', () => {
    const config = parseConfig(
      flatConfig('t.csv', (d) => {
        delete d.path;
        d.table = 't.csv';
        d.test = 'held/out.csv';
        d.label = { column: 'approved', positive: 1 };
      }),
      'flat.yaml',
      root,
    );
    expect(config.data).toMatchObject({
      path: join(root, 't.csv'),
      test: join(root, 'held/out.csv'),
      label: 'approved',
      label_positive: '1',
    });
    // The run's config.json snapshot is parsed again when read: the canonical form must be a fixed point.
    expect(parseConfig(JSON.parse(JSON.stringify(config)), 'config.json', '/elsewhere')).toEqual(config);
    expect(parseConfig(flatConfig('t.csv'), 'flat.yaml', root).data).not.toHaveProperty('label_positive');
    expect(parse((d) => (d.table = 'u.csv'))).toThrow(/data\.table: data\.table is an alias of data\.path: give one/);
    expect(parse((d) => delete d.path)).toThrow(/data\.path: give the CSV as data\.path/);
    expect(parse((d) => (d.label = { column: 'approved' }))).toThrow(/data\.label/);
    expect(parse((d) => (d.label = { column: 'team', positive: 'yes' }))).toThrow(
      /column "team" is declared as both label and group/,
    );
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
    expect(config.config.data).toMatchObject({ mode: 'flat', label: 'approved', label_positive: '1' });
    const bundled = await readFile(join(PROJECT_ROOT, 'data/flat-example/approvals.csv'), 'utf8');
    expect(bundled).toBe(flatExampleCsv({ rows: 2000, seed: 42 }));
    // Its hold-out file continues the same population: the next 500 rows of the same generator.
    const test = await readFile(join(PROJECT_ROOT, 'data/flat-example/approvals_test.csv'), 'utf8');
    expect(test).toBe(flatExampleCsv({ rows: 500, seed: 42, teams: 100, skipRows: 2000 }));
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
    const e = await failure(prepare('flat-bad', path, (await runCreator()).token));
    expect(e.type).toBe('ConfigError');
    expect(e.message).toContain('data.numeric: column "tenure" is not in');
  });

  it('prepareRun names a test file that does not exist, and does not retry', async () => {
    const path = await writeConfig(
      root,
      'missing-test.yaml',
      flatConfig(csv, (d) => (d.test = join(root, 'no-such-test.csv'))),
    );
    const e = await failure(prepare('flat-no-test', path, (await runCreator()).token));
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toBe(`test file not found: ${join(root, 'no-such-test.csv')} (data.test)`);
  });
});

describe('flat mode pipeline', () => {
  let ref: RunRef;
  let dir: string;
  const artifacts: ArtifactRef[] = [];
  const folds: FoldSummary[] = [];

  // Text labels (granted / denied) mapped by `label: {column, positive}`, and a hold-out test file.
  it('prepareRun hashes the input table and the test file', async () => {
    const configPath = await writeConfig(
      root,
      'flat.yaml',
      flatConfig(stringCsv, (d) => {
        d.label = { column: 'approved', positive: 'granted' };
        d.test = testCsv;
      }),
    );
    const prepared = await prepare('flat-1', configPath, (await runCreator()).token);
    ref = { runId: prepared.runId };
    dir = await resolveRunDir(prepared.runId);
    artifacts.push(...prepared.artifacts);
    const info = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as {
      dataFiles: Record<string, string>;
    };
    expect(Object.keys(info.dataFiles)).toEqual(['flat', 'flat_test']);
  });

  it('validateData checks the declared columns, the two label values and mostly-castable numerics', async () => {
    const summary = await runAs('flat-1')(activities.validateData, ref);
    artifacts.push(...summary.artifacts);
    expect(summary.tables).toEqual([
      expect.objectContaining({ table: 'flat', success: true }),
      expect.objectContaining({ table: 'flat_test', success: true }),
    ]);
    const test = JSON.parse(await readFile(join(dir, 'validation/flat_test.json'), 'utf8')) as {
      results: Array<{ expectation: string; kwargs: { column?: string; values?: string[] } }>;
    };
    // The hold-out label must take the training table's two values, positive first.
    expect(test.results).toContainEqual(
      expect.objectContaining({
        expectation: 'expect_column_values_to_be_in_set',
        kwargs: { column: 'approved', values: ['granted', 'denied'] },
      }),
    );
    const report = JSON.parse(await readFile(join(dir, 'validation/flat.json'), 'utf8')) as {
      results: Array<{ expectation: string; kwargs: { column?: string }; result: { unexpected_count: number } }>;
    };
    // risk_score holds ~1 % "n/a": unexpected, but within mostly = 0.95.
    const risk = report.results.find(
      (r) => r.expectation === 'expect_column_values_to_be_of_type' && r.kwargs.column === 'risk_score',
    );
    expect(risk?.result.unexpected_count).toBeGreaterThan(0);
  });

  it('buildFeatures keeps the declared columns, fills the sentinel and folds by group', async () => {
    const summary = await runAs('flat-1')(activities.buildFeatures, ref);
    artifacts.push(...summary.artifacts);
    expect(summary.rows).toBe(ROWS);
    const features = `read_parquet(${sqlString(join(dir, 'features/features.parquet'))})`;
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
    const [labels] = await withDuckDb((conn) => queryRows(conn, `SELECT sum(label) AS positives FROM ${features}`));
    const granted = (await readFile(stringCsv, 'utf8')).split(',granted\n').length - 1;
    expect(Number(labels?.positives)).toBe(granted); // granted → 1, denied → 0
  });

  it('trains every fold and the final model on the declared features', async () => {
    for (let fold = 0; fold < 3; fold++) {
      const result = await runAs('flat-1')(activities.trainFold, ref, fold);
      folds.push(result.summary);
      artifacts.push(...result.artifacts);
      expect(result.summary.trainRows + result.summary.validRows).toBe(ROWS);
    }
    const final = await runAs('flat-1')(activities.trainFinalModel, ref);
    artifacts.push(...final.artifacts);
    const model = JSON.parse(await readFile(join(dir, 'model/model.json'), 'utf8')) as {
      features: Array<{ name: string }>;
    };
    expect(model.features.map((f) => f.name).sort()).toEqual(
      ['region', 'resource', 'risk_score', 'role', 'tenure_years'].sort(),
    );
  });

  it('evaluate learns the signal and writes the report, segments and data audit of the flat table', async () => {
    const result = await runAs('flat-1')(activities.evaluate, ref, folds);
    artifacts.push(...result.artifacts);
    expect(result.metrics.rocAuc).toBeGreaterThan(0.75);
    expect(result.foldAuc.every((a) => a > 0.7)).toBe(true);
    const paths = result.artifacts.map((a) => a.path);
    for (const f of ['report/report.html', 'report/model_card.md', 'predictions/oof.parquet'])
      expect(paths).toContain(f);
    const data = await loadRunData(dir);
    expect(data.metrics.audit).toMatchObject({ rows: ROWS, groups: { column: 'team', count: 100 } });
    expect(data.metrics.audit?.users).toBeUndefined();
    expect(data.metrics.audit?.raw.map((t) => t.table)).toEqual(['flat', 'flat_test']);
    const dims = new Set(data.metrics.segments?.rows.map((r) => r.dimension));
    expect([...dims].sort()).toEqual(['region', 'resource', 'role']);
    expect(data.oof.keyColumns).toEqual(['team', 'request_id']);
    expect(data.oof.key[0]).toMatch(/^team-\d{3}\u001fr\d{6}$/);
    const card = await readFile(join(dir, 'report/model_card.md'), 'utf8');
    expect(card).toContain('GroupKFold(3) by `team`');
    expect(card).toContain('`tenure_years`');
    const report = await readFile(join(dir, 'report/report.md'), 'utf8');
    expect(report).toContain('100 groups of `team`');
    expect(report).not.toContain('Machine accounts');
  });

  it('scores the test file with the final model: metrics.json `test` equals lib/metrics on its predictions', async () => {
    const result = await runAs('flat-1')(activities.evaluateTestSet, ref);
    artifacts.push(...result.artifacts);
    const model = parseModel(await readFile(join(dir, 'model/model.json'), 'utf8'));
    const { matrix, labels } = parseFlatCsv(await readFile(testCsv, 'utf8'), 'granted');
    const scores = predictProba(model, matrix);
    expect(scores.every(Number.isFinite)).toBe(true); // unseen resources and regions included
    const stored = await readTestMetrics(dir);
    expect(stored).toEqual(result.metrics);
    const at = metricsAtThreshold(labels, scores, model.threshold!);
    expect(stored).toMatchObject({ rows: TEST_ROWS, threshold: model.threshold, confusion: at.confusion });
    expect(stored!.rocAuc).toBeCloseTo(rocAuc(labels, scores), 12);
    expect(stored!.prAuc).toBeCloseTo(averagePrecision(labels, scores), 12);
    expect(stored!.logloss).toBeCloseTo(logloss(labels, scores), 12);
    expect(stored!.accuracy).toBeCloseTo(at.accuracy, 12);
    expect(stored!.rocAuc).toBeGreaterThan(0.7);
    const report = await readFile(join(dir, 'report/report.md'), 'utf8');
    expect(report).toContain('Hold-out test file (approvals-test.csv, 300 rows');
    expect(report).toContain('hold-out test (300 rows)');
  });

  it('binning tables and the monitoring baseline cover the declared features', async () => {
    const tables = await versionBinningTables(dir, dir);
    expect(tables.map((t) => t.feature).sort()).toEqual(['region', 'resource', 'risk_score', 'role', 'tenure_years']);
    expect(tables.find((t) => t.feature === 'risk_score')?.bins.at(-1)?.label).toBe('(missing)');
    const baseline = await runAs('flat-1')(activities.monitoringBaseline, ref);
    artifacts.push(...baseline.artifacts);
    expect(baseline.rows).toBe(ROWS);
    await runAs('flat-1')(activities.writeManifest, ref, artifacts);
    const path = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { artifacts: ArtifactRef[] };
    for (const a of manifest.artifacts) await readVerified(dir, a);
  });

  it('request scoring (serve, monitoring) refuses a flat-mode run, pointing at `score`', async () => {
    await expect(openRunModel(ref.runId)).rejects.toThrow(
      /flat-mode run: request scoring .* score a CSV of its declared columns \(region, role, resource, tenure_years, risk_score\)/,
    );
  });

  it('`access-perm score` scores a CSV of the declared columns with the ONNX model, ids carried; a bad one is refused', async () => {
    const scratch = join(root, 'flat-scoring');
    await mkdir(scratch, { recursive: true });
    const text = await readFile(testCsv, 'utf8');
    await writeFile(join(scratch, 'no-role.csv'), text.replace(/^(.*?),role,/, '$1,job,'));
    const output = join(scratch, 'predictions.csv');
    const env = { ...process.env, ACCESS_PERM_TOKEN: (await runCreator()).token };
    const score = (input: string, out: string) =>
      cliInProcess(env, 'score', '--run', ref.runId, '--input', input, '--output', out, '--json');
    const good = await score(testCsv, output);
    const missing = await score(join(scratch, 'no-role.csv'), join(scratch, 'no-role.pred.csv'));
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ runId: ref.runId, rows: TEST_ROWS, version: 1 });
    const [header, ...lines] = (await readFile(output, 'utf8')).trim().split('\n');
    expect(header).toBe('request_id,approval_probability,predicted_label');
    const model = parseModel(await readFile(join(dir, 'model/model.json'), 'utf8'));
    const { matrix, ids } = parseFlatCsv(text, 'granted');
    const expected = predictProba(model, matrix);
    expect(lines).toHaveLength(TEST_ROWS);
    lines.forEach((line, i) => {
      const [id, p, label] = line.split(',');
      expect(id).toBe(ids[i]);
      expect(Math.abs(Number(p) - expected[i]!)).toBeLessThanOrEqual(1e-6);
      expect(Number(label)).toBe(Number(p) >= model.threshold! ? 1 : 0);
    });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no-role\.csv line 1: missing column role \(data\.categorical\)/);
    expect((await readdir(scratch)).sort()).toEqual(['no-role.csv', 'predictions.csv']);
  });

  it('flat scoring refuses a numeric column that does not parse, naming column and lines, and writes nothing', async () => {
    const dir = join(root, 'flat-scoring');
    const text = await readFile(testCsv, 'utf8');
    await writeFile(join(dir, 'wordy-risk.csv'), text.replace(/,(\d\.\d{3}),(granted|denied)\n/g, ',high,$2\n'));
    const model = await openFlatRunModel(ref.runId);
    try {
      await expect(scoreFlatCsvFile(model, join(dir, 'wordy-risk.csv'), join(dir, 'b.csv'))).rejects.toThrow(
        /wordy-risk\.csv: column risk_score \(data\.numeric\) is not numeric: .* line 2: "high"/,
      );
    } finally {
      await model.close();
    }
    expect((await readdir(dir)).sort()).toEqual(['no-role.csv', 'predictions.csv', 'wordy-risk.csv']);
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
    const prepared = await prepare('flat-rows', configPath, token);
    const summary = await runAs('flat-rows')(activities.buildFeatures, { runId: prepared.runId });
    expect(summary.foldRows).toHaveLength(3);
    expect(Math.max(...summary.foldRows) - Math.min(...summary.foldRows)).toBeLessThanOrEqual(1);

    const texts = relabel(flatExampleCsv({ rows: 300, seed: 2 }), ['denied', 'granted']);
    const mapped = (d: Record<string, unknown>) => (d.label = { column: 'approved', positive: 'granted' });
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      // A third value: the error names the column and its values with their first lines, the stray one first.
      [
        'three-values',
        texts.replace(/,granted\n/, ',maybe\n'),
        undefined,
        /expect_column_unique_value_count_to_be_between\(column="approved", min=2, max=2\): 1 unexpected, e\.g\. \{"value":"maybe","rows":1,"first_line":\d+\}/,
      ],
      [
        'no-positive',
        texts.replaceAll(',granted\n', ',approved\n'),
        undefined,
        /expect_column_distinct_values_to_contain_set\(column="approved"\): 1 unexpected, e\.g\. \{"missing_value":"granted","values_seen":\["(denied|approved)","(denied|approved)"\]\}/,
      ],
      [
        'null-label',
        texts.replace(/,denied\n/, ',\n'),
        undefined,
        /expect_column_values_to_not_be_null\(column="approved"\): 1 unexpected, e\.g\. \{"line":\d+/,
      ],
      // The hold-out file may only hold the training table's two values.
      [
        'test-value',
        texts,
        texts.replace(/,denied\n/, ',refused\n'),
        /table flat_test .*expect_column_values_to_be_in_set\(column="approved"\): 1 unexpected, e\.g\. \{"line":\d+,"approved":"refused"\}/,
      ],
    ];
    for (const [name, text, testText, message] of cases) {
      const path = join(root, 'data', `${name}.csv`);
      await writeFile(path, text);
      if (testText !== undefined) await writeFile(join(root, 'data', `${name}-test.csv`), testText);
      const configPath = await writeConfig(
        root,
        `flat-${name}.yaml`,
        flatConfig(path, (d) => {
          mapped(d);
          if (testText !== undefined) d.test = join(root, 'data', `${name}-test.csv`);
        }),
      );
      const prepared = await prepare(`flat-${name}`, configPath, token);
      const e = await failure(runAs(`flat-${name}`)(activities.validateData, { runId: prepared.runId }));
      expect(e.type).toBe('DataValidationError');
      expect(e.message).toMatch(message);
    }

    const badCsv = join(root, 'data', 'bad.csv');
    await writeFile(badCsv, flatExampleCsv({ rows: 300, seed: 2 }).replace(/,1\n/, ',yes\n'));
    const badPath = await writeConfig(root, 'flat-bad-label.yaml', flatConfig(badCsv));
    const bad = await prepare('flat-bad-label', badPath, token);
    const e = await failure(runAs('flat-bad-label')(activities.validateData, { runId: bad.runId }));
    expect(e.type).toBe('DataValidationError');
    expect(e.message).toContain('expect_column_values_to_be_in_set(column="approved"');
  });
});
