import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, seedData } from '../lib/config';
import { ConfigError } from '../lib/errors';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'access-perm-config-'));
  const path = join(dir, 'c.yaml');
  await writeFile(path, text);
  return path;
}

const minimal = 'data:\n  dir: ./d\nmodel:\n  catboost: {}\nvalidation: {}\n';

describe('config loading', () => {
  it('loads the bundled configs and resolves data paths against the config folder', async () => {
    for (const file of ['config/sample.yaml', 'config/default.yaml']) {
      const loaded = await loadConfig(file);
      expect(seedData(loaded.config, 'config test').dir).toMatch(/\/data\/(sample|full)$/);
      expect(loaded.hash).toMatch(/^[0-9a-f]{64}$/);
    }
    const sample = await loadConfig('config/sample.yaml');
    expect(sample.config.validation.n_splits).toBe(5);
    expect(sample.config.validation.threshold_strategy).toBe('max_accuracy');
  });

  it('applies defaults to a minimal config, whose model and validation blocks may be left out', async () => {
    const { config } = await loadConfig(await configFile(minimal));
    expect(config.features.sentinel).toBe('__UNKNOWN__');
    expect(config.validation.group_column).toBe('userId');
    expect(config.artifacts.dir).toBe('runs');
    const bare = await loadConfig(await configFile('data:\n  dir: ./d\n'));
    expect(bare.config.model).toEqual({ catboost: {}, calibration: 'none' });
    expect(bare.config.validation).toEqual(config.validation);
  });

  it.each([
    ['a wrong type', minimal.replace('validation: {}', 'validation: { n_splits: "five" }'), /validation\.n_splits/],
    ['an out-of-range value', minimal.replace('validation: {}', 'validation: { n_splits: 1 }'), /validation\.n_splits/],
    ['an unknown key', `${minimal}colour: blue\n`, /colour/],
    ['a misspelt nested key', minimal.replace('validation: {}', 'validation: { n_split: 5 }'), /n_split/],
    ['a missing data section', 'model:\n  catboost: {}\n', /data/],
    [
      'a misspelt CatBoost parameter (before any step runs)',
      minimal.replace('catboost: {}', 'catboost: { learning_rat: 0.1 }'),
      /model\.catboost.*learning_rat/,
    ],
    ['a CatBoost parameter out of range', minimal.replace('catboost: {}', 'catboost: { depth: 40 }'), /depth/],
    [
      'a monitoring reference outside the run folder',
      `${minimal}monitoring:\n  reference: ../../elsewhere.parquet\n`,
      /monitoring\.reference: must be a relative path inside the run folder/,
    ],
    [
      'an absolute monitoring reference',
      `${minimal}monitoring:\n  reference: /tmp/r.parquet\n`,
      /monitoring\.reference/,
    ],
    [
      'an unknown strategy',
      minimal.replace('validation: {}', 'validation: { threshold_strategy: best }'),
      /threshold_strategy/,
    ],
  ])('rejects %s, naming the key', async (_label, text, key) => {
    const path = await configFile(text);
    const error = await loadConfig(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(key);
    expect((error as Error).message).toContain(path);
  });

  it('rejects invalid YAML and a missing file with the path in the message', async () => {
    await expect(loadConfig(await configFile('data: [unclosed'))).rejects.toThrow(/not valid YAML/);
    await expect(loadConfig('/nonexistent/x.yaml')).rejects.toThrow(/cannot read config \(ENOENT\)/);
  });
});
