import type { ArtifactRef } from '../../schemas/run';
import type { ValidationReport } from '../../schemas/validation';
import { writeArtifact } from '../artifacts';
import { withDuckDb } from '../data/duck';
import { describeFailures } from '../data/expectations';
import { validateRawTables } from '../data/raw';
import { DataValidationError } from '../errors';
import { readRunConfig, VALIDATION_DIR, type RunFolder } from '../run';

export interface ValidationSummary {
  tables: Array<{ table: string; success: boolean; evaluated: number; failed: number }>;
  artifacts: ArtifactRef[];
}

/** Writes one report per table; throws DataValidationError naming every failing table after all reports are written. */
export async function writeValidationReports(ref: RunFolder, reports: ValidationReport[]): Promise<ValidationSummary> {
  const artifacts: ArtifactRef[] = [];
  for (const report of reports) {
    artifacts.push(
      await writeArtifact(
        ref.dir,
        `${VALIDATION_DIR}/${report.table}.json`,
        `${JSON.stringify(report, null, 2)}\n`,
        'validation-report',
      ),
    );
  }
  const failed = reports.filter((r) => !r.success);
  if (failed.length > 0) {
    const reportOf = (table: string): string => `${ref.dir}/${VALIDATION_DIR}/${table}.json`;
    const what = failed
      .map((r) => `${r.table} (${r.source}): ${describeFailures(r)} — report: ${reportOf(r.table)}`)
      .join('; ');
    throw new DataValidationError(
      `data validation failed for ${failed.length === 1 ? 'table' : `${failed.length} tables:`} ${what}`,
      failed.map((r) => r.table).join(', '),
      reportOf(failed[0]!.table),
    );
  }
  return {
    tables: reports.map((r) => ({
      table: r.table,
      success: r.success,
      evaluated: r.statistics.evaluated_expectations,
      failed: r.statistics.unsuccessful_expectations,
    })),
    artifacts,
  };
}

/** The raw-data contracts (users, apps, interactions, and submission when present). */
export async function validateRawData(ref: RunFolder): Promise<ValidationSummary> {
  const config = await readRunConfig(ref.dir);
  const reports = await withDuckDb((conn) => validateRawTables(conn, config));
  return writeValidationReports(ref, reports);
}
