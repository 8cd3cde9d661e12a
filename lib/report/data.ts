import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import type { GbdtModel } from '../../schemas/gbdt';
import type { ArtifactRef, RunInfo, RunManifest } from '../../schemas/run';
import { validationReportSchema, type ValidationReport } from '../../schemas/validation';
import { readVerified, registerArtifact } from '../artifacts';
import { UnknownRunError } from '../errors';
import { queryColumns, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import { featureSpec } from '../features';
import { metricsFileSchema, type MetricsFile } from '../../schemas/metrics';
import { parseModel } from '../gbdt';
import {
  CONFIG_FILE,
  METRICS_FILE,
  MODEL_FILE,
  OOF_FILE,
  readRunConfig,
  readRunInfo,
  RUN_INFO_FILE,
  tryManifest,
} from '../run';

const VERIFIED_ON_READ = [CONFIG_FILE, RUN_INFO_FILE, METRICS_FILE, MODEL_FILE, OOF_FILE];

/** Everything a report or a comparison reads from a run folder (small, except the OOF columns). */
export interface RunData {
  runId: string;
  runDir: string;
  info: RunInfo;
  config: AccessPermConfig;
  metrics: MetricsFile;
  model: GbdtModel;
  validation: ValidationReport[];
  /**
   * OOF predictions in row order. `key` identifies a row across runs: its id columns (`keyColumns`: userId and
   * appId in seed mode, a flat table's group and id_columns) joined, or its row number when it has none.
   */
  oof: { keyColumns: string[]; key: string[]; fold: Int32Array; label: Uint8Array; score: Float64Array };
  /** From the manifest when the run has one, otherwise hashed now (the evaluation step runs before the manifest). */
  artifacts: ArtifactRef[];
  manifest: RunManifest | null;
}

const ROLE_BY_PREFIX: Array<[string, string]> = [
  [CONFIG_FILE, 'config'],
  [RUN_INFO_FILE, 'run-info'],
  [METRICS_FILE, 'metrics'],
  ['model/', 'model'],
  ['features/', 'features'],
  ['folds/', 'oof-scores'],
  ['predictions/', 'oof-predictions'],
  ['validation/', 'validation-report'],
  ['monitoring/', 'monitoring-reference'],
];

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Hashes the run's files (report outputs, temp files and the manifest excluded). */
async function hashRunFiles(runDir: string): Promise<ArtifactRef[]> {
  const files = (await walk(runDir))
    .map((p) => relative(runDir, p).split('\\').join('/'))
    .filter((p) => !p.startsWith('report/') && p !== 'manifest.json' && !p.includes('.tmp-'))
    .sort();
  return Promise.all(
    files.map((p) =>
      registerArtifact(runDir, p, ROLE_BY_PREFIX.find(([prefix]) => p.startsWith(prefix))?.[1] ?? 'file'),
    ),
  );
}

async function readValidation(runDir: string): Promise<ValidationReport[]> {
  const dir = join(runDir, 'validation');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  const order = ['users', 'apps', 'interactions', 'submission', 'features'];
  const reports = await Promise.all(
    names.map(async (n) => validationReportSchema.parse(JSON.parse(await readFile(join(dir, n), 'utf8')))),
  );
  return reports.sort((a, b) => order.indexOf(a.table) - order.indexOf(b.table));
}

/** Loads a finished (or evaluated) run for reporting; fails with the file that is missing or malformed. */
export async function loadRunData(runDir: string): Promise<RunData> {
  const info = await readRunInfo(runDir).catch(() => {
    throw new UnknownRunError(`no run at ${runDir} (run.json missing)`);
  });
  const manifest = await tryManifest(runDir);
  // A finished run's inputs to the report are checked against the manifest before they are read.
  for (const ref of manifest?.artifacts ?? []) if (VERIFIED_ON_READ.includes(ref.path)) await readVerified(runDir, ref);
  const config = await readRunConfig(runDir);
  const metricsPath = join(runDir, METRICS_FILE);
  const raw: unknown = JSON.parse(
    await readFile(metricsPath, 'utf8').catch(() => {
      throw new Error(`run ${info.runId} has no metrics.json: it has not been evaluated`);
    }),
  );
  const parsed = metricsFileSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${metricsPath}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  const model = parseModel(await readFile(join(runDir, MODEL_FILE), 'utf8'));
  const oofPath = join(runDir, 'predictions/oof.parquet');
  const ids = featureSpec(config).ids;
  const keyColumns = ids.length > 0 ? [...ids] : ['row_idx'];
  const cols = await withDuckDb((conn) =>
    queryColumns(
      conn,
      `SELECT ${keyColumns.map((c) => `${sqlIdent(c)} AS ${sqlIdent(`key:${c}`)}`).join(', ')}, fold, label, score FROM read_parquet(${sqlString(oofPath)}) ORDER BY row_idx`,
    ),
  );
  const keyParts = keyColumns.map((c) => cols[`key:${c}`] ?? []);
  const rows = cols.score?.length ?? 0;
  return {
    runId: info.runId,
    runDir,
    info,
    config,
    metrics: parsed.data,
    model,
    validation: await readValidation(runDir),
    oof: {
      keyColumns,
      key: Array.from({ length: rows }, (_, i) => keyParts.map((p) => String(p[i])).join('\u001f')),
      fold: Int32Array.from((cols.fold ?? []).map(Number)),
      label: Uint8Array.from((cols.label ?? []).map(Number)),
      score: Float64Array.from((cols.score ?? []).map(Number)),
    },
    artifacts: manifest ? manifest.artifacts : await hashRunFiles(runDir),
    manifest,
  };
}
