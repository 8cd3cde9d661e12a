/**
 * Request and response bodies of the control-plane HTTP API (`access-perm api`). The server validates requests with
 * these schemas and the OpenAPI document is generated from them; domain records reuse their own schemas.
 */
import { z } from 'zod';
import { auditEntrySchema, auditQuerySchema, CAPABILITY_OPERATIONS, ROLES, userRecordSchema } from './governance';
import { CONFIG_VISIBILITIES, configIdSchema, configRecordSchema } from './configs';
import { goldenTolerancesSchema } from './golden';
import { windowRefSchema } from './monitoring';
import { artifactRefSchema, manifestSchema, RUN_STATES, runEndSchema, runInfoSchema, tombstoneSchema } from './run';

const runIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id');
/** Why a manual action is taken: mandatory and not blank (seed-3 §4). */
const reasonSchema = z
  .string()
  .max(2000)
  .refine((s) => s.trim().length > 0, 'a reason is required: manual actions record why (seed-3 §4)');

export const runParamsSchema = z.strictObject({ run_id: runIdSchema });
export const versionQuerySchema = z.strictObject({
  version: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe('model version (default: locked, else newest approved, else 1)'),
});
export const artifactQuerySchema = versionQuerySchema.extend({
  path: z.string().min(1).max(500).describe("the artifact's path in the version's manifest, e.g. model/model.onnx"),
});
export const reportQuerySchema = versionQuerySchema.extend({ format: z.enum(['md', 'html']).default('html') });

export const startRunBodySchema = z
  .strictObject({
    config_path: z.string().min(1).max(1000).optional().describe('a config YAML in a folder workflows may read'),
    config_id: z.string().min(1).max(80).optional().describe('a registered config, ID or ID@VERSION'),
    retrain_run: runIdSchema.optional().describe("retrain this run's stored config on the data as it is now"),
    run_id: runIdSchema.optional().describe('default: a new run-<time>-<random> id'),
  })
  .refine((b) => [b.config_path, b.config_id, b.retrain_run].filter((x) => x !== undefined).length === 1, {
    message: 'name one config: config_path, config_id or retrain_run',
  });
export const reasonBodySchema = z.strictObject({ reason: reasonSchema });

/**
 * For a run whose records say `running`: its workflow's status on the Temporal server (RUNNING; TERMINATED,
 * TIMED_OUT or NOT_FOUND when it stopped there without its end record; "unknown: …" when the server could not say).
 */
const serverStatusSchema = z.string().optional();
export const runListingSchema = z.object({
  runId: z.string(),
  startedAt: z.string().nullable(),
  state: z.enum([...RUN_STATES, 'unreadable']),
  problem: z.string().optional(),
  rocAuc: z.number().nullable(),
  accuracy: z.number().nullable(),
  serverStatus: serverStatusSchema,
});
export const runDetailsSchema = z.object({
  runId: z.string(),
  state: z.enum(RUN_STATES),
  info: runInfoSchema,
  end: runEndSchema.nullable(),
  tombstone: tombstoneSchema.nullable(),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  intervals: z.record(z.string(), z.unknown()).nullable(),
  manifest: manifestSchema.nullable(),
  serverStatus: serverStatusSchema,
});
export const startedRunSchema = z.object({
  run_id: z.string(),
  /** True when this Idempotency-Key had already started the run: nothing new was started. */
  replayed: z.boolean(),
});
export const cancelledRunSchema = z.object({
  runId: z.string(),
  stopped: z.boolean(),
  progress: z.record(z.string(), z.unknown()).nullable(),
});
export const artifactListSchema = z.object({
  runId: z.string(),
  version: z.number().int(),
  artifacts: z.array(artifactRefSchema),
});

export const settingParamsSchema = z.strictObject({ key: z.string().min(1).max(200) });
export const setSettingBodySchema = z.strictObject({
  value: z.unknown().describe('the new value as JSON (a number, a list, null, a string)'),
  reason: reasonSchema,
});
export const systemConfigSchema = z.object({
  settings: z.record(z.string(), z.unknown()),
  keys: z.array(z.object({ key: z.string(), description: z.string(), default: z.unknown(), value: z.unknown() })),
});
export const settingChangeSchema = z.object({
  key: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  changed: z.boolean(),
});

export { auditQuerySchema };
export const auditEntriesSchema = z.object({ count: z.number().int(), entries: z.array(auditEntrySchema) });

export const userParamsSchema = z.strictObject({ user_id: z.string().min(1).max(100) });
export const addUserBodySchema = z.strictObject({
  user_id: z.string().min(1).max(100),
  role: z.enum(ROLES),
  reason: reasonSchema,
});
export const assignRoleBodySchema = z.strictObject({ role: z.enum(ROLES), reason: reasonSchema });
export const elevateBodySchema = z.strictObject({
  role: z.enum(ROLES),
  hours: z.number().positive().max(720).optional(),
  reason: reasonSchema,
});
export const userViewSchema = userRecordSchema.extend({
  effectiveRole: z.enum(ROLES),
  elevationExpired: z.boolean(),
});
export const issueTokenBodySchema = z.strictObject({
  user_id: z.string().min(1).max(100),
  ttl: z.string().max(10).optional().describe('e.g. 8h, 30d (default 8h)'),
});
export const issuedTokenSchema = z.object({
  token: z.string(),
  jti: z.string(),
  userId: z.string(),
  expiresAt: z.string(),
});
export const tokenParamsSchema = z.strictObject({ jti: z.string().min(1).max(100) });
export const revokedTokenSchema = z.object({ jti: z.string(), subject: z.string().nullable() });
export const whoamiSchema = z.object({
  userId: z.string(),
  role: z.enum(ROLES),
  baseRole: z.enum(ROLES),
  temporaryRole: z.boolean().optional(),
  elevationExpiresAt: z.string().optional(),
  tokenId: z.string().optional(),
  tokenExpiresAt: z.string().optional(),
});

export const windowParamsSchema = runParamsSchema.extend({ window_id: windowRefSchema.shape.windowId });
export const overrideParamsSchema = runParamsSchema.extend({
  override_id: z.string().regex(/^ov-\d{1,6}$/, 'an override id (ov-<n>)'),
});
export const binParamsSchema = runParamsSchema.extend({ feature: z.string().min(1).max(100) });
export const reviewBodySchema = z.strictObject({ decision: z.enum(['approve', 'reject']), reason: reasonSchema });
/** A lifecycle workflow's answer: what it did, and the run's review status after it. */
export const verdictSchema = z.object({
  ok: z.boolean(),
  operation: z.string(),
  message: z.string(),
  overrideId: z.string().optional(),
  status: z.string(),
});
/** The run's lifecycle as its workflow holds it (versions, overrides, reviews, reproducibility, lock, journal). */
export const lifecycleStateSchema = z.looseObject({ runId: z.string(), status: z.string() });

export const goldenBodySchema = z
  .strictObject({
    version: z.number().int().min(1).optional(),
    against_run: runIdSchema.optional().describe('a locked run, compared at its locked version'),
    reference: z.unknown().optional().describe('a golden reference (the JSON of GET …/golden-reference)'),
    tolerances: goldenTolerancesSchema.partial().optional(),
  })
  .refine((b) => (b.against_run === undefined) !== (b.reference === undefined), {
    message: 'name the golden reference: against_run or reference, not both',
  });

export const configParamsSchema = z.strictObject({ config_id: configIdSchema });
export const configQuerySchema = z.strictObject({ version: z.coerce.number().int().min(1).optional() });
export const createConfigBodySchema = z.strictObject({
  id: configIdSchema,
  document: z.string().min(1).max(200_000).describe('the config, YAML or JSON text'),
  visibility: z.enum(CONFIG_VISIBILITIES).default('private'),
  reason: z.string().max(2000).optional(),
});
export const editConfigBodySchema = z.strictObject({ document: z.string().min(1).max(200_000), reason: reasonSchema });
export const shareConfigBodySchema = z.strictObject({ visibility: z.enum(CONFIG_VISIBILITIES), reason: reasonSchema });
export const configListSchema = z.object({
  configs: z.array(
    z.object({
      id: z.string(),
      owner: z.string(),
      visibility: z.enum(CONFIG_VISIBILITIES),
      latest: z.number().int(),
      updated_at: z.string(),
      deleted: z.boolean(),
    }),
  ),
});
export const configShownSchema = z.object({
  record: configRecordSchema,
  version: z.record(z.string(), z.unknown()),
  document: z.string(),
});

export const binsQuerySchema = versionQuerySchema.extend({ feature: z.string().min(1).max(100).optional() });
export const compareQuerySchema = z.strictObject({ a: runIdSchema, b: runIdSchema });
export const trendQuerySchema = z.strictObject({ last: z.coerce.number().int().min(1).max(10_000).optional() });
export const scheduleBodySchema = z.strictObject({
  current: z.string().min(1).max(1000).describe('the CSV each night reads, in a folder workflows may read'),
  cron: z.string().min(9).max(100).default('0 2 * * *'),
  reason: z.string().max(2000).optional(),
});
export const auditExportQuerySchema = auditQuerySchema.extend({ format: z.enum(['jsonl', 'csv']).default('jsonl') });
export const retrainBodySchema = z.strictObject({ run_id: runIdSchema.optional() });
export const featuresBodySchema = z.strictObject({
  ignored_features: z.array(z.string().min(1).max(100)).max(50),
  reason: reasonSchema,
});

export const monitorWindowBodySchema = z.strictObject({
  current: z.string().min(1).max(1000).describe('the window CSV, in a folder workflows may read (read_roots)'),
  label: z.string().min(1).max(200).optional(),
});
export const verificationQuerySchema = z.strictObject({
  strict: z.stringbool().optional().describe('fail when an entry is not yet covered by a signed checkpoint'),
});
export const auditEntryParamsSchema = z.strictObject({ audit_id: z.string().min(1).max(100) });
export const capabilityBodySchema = z.strictObject({
  op: z.enum(CAPABILITY_OPERATIONS),
  run_id: runIdSchema,
  request: z.record(z.string(), z.unknown()).default({}),
  ttl: z.string().max(10).optional().describe('e.g. 90s, 10m (default 10m)'),
});
export const keysQuerySchema = z.strictObject({
  pem: z.string().min(1).max(100).optional().describe("a key id, or 'current': that public key as PEM"),
});
export const revokeBodySchema = z.strictObject({ reason: z.string().max(2000).optional() });
export const delegateBodySchema = z.strictObject({
  delegate_to: z.string().min(1).max(100).describe('the ANALYST who may then approve or reject it'),
  reason: reasonSchema,
});
export const scoresQuerySchema = versionQuerySchema.extend({
  explain: z.coerce
    .number()
    .int()
    .min(1)
    .max(50)
    .optional()
    .describe("append each row's k largest SHAP contributions (at most 1,000 rows per call then)"),
  live_metadata: z
    .stringbool()
    .optional()
    .describe('a locked run: join the current users/apps tables instead of those frozen with its lock'),
});
