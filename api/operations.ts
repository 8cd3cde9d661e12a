/**
 * Every operation of the control-plane API, each calling the same lib and client functions as the CLI command of
 * the same name (one place decides each operation). The server routes them, checks the permission before anything
 * is looked up, and generates the OpenAPI document from this list.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { z } from 'zod';
import {
  cancelRunOn,
  configureMonitoringScheduleOn,
  monitoringScheduleStatusOn,
  lifecycleStateOn,
  lifecycleUpdateOn,
  monitorWindowOn,
  runProgressOn,
  startElevationTimer,
  startRun,
  withServerStatus,
} from '../client';
import { loadConfig } from '../lib/config';
import {
  createConfigAs,
  deleteConfigAs,
  editConfigAs,
  listConfigsAs,
  retrainConfigPathAs,
  selectConfigFeaturesAs,
  shareConfigAs,
  showConfigAs,
  startConfigPathAs,
} from '../lib/configs';
import {
  addUser,
  assignRole,
  backupAuditAs,
  checkpointAuditAs,
  exportAuditAs,
  verifyAuditAs,
  canApproveDelegated,
  delegateApproval,
  elevateUser,
  issueCapability,
  isAllowed,
  parseTtl,
  proveEntryAs,
  rotateSigningKeyAs,
  permit,
  issueToken,
  listUsers,
  queryAuditAs,
  revokeToken,
  setSystemConfigAs,
  systemConfigAs,
} from '../lib/governance';
import {
  downloadArtifactAs,
  exportBundleAs,
  exportModelCardAs,
  generateReportAs,
  overrideAuditAs,
  exportScoringSpecAs,
  listArtifactsAs,
  viewReportAs,
} from '../lib/lifecycle/exports';
import { exportGoldenReferenceAs, goldenComparisonAs, validationResultsAs } from '../lib/lifecycle/golden';
import { binningTablesAs } from '../lib/lifecycle/versions';
import { monitoringTrendAs } from '../lib/monitor/store';
import { trendChartAs, windowFileAs } from '../lib/monitor/publish';
import { deleteRunAs } from '../lib/pipeline/deleteRun';
import { compareRunsAs } from '../lib/report';
import { listRuns, newRunId, readDeployment, readTestMetrics, resolveRunDir, showRun } from '../lib/run';
import { InputError, UnknownRunError } from '../lib/errors';
import { listKeys, publicKeyPem } from '../lib/keys';
import { completedRunManifest } from '../lib/monitor/window';
import { CAPABILITY_REQUESTS } from '../schemas/capabilities';
import {
  addUserBodySchema,
  auditEntryParamsSchema,
  capabilityBodySchema,
  delegateBodySchema,
  keysQuerySchema,
  monitorWindowBodySchema,
  revokeBodySchema,
  scoresQuerySchema,
  verificationQuerySchema,
  artifactListSchema,
  artifactQuerySchema,
  assignRoleBodySchema,
  auditEntriesSchema,
  auditQuerySchema,
  binParamsSchema,
  lifecycleStateSchema,
  overrideParamsSchema,
  reviewBodySchema,
  verdictSchema,
  auditExportQuerySchema,
  binsQuerySchema,
  cancelledRunSchema,
  compareQuerySchema,
  featuresBodySchema,
  retrainBodySchema,
  scheduleBodySchema,
  trendQuerySchema,
  configListSchema,
  configParamsSchema,
  configQuerySchema,
  configShownSchema,
  createConfigBodySchema,
  editConfigBodySchema,
  shareConfigBodySchema,
  goldenBodySchema,
  elevateBodySchema,
  issuedTokenSchema,
  issueTokenBodySchema,
  reasonBodySchema,
  reportQuerySchema,
  revokedTokenSchema,
  runDetailsSchema,
  runListingSchema,
  runParamsSchema,
  windowParamsSchema,
  setSettingBodySchema,
  settingChangeSchema,
  settingParamsSchema,
  startedRunSchema,
  startRunBodySchema,
  systemConfigSchema,
  tokenParamsSchema,
  userParamsSchema,
  userViewSchema,
  versionQuerySchema,
  whoamiSchema,
} from '../schemas/api';
import { goldenReferenceSchema, goldenReportSchema } from '../schemas/golden';
import { configRecordSchema } from '../schemas/configs';
import { userRecordSchema } from '../schemas/governance';
import { OVERRIDE_PERMISSION, overrideChangeSchema, type OverrideKind } from '../schemas/lifecycle';
import { tombstoneSchema } from '../schemas/run';
import { sha256Hex } from '../lib/hash';
import { openRunModel, SCORING_PERMISSION } from '../lib/scoring';
import { MAX_EXPLAIN_ROWS, MAX_PREDICT_ROWS, predictBodySchema } from '../schemas/serving';
import { once } from './idempotency';
import { operation, type FileBody, type Operation, type OperationContext } from './operation';

const json = (schema: z.ZodType) => ({ schema });
/** Media types of the artifacts a browser shows (the console's figures); anything else downloads. */
const ARTIFACT_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};
const auditEntriesJson = () => json(auditEntriesSchema);
const loose = json(z.looseObject({}));
const file = (
  exported: { content: Buffer; version: number; artifact: { path: string; sha256: string } },
  contentType: string,
) =>
  ({
    file: exported.content,
    contentType,
    headers: {
      'x-artifact-path': exported.artifact.path,
      'x-artifact-sha256': exported.artifact.sha256,
      'x-model-version': String(exported.version),
    },
  }) satisfies FileBody;

/**
 * Starts a training run once per Idempotency-Key (a retry with the same key and body gets the same run id back and
 * starts nothing), on `configPath`, under `body.run_id` or a new id.
 */
async function startOnce(
  ctx: OperationContext<unknown, unknown, { run_id?: string | undefined }>,
  operationName: string,
  configPath: string,
) {
  const scope = { userId: ctx.identity.userId, operation: operationName, key: ctx.idempotencyKey! };
  const { result, replayed } = await once(scope, ctx.body, async () => {
    const runId = ctx.body.run_id ?? newRunId();
    await startRun(await ctx.temporal(), { runId, configPath, credential: ctx.credential });
    return runId;
  });
  return { run_id: result, replayed };
}

const runs: Operation[] = [
  operation({
    id: 'listRuns',
    method: 'GET',
    path: '/runs',
    tag: 'runs',
    summary: 'Every run, newest first, with its true state and out-of-fold metrics',
    permission: 'view_runs',
    response: json(z.object({ runs: z.array(runListingSchema) })),
    handler: async ({ temporal }) => ({ runs: await withServerStatus(await listRuns(), temporal) }),
  }),
  operation({
    id: 'showRun',
    method: 'GET',
    path: '/runs/{run_id}',
    tag: 'runs',
    summary: 'One run: creator, config and data hashes, state, how it ended or who deleted it, metrics, manifest',
    permission: 'view_runs',
    resourceType: 'run',
    params: runParamsSchema,
    response: json(runDetailsSchema),
    handler: async ({ params, temporal }) => {
      const { runDir: _folder, ...run } = await showRun(params.run_id);
      return (await withServerStatus([run], temporal))[0]!;
    },
  }),
  operation({
    id: 'runProgress',
    method: 'GET',
    path: '/runs/{run_id}/progress',
    tag: 'runs',
    summary: "A run's progress from its workflow (step, folds, models in training); its result once completed",
    permission: 'view_runs',
    resourceType: 'run',
    params: runParamsSchema,
    response: loose,
    handler: async ({ params, temporal }) => {
      const { progress, models, result } = await runProgressOn(await temporal(), params.run_id);
      const test = result ? await readTestMetrics(await resolveRunDir(params.run_id)) : null;
      return { progress, models, result, test };
    },
  }),
  operation({
    id: 'startRun',
    method: 'POST',
    path: '/runs',
    tag: 'runs',
    summary: 'Start a training run (trainingPipeline) on a config; returns at once with the run id',
    permission: 'create_run',
    body: startRunBodySchema,
    idempotent: true,
    status: 202,
    response: json(startedRunSchema),
    handler: async (ctx) => {
      const { body, credential } = ctx;
      const configPath = await startConfigPathAs(credential, {
        ...(body.config_path === undefined ? {} : { configPath: body.config_path }),
        ...(body.config_id === undefined ? {} : { configId: body.config_id }),
        ...(body.retrain_run === undefined ? {} : { retrain: body.retrain_run }),
      });
      // A bad config is a 400 here, before anything is started (the workflow checks it again).
      await loadConfig(configPath);
      return startOnce(ctx, 'startRun', configPath);
    },
  }),
  operation({
    id: 'cancelRun',
    method: 'POST',
    path: '/runs/{run_id}/cancel',
    tag: 'runs',
    summary: 'Cancel a running run through Temporal, fold activities in flight included; returns once it is sent',
    permission: 'cancel_run',
    permissionNote: 'an ANALYST only the runs it created',
    resourceType: 'run',
    params: runParamsSchema,
    body: reasonBodySchema,
    status: 202,
    response: json(cancelledRunSchema),
    handler: async ({ params, body, credential, temporal }) =>
      cancelRunOn(await temporal(), { runId: params.run_id, reason: body.reason, credential, wait: false }),
  }),
  operation({
    id: 'deleteRun',
    method: 'DELETE',
    path: '/runs/{run_id}',
    tag: 'runs',
    summary: "Remove a run's artifacts, keeping a signed tombstone with its manifest (not locked, deployed or running)",
    permission: 'delete_run_artifacts',
    resourceType: 'run',
    params: runParamsSchema,
    body: reasonBodySchema,
    response: json(tombstoneSchema.extend({ resumed: z.boolean() })),
    handler: async ({ params, body, credential }) => {
      const { tombstone, resumed } = await deleteRunAs(credential, params.run_id, body.reason);
      return { ...tombstone, resumed };
    },
  }),
];

const exports: Operation[] = [
  operation({
    id: 'listArtifacts',
    method: 'GET',
    path: '/runs/{run_id}/artifacts',
    tag: 'reports and exports',
    summary: "A version's artifacts with role, size and sha256",
    permission: 'download_artifacts',
    resourceType: 'run',
    params: runParamsSchema,
    query: versionQuerySchema,
    response: json(artifactListSchema),
    handler: async ({ params, query, credential }) => listArtifactsAs(credential, params.run_id, query.version),
  }),
  operation({
    id: 'downloadArtifact',
    method: 'GET',
    path: '/runs/{run_id}/artifact',
    tag: 'reports and exports',
    summary: 'One artifact by its manifest path, verified against its sha256 (sent in X-Artifact-Sha256)',
    permission: 'download_artifacts',
    resourceType: 'run',
    params: runParamsSchema,
    query: artifactQuerySchema,
    response: {
      media: ['application/octet-stream', 'image/svg+xml', 'image/png', 'application/json', 'text/markdown'],
    },
    handler: async ({ params, query, credential }) => {
      const exported = await downloadArtifactAs(credential, params.run_id, query.path, query.version);
      const {
        file: content,
        contentType,
        headers,
      } = file(exported, ARTIFACT_TYPES[extname(query.path)] ?? 'application/octet-stream');
      // A figure or report opened by itself runs nothing and loads nothing (it is shown from the API's origin).
      const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
      return { file: content, contentType, headers: { ...headers, 'content-security-policy': csp } } satisfies FileBody;
    },
  }),
  operation({
    id: 'exportScoringSpec',
    method: 'GET',
    path: '/runs/{run_id}/scoring-spec',
    tag: 'reports and exports',
    summary: 'The JSON scoring spec (trees, borders, CTR tables, calibration, threshold), verified',
    permission: 'export_scoring_spec',
    resourceType: 'run',
    params: runParamsSchema,
    query: versionQuerySchema,
    response: { media: ['application/json'] },
    handler: async ({ params, query, credential }) =>
      file(await exportScoringSpecAs(credential, params.run_id, query.version), 'application/json'),
  }),
  operation({
    id: 'exportModelCard',
    method: 'GET',
    path: '/runs/{run_id}/model-card',
    tag: 'reports and exports',
    summary: 'The model card (Markdown), verified',
    permission: 'export_model_card',
    resourceType: 'run',
    params: runParamsSchema,
    query: versionQuerySchema,
    response: { media: ['text/markdown'] },
    handler: async ({ params, query, credential }) =>
      file(await exportModelCardAs(credential, params.run_id, query.version), 'text/markdown; charset=utf-8'),
  }),
  operation({
    id: 'viewReport',
    method: 'GET',
    path: '/runs/{run_id}/report',
    tag: 'reports and exports',
    summary: 'The report the pipeline wrote, self-contained HTML or Markdown, verified',
    permission: 'view_reports',
    resourceType: 'run',
    params: runParamsSchema,
    query: reportQuerySchema,
    response: { media: ['text/html', 'text/markdown'] },
    handler: async ({ params, query, credential }) =>
      file(
        await viewReportAs(credential, params.run_id, query.format, query.version),
        query.format === 'html' ? 'text/html; charset=utf-8' : 'text/markdown; charset=utf-8',
      ),
  }),
];

const system: Operation[] = [
  operation({
    id: 'getSystemConfig',
    method: 'GET',
    path: '/system/config',
    tag: 'system',
    summary: 'Every system setting with its value, default and meaning',
    permission: 'system_configuration',
    resourceType: 'system_config',
    response: json(systemConfigSchema),
    handler: async ({ credential }) => systemConfigAs(credential),
  }),
  operation({
    id: 'setSystemConfig',
    method: 'PUT',
    path: '/system/config/{key}',
    tag: 'system',
    summary: 'Change one setting; validated with the whole document, audited with before and after',
    permission: 'system_configuration',
    resourceType: 'system_config',
    params: settingParamsSchema,
    body: setSettingBodySchema,
    response: json(settingChangeSchema),
    handler: async ({ params, body, credential }) => setSystemConfigAs(credential, params.key, body.value, body.reason),
  }),
  operation({
    id: 'queryAudit',
    method: 'GET',
    path: '/audit-logs',
    tag: 'audit',
    summary: 'Audit entries by user, run, action, resource type, status and dates (seed-3 §4)',
    permission: 'view_audit_logs',
    resourceType: 'audit_log',
    query: auditQuerySchema,
    response: json(auditEntriesSchema),
    handler: async ({ query, credential }) => {
      const entries = await queryAuditAs(credential, query);
      return { count: entries.length, entries };
    },
  }),
];

const people: Operation[] = [
  operation({
    id: 'whoami',
    method: 'GET',
    path: '/me',
    tag: 'users and tokens',
    summary: 'Who the token proves the caller is, with the role in force now',
    permission: null,
    response: json(whoamiSchema),
    handler: async ({ identity }) => identity,
  }),
  operation({
    id: 'listUsers',
    method: 'GET',
    path: '/users',
    tag: 'users and tokens',
    summary: 'Users with their base role and the role in force now',
    permission: 'manage_users',
    resourceType: 'user',
    response: json(z.object({ users: z.array(userViewSchema) })),
    handler: async ({ credential }) => ({ users: await listUsers(credential) }),
  }),
  operation({
    id: 'addUser',
    method: 'POST',
    path: '/users',
    tag: 'users and tokens',
    summary: 'Add a user with a role',
    permission: 'manage_users',
    resourceType: 'user',
    body: addUserBodySchema,
    status: 201,
    response: json(userRecordSchema),
    handler: async ({ body, credential }) =>
      addUser(credential, { userId: body.user_id, role: body.role, reason: body.reason }),
  }),
  operation({
    id: 'assignRole',
    method: 'PUT',
    path: '/users/{user_id}/role',
    tag: 'users and tokens',
    summary: "Change a user's permanent role (ends any elevation)",
    permission: 'assign_roles',
    resourceType: 'user',
    params: userParamsSchema,
    body: assignRoleBodySchema,
    response: json(userRecordSchema),
    handler: async ({ params, body, credential }) =>
      assignRole(credential, { userId: params.user_id, role: body.role, reason: body.reason }),
  }),
  operation({
    id: 'elevateUser',
    method: 'POST',
    path: '/users/{user_id}/elevation',
    tag: 'users and tokens',
    summary: 'A temporary role that expires by itself (an expiry timer workflow records it)',
    permission: 'assign_roles',
    resourceType: 'user',
    params: userParamsSchema,
    body: elevateBodySchema,
    status: 201,
    response: json(z.object({ user: userRecordSchema, timer: z.string() })),
    handler: async ({ params, body, credential }) => {
      const grant = await elevateUser(credential, { userId: params.user_id, ...body });
      return { user: grant.user, timer: await startElevationTimer(grant.timer) };
    },
  }),
  operation({
    id: 'issueToken',
    method: 'POST',
    path: '/tokens',
    tag: 'users and tokens',
    summary: 'Issue a token for a user; returned once, stored nowhere',
    permission: 'manage_users',
    resourceType: 'token',
    body: issueTokenBodySchema,
    status: 201,
    response: json(issuedTokenSchema),
    handler: async ({ body, credential }) => issueToken(credential, { userId: body.user_id, ttl: body.ttl }),
  }),
  operation({
    id: 'issueCapability',
    method: 'POST',
    path: '/capabilities',
    tag: 'users and tokens',
    summary: 'A single-use capability for one workflow start, signal or update sent with the `temporal` CLI',
    permission: null,
    permissionNote: 'any signed-in user; the workflow checks the permission of the operation when it acts',
    body: capabilityBodySchema,
    status: 201,
    response: loose,
    handler: async ({ body, credential }) => {
      const parsed = CAPABILITY_REQUESTS[body.op].safeParse(body.request);
      if (!parsed.success)
        throw new InputError(
          `request for ${body.op}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`,
        );
      const capability = await issueCapability(credential, {
        op: body.op,
        runId: body.run_id,
        request: parsed.data,
        ...(body.ttl === undefined ? {} : { ttlSeconds: parseTtl(body.ttl) }),
      });
      return { request: parsed.data, capability };
    },
  }),
  operation({
    id: 'revokeToken',
    method: 'DELETE',
    path: '/tokens/{jti}',
    tag: 'users and tokens',
    summary: "Revoke a token by id: one's own (sign out), or anyone's with manage_users",
    permission: null,
    permissionNote: 'manage_users (ADMIN), or the owner of the token',
    params: tokenParamsSchema,
    body: revokeBodySchema,
    response: json(revokedTokenSchema),
    handler: async ({ params, body, credential }) =>
      revokeToken(credential, { jti: params.jti, ...(body.reason ? { reason: body.reason } : {}) }),
  }),
];

const reason = reasonBodySchema.shape.reason;

const OVERRIDE_WHAT: Record<OverrideKind, string> = {
  bin_override: 'new bin borders or groups for one feature',
  auto_bins: "regenerate one feature's bins automatically",
  merge_bins: 'merge bins of one feature',
  enforce_monotonicity: 'a monotone constraint on a numeric feature',
  feature_selection: 'features no tree may split on',
  regularization: "the trainer's regularisation parameters",
  threshold: 'the decision threshold',
};

/** One route per kind of override, each needing that kind's permission (seed-3 §2, §3). */
const overrideKinds: Operation[] = overrideChangeSchema.options.map((option) => {
  const kind = option.shape.kind.value as OverrideKind;
  return operation({
    id: `fileOverride_${kind}`,
    method: 'POST',
    path: `/runs/{run_id}/overrides/${kind}`,
    tag: 'lifecycle',
    summary: `Override: ${OVERRIDE_WHAT[kind]}; builds the next model version for a validator's review`,
    permission: OVERRIDE_PERMISSION[kind],
    resourceType: 'run',
    params: runParamsSchema,
    body: (option as z.ZodObject).omit({ kind: true }).extend({ reason }) as z.ZodType<Record<string, unknown>>,
    status: 202,
    response: json(verdictSchema),
    handler: async ({ params, body, credential, temporal }) => {
      const { reason: why, ...change } = body;
      return lifecycleUpdateOn(await temporal(), credential, params.run_id, 'fileOverride', {
        reason: why,
        change: { kind, ...change },
      });
    },
  });
});

const lifecycle: Operation[] = [
  operation({
    id: 'lifecycleState',
    method: 'GET',
    path: '/runs/{run_id}/lifecycle',
    tag: 'lifecycle',
    summary: "A run's review state: versions, overrides with their reviews, reproducibility, lock, journal",
    permission: 'view_runs',
    resourceType: 'run',
    params: runParamsSchema,
    response: json(lifecycleStateSchema),
    handler: async ({ params, temporal }) => lifecycleStateOn(await temporal(), params.run_id),
  }),
  operation({
    id: 'binOverride',
    method: 'POST',
    path: '/runs/{run_id}/bins/{feature}/override',
    tag: 'lifecycle',
    summary: "Manual bin override of one feature (seed-3 §8's route): new borders or groups, for a validator's review",
    permission: 'binning_override',
    resourceType: 'run',
    params: binParamsSchema,
    body: overrideChangeSchema.options[0].omit({ kind: true, feature: true }).extend({ reason }),
    status: 202,
    response: json(verdictSchema),
    handler: async ({ params, body, credential, temporal }) =>
      lifecycleUpdateOn(await temporal(), credential, params.run_id, 'fileOverride', {
        reason: body.reason,
        change: { kind: 'bin_override', feature: params.feature, binning: body.binning },
      }),
  }),
  ...overrideKinds,
  operation({
    id: 'reviewOverride',
    method: 'POST',
    path: '/runs/{run_id}/overrides/{override_id}/review',
    tag: 'lifecycle',
    summary: 'Approve or reject an override with a reason (rejection is final)',
    permission: null,
    permissionNote: '`approve_deployment` (VALIDATOR, ADMIN), or the ANALYST the override was delegated to',
    params: overrideParamsSchema,
    body: reviewBodySchema,
    response: json(verdictSchema),
    handler: async ({ params, body, identity, credential, temporal }) => {
      // Checked before the run is looked up, like every route: a role with neither the permission nor a delegation
      // for this override is refused here (audited); the workflow checks again when it acts.
      const resource = { type: 'override', id: params.override_id, runId: params.run_id };
      if (
        !isAllowed(identity, 'approve_deployment').allowed &&
        !(await canApproveDelegated(identity, params.run_id, params.override_id)).allowed
      )
        await permit(identity, 'approve_deployment', resource, 'api', credential.refusals?.audit);
      return lifecycleUpdateOn(await temporal(), credential, params.run_id, 'reviewOverride', {
        overrideId: params.override_id,
        decision: body.decision,
        reason: body.reason,
      });
    },
  }),
  operation({
    id: 'delegateApproval',
    method: 'POST',
    path: '/runs/{run_id}/overrides/{override_id}/delegation',
    tag: 'lifecycle',
    summary: "Delegate an override's approval to a named ANALYST (seed-3 §6); the delegator stays accountable",
    permission: 'binning_override',
    resourceType: 'override',
    params: overrideParamsSchema,
    body: delegateBodySchema,
    status: 201,
    response: loose,
    handler: async ({ params, body, credential }) =>
      delegateApproval(credential, {
        runId: params.run_id,
        overrideId: params.override_id,
        delegateTo: body.delegate_to,
        reason: body.reason,
      }),
  }),
  operation({
    id: 'goldenComparison',
    method: 'POST',
    path: '/runs/{run_id}/golden',
    tag: 'lifecycle',
    summary: 'Check a version against a golden reference (a locked run or a reference) with tolerances; audited',
    permission: 'golden_comparison',
    resourceType: 'run',
    params: runParamsSchema,
    body: goldenBodySchema,
    response: json(goldenReportSchema),
    handler: async ({ params, body, credential }) =>
      goldenComparisonAs(credential, {
        runId: params.run_id,
        ...(body.version === undefined ? {} : { version: body.version }),
        against: body.against_run ? { runId: body.against_run } : { reference: body.reference, name: 'the reference' },
        ...(body.tolerances ? { tolerances: body.tolerances } : {}),
      }),
  }),
  operation({
    id: 'goldenReference',
    method: 'GET',
    path: '/runs/{run_id}/golden-reference',
    tag: 'lifecycle',
    summary: "A version's metrics, predictions and model hash as a golden reference",
    permission: 'golden_comparison',
    resourceType: 'run',
    params: runParamsSchema,
    query: versionQuerySchema,
    response: json(goldenReferenceSchema),
    handler: async ({ params, query, credential }) => exportGoldenReferenceAs(credential, params.run_id, query.version),
  }),
  operation({
    id: 'validationResults',
    method: 'GET',
    path: '/runs/{run_id}/validation-results',
    tag: 'lifecycle',
    summary: "A run's reproducibility tests and golden comparison reports",
    permission: 'view_reproducibility',
    resourceType: 'run',
    params: runParamsSchema,
    response: json(
      z.looseObject({ runId: z.string(), reproducibility: z.array(z.unknown()), golden: z.array(goldenReportSchema) }),
    ),
    handler: async ({ params, credential }) => validationResultsAs(credential, params.run_id),
  }),
  operation({
    id: 'runReproducibility',
    method: 'POST',
    path: '/runs/{run_id}/reproducibility',
    tag: 'lifecycle',
    summary: 'Start the reproducibility test of the current version (retrain from the recorded inputs, compare hashes)',
    permission: 'run_reproducibility',
    resourceType: 'run',
    params: runParamsSchema,
    status: 202,
    response: json(verdictSchema),
    handler: async ({ params, credential, temporal }) =>
      lifecycleUpdateOn(await temporal(), credential, params.run_id, 'runReproducibility', {}),
  }),
  operation({
    id: 'lockRun',
    method: 'POST',
    path: '/runs/{run_id}/lock',
    tag: 'lifecycle',
    summary: 'Lock the run (immutable): needs a passed reproducibility test, model card, scoring spec, schedule',
    permission: 'lock_run',
    resourceType: 'run',
    params: runParamsSchema,
    body: reasonBodySchema,
    response: json(verdictSchema),
    handler: async ({ params, body, credential, temporal }) =>
      lifecycleUpdateOn(await temporal(), credential, params.run_id, 'lockRun', { reason: body.reason }),
  }),
  operation({
    id: 'approveDeployment',
    method: 'POST',
    path: '/runs/{run_id}/deployment',
    tag: 'lifecycle',
    summary: 'Approve a locked run for deployment: deployment.json points at it and the scoring service reloads',
    permission: 'approve_deployment',
    resourceType: 'run',
    params: runParamsSchema,
    body: reasonBodySchema,
    response: json(verdictSchema),
    handler: async ({ params, body, credential, temporal }) =>
      lifecycleUpdateOn(await temporal(), credential, params.run_id, 'approveDeployment', { reason: body.reason }),
  }),
];

const configs: Operation[] = [
  operation({
    id: 'listConfigs',
    method: 'GET',
    path: '/configs',
    tag: 'configs',
    summary: 'The registered configs the caller may see (private: owner and ADMIN; team: all but VIEWERs)',
    permission: 'view_config',
    resourceType: 'config',
    response: json(configListSchema),
    handler: async ({ credential }) => ({ configs: await listConfigsAs(credential) }),
  }),
  operation({
    id: 'showConfig',
    method: 'GET',
    path: '/configs/{config_id}',
    tag: 'configs',
    summary: 'A config version (default: the latest) with its document, verified against its sha256',
    permission: 'view_config',
    resourceType: 'config',
    params: configParamsSchema,
    query: configQuerySchema,
    response: json(configShownSchema),
    handler: async ({ params, query, credential }) => {
      const ref = query.version === undefined ? params.config_id : `${params.config_id}@${query.version}`;
      const { path: _file, ...shown } = await showConfigAs(credential, ref);
      return shown;
    },
  }),
  operation({
    id: 'createConfig',
    method: 'POST',
    path: '/configs',
    tag: 'configs',
    summary: 'Register a config as version 1 (choosing ignored_features also needs select_features)',
    permission: 'create_config',
    resourceType: 'config',
    body: createConfigBodySchema,
    status: 201,
    response: json(configRecordSchema),
    handler: async ({ body, credential }) =>
      createConfigAs(credential, {
        id: body.id,
        document: body.document,
        visibility: body.visibility,
        ...(body.reason ? { reason: body.reason } : {}),
      }),
  }),
  operation({
    id: 'editConfig',
    method: 'PUT',
    path: '/configs/{config_id}',
    tag: 'configs',
    summary: 'A new version of a config (feature selection: select_features; regularisation: adjust_regularization)',
    permission: 'edit_config',
    resourceType: 'config',
    params: configParamsSchema,
    body: editConfigBodySchema,
    response: json(configRecordSchema),
    handler: async ({ params, body, credential }) =>
      editConfigAs(credential, { id: params.config_id, document: body.document, reason: body.reason }),
  }),
  operation({
    id: 'shareConfig',
    method: 'PUT',
    path: '/configs/{config_id}/visibility',
    tag: 'configs',
    summary: 'Change who may see a config: private, team or everyone',
    permission: 'share_config',
    resourceType: 'config',
    params: configParamsSchema,
    body: shareConfigBodySchema,
    response: json(configRecordSchema),
    handler: async ({ params, body, credential }) =>
      shareConfigAs(credential, { id: params.config_id, visibility: body.visibility, reason: body.reason }),
  }),
  operation({
    id: 'deleteConfig',
    method: 'DELETE',
    path: '/configs/{config_id}',
    tag: 'configs',
    summary: 'Delete a config (its versions stay); refused while a locked or deployed run used it',
    permission: 'delete_config',
    resourceType: 'config',
    params: configParamsSchema,
    body: reasonBodySchema,
    response: json(configRecordSchema),
    handler: async ({ params, body, credential }) =>
      deleteConfigAs(credential, { id: params.config_id, reason: body.reason }),
  }),
];

/** Reads, reports and monitoring: the rest of seed-3's reporting, model-building and monitoring rows. */
const more: Operation[] = [
  operation({
    id: 'retrainRun',
    method: 'POST',
    path: '/runs/{run_id}/retrain',
    tag: 'runs',
    summary: "Retrain a run's stored config on the data as it is now: a new run, returned at once",
    permission: 'train_model',
    resourceType: 'run',
    params: runParamsSchema,
    body: retrainBodySchema,
    idempotent: true,
    status: 202,
    response: json(startedRunSchema),
    handler: async (ctx) =>
      startOnce(ctx, `retrain:${ctx.params.run_id}`, await retrainConfigPathAs(ctx.credential, ctx.params.run_id)),
  }),
  operation({
    id: 'selectFeatures',
    method: 'PUT',
    path: '/configs/{config_id}/features',
    tag: 'configs',
    summary: "Choose a config's features: a new version with these ignored_features (no review needed)",
    permission: 'select_features',
    resourceType: 'config',
    params: configParamsSchema,
    body: featuresBodySchema,
    response: json(configRecordSchema),
    handler: async ({ params, body, credential }) =>
      selectConfigFeaturesAs(credential, { id: params.config_id, ignored: body.ignored_features, reason: body.reason }),
  }),
  operation({
    id: 'binningTables',
    method: 'GET',
    path: '/runs/{run_id}/bins',
    tag: 'lifecycle',
    summary: "A version's binning tables: bins with count, approval rate, WoE and IV",
    permission: 'view_binning',
    resourceType: 'run',
    params: runParamsSchema,
    query: binsQuerySchema,
    response: loose,
    handler: async ({ params, query, credential }) =>
      binningTablesAs(credential, params.run_id, {
        ...(query.feature === undefined ? {} : { feature: query.feature }),
        ...(query.version === undefined ? {} : { version: query.version }),
      }),
  }),
  operation({
    id: 'overrideAudit',
    method: 'GET',
    path: '/runs/{run_id}/override-audit',
    tag: 'lifecycle',
    summary: "The run's override audit trail: every override and review with who, when, why, before and after",
    permission: 'view_override_audit',
    resourceType: 'run',
    params: runParamsSchema,
    response: auditEntriesJson(),
    handler: async ({ params, credential }) => {
      const entries = await overrideAuditAs(credential, params.run_id);
      return { count: entries.length, entries };
    },
  }),
  operation({
    id: 'generateReport',
    method: 'POST',
    path: '/runs/{run_id}/reports',
    tag: 'reports and exports',
    summary: "Write a version's report, model card and figures again, into <data dir>/reports",
    permission: 'generate_report',
    resourceType: 'run',
    params: runParamsSchema,
    query: versionQuerySchema,
    status: 201,
    response: loose,
    handler: async ({ params, query, credential }) => {
      const r = await generateReportAs(
        credential,
        params.run_id,
        query.version === undefined ? {} : { version: query.version },
      );
      return { runId: r.runId, version: r.version, dir: r.dir, figures: r.figures, files: r.artifacts };
    },
  }),
  operation({
    id: 'compareRuns',
    method: 'GET',
    path: '/compare',
    tag: 'reports and exports',
    summary: 'Two runs side by side: metric deltas, parameter and config diffs, importance, prediction agreement',
    permission: 'compare_models',
    resourceType: 'run_comparison',
    query: compareQuerySchema,
    response: loose,
    handler: async ({ query, credential }) => compareRunsAs(credential, query.a, query.b),
  }),
  operation({
    id: 'exportDeploymentBundle',
    method: 'GET',
    path: '/runs/{run_id}/deployment-bundle',
    tag: 'reports and exports',
    summary: 'The deployment bundle of a locked, approved run: each file with its sha256 and content (base64)',
    permission: 'export_run',
    resourceType: 'run',
    params: runParamsSchema,
    response: loose,
    handler: async ({ params, credential }) => {
      const dir = await mkdtemp(join(tmpdir(), 'access-perm-bundle-'));
      try {
        const files = await exportBundleAs(credential, params.run_id, dir);
        return {
          runId: params.run_id,
          files: await Promise.all(
            files.map(async (f) => {
              const bytes = await readFile(f);
              return {
                name: basename(f),
                sha256: sha256Hex(bytes),
                bytes: bytes.length,
                content_base64: bytes.toString('base64'),
              };
            }),
          ),
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  }),
  operation({
    id: 'scoreRequests',
    method: 'POST',
    path: '/runs/{run_id}/scores',
    tag: 'reports and exports',
    summary: `Score up to ${MAX_PREDICT_ROWS.toLocaleString('en-US')} requests with a run's model (its default version)`,
    permission: SCORING_PERMISSION,
    resourceType: 'run',
    params: runParamsSchema,
    query: scoresQuerySchema,
    body: predictBodySchema,
    response: loose,
    handler: async ({ params, query, body }) => {
      if (query.explain && body.length > MAX_EXPLAIN_ROWS)
        throw new InputError(`with explain, at most ${MAX_EXPLAIN_ROWS.toLocaleString('en-US')} requests per call`);
      const model = await openRunModel(params.run_id, {
        ...(query.version === undefined ? {} : { version: query.version }),
        ...(query.live_metadata ? { liveMetadata: true } : {}),
      });
      try {
        const features = await model.features(body);
        const scored = await model.scoreFeatures(features);
        const explained = query.explain ? await model.explain(features, query.explain) : null;
        return {
          run_id: model.runId,
          version: model.version,
          model_sha256: model.modelSha256,
          threshold: model.threshold,
          predictions: body.map((r, i) => ({
            ...r,
            approval_probability: scored.probability[i]!,
            predicted_label: scored.label[i]!,
            unknown_user: scored.unknownUser[i] === 1,
            unknown_app: scored.unknownApp[i] === 1,
            ...(explained ? { explanation: explained[i] } : {}),
          })),
        };
      } finally {
        await model.close();
      }
    },
  }),
  operation({
    id: 'monitoringTrend',
    method: 'GET',
    path: '/runs/{run_id}/monitoring',
    tag: 'monitoring',
    summary: "The run's monitoring trend: one row per window (drift share, drift flags, ROC-AUC, accuracy, alerts)",
    permission: 'view_monitoring',
    resourceType: 'run',
    params: runParamsSchema,
    query: trendQuerySchema,
    response: loose,
    handler: async ({ params, query, credential }) => ({
      windows: await monitoringTrendAs(credential, params.run_id, query.last),
    }),
  }),
  operation({
    id: 'monitoringTrendChart',
    method: 'GET',
    path: '/runs/{run_id}/monitoring/trend.svg',
    tag: 'monitoring',
    summary: "The run's monitoring trend as an SVG chart (the window reports' trend figure)",
    permission: 'view_monitoring',
    resourceType: 'run',
    params: runParamsSchema,
    response: { media: ['image/svg+xml'] },
    handler: async ({ params, credential }) => {
      const svg = await trendChartAs(credential, params.run_id);
      if (svg === null)
        throw new UnknownRunError(`run ${params.run_id} has fewer than two monitored windows: no trend yet`);
      return {
        file: Buffer.from(svg),
        contentType: 'image/svg+xml; charset=utf-8',
        headers: { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" },
      } satisfies FileBody;
    },
  }),
  operation({
    id: 'monitoringTrendSpec',
    method: 'GET',
    path: '/runs/{run_id}/monitoring/trend.vg.json',
    tag: 'monitoring',
    summary: "The run's monitoring trend chart as a compiled vega spec (what the console draws interactively)",
    permission: 'view_monitoring',
    resourceType: 'run',
    params: runParamsSchema,
    response: loose,
    handler: async ({ params, credential }) => {
      const spec = await trendChartAs(credential, params.run_id, 'vega');
      if (spec === null)
        throw new UnknownRunError(`run ${params.run_id} has fewer than two monitored windows: no trend yet`);
      return JSON.parse(spec) as unknown;
    },
  }),
  operation({
    id: 'monitoringWindowResult',
    method: 'GET',
    path: '/runs/{run_id}/monitoring/windows/{window_id}',
    tag: 'monitoring',
    summary: "One monitored window's result: drift per feature, performance and calibration, alerts",
    permission: 'view_monitoring',
    resourceType: 'monitoring_window',
    params: windowParamsSchema,
    response: loose,
    handler: async ({ params, credential }) =>
      JSON.parse(await windowFileAs(credential, params.run_id, params.window_id, 'result')) as unknown,
  }),
  operation({
    id: 'monitoringWindowReport',
    method: 'GET',
    path: '/runs/{run_id}/monitoring/windows/{window_id}/report',
    tag: 'monitoring',
    summary: "One monitored window's full HTML report (self-contained; served without script)",
    permission: 'view_monitoring',
    resourceType: 'monitoring_window',
    params: windowParamsSchema,
    response: { media: ['text/html'] },
    handler: async ({ params, credential }) =>
      ({
        file: Buffer.from(await windowFileAs(credential, params.run_id, params.window_id, 'html')),
        contentType: 'text/html; charset=utf-8',
        headers: { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" },
      }) satisfies FileBody,
  }),
  operation({
    id: 'monitoringScheduleStatus',
    method: 'GET',
    path: '/runs/{run_id}/monitoring/schedule',
    tag: 'monitoring',
    summary:
      "The run's monitoring plan and its Temporal schedule: paused or not, the next runs, the recent ones (each with its workflow status and whether its window was recorded)",
    permission: 'view_monitoring',
    resourceType: 'monitoring_schedule',
    params: runParamsSchema,
    response: loose,
    handler: async ({ params, credential, temporal }) =>
      monitoringScheduleStatusOn(await temporal(), credential, params.run_id),
  }),
  operation({
    id: 'monitorWindow',
    method: 'POST',
    path: '/runs/{run_id}/monitoring/windows',
    tag: 'monitoring',
    summary: 'Monitor one window now (monitoringWorkflow) and answer with its drift, performance and alerts',
    permission: 'generate_report',
    resourceType: 'monitoring_window',
    params: runParamsSchema,
    body: monitorWindowBodySchema,
    status: 201,
    response: loose,
    handler: async ({ params, body, credential, temporal }) => {
      const runDir = await resolveRunDir(params.run_id);
      await completedRunManifest(params.run_id, runDir);
      const result = await monitorWindowOn(await temporal(), {
        runId: params.run_id,
        current: body.current,
        ...(body.label ? { label: body.label } : {}),
        credential,
      });
      return { ...result, report_path: resolve(runDir, result.report.html) };
    },
  }),
  operation({
    id: 'configureMonitoring',
    method: 'PUT',
    path: '/runs/{run_id}/monitoring/schedule',
    tag: 'monitoring',
    summary: "Create or update the run's nightly monitoring Schedule on Temporal",
    permission: 'configure_monitoring',
    resourceType: 'monitoring_schedule',
    params: runParamsSchema,
    body: scheduleBodySchema,
    response: loose,
    handler: async ({ params, body, credential, temporal }) => {
      const done = await configureMonitoringScheduleOn(await temporal(), "the control plane's Temporal server", {
        credential,
        runId: params.run_id,
        current: body.current,
        cron: body.cron,
        ...(body.reason ? { reason: body.reason } : {}),
      });
      return { ...done.record, created: done.created, server: done.server };
    },
  }),
  operation({
    id: 'health',
    method: 'GET',
    path: '/health',
    tag: 'system',
    summary: 'System health: Temporal reachable, the deployed run, the latest audit checkpoint',
    permission: 'view_system_health',
    resourceType: 'system',
    response: loose,
    handler: async ({ temporal }) => {
      const reached = await temporal().then(
        (c) => c.workflowService.getSystemInfo({}).then(() => 'reachable'),
        (e: Error) => `unreachable: ${e.message}`,
      );
      return { temporal: reached, deployment: await readDeployment().catch((e: Error) => ({ error: e.message })) };
    },
  }),
  operation({
    id: 'exportAudit',
    method: 'GET',
    path: '/audit-logs/export',
    tag: 'audit',
    summary: 'Export audit entries as JSONL or CSV, with the query filters (the export is audited)',
    permission: 'export_audit_logs',
    resourceType: 'audit_log',
    query: auditExportQuerySchema,
    response: { media: ['application/x-ndjson', 'text/csv'] },
    handler: async ({ query, credential }) => {
      const { format, ...filters } = query;
      const { content, entries } = await exportAuditAs(credential, filters, format);
      return {
        file: Buffer.from(content),
        contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
        headers: { 'x-audit-entries': String(entries) },
      } satisfies FileBody;
    },
  }),
  operation({
    id: 'verifyAudit',
    method: 'GET',
    path: '/audit-logs/verification',
    tag: 'audit',
    summary: 'Check the hash chain and the signed checkpoints of the audit log; the unsigned tail',
    permission: 'view_audit_logs',
    resourceType: 'audit_log',
    query: verificationQuerySchema,
    response: loose,
    handler: async ({ query, credential }) => verifyAuditAs(credential, query.strict ? { strict: true } : {}),
  }),
  operation({
    id: 'proveAuditEntry',
    method: 'GET',
    path: '/audit-logs/entries/{audit_id}/proof',
    tag: 'audit',
    summary: "An entry's inclusion proof against the latest signed checkpoint (check it with a public key alone)",
    permission: 'view_audit_logs',
    resourceType: 'audit_log',
    params: auditEntryParamsSchema,
    response: loose,
    handler: async ({ params, credential }) => proveEntryAs(credential, params.audit_id),
  }),
  operation({
    id: 'listKeys',
    method: 'GET',
    path: '/keys',
    tag: 'audit',
    summary: 'The signing keys with fingerprints; ?pem=<key id|current> answers that public key (for auditors)',
    permission: null,
    permissionNote: 'any signed-in user: public keys are public',
    query: keysQuerySchema,
    response: loose,
    handler: async ({ query }) => {
      const keys = await listKeys();
      if (query.pem === undefined) return { keys };
      const keyId = query.pem === 'current' ? keys.find((k) => k.current)?.keyId : query.pem;
      if (!keyId || !keys.some((k) => k.keyId === keyId)) throw new InputError(`no signing key ${query.pem}`);
      return { keys, key_id: keyId, pem: await publicKeyPem(keyId) };
    },
  }),
  operation({
    id: 'rotateKey',
    method: 'POST',
    path: '/keys/rotation',
    tag: 'audit',
    summary: 'Make a new current signing key; earlier keys keep verifying what they signed',
    permission: 'system_configuration',
    resourceType: 'keyring',
    body: reasonBodySchema,
    status: 201,
    response: loose,
    handler: async ({ body, credential }) => ({ keys: await rotateSigningKeyAs(credential, body.reason) }),
  }),
  operation({
    id: 'checkpointAudit',
    method: 'POST',
    path: '/audit-logs/checkpoints',
    tag: 'audit',
    summary: 'Sign a checkpoint of the audit log now',
    permission: 'manage_backups',
    resourceType: 'audit_log',
    status: 201,
    response: loose,
    handler: async ({ credential }) => checkpointAuditAs(credential),
  }),
  operation({
    id: 'backupAudit',
    method: 'POST',
    path: '/audit-logs/backups',
    tag: 'audit',
    summary: 'Rotate, checkpoint and copy the audit log to the backup folder',
    permission: 'manage_backups',
    resourceType: 'audit_log',
    status: 201,
    response: loose,
    handler: async ({ credential }) => backupAuditAs(credential),
  }),
];

/** Every operation of the control plane, in the order the docs list them. */
export const OPERATIONS: readonly Operation[] = [
  ...runs,
  ...configs,
  ...lifecycle,
  ...exports,
  ...more,
  ...system,
  ...people,
];
