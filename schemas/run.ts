import { z } from 'zod';
import { registeredConfigRefSchema } from './configs';
import { capabilitySchema } from './governance';

/** One content-addressed file of a run, path relative to the run folder. */
export const artifactRefSchema = z.object({
  path: z.string(),
  role: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

export const manifestSchema = z.object({
  format: z.literal('access-perm/manifest@1'),
  runId: z.string(),
  configPath: z.string(),
  configHash: z.string(),
  dataHash: z.string(),
  createdAt: z.string(),
  /** Where the manifest lies in its run folder: '.', `versions/v<n>` or `repro/<name>` (absent before signing). */
  folder: z.string().optional(),
  artifacts: z.array(artifactRefSchema),
});
export type RunManifest = z.infer<typeof manifestSchema>;

/** `run.json`: who started the run (proven by token when it was prepared) and what it was trained on. */
export const runInfoSchema = z.object({
  runId: z.string(),
  createdBy: z.object({ userId: z.string(), role: z.string(), temporaryRole: z.boolean() }),
  configPath: z.string(),
  configHash: z.string(),
  dataHash: z.string(),
  /** sha256 of every input file, by table. */
  dataFiles: z.record(z.string(), z.string()),
  startedAt: z.string(),
  /** The registered config (id, version, sha256 of the file) the run started from, when it did. */
  registeredConfig: registeredConfigRefSchema.optional(),
});
export type RunInfo = z.infer<typeof runInfoSchema>;

/**
 * A folder of a run as Temporal payloads name it: ids only, never a path (the worker resolves the folder inside its
 * data directory). No version and no reproduction: the run folder itself.
 */
export const runRefSchema = z.strictObject({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id'),
  /** A model version built by an override (2, 3, …); version 1 is the run itself. */
  version: z.number().int().min(2).optional(),
  /** A reproduction's name (`v<version>-<12 hex>`, or `v<version>-g<n>-h<n>` for older ones). */
  repro: z
    .string()
    .regex(/^v\d+-([0-9a-f]{12}|g\d+-h\d+)$/)
    .optional(),
});
export type RunRef = z.infer<typeof runRefSchema>;

/** Steps of the training pipeline, in order; `progress` reports one of these. */
export const PIPELINE_STEPS = [
  'prepare',
  'validate',
  'features',
  'train',
  'evaluate',
  'monitoringBaseline',
  'manifest',
] as const;
export type PipelineStep = (typeof PIPELINE_STEPS)[number];

/** Input of the `trainingPipeline` workflow; the workflow id is the run id. */
export const pipelineInputSchema = z
  .object({
    /** Path of the YAML config, absolute or relative to the worker's working directory. */
    configPath: z.string().min(1).max(4096),
    /**
     * A `createRun` capability for this run id and config path (access-perm issues it to a token holder; tokens never
     * travel through Temporal), checked for `create_run` before anything runs.
     */
    capability: capabilitySchema,
  })
  .strict();
export type PipelineInput = z.infer<typeof pipelineInputSchema>;

export interface FoldSummary {
  fold: number;
  trainRows: number;
  validRows: number;
  rocAuc: number;
  logloss: number;
  bestIteration: number;
  /** Time spent fitting the fold's model. */
  seconds: number;
}

export interface MetricsSummary {
  rocAuc: number;
  prAuc: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  tpr: number;
  fpr: number;
  logloss: number;
  brier: number;
  threshold: number;
  thresholdStrategy: string;
  rows: number;
  positiveRate: number;
}

/** How a training run ended without a manifest: written by the pipeline's last step (`end.json`). */
export const runEndSchema = z.strictObject({
  state: z.enum(['failed', 'cancelled']),
  /** The step it ended in. */
  step: z.enum(PIPELINE_STEPS),
  /** The failure, or for a cancellation what the run was doing. */
  error: z.string().max(2000),
  at: z.string(),
});
export type RunEnd = z.infer<typeof runEndSchema>;

/**
 * A run's true state, from its records: the training (running, completed, failed, cancelled), then, once it
 * completed, its review lifecycle (pending review, approved, rejected, locked, deployed); `deleted` once its
 * artifacts were removed and only the tombstone is left.
 */
export const RUN_STATES = [
  'running',
  'failed',
  'cancelled',
  'completed',
  'pending_review',
  'approved',
  'rejected',
  'locked',
  'deployed',
  'deleted',
] as const;
export type RunState = (typeof RUN_STATES)[number];

/**
 * `tombstone.json`, all that is left of a deleted run: who deleted it, when and why, the state it was in, and its
 * run record and manifest with every artifact's sha256 (what was removed can still be named and checked against a
 * backup). Signed with the keyring's key.
 */
export const tombstoneSchema = z.strictObject({
  format: z.literal('access-perm/tombstone@1'),
  runId: z.string(),
  deleted_by: z.strictObject({ userId: z.string(), role: z.string(), temporaryRole: z.boolean() }),
  deleted_at: z.string(),
  reason: z.string().min(1),
  state_before: z.enum(RUN_STATES),
  info: runInfoSchema,
  manifest: manifestSchema.nullable(),
  /** What was removed: files and bytes below the run folder. */
  removed: z.strictObject({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
});
export type Tombstone = z.infer<typeof tombstoneSchema>;

/** What the `progress` query returns. */
export interface PipelineProgress {
  runId: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  step: PipelineStep;
  stepIndex: number;
  steps: readonly PipelineStep[];
  /** Folds finished out of the total, during `train`. */
  folds: { done: number; total: number };
  message: string;
  error?: string;
}

/** The workflow's result: small, ids and figures only. */
export interface PipelineResult {
  runId: string;
  metrics: MetricsSummary;
  folds: FoldSummary[];
  rows: number;
}
