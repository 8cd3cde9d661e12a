import { join } from 'node:path';
import { queryColumns, queryRows, sqlString, withDuckDb } from '../data/duck';
import { loadCsvAsText } from '../data/raw';
import { CATEGORICAL_FEATURES, NUMERIC_FEATURES } from '../features';
import { tableForWriting, versionDirName } from '../run';
import { openRunModel, type ScoreRequest } from '../scoring';
import { WINDOW_FILES, readWindowFile, readWindowInfo, sealWindowFile, writeWindowFile } from './window';
import type { WindowFolder } from './window';

/** Which model scored a window (an unlocked run's ONNX graph is exported in memory, so not every run has the file). */
export interface WindowScoring {
  version: number;
  modelSha256: string;
}

/** The scoring record written by {@link scoreWindow}. */
export async function readWindowScoring(ref: WindowFolder): Promise<WindowScoring> {
  return JSON.parse(await readWindowFile(ref, WINDOW_FILES.scoring)) as WindowScoring;
}

/**
 * The folder of the model version that scored the window (`openRunModel`'s choice: locked, else approved, else
 * the run): its monitoring reference, OOF metrics and threshold are what the window is compared with, since a
 * version trained on regrouped categories scores, and records, regrouped feature values.
 */
export async function scoredVersionDir(ref: WindowFolder): Promise<string> {
  return join(ref.runDir, versionDirName((await readWindowScoring(ref)).version));
}

/** Requests per step: bounds the strings held at once on million-row windows. */
const SCORE_CHUNK = 65_536;

/**
 * Scores a window with the run's model through lib/scoring, the one scoring code path (verified ONNX graph,
 * training feature SQL over the run's metadata), and writes `scored.parquet`: row_idx, userId, the engineered
 * features, the label when the window has one, and `score`. Returns the row count and mean score.
 */
export async function scoreWindow(ref: WindowFolder): Promise<{ rows: number; meanScore: number; threshold: number }> {
  const info = await readWindowInfo(ref);
  const model = await openRunModel(ref.runId);
  try {
    return await withDuckDb(async (conn) => {
      await loadCsvAsText(conn, 'requests', info.source);
      const categorical = CATEGORICAL_FEATURES.map((c) => `${c} VARCHAR`);
      const numeric = NUMERIC_FEATURES.map((c) => `${c} DOUBLE`);
      await conn.run(
        `CREATE TABLE scored (row_idx BIGINT, userId VARCHAR, ${[...categorical, ...numeric].join(', ')}, ${info.labelled ? 'label UTINYINT, ' : ''}score DOUBLE)`,
      );
      const [count] = await queryRows(conn, 'SELECT count(*) AS n FROM requests');
      const rows = Number(count?.n ?? 0);
      const appender = await conn.createAppender('scored');
      let sum = 0;
      for (let start = 0; start < rows; start += SCORE_CHUNK) {
        const cols = await queryColumns(
          conn,
          `SELECT userId, appId${info.labelled ? ', trim(permission) AS permission' : ''} FROM requests WHERE rowid >= ${start} AND rowid < ${start + SCORE_CHUNK} ORDER BY rowid`,
        );
        const users = (cols.userId ?? []) as string[];
        const apps = (cols.appId ?? []) as string[];
        const requests: ScoreRequest[] = users.map((userId, i) => ({ userId, appId: apps[i]! }));
        const features = await model.features(requests);
        const { probability } = await model.scoreFeatures(features);
        const labels = cols.permission ?? [];
        for (let i = 0; i < requests.length; i++) {
          appender.appendBigInt(BigInt(start + i));
          appender.appendVarchar(requests[i]!.userId.trim());
          for (const c of CATEGORICAL_FEATURES) appender.appendVarchar(String(features.columns[c]![i]));
          for (const c of NUMERIC_FEATURES) {
            const v = Number(features.columns[c]![i]);
            if (Number.isNaN(v)) appender.appendNull();
            else appender.appendDouble(v);
          }
          if (info.labelled) {
            const y = labels[i];
            if (y === '0' || y === '1') appender.appendUTinyInt(Number(y));
            else appender.appendNull();
          }
          appender.appendDouble(probability[i]!);
          appender.endRow();
          sum += probability[i]!;
        }
      }
      appender.closeSync();
      await conn.run(
        `COPY scored TO ${sqlString(await tableForWriting(ref.windowDir, WINDOW_FILES.scored))} (FORMAT parquet, COMPRESSION zstd)`,
      );
      await sealWindowFile(ref, WINDOW_FILES.scored);
      const scoring: WindowScoring = { version: model.version, modelSha256: model.modelSha256 };
      await writeWindowFile(ref, WINDOW_FILES.scoring, `${JSON.stringify(scoring)}\n`);
      return { rows, meanScore: rows ? sum / rows : Number.NaN, threshold: model.threshold };
    });
  } finally {
    await model.close();
  }
}
