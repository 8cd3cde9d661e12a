import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataValidationError, InputError } from '../lib/errors';
import { prepareRun } from '../lib/pipeline/prepare';
import { validateRawData } from '../lib/pipeline/validate';
import type { ValidationReport } from '../schemas/validation';
import { runCreator, smallConfig, smallDataset, useTempDataDir, writeConfig, testExecution } from './helpers';

let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await useTempDataDir('validation');
  dataDir = await smallDataset(join(root, 'data'), 1500);
});

/** A copy of the data set with interactions.csv replaced, and a config pointing at it. */
async function variant(name: string, edit: (csv: string) => string): Promise<string> {
  const dir = join(root, name);
  await smallDataset(dir, 1500);
  const csv = await readFile(join(dir, 'interactions.csv'), 'utf8');
  await writeFile(join(dir, 'interactions.csv'), edit(csv));
  return writeConfig(root, `${name}.yaml`, smallConfig(dir));
}

async function report(runDir: string, table: string): Promise<ValidationReport> {
  return JSON.parse(await readFile(join(runDir, 'validation', `${table}.json`), 'utf8')) as ValidationReport;
}

describe('raw data contracts', () => {
  it('pass on generated data and write one report per table', async () => {
    const configPath = await writeConfig(root, 'ok.yaml', smallConfig(dataDir));
    const run = await prepareRun('val-ok', configPath, (await runCreator()).identity, testExecution('val-ok'));
    const summary = await validateRawData(run);
    expect(summary.tables.map((t) => t.table)).toEqual(['users', 'apps', 'interactions', 'submission']);
    expect(summary.tables.every((t) => t.success)).toBe(true);
    const interactions = await report(run.dir, 'interactions');
    expect(interactions.success).toBe(true);
    expect(interactions.statistics.evaluated_expectations).toBeGreaterThanOrEqual(8);
  });

  it('fail on a missing column, naming the table and column, and still write the report', async () => {
    const configPath = await variant('nocol', (csv) =>
      csv
        .split('\n')
        .map((line) => line.split(',').slice(0, 2).join(','))
        .join('\n'),
    );
    const run = await prepareRun('val-nocol', configPath, (await runCreator()).identity, testExecution('val-nocol'));
    const error = await validateRawData(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataValidationError);
    expect((error as Error).message).toMatch(/table interactions/);
    expect((error as Error).message).toMatch(/expect_table_columns_to_contain.*permission/);
    const r = await report(run.dir, 'interactions');
    expect(r.success).toBe(false);
    expect(r.results[0]?.result.partial_unexpected_list).toEqual([{ missing_column: 'permission' }]);
  });

  it('fail on contradictory labels with the offending rows as examples', async () => {
    const configPath = await variant('contra', (csv) => {
      const lines = csv.trimEnd().split('\n');
      const [user, app, label] = lines[1]!.split(',');
      return `${lines.join('\n')}\n${user},${app},${label === '1' ? '0' : '1'}\n`;
    });
    const run = await prepareRun('val-contra', configPath, (await runCreator()).identity, testExecution('val-contra'));
    const error = await validateRawData(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataValidationError);
    expect((error as Error).message).toMatch(/expect_no_contradictory_labels/);
    const r = await report(run.dir, 'interactions');
    const contradiction = r.results.find((x) => x.expectation === 'expect_no_contradictory_labels')!;
    expect(contradiction.success).toBe(false);
    expect(contradiction.result.unexpected_count).toBe(2);
    // File lines, as `score` counts them: the header is line 1, so the first data row is line 2.
    expect(contradiction.result.partial_unexpected_list[0]).toMatchObject({ line: 2 });
  });

  it('name every failing table, not only the first', async () => {
    const configPath = await variant('two-bad', (csv) => csv.replace(/,([01])\n/, ',yes\n'));
    const dir = join(root, 'two-bad');
    const users = (await readFile(join(dir, 'users_metadata.csv'), 'utf8')).split('\n');
    const cells = users[1]!.split(',');
    cells[4] = 'maybe'; // isMachine
    users[1] = cells.join(',');
    await writeFile(join(dir, 'users_metadata.csv'), users.join('\n'));
    const run = await prepareRun(
      'val-two-bad',
      configPath,
      (await runCreator()).identity,
      testExecution('val-two-bad'),
    );
    const error = (await validateRawData(run).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(DataValidationError);
    expect(error.message).toMatch(/^data validation failed for 2 tables: users \(.*\): .*; interactions \(.*\): /);
    expect((error as DataValidationError).table).toBe('users, interactions');
  });

  it('fail on wrong value types and out-of-set labels', async () => {
    const configPath = await variant('badlabel', (csv) => csv.replace(/,([01])\n/, ',yes\n'));
    const run = await prepareRun(
      'val-badlabel',
      configPath,
      (await runCreator()).identity,
      testExecution('val-badlabel'),
    );
    await expect(validateRawData(run)).rejects.toThrow(/expect_column_values_to_be_in_set\(column="permission".*"yes"/);
  });

  it('refuse a structurally malformed CSV, naming the file', async () => {
    const configPath = await variant('ragged', (csv) => csv.replace('\n', '\n1,2,3,4,5\n'));
    const run = await prepareRun('val-ragged', configPath, (await runCreator()).identity, testExecution('val-ragged'));
    const error = await validateRawData(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/interactions: malformed CSV .*interactions\.csv/);
  });
});
