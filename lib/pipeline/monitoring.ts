import type { ArtifactRef } from '../../schemas/run';
import { registerArtifact } from '../artifacts';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { FEATURES_FILE, OOF_FILE, readRunConfig, tableAt, tableForWriting, type RunFolder } from '../run';

/** The reference window for drift monitoring: engineered features, label and out-of-fold score per row. */
export async function writeMonitoringBaseline(ref: RunFolder): Promise<{ rows: number; artifacts: ArtifactRef[] }> {
  const config = await readRunConfig(ref.dir);
  const target = await tableForWriting(ref.dir, config.monitoring.reference);
  const rows = await withDuckDb(async (conn) => {
    const features = `read_parquet(${sqlString(tableAt(ref.dir, FEATURES_FILE))})`;
    const oof = `read_parquet(${sqlString(tableAt(ref.dir, OOF_FILE))})`;
    await conn.run(
      `COPY (SELECT f.*, o.score FROM ${features} f JOIN ${oof} o USING (row_idx) ORDER BY f.row_idx) TO ${sqlString(target)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const [r] = await queryRows(conn, `SELECT count(*) AS n FROM read_parquet(${sqlString(target)})`);
    return Number(r?.n ?? 0);
  });
  return { rows, artifacts: [await registerArtifact(ref.dir, config.monitoring.reference, 'monitoring-reference')] };
}
