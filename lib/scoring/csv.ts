import { open, rename, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../data/duck';
import { fileExists, RAW_TABLES } from '../data/raw';
import { InputError } from '../errors';
import { refuseLinksInDataDir } from '../paths';
import type { RequestFeatures, ScoreRequest } from './features';
import type { RowExplanation, ScoredRequests } from './model';

/** Rows scored per step of a file: bounds memory (a few MB of strings and typed arrays) whatever the file size. */
export const CSV_CHUNK_ROWS = 8192;
/** Chunks scored at once while the next is read: one per scoring thread of a 2-core machine, plus one. */
const CHUNKS_IN_FLIGHT = 3;

/**
 * What scoring a payload CSV needs of a model: a chunk's features, their scores, and explanations. A run's model
 * builds features from its tables; a remote API's scorer sends the requests themselves.
 */
export interface ChunkScorer<F = RequestFeatures> {
  features(requests: readonly ScoreRequest[]): Promise<F>;
  scoreFeatures(features: F): Promise<ScoredRequests>;
  explain(features: F, top: number): Promise<RowExplanation[]>;
}

/** One chunk of a scored CSV file. */
export interface ScoredChunk<F = RequestFeatures> {
  /** Index of the chunk's first data row in the file (0 = the row after the header). */
  firstRow: number;
  requests: ScoreRequest[];
  features: F;
  scored: ScoredRequests;
  /** With `explainTop` > 0: each row's largest SHAP contributions. */
  explanations?: RowExplanation[];
}

export interface CsvScoringOptions {
  chunkRows?: number;
  /** Explain each row with its this-many largest SHAP contributions (0: no explanations). */
  explainTop?: number;
  /** Called after each chunk with the rows scored so far and the file's row count. */
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  /**
   * Called once every row is written, before the output is put in place (the batch's audit entry): when it fails,
   * no output is left behind.
   */
  beforeCommit?: (summary: CsvScoringSummary) => Promise<void>;
}

/** The column names of a CSV's header line (quoted names unquoted). */
export async function headerOf(path: string): Promise<string[]> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      return line
        .replace(/^\uFEFF/, '')
        .split(',')
        .map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    }
    return [];
  } finally {
    lines.close();
  }
}

/**
 * A streaming scan of a payload CSV with the header's columns declared (every one VARCHAR) instead of sniffed, so a
 * ragged or badly quoted line fails with its line number wherever it is in the file.
 */
export function payloadScan(path: string, columns: readonly string[]): string {
  const declared = columns.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ');
  return `read_csv(${sqlString(path)}, auto_detect = false, header = true, columns = {${declared}}, delim = ',', quote = '"', escape = '"', strict_mode = true, null_padding = false)`;
}

/** DuckDB's CSV error as one line naming the file and, when DuckDB says it, the line. */
export function malformed(path: string, e: unknown): InputError {
  const text = (e as Error).message;
  const line = /CSV Error on Line: (\d+)/.exec(text)?.[1];
  const why =
    /Expected Number of Columns: \d+ Found: \d+/.exec(text)?.[0] ??
    /unterminated quote/i.exec(text)?.[0] ??
    text.split('\n')[0]!.replace(/^Invalid Input Error: /, '');
  return new InputError(`${path}${line ? ` line ${line}` : ''}: malformed CSV — ${why}`);
}

/**
 * Streams a scoring payload CSV (header with userId and appId; other columns ignored) through the model, chunk by
 * chunk, in bounded memory. The payload contract is checked as rows arrive: a missing column, an empty id or a
 * structurally broken line stops the scan with an InputError naming the file, the line and the column.
 */
export async function scoreCsvChunks<F>(
  model: ChunkScorer<F>,
  path: string,
  onChunk: (chunk: ScoredChunk<F>) => Promise<void> | void,
  options: CsvScoringOptions = {},
): Promise<{ rows: number }> {
  if (!(await fileExists(path))) throw new InputError(`${path}: file not found`);
  const chunkRows = options.chunkRows ?? CSV_CHUNK_ROWS;
  const names = await headerOf(path);
  const missing = RAW_TABLES.submission.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new InputError(`${path} line 1: missing column ${missing.join(', ')} (the header has ${names.join(', ')})`);
  }
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  let done = 0;
  try {
    // A first pass checks the structure of the whole file and counts its rows: a streamed read that hits a broken
    // line ends early without an error in @duckdb/node-api, so the stream below is only trusted for a valid file.
    const total = await conn
      .runAndReadAll(`SELECT count(*) AS n FROM ${payloadScan(path, names)}`)
      .then((r) => Number(r.getRowObjectsJS()[0]!.n))
      .catch((e: unknown) => {
        throw malformed(path, e);
      });
    if (total === 0) throw new InputError(`${path}: no rows to score (the payload contract needs at least one)`);
    const result = await conn.stream(`SELECT userId, appId FROM ${payloadScan(path, names)}`);
    const pending: ScoreRequest[] = [];
    let queuedRows = 0;
    // Chunks being scored: their model calls run (in the scoring threads, when the model has them) while the next
    // chunk is read and its features built; they reach onChunk in file order, at most CHUNKS_IN_FLIGHT at once.
    // Each step awaits the one before it, so the newest step settles last.
    const inFlight: Array<Promise<void>> = [];
    const flush = async (requests: ScoreRequest[]): Promise<void> => {
      const features = await model.features(requests);
      const scoring = model.scoreFeatures(features);
      const firstRow = queuedRows;
      queuedRows += requests.length;
      const before = inFlight.at(-1);
      const step = (async () => {
        const scored = await scoring;
        if (before) await before;
        const explanations = options.explainTop ? await model.explain(features, options.explainTop) : undefined;
        await onChunk({ firstRow, requests, features, scored, ...(explanations ? { explanations } : {}) });
        done += requests.length;
        options.onProgress?.(done, total);
      })();
      // Handled here so a failure is not reported as unhandled before the next flush (or the end) awaits it.
      step.catch(() => undefined);
      inFlight.push(step);
      if (inFlight.length >= CHUNKS_IN_FLIGHT) await inFlight.shift();
    };
    try {
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const users = chunk.getColumnVector(0);
        const apps = chunk.getColumnVector(1);
        for (let i = 0; i < chunk.rowCount; i++) {
          const userId = users.getItem(i);
          const appId = apps.getItem(i);
          // Header is line 1; data row r (0-based) is line r + 2 when no field spans lines.
          const line = queuedRows + pending.length + 2;
          if (typeof userId !== 'string' || userId.trim() === '') {
            throw new InputError(`${path} line ${line}: column userId is empty`);
          }
          if (typeof appId !== 'string' || appId.trim() === '') {
            throw new InputError(`${path} line ${line}: column appId is empty`);
          }
          pending.push({ userId, appId });
        }
        while (pending.length >= chunkRows) await flush(pending.splice(0, chunkRows));
      }
      if (pending.length > 0) await flush(pending);
    } catch (e) {
      // A bad line stops the scan: let the chunk in flight finish before the caller discards the output.
      await inFlight.at(-1)?.catch(() => undefined);
      throw e;
    }
    await inFlight.at(-1);
    if (done !== total) throw new InputError(`${path}: read ${done} of ${total} rows; was the file changed meanwhile?`);
    return { rows: done };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** One CSV field, quoted when it holds a comma, quote or line break. */
export const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** Output columns of `access-perm score`; `--explain K` appends top<i>_feature, top<i>_value, top<i>_shap. */
export const PREDICTION_COLUMNS = ['userId', 'appId', 'approval_probability', 'predicted_label'] as const;

export interface CsvScoringSummary {
  rows: number;
  approved: number;
  unknownUsers: number;
  unknownApps: number;
  seconds: number;
}

/**
 * Writes `output` through a temporary file next to it (owner-only until it is complete), flushed and renamed once
 * `produce` and then `beforeCommit` resolve, so a failure of either leaves no partial file behind; refuses to
 * overwrite the input.
 */
export async function writeOutputAtomically<T>(
  input: string,
  output: string,
  produce: (write: (text: string) => Promise<unknown>) => Promise<T>,
  beforeCommit?: (result: T) => Promise<void>,
): Promise<T> {
  if (resolve(input) === resolve(output)) throw new InputError(`--output must differ from --input (${input})`);
  const tmp = `${output}.tmp-${process.pid}-${Date.now()}`;
  // An output inside the data directory is reached through no link (the temp file is exclusive, the rename replaces).
  await refuseLinksInDataDir(output);
  const out = await open(tmp, 'wx', 0o600);
  try {
    const result = await produce((text) => out.write(text));
    await out.sync();
    await out.chmod(0o644);
    await out.close();
    await beforeCommit?.(result);
    await rename(tmp, output);
    return result;
  } catch (e) {
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Scores `input` into `output` (predictions CSV), atomically (writeOutputAtomically). */
export async function scoreCsvFile<F>(
  model: ChunkScorer<F>,
  input: string,
  output: string,
  options: CsvScoringOptions = {},
): Promise<CsvScoringSummary> {
  const started = performance.now();
  const top = options.explainTop ?? 0;
  const header: string[] = [...PREDICTION_COLUMNS];
  for (let k = 1; k <= top; k++) header.push(`top${k}_feature`, `top${k}_value`, `top${k}_shap`);
  const summary = { rows: 0, approved: 0, unknownUsers: 0, unknownApps: 0 };
  const done = (): CsvScoringSummary => ({ ...summary, seconds: (performance.now() - started) / 1000 });
  await writeOutputAtomically(
    input,
    output,
    async (write) => {
      await write(`${header.join(',')}\n`);
      await scoreCsvChunks(
        model,
        input,
        async ({ requests, scored, explanations }) => {
          const lines: string[] = new Array(requests.length);
          for (let i = 0; i < requests.length; i++) {
            const r = requests[i]!;
            let line = `${csvField(r.userId)},${csvField(r.appId)},${scored.probability[i]!.toFixed(6)},${scored.label[i]}`;
            if (explanations) {
              const cs = explanations[i]!.contributions;
              for (let k = 0; k < top; k++) {
                const c = cs[k];
                line += c ? `,${c.feature},${csvField(String(c.value ?? ''))},${c.shap.toFixed(6)}` : ',,,';
              }
            }
            lines[i] = line;
            summary.approved += scored.label[i]!;
            summary.unknownUsers += scored.unknownUser[i]!;
            summary.unknownApps += scored.unknownApp[i]!;
          }
          summary.rows += requests.length;
          await write(`${lines.join('\n')}\n`);
        },
        options,
      );
    },
    async () => options.beforeCommit?.(done()),
  );
  return done();
}
