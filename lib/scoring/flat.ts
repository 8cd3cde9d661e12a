/**
 * Batch scoring for flat-mode runs: a CSV holding the run's declared feature columns (and its id columns) is scored
 * by the run's ONNX graph, with the training SQL's feature expressions (flatInputsSql) and the version's category
 * groups, streamed chunk by chunk and written atomically (lib/scoring/csv.ts).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { FlatDataConfig } from '../../schemas/config';
import type { OverrideSpec } from '../../schemas/lifecycle';
import { versionFeatureSql } from '../binning';
import { queryRows, sqlIdent } from '../data/duck';
import { fileExists } from '../data/raw';
import { InputError } from '../errors';
import { flatInputsSql } from '../features';
import { type OnnxInputSpec } from '../gbdt';
import { createOnnxScorer, type OnnxColumns, type OnnxScorer } from '../gbdt/onnx';
import { readRunConfig, resolveRunDir } from '../run';
import { CSV_CHUNK_ROWS, csvField, headerOf, malformed, payloadScan, writeOutputAtomically } from './csv';
import { RunNotScorableError } from './errors';
import { openScoredArtifacts, type OpenRunModelOptions, type RunLockSummary } from './model';

/** Output columns after the run's id columns. */
export const FLAT_PREDICTION_COLUMNS = ['approval_probability', 'predicted_label'] as const;

/**
 * A flat-mode run's model, opened for scoring: ONNX session, threshold and the declared columns. Obtain with
 * `openFlatRunModel`; `close()` releases the native session.
 */
export class FlatRunModel {
  constructor(
    readonly runId: string,
    readonly version: number,
    readonly modelSha256: string,
    readonly threshold: number,
    readonly lock: RunLockSummary | null,
    /** The run's data block: declared columns, id columns. */
    readonly data: FlatDataConfig,
    readonly sentinel: string,
    /** Share of a numeric column's non-empty values that must parse (the training table's `expectations.mostly`). */
    readonly mostly: number,
    /** The scored version's override spec: its category groups rewrite the features as in its training table. */
    readonly spec: Pick<OverrideSpec, 'binning'>,
    private readonly scorer: OnnxScorer,
  ) {}

  /** Model inputs (name, string or double), in graph order. */
  get inputs(): readonly OnnxInputSpec[] {
    return this.scorer.inputs;
  }

  /** Probabilities and decisions (probability ≥ threshold) for model input columns. */
  async score(columns: OnnxColumns, rows: number): Promise<{ probability: Float32Array; label: Uint8Array }> {
    const probability = rows === 0 ? new Float32Array(0) : await this.scorer.score(columns);
    const label = new Uint8Array(probability.length);
    for (let i = 0; i < probability.length; i++) label[i] = probability[i]! >= this.threshold ? 1 : 0;
    return { probability, label };
  }

  async close(): Promise<void> {
    await this.scorer.close();
  }
}

/** Whether a run folder's config is flat mode (false for anything unreadable: openRunModel then says why). */
export async function isFlatModeRun(runId: string): Promise<boolean> {
  const config = await readRunConfig(await resolveRunDir(runId)).catch(() => null);
  return config?.data.mode === 'flat';
}

/**
 * Opens a completed flat-mode run for batch scoring, verified as openScoredArtifacts describes.
 * @throws RunNotScorableError for a seed-mode run (scored from {userId, appId}: openRunModel), and what
 *   openScoredArtifacts throws.
 */
export async function openFlatRunModel(runId: string, options: OpenRunModelOptions = {}): Promise<FlatRunModel> {
  const a = await openScoredArtifacts(runId, options);
  if (a.config.data.mode !== 'flat')
    throw new RunNotScorableError(`run ${runId} is a seed-mode run: it scores {userId, appId} requests (openRunModel)`);
  const scorer = await createOnnxScorer(a.onnx, { intraOpThreads: options.intraOpThreads ?? 1 });
  return new FlatRunModel(
    runId,
    a.version,
    a.modelSha256,
    a.threshold,
    a.lock,
    a.config.data,
    a.config.features.sentinel,
    a.config.validation.expectations.mostly,
    a.spec,
    scorer,
  );
}

export interface FlatScoringOptions {
  chunkRows?: number;
  /** Called after each chunk with the rows scored so far and the file's row count. */
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  /** Called once every row is written, before the output is put in place; when it fails, no output is left. */
  beforeCommit?: (summary: FlatScoringSummary) => Promise<void>;
}

export interface FlatScoringSummary {
  rows: number;
  approved: number;
  seconds: number;
}

/** The columns a flat scoring input must have: the declared features and the id columns (label and group optional). */
function requiredColumns(data: FlatDataConfig): Array<[string, string]> {
  const keys = new Map<string, string>();
  for (const [key, columns] of [
    ['data.categorical', data.categorical],
    ['data.numeric', data.numeric],
    ['data.id_columns', data.id_columns],
  ] as const)
    for (const c of columns) if (!keys.has(c)) keys.set(c, key);
  return [...keys];
}

/**
 * The numeric contract of the training table, applied to the input: each numeric column parses (as DOUBLE) for at
 * least `mostly` of its non-empty values, the rest scoring as missing like unparseable training values did. A column
 * below that fails with its first offending lines (the header is line 1).
 */
async function checkNumerics(conn: DuckDBConnection, model: FlatRunModel, path: string, scan: string): Promise<void> {
  const numeric = model.data.numeric;
  if (numeric.length === 0) return;
  const given = (c: string) => `nullif(trim(${sqlIdent(c)}), '') IS NOT NULL`;
  const bad = (c: string) => `${given(c)} AND TRY_CAST(trim(${sqlIdent(c)}) AS DOUBLE) IS NULL`;
  const parts = numeric.flatMap((c, i) => [
    `count(*) FILTER (WHERE ${given(c)}) AS n${i}`,
    `count(*) FILTER (WHERE ${bad(c)}) AS bad${i}`,
  ]);
  const [counts] = await queryRows(conn, `SELECT ${parts.join(', ')} FROM ${scan}`);
  for (const [i, column] of numeric.entries()) {
    const n = Number(counts?.[`n${i}`] ?? 0);
    const unparsed = Number(counts?.[`bad${i}`] ?? 0);
    if (n === 0 || (n - unparsed) / n >= model.mostly) continue;
    // Lines come from the scan's order (single-threaded, as the stream below reads it).
    const stream = await conn.stream(`SELECT trim(${sqlIdent(column)}) AS v, ${bad(column)} AS bad FROM ${scan}`);
    const examples: string[] = [];
    for (let line = 2; examples.length < 3;) {
      const chunk = await stream.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const [values, flags] = chunk.getColumns();
      for (let r = 0; r < chunk.rowCount && examples.length < 3; r++, line++)
        if (flags![r] === true) examples.push(`line ${line}: ${JSON.stringify(values![r])}`);
    }
    throw new InputError(
      `${path}: column ${column} (data.numeric) is not numeric: ${unparsed} of ${n} non-empty values do not parse as numbers (the run's contract allows ${Math.round((1 - model.mostly) * 100)}%) — ${examples.join(', ')}`,
    );
  }
}

/**
 * Scores a CSV of a flat run's declared columns into `output`: the run's id columns, approval_probability,
 * predicted_label, one line per input row in input order. The input is checked before anything is scored (a missing
 * column, a malformed line, a numeric column that does not parse: an InputError naming the column and line) and the
 * output is written atomically. Categories training never saw take the model's unseen-category path.
 */
export async function scoreFlatCsvFile(
  model: FlatRunModel,
  input: string,
  output: string,
  options: FlatScoringOptions = {},
): Promise<FlatScoringSummary> {
  const started = performance.now();
  if (!(await fileExists(input))) throw new InputError(`${input}: file not found`);
  const data = model.data;
  const names = await headerOf(input);
  const missing = requiredColumns(data).filter(([c]) => !names.includes(c));
  if (missing.length > 0)
    throw new InputError(
      `${input} line 1: missing column ${missing.map(([c, key]) => `${c} (${key})`).join(', ')} (the header has ${names.join(', ')})`,
    );
  const chunkRows = options.chunkRows ?? CSV_CHUNK_ROWS;
  const scan = payloadScan(input, names);
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  try {
    const total = await queryRows(conn, `SELECT count(*) AS n FROM ${scan}`)
      .then((r) => Number(r[0]?.n ?? 0))
      .catch((e: unknown) => {
        throw malformed(input, e);
      });
    if (total === 0) throw new InputError(`${input}: no rows to score`);
    await checkNumerics(conn, model, input, scan);
    // Ids are carried as written; features go through the training expressions and the version's groups.
    const ids = data.id_columns.map((c, i) => `r.${sqlIdent(c)} AS ${sqlIdent(`__id${i}`)}`);
    const features = versionFeatureSql(
      `(SELECT ${[...ids, ...flatInputsSql(data, model.sentinel)].join(', ')} FROM ${scan} r) f`,
      model.spec,
    );
    const inputs = model.inputs;
    const summary = { rows: 0, approved: 0 };
    const done = (): FlatScoringSummary => ({ ...summary, seconds: (performance.now() - started) / 1000 });
    await writeOutputAtomically(
      input,
      output,
      async (write) => {
        await write(`${[...data.id_columns, ...FLAT_PREDICTION_COLUMNS].map(csvField).join(',')}\n`);
        const result = await conn.stream(features);
        const names = result.columnNames();
        const at = (name: string): number => {
          const i = names.indexOf(name);
          if (i < 0)
            throw new RunNotScorableError(`run ${model.runId}: the model needs input '${name}', not a declared column`);
          return i;
        };
        const idAt = data.id_columns.map((_, i) => at(`__id${i}`));
        const inputAt = inputs.map((spec) => at(spec.name));
        let pending: unknown[][] = names.map(() => []);
        const flush = async (): Promise<void> => {
          const n = pending[0]?.length ?? 0;
          if (n === 0) return;
          const columns: OnnxColumns = {};
          inputs.forEach((spec, k) => {
            const values = pending[inputAt[k]!]!;
            columns[spec.name] =
              spec.type === 'string'
                ? values.map(String)
                : Float64Array.from(values, (v) => (v === null ? Number.NaN : Number(v)));
          });
          const scored = await model.score(columns, n);
          const lines: string[] = new Array(n);
          for (let i = 0; i < n; i++) {
            const idCells = idAt.map((j) => csvField(String(pending[j]![i] ?? '')));
            lines[i] = [...idCells, scored.probability[i]!.toFixed(6), String(scored.label[i])].join(',');
            summary.approved += scored.label[i]!;
          }
          await write(`${lines.join('\n')}\n`);
          summary.rows += n;
          options.onProgress?.(summary.rows, total);
          pending = names.map(() => []);
        };
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          chunk.getColumns().forEach((values, j) => pending[j]!.push(...values));
          if ((pending[0]?.length ?? 0) >= chunkRows) await flush();
        }
        await flush();
        if (summary.rows !== total)
          throw new InputError(`${input}: read ${summary.rows} of ${total} rows; was the file changed meanwhile?`);
      },
      async () => options.beforeCommit?.(done()),
    );
    return done();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
