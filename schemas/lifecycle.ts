import { z } from 'zod';
import { capabilitySchema, type Permission, type Role } from './governance';

/**
 * The run lifecycle (issue 6, seed-3 §3 and §5): overrides, validator reviews, reproducibility and the lock, as
 * the durable state of the `runLifecycle` entity workflow. Pure zod, no Node imports: the workflow imports it.
 */

/** Workflow id of a run's lifecycle. */
export const lifecycleWorkflowId = (runId: string): string => `lifecycle-${runId}`;
/** Workflow id of the child that builds model version `version` of a run (it owns the version's folder). */
export const versionBuildWorkflowId = (runId: string, version: number): string => `${runId}-v${version}`;
/** Workflow id of the child that runs reproducibility test `repro` of a run (it owns the reproduction's folder). */
export const reproductionWorkflowId = (runId: string, repro: string): string => `${runId}-repro-${repro}`;

export const RUN_STATUSES = ['trained', 'manual_override_pending_review', 'approved', 'rejected', 'locked'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

// ---------------------------------------------------------------------------------------------------------------
// Binning

/** Numeric bins: value ≤ borders[0], (borders[0], borders[1]], …, > last border; missing values get their own bin. */
export const numericBinningSchema = z.strictObject({
  kind: z.literal('numeric'),
  borders: z.array(z.number().finite()).min(1, 'a numeric binning needs at least one border'),
});
/** Categorical bins: each group is one bin; categories in no group fall into the rare/other bin. */
export const categoricalBinningSchema = z.strictObject({
  kind: z.literal('categorical'),
  groups: z.array(z.array(z.string().min(1)).min(1)).min(1, 'a categorical binning needs at least one group'),
});
export const featureBinningSchema = z.discriminatedUnion('kind', [numericBinningSchema, categoricalBinningSchema]);
export type FeatureBinning = z.infer<typeof featureBinningSchema>;

export interface Bin {
  id: number;
  label: string;
  count: number;
  approvals: number;
  approvalRate: number;
  woe: number;
  iv: number;
}

export interface BinningTable {
  feature: string;
  kind: 'numeric' | 'categorical';
  binning: FeatureBinning;
  /** Whether the binning came from the data (auto) or from an approved override. */
  source: 'auto' | 'override';
  /** Information value of the feature: sum of the bins' IV. */
  iv: number;
  bins: Bin[];
}

// ---------------------------------------------------------------------------------------------------------------
// Overrides (seed-3 §3)

const reason = z.string().trim().min(1, 'a reason is required (seed-3 §3: mandatory, not empty)').max(2000);
const feature = z.string().min(1).max(100);

export const overrideChangeSchema = z.discriminatedUnion('kind', [
  /** New borders (numeric) or groups (categorical) for one feature. */
  z.strictObject({ kind: z.literal('bin_override'), feature, binning: featureBinningSchema }),
  /**
   * Regenerate one feature's bins automatically (seed-3 "auto-generate bins", allowed to ANALYST): numeric borders
   * at quantiles, at most `max_bins` bins; categorical groups, categories with fewer than `min_share` of the rows
   * in the other bin. Defaults: 5 bins; max(30 rows, 0.5%).
   */
  z.strictObject({
    kind: z.literal('auto_bins'),
    feature,
    max_bins: z.number().int().min(2).max(20).optional(),
    min_share: z.number().gt(0).max(0.5).optional(),
  }),
  /** Merge bins of one feature by id (numeric: adjacent bins; categorical: any groups). */
  z.strictObject({
    kind: z.literal('merge_bins'),
    feature,
    bins: z.array(z.number().int().nonnegative()).min(2, 'name at least two bins to merge'),
  }),
  /** A monotone constraint on a numeric feature, enforced by the trainer. */
  z.strictObject({
    kind: z.literal('enforce_monotonicity'),
    feature,
    direction: z.union([z.literal(1), z.literal(-1)]),
  }),
  /** Features no tree may split on (they stay model inputs). */
  z.strictObject({ kind: z.literal('feature_selection'), ignored: z.array(feature).max(20) }),
  /** Regularisation parameters of the trainer (CatBoost names). */
  z.strictObject({
    kind: z.literal('regularization'),
    params: z
      .strictObject({
        l2_leaf_reg: z.number().min(0).max(1000).optional(),
        depth: z.number().int().min(1).max(10).optional(),
        random_strength: z.number().min(0).max(100).optional(),
        model_size_reg: z.number().min(0).max(100).optional(),
      })
      .refine((p) => Object.keys(p).length > 0, 'name at least one parameter'),
  }),
  /** The decision threshold (score scaling of the approve/deny cut). */
  z.strictObject({ kind: z.literal('threshold'), threshold: z.number().gt(0).lt(1) }),
]);
export type OverrideChange = z.infer<typeof overrideChangeSchema>;
export type OverrideKind = OverrideChange['kind'];

/** The permission each kind of override needs (seed-3 §2 matrix rows). */
export const OVERRIDE_PERMISSION: Record<OverrideKind, Permission> = {
  bin_override: 'binning_override',
  auto_bins: 'auto_generate_bins',
  merge_bins: 'merge_bins',
  enforce_monotonicity: 'enforce_monotonicity',
  feature_selection: 'binning_override',
  regularization: 'adjust_regularization',
  threshold: 'binning_override',
};

/** The audit action of each kind (governance MUTATION_ACTIONS). */
export const OVERRIDE_AUDIT_ACTION: Record<OverrideKind, string> = {
  bin_override: 'bin_override',
  auto_bins: 'auto_bins_generated',
  merge_bins: 'merge_bins',
  enforce_monotonicity: 'enforce_monotonicity',
  feature_selection: 'feature_selection_override',
  regularization: 'regularization_override',
  threshold: 'score_scaling_override',
};

/** Everything the overrides of a version say, accumulated: what a model version is trained with. */
export const overrideSpecSchema = z.strictObject({
  binning: z.record(z.string(), featureBinningSchema).default({}),
  monotone: z.record(z.string(), z.union([z.literal(1), z.literal(-1)])).default({}),
  ignored: z.array(z.string()).default([]),
  params: z.record(z.string(), z.number()).default({}),
  threshold: z.number().nullable().default(null),
});
export type OverrideSpec = z.infer<typeof overrideSpecSchema>;
export const EMPTY_OVERRIDE_SPEC: OverrideSpec = {
  binning: {},
  monotone: {},
  ignored: [],
  params: {},
  threshold: null,
};

// ---------------------------------------------------------------------------------------------------------------
// Requests: every signal and update carries a capability for exactly that request (never a token)

const capability = capabilitySchema.describe(
  'a capability for this operation, run and request: access-perm auth capability --op <operation> --run <run> --request <json>',
);

export const fileOverrideRequestSchema = z.strictObject({ capability, reason, change: overrideChangeSchema });
export const reviewRequestSchema = z.strictObject({
  capability,
  overrideId: z.string().regex(/^ov-\d{1,6}$/, 'an override id (ov-<n>)'),
  decision: z.enum(['approve', 'reject']),
  reason,
});
export const reproduceRequestSchema = z.strictObject({ capability });
export const lockRequestSchema = z.strictObject({ capability, reason });
export const approveDeploymentRequestSchema = z.strictObject({ capability, reason });
export type FileOverrideRequest = z.infer<typeof fileOverrideRequestSchema>;
export type ReviewRequest = z.infer<typeof reviewRequestSchema>;
export type ReproduceRequest = z.infer<typeof reproduceRequestSchema>;
export type LockRequest = z.infer<typeof lockRequestSchema>;
export type ApproveDeploymentRequest = z.infer<typeof approveDeploymentRequestSchema>;

/** What an update returns (a signal's outcome lands in `state.events`). */
export interface Verdict {
  ok: boolean;
  operation: string;
  message: string;
  /** PermissionDeniedError, AuthenticationError, RunLockedError, InvalidRequest, … when refused. */
  error?: string;
  /** seed-3 §8 body of a permission denial. */
  denial?: Record<string, unknown>;
  overrideId?: string;
  status: RunStatus;
}

// ---------------------------------------------------------------------------------------------------------------
// State

export interface Actor {
  userId: string;
  role: Role;
  temporaryRole?: boolean;
}

export interface ModelVersion {
  version: number;
  modelSha256: string | null;
  rocAuc: number | null;
  threshold: number | null;
  createdAt: string;
  /** The override that produced it (none for version 1). */
  overrideId: string | null;
}

export interface Review {
  decision: 'approve' | 'reject';
  by: Actor;
  reason: string;
  at: string;
  /** Set when an ANALYST approved through a MODELER's delegation: both people are recorded. */
  delegatedBy?: string;
  delegationId?: string;
  /** The workflow execution and step whose capability made the change (a retried activity recognises its own). */
  claim?: string;
}

export interface OverrideRecord {
  id: string;
  change: OverrideChange;
  reason: string;
  requestedBy: Actor;
  requestedAt: string;
  before: unknown;
  after: unknown;
  /** The model version it produces. */
  version: number;
  status: 'retraining' | 'pending_review' | 'approved' | 'rejected' | 'failed';
  error?: string;
  review?: Review;
  /** The workflow execution and step whose capability filed it. */
  claim?: string;
}

export interface ReproducibilityResult {
  passed: boolean;
  version: number;
  by: Actor;
  at: string;
  checks: { name: string; passed: boolean; expected: string; actual: string }[];
  artifact: string;
}

export interface LockRecord {
  locked_by: string;
  locked_at: string;
  reason: string;
  deployment_approved: boolean;
  version: number;
  /** The workflow execution and step whose capability locked the run. */
  claim?: string;
}

/** One thing that happened to the run through a signal or update: accepted, refused or denied. */
export interface LifecycleEvent {
  at: string;
  operation: string;
  userId: string | null;
  outcome: 'accepted' | 'refused' | 'denied' | 'completed' | 'failed';
  message: string;
}

/** What a run's records say about its lifecycle (lib/run/lifecycle.ts): the truth the workflow's state copies. */
export interface LifecycleView {
  runId: string;
  ownerId: string;
  status: RunStatus;
  /** The version reviews, reproducibility, lock and deployment apply to (the latest). */
  currentVersion: number;
  versions: ModelVersion[];
  overrides: OverrideRecord[];
  reproducibility: ReproducibilityResult | null;
  lock: LockRecord | null;
  deployment: { approvedBy: string; at: string; reason: string } | null;
  /** A background job (retraining or reproducibility) in progress. */
  job: { kind: 'retrain' | 'reproduce'; startedAt: string; detail: string } | null;
}

/** What the workflow carries besides the records: what happened through its signals and updates. */
export interface LifecycleJournal {
  /** Denials (permission, authentication, locked run), newest last; capped. */
  denials: (LifecycleEvent & { permission?: string })[];
  /** Recent events, newest last; capped (the audit log has them all). */
  events: LifecycleEvent[];
  /** How many times the workflow continued as new. */
  generation: number;
}

/** The state the `state` query returns: the records' view and the journal. */
export type LifecycleState = LifecycleView & LifecycleJournal;

export const lifecycleInputSchema = z.strictObject({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id'),
  /** History length after which the workflow continues as new even if the server does not suggest it. */
  historyLimit: z.number().int().min(50).optional(),
  /**
   * The journal carried when continuing as new; taken only from the workflow's own continuation (the server marks
   * it), never from a start: the lifecycle's state always comes from the run's records.
   */
  journal: z.custom<LifecycleJournal>().optional(),
});
export type LifecycleInput = z.infer<typeof lifecycleInputSchema>;
