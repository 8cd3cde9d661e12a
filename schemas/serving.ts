import { z } from 'zod';

/** Request and log shapes of the scoring service (`access-perm serve`). Pure zod. */

/** Most rows one POST /predict may carry; larger batches belong to `access-perm score`. */
export const MAX_PREDICT_ROWS = 10_000;
/** Most rows one POST /explain may carry (exact SHAP is costlier than scoring). */
export const MAX_EXPLAIN_ROWS = 1_000;

/** Ids arrive as JSON strings or integers (the seed's ids are numeric) and are scored as strings. */
const id = z
  .union([z.string().min(1, 'must not be empty').max(256), z.number().int().nonnegative()])
  .transform((v) => String(v));

/** One request of the seed-1 payload: `{userId, appId}`, plus an optional caller id echoed in the response. */
export const predictRowSchema = z.strictObject({
  userId: id,
  appId: id,
  requestId: z.string().min(1).max(256).optional(),
});
export type PredictRow = z.output<typeof predictRowSchema>;

const requestsBody = (maxRows: number) =>
  z
    .array(predictRowSchema)
    .min(1, 'send at least one request')
    .max(maxRows, `at most ${maxRows.toLocaleString('en-US')} requests per call`);
/** Body of POST /predict. */
export const predictBodySchema = requestsBody(MAX_PREDICT_ROWS);
/** Body of POST /explain: the same rows, fewer of them. */
export const explainBodySchema = requestsBody(MAX_EXPLAIN_ROWS);

/** Query of POST /explain: how many contributions per row. */
export const explainQuerySchema = z.strictObject({
  top: z.coerce.number().int().min(1).max(50).default(3),
});

/** Upper bounds (ms) of the latency histogram buckets of the inference log; the last bucket is open-ended. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000] as const;

/**
 * One line of `<dataDir>/inference/<UTC day>.jsonl`: what the service scored during one time window, for
 * monitoring (counts, approval rate, unknown ids, latency histogram). Windows with no request are not written.
 */
export const inferenceWindowSchema = z.strictObject({
  format: z.literal('access-perm/inference-window@1'),
  window_start: z.string(),
  window_end: z.string(),
  run_id: z.string(),
  model_sha256: z.string(),
  threshold: z.number(),
  /** HTTP calls of /predict and /explain that were scored (status 200). */
  requests: z.number().int().nonnegative(),
  /** Rows scored (a call carries one or more). */
  rows: z.number().int().nonnegative(),
  approved: z.number().int().nonnegative(),
  /** approved / rows (null when no rows). */
  approval_rate: z.number().min(0).max(1).nullable(),
  mean_probability: z.number().min(0).max(1).nullable(),
  unknown_users: z.number().int().nonnegative(),
  unknown_apps: z.number().int().nonnegative(),
  /** Calls of the scoring endpoints that failed after authorization (invalid body, scoring error). */
  errors: z.number().int().nonnegative(),
  latency_ms: z.strictObject({
    /** Bucket upper bounds; `counts` has one more entry for the open-ended last bucket. */
    buckets: z.array(z.number()),
    counts: z.array(z.number().int().nonnegative()),
    max: z.number().nonnegative(),
    sum: z.number().nonnegative(),
  }),
});
export type InferenceWindow = z.infer<typeof inferenceWindowSchema>;
