import { join } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import type { GbdtModel } from '../../schemas/gbdt';
import { runInfoSchema, type ArtifactRef, type RunInfo, type RunManifest } from '../../schemas/run';
import { validationReportSchema, type ValidationReport } from '../../schemas/validation';
import { readVerified, registerArtifact, verifyArtifact } from '../artifacts';
import { parseConfig } from '../config';
import { ArtifactIntegrityError, UnknownRunError } from '../errors';
import { queryColumns, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import { featureSpec } from '../features';
import { metricsFileSchema, type MetricsFile } from '../../schemas/metrics';
import { parseModel } from '../gbdt';
import {
  CONFIG_FILE,
  listRunFiles,
  MANIFEST_FILE,
  METRICS_FILE,
  MODEL_FILE,
  OOF_FILE,
  readRunInfo,
  readRunText,
  RUN_INFO_FILE,
  STEPS_FILE,
  tableAt,
  tryManifest,
} from '../run';

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

/** Hashes the run's files (report outputs, temp files and the manifest excluded). */
async function hashRunFiles(runDir: string): Promise<ArtifactRef[]> {
  const files = (await listRunFiles(runDir)).filter(
    (p) => !p.startsWith('report/') && p !== MANIFEST_FILE && p !== STEPS_FILE && !p.includes('.tmp-'),
  );
  return Promise.all(
    files.map((p) =>
      registerArtifact(runDir, p, ROLE_BY_PREFIX.find(([prefix]) => p.startsWith(prefix))?.[1] ?? 'file'),
    ),
  );
}

/**
 * Reads files of a run: a finished run's as its signed manifest recorded them (a file it does not list, or one
 * changed since, is refused: a report never shows an edited metric or validation result); a run being evaluated,
 * which has no manifest yet, as its steps left them.
 */
function runFileReader(runId: string, runDir: string, manifest: RunManifest | null) {
  const refOf = (path: string): ArtifactRef | null => {
    if (!manifest) return null;
    const ref = manifest.artifacts.find((a) => a.path === path);
    if (!ref) throw new ArtifactIntegrityError(`run ${runId}: ${path} is not listed in its manifest`);
    return ref;
  };
  return {
    text: async (path: string): Promise<string> => {
      const ref = refOf(path);
      return ref ? (await readVerified(runDir, ref)).toString('utf8') : readRunText(runDir, path);
    },
    /** Where DuckDB reads table `path`, its bytes checked first when the run is finished. */
    table: async (path: string): Promise<string> => {
      const ref = refOf(path);
      if (ref) await verifyArtifact(runDir, ref);
      return tableAt(runDir, path);
    },
    /** The JSON files under `folder`. */
    jsonFiles: async (folder: string): Promise<string[]> =>
      (manifest ? manifest.artifacts.map((a) => a.path).sort() : await listRunFiles(runDir, folder)).filter(
        (p) => p.startsWith(`${folder}/`) && p.endsWith('.json'),
      ),
  };
}

/** Loads a finished (or evaluated) run for reporting; fails with the file that is missing, malformed or changed. */
export async function loadRunData(runDir: string): Promise<RunData> {
  const found = await readRunInfo(runDir).catch(() => {
    throw new UnknownRunError(`no run at ${runDir} (run.json missing)`);
  });
  const manifest = await tryManifest(runDir);
  const files = runFileReader(found.runId, runDir, manifest);
  const info = manifest ? runInfoSchema.parse(JSON.parse(await files.text(RUN_INFO_FILE))) : found;
  const config = parseConfig(JSON.parse(await files.text(CONFIG_FILE)), join(runDir, CONFIG_FILE), runDir);
  const metricsText = await files.text(METRICS_FILE).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
    throw new Error(`run ${info.runId} has no metrics.json: it has not been evaluated`);
  });
  const parsed = metricsFileSchema.safeParse(JSON.parse(metricsText));
  if (!parsed.success)
    throw new Error(
      `${join(runDir, METRICS_FILE)}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
    );
  const model = parseModel(await files.text(MODEL_FILE));
  const oofPath = await files.table(OOF_FILE);
  const order = ['users', 'apps', 'interactions', 'submission', 'features'];
  const validation = (
    await Promise.all(
      (await files.jsonFiles('validation')).map(async (p) =>
        validationReportSchema.parse(JSON.parse(await files.text(p))),
      ),
    )
  ).sort((a, b) => order.indexOf(a.table) - order.indexOf(b.table));
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
    validation,
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
