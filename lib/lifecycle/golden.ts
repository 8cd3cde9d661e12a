/**
 * Golden comparison (seed-3 "Compare runs (golden comparison)": MODELER, VALIDATOR, ADMIN): a run's model version
 * checked against a golden reference, a locked run or a reference file of expected metrics and predictions, with
 * explicit tolerances. The pass/fail report is kept in the run folder and audited. Distinct from `compare` (every
 * role), which describes differences without judging them.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  GOLDEN_METRICS,
  goldenReferenceSchema,
  goldenReportSchema,
  goldenTolerancesSchema,
  type GoldenCheck,
  type GoldenReference,
  type GoldenReport,
  type GoldenTolerances,
} from '../../schemas/golden';
import { writeFileAfter } from '../artifacts';
import { InputError, RunStateError } from '../errors';
import { actorFields, appendAudit, authorize, type Credential } from '../governance';
import { canonicalJson, sha256Hex } from '../hash';
import { loadRunData } from '../report/data';
import {
  assertRunId,
  describeVersion,
  listRunFiles,
  readLock,
  readRunRecord,
  reproductions,
  resolveRunDir,
  resolveVersion,
  signedRunRecordText,
} from '../run';

const GOLDEN_DIR = 'golden';

/** A run version as a golden reference: its OOF metrics, predictions by row key, and scoring spec sha256. */
export async function goldenReferenceOf(runId: string, version?: number): Promise<GoldenReference> {
  const runDir = await resolveRunDir(runId);
  const resolved = await resolveVersion(runId, runDir, version);
  const [data, summary] = await Promise.all([
    loadRunData(resolved.dir),
    describeVersion(runDir, resolved.version).catch(() => {
      throw new RunStateError(`run ${runId} version ${resolved.version} is not finished: it has no manifest`);
    }),
  ]);
  const oof = data.metrics.oof;
  return goldenReferenceSchema.parse({
    format: 'access-perm/golden-reference@1',
    source: { runId, version: resolved.version },
    model_sha256: summary.modelSha256,
    metrics: Object.fromEntries(GOLDEN_METRICS.map((m) => [m, oof[m]])),
    key_columns: data.oof.keyColumns,
    predictions: data.oof.key.map((k, i) => [k, data.oof.score[i]!]),
  });
}

/** Checks `candidate` against `reference` within `tolerances`; pure, every check reported whether it passed or not. */
export function compareToGolden(
  candidate: GoldenReference,
  reference: GoldenReference,
  tolerances: GoldenTolerances,
): GoldenCheck[] {
  const checks: GoldenCheck[] = [];
  const sameModel = candidate.model_sha256 !== null && candidate.model_sha256 === reference.model_sha256;
  checks.push({
    name: 'model_sha256',
    passed: sameModel || !tolerances.same_model,
    value: candidate.model_sha256,
    limit: tolerances.same_model ? reference.model_sha256 : null,
    detail: sameModel
      ? 'the scoring spec is byte-identical to the reference'
      : `the scoring spec differs from the reference${tolerances.same_model ? ' (required identical)' : ' (not required)'}`,
  });
  for (const metric of GOLDEN_METRICS) {
    const expected = reference.metrics[metric];
    if (expected === undefined) continue;
    const actual = candidate.metrics[metric];
    const delta = actual === undefined ? Number.POSITIVE_INFINITY : Math.abs(actual - expected);
    checks.push({
      name: `metric:${metric}`,
      passed: delta <= tolerances.metric,
      value: actual ?? null,
      limit: tolerances.metric,
      detail: `${metric} ${actual?.toFixed(6) ?? 'missing'} vs reference ${expected.toFixed(6)}: |Δ| ${Number.isFinite(delta) ? delta.toExponential(3) : '∞'}`,
    });
  }
  if (candidate.key_columns.join('\u001f') !== reference.key_columns.join('\u001f')) {
    checks.push({
      name: 'predictions',
      passed: false,
      value: null,
      limit: tolerances.score,
      detail: `rows are keyed by ${candidate.key_columns.join(' + ')}, the reference by ${reference.key_columns.join(' + ')}`,
    });
    return checks;
  }
  const scores = new Map(candidate.predictions);
  let missing = 0;
  let worst = 0;
  let worstKey = '';
  for (const [key, expected] of reference.predictions) {
    const actual = scores.get(key);
    if (actual === undefined) {
      missing++;
      continue;
    }
    const d = Math.abs(actual - expected);
    if (d > worst) [worst, worstKey] = [d, key];
  }
  checks.push({
    name: 'predictions:rows',
    passed: missing === 0,
    value: reference.predictions.length - missing,
    limit: reference.predictions.length,
    detail: `${reference.predictions.length - missing} of the reference's ${reference.predictions.length} rows are predicted${missing ? `; ${missing} missing` : ''}`,
  });
  checks.push({
    name: 'predictions:max_abs_diff',
    passed: worst <= tolerances.score,
    value: worst,
    limit: tolerances.score,
    detail: `largest |Δ probability| ${worst.toExponential(3)}${worstKey ? ` (row ${worstKey.replace(/\u001f/g, ' / ')})` : ''}`,
  });
  return checks;
}

export interface GoldenRequest {
  runId: string;
  version?: number;
  /** A locked run to compare against (at its locked version), or a reference (parsed from a file or a request). */
  against: { runId: string } | { reference: unknown; name: string };
  tolerances?: Partial<GoldenTolerances>;
}

/**
 * Runs a golden comparison as a user (golden_comparison: MODELER, VALIDATOR, ADMIN; checked before anything is
 * read). A reference run must be locked: a golden reference does not move. The report is audited as
 * `golden_comparison` (status success when it passed, failure when not) before it is written to
 * `<run>/golden/<id>.json`.
 */
export async function goldenComparisonAs(credential: Credential, request: GoldenRequest): Promise<GoldenReport> {
  const runId = assertRunId(request.runId);
  const actor = await authorize(credential, 'golden_comparison', { type: 'run', id: runId });
  const tolerances = goldenTolerancesSchema.parse(request.tolerances ?? {});
  let reference: GoldenReference;
  let origin: GoldenReport['reference']['kind'];
  if ('runId' in request.against) {
    const againstId = assertRunId(request.against.runId);
    const lock = await readLock(await resolveRunDir(againstId));
    if (!lock)
      throw new RunStateError(`run ${againstId} is not locked: a golden reference must be a locked run (or a file)`);
    reference = await goldenReferenceOf(againstId, lock.version);
    origin = 'run';
  } else {
    const parsed = goldenReferenceSchema.safeParse(request.against.reference);
    if (!parsed.success)
      throw new InputError(
        `${request.against.name} is not a golden reference: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      );
    reference = parsed.data;
    origin = 'file';
  }
  const candidate = await goldenReferenceOf(runId, request.version);
  const checks = compareToGolden(candidate, reference, tolerances);
  const report = goldenReportSchema.parse({
    format: 'access-perm/golden-report@1',
    id: `g-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`,
    runId,
    version: candidate.source!.version,
    model_sha256: candidate.model_sha256,
    reference: {
      kind: origin,
      runId: reference.source?.runId ?? null,
      version: reference.source?.version ?? null,
      sha256: sha256Hex(canonicalJson(reference)),
      model_sha256: reference.model_sha256,
    },
    tolerances,
    checks,
    passed: checks.every((c) => c.passed),
    by: { userId: actor.userId, role: actor.role },
    at: new Date().toISOString(),
  });
  // Signed for its place, like the lifecycle's records: a report written or edited by hand is refused where shown.
  const path = join(await resolveRunDir(runId), GOLDEN_DIR, `${report.id}.json`);
  const text = await signedRunRecordText(path, report);
  await writeFileAfter(path, text, () =>
    appendAudit({
      ...actorFields(actor),
      action: 'golden_comparison',
      resource_type: 'run',
      resource_id: runId,
      correlation_id: runId,
      status: report.passed ? 'success' : 'failure',
      source: credential.source ?? 'cli',
      result: report.passed ? 'passed' : 'failed',
      details: {
        report: `${GOLDEN_DIR}/${report.id}.json`,
        report_sha256: sha256Hex(text),
        version: report.version,
        reference: report.reference,
        failed: checks.filter((c) => !c.passed).map((c) => c.name),
      },
    }),
  );
  return report;
}

/** A golden reference exported from a run version, for later comparisons (golden_comparison). */
export async function exportGoldenReferenceAs(
  credential: Credential,
  runId: string,
  version?: number,
): Promise<GoldenReference> {
  await authorize(credential, 'golden_comparison', { type: 'run', id: assertRunId(runId) });
  return goldenReferenceOf(runId, version);
}

/**
 * A run's validation results, readable by every role (view_reproducibility): its reproducibility tests and its
 * golden comparison reports, oldest first.
 */
export async function validationResultsAs(credential: Credential, runId: string) {
  await authorize(credential, 'view_reproducibility', { type: 'run', id: assertRunId(runId) });
  const runDir = await resolveRunDir(runId);
  const reports = (await listRunFiles(runDir, GOLDEN_DIR)).filter((p) => p.endsWith('.json'));
  const golden = await Promise.all(
    reports.map(async (p) => goldenReportSchema.parse(await readRunRecord(join(runDir, p)))),
  );
  const reproducibility = (await reproductions(runDir)).map((r) => ({
    name: r.name,
    version: r.request.version,
    requestedBy: r.request.by,
    at: r.request.at,
    result: r.result,
    failed: r.failed,
  }));
  return { runId, reproducibility, golden };
}
