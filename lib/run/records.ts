/** Readers of a run folder's records: its config snapshot, run info, metrics, feature table and OOF scores. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import { metricsFileSchema, type MetricsFile } from '../../schemas/metrics';
import {
  runEndSchema,
  runInfoSchema,
  tombstoneSchema,
  type RunEnd,
  type RunInfo,
  type Tombstone,
} from '../../schemas/run';
import { parseConfig } from '../config';
import { queryColumns, sqlString, withDuckDb } from '../data/duck';
import { featureSpec } from '../features';
import { readLabelledMatrix, type LabelledMatrix } from '../features/matrix';
import { ArtifactIntegrityError, UnknownRunError } from '../errors';
import { verifyRecord } from '../keys';
import { readVerified } from '../artifacts';
import { tryManifest } from './manifest';
import {
  CONFIG_FILE,
  FEATURES_FILE,
  METRICS_FILE,
  oofFile,
  RUN_END_FILE,
  RUN_INFO_FILE,
  TOMBSTONE_FILE,
} from './layout';

/** The config as the run (or version) saw it: snapshotted when prepared, so later edits of the YAML do not leak in. */
export async function readRunConfig(dir: string): Promise<AccessPermConfig> {
  const path = join(dir, CONFIG_FILE);
  // A finished folder's config is what its signed manifest recorded: the data paths, alert rules and contracts in
  // it steer later steps (locking, monitoring), so a file edited since is refused, not followed.
  const manifest = await tryManifest(dir);
  const ref = manifest?.artifacts.find((a) => a.path === CONFIG_FILE);
  if (manifest && !ref) throw new ArtifactIntegrityError(`${path} is not listed in its folder's signed manifest`);
  const text = ref ? (await readVerified(dir, ref)).toString('utf8') : await readFile(path, 'utf8');
  return parseConfig(JSON.parse(text) as unknown, path, dir);
}

/** The folder's run.json; for a deleted run, UnknownRunError saying who deleted it, when and why. */
export async function readRunInfo(dir: string): Promise<RunInfo> {
  try {
    return runInfoSchema.parse(JSON.parse(await readFile(join(dir, RUN_INFO_FILE), 'utf8')));
  } catch (e) {
    const tombstone = (e as NodeJS.ErrnoException).code === 'ENOENT' ? await readTombstone(dir) : null;
    if (!tombstone) throw e;
    throw new UnknownRunError(
      `run ${tombstone.runId} was deleted by ${tombstone.deleted_by.userId} at ${tombstone.deleted_at}: ${tombstone.reason}`,
    );
  }
}

/**
 * The tombstone of a deleted run (signature checked), or null when the run was not deleted.
 * @throws RecordSignatureError for a tombstone access-perm did not write.
 */
export async function readTombstone(dir: string): Promise<Tombstone | null> {
  let text: string;
  try {
    text = await readFile(join(dir, TOMBSTONE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return tombstoneSchema.parse(await verifyRecord(JSON.parse(text) as Tombstone, `${join(dir, TOMBSTONE_FILE)}`));
}

/** The folder's metrics.json; throws when it is missing or malformed. */
export async function readMetrics(dir: string): Promise<MetricsFile> {
  // A finished folder's figures (what a reviewer decides on) are read as its signed manifest recorded them.
  const ref = (await tryManifest(dir))?.artifacts.find((a) => a.path === METRICS_FILE);
  const text = ref ? (await readVerified(dir, ref)).toString('utf8') : await readFile(join(dir, METRICS_FILE), 'utf8');
  return metricsFileSchema.parse(JSON.parse(text));
}

/** The hold-out test metrics of a flat run's folder (`test` of metrics.json), or null when it has none. */
export async function readTestMetrics(dir: string): Promise<MetricsFile['test'] | null> {
  return readMetrics(dir).then(
    (m) => m.test ?? null,
    () => null,
  );
}

/** The folder's feature table as a labelled matrix, with the columns of its config's feature spec. */
export async function readFeatures(dir: string): Promise<LabelledMatrix> {
  const spec = featureSpec(await readRunConfig(dir));
  return withDuckDb((conn) => readLabelledMatrix(conn, `read_parquet(${sqlString(join(dir, FEATURES_FILE))})`, spec));
}

/** Rows of the run's feature table (`where` selects, e.g. a fold's training rows), read from the Parquet metadata. */
export async function countFeatureRows(dir: string, where = 'true'): Promise<number> {
  const path = sqlString(join(dir, FEATURES_FILE));
  const { n } = await withDuckDb((conn) =>
    queryColumns(conn, `SELECT count(*) AS n FROM read_parquet(${path}) WHERE ${where}`),
  );
  return Number(n![0]);
}

/** Out-of-fold scores of one fold (little-endian float64), in the row order of the fold's rows. */
export async function readOofScores(dir: string, fold: number): Promise<Float64Array> {
  const buf = await readFile(join(dir, oofFile(fold)));
  const out = new Float64Array(buf.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = buf.readDoubleLE(i * 8);
  return out;
}

/** How the run ended without a manifest, or null while it has not (running, or completed). */
export async function readRunEnd(dir: string): Promise<RunEnd | null> {
  try {
    return runEndSchema.parse(JSON.parse(await readFile(join(dir, RUN_END_FILE), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
