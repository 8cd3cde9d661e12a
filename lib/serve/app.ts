import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { explainBodySchema, explainQuerySchema, predictBodySchema, type PredictRow } from '../../schemas/serving';
import { queryAudit, type ResourceRef } from '../governance';
import { assertRunId, listRuns, readLock, showRun } from '../run';
import { SCORING_PERMISSION, type RunModel, type ScoredRequests } from '../scoring';
import { createGuard, installErrorHandler, installLifecycle, parseInput, type GuardOptions } from './http';
import { InferenceLog } from './inferenceLog';
import { openApiDocument } from './openapi';
import { NoModelError, type ServedModel } from './servedModel';

export interface ServiceOptions extends GuardOptions {
  served: ServedModel;
  /** Inference log window (ms); 0 disables the log. */
  logWindowMs?: number;
  /** Largest request body accepted (bytes). */
  bodyLimit?: number;
  logger?: boolean;
}

const round6 = (p: number): number => Math.round(p * 1e6) / 1e6;

function predictions(rows: PredictRow[], s: ScoredRequests) {
  return rows.map((r, i) => ({
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
    userId: r.userId,
    appId: r.appId,
    approval_probability: round6(s.probability[i]!),
    predicted_label: s.label[i]!,
    unknown_user: s.unknownUser[i] === 1,
    unknown_app: s.unknownApp[i] === 1,
  }));
}

const lockSummary = (lock: Awaited<ReturnType<typeof readLock>>) =>
  lock && {
    locked: true,
    version: lock.version,
    locked_by: lock.locked_by,
    locked_at: lock.locked_at,
    reason: lock.reason,
    deployment_approved: lock.deployment_approved,
    deployment: lock.deployment,
  };

const modelInfo = (m: RunModel) => ({ run_id: m.runId, model_sha256: m.modelSha256, threshold: m.threshold });

/**
 * The scoring service: Fastify routes over a served model, each guarded by a bearer token and the seed-3 matrix
 * (`authorize`, the one choke point): 401 for a missing or refused token, 403 with the §8 body for a denial, 400
 * naming the row and field for a bad payload, 413 for an oversized body, 503 when no model is loaded.
 */
export async function buildService(options: ServiceOptions): Promise<FastifyInstance> {
  const { served } = options;
  const started = Date.now();
  const log = options.logWindowMs ? new InferenceLog(options.logWindowMs) : null;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 2 * 1024 * 1024 });

  // Bounded audit volume under hostile load: repeated refusals per client (bad tokens) and per user (denials) are
  // summarised, and a client past the failure limit is answered 429 before its token is even checked.
  const { guard, flush } = createGuard(options);
  const scoringResource = (): ResourceRef => {
    const runId = served.status().runId;
    return runId ? { type: 'run', id: runId } : { type: 'scoring_service' };
  };

  installErrorHandler(app, (error) =>
    error instanceof NoModelError ? { status: 503, body: { error: 'No model', message: error.message } } : null,
  );

  /** Scores a request body and records the call in the inference log. */
  const scoreCall = async <T>(
    req: FastifyRequest,
    bodySchema: typeof predictBodySchema,
    fn: (m: RunModel, rows: PredictRow[]) => Promise<{ body: T; scored: ScoredRequests }>,
  ): Promise<T> => {
    const t0 = performance.now();
    return served.use(async (m) => {
      try {
        const rows = parseInput(bodySchema, req.body, 'body');
        const { body, scored } = await fn(m, rows);
        let approved = 0;
        let probabilitySum = 0;
        let unknownUsers = 0;
        let unknownApps = 0;
        for (let i = 0; i < scored.label.length; i++) {
          approved += scored.label[i]!;
          probabilitySum += scored.probability[i]!;
          unknownUsers += scored.unknownUser[i]!;
          unknownApps += scored.unknownApp[i]!;
        }
        log?.record(m, performance.now() - t0, {
          rows: rows.length,
          approved,
          probabilitySum,
          unknownUsers,
          unknownApps,
        });
        return body;
      } catch (e) {
        log?.record(m, performance.now() - t0, null);
        throw e;
      }
    });
  };

  app.get('/health', { onRequest: guard('view_system_health') }, async (_req, reply) => {
    const s = served.status();
    return reply.code(s.loaded ? 200 : 503).send({
      status: s.loaded ? 'ok' : 'no_model',
      model_loaded: s.loaded,
      source: s.source,
      run_id: s.runId,
      model_version: s.version,
      model_sha256: s.modelSha256,
      threshold: s.threshold,
      loaded_at: s.loadedAt,
      lock: s.lock,
      deployment: s.deployment,
      metadata_same_as_training: s.metadata
        ? { users: s.metadata.users.sameAsTraining, apps: s.metadata.apps.sameAsTraining }
        : null,
      // true: a locked run joins the tables frozen with its lock; false: the live ones (unlocked, or --live-metadata).
      metadata_frozen: s.metadata ? s.metadata.users.frozen : null,
      last_error: s.lastError,
      uptime_seconds: Math.round((Date.now() - started) / 1000),
    });
  });

  app.post('/predict', { onRequest: guard(SCORING_PERMISSION, scoringResource) }, (req) =>
    scoreCall(req, predictBodySchema, async (m, rows) => {
      const scored = await m.score(rows);
      return { scored, body: { ...modelInfo(m), predictions: predictions(rows, scored) } };
    }),
  );

  app.post('/explain', { onRequest: guard(SCORING_PERMISSION, scoringResource) }, (req) => {
    const { top } = parseInput(explainQuerySchema, req.query, 'query');
    return scoreCall(req, explainBodySchema, async (m, rows) => {
      const features = await m.features(rows);
      const scored = await m.scoreFeatures(features);
      const explained = await m.explain(features, top);
      const body = predictions(rows, scored).map((p, i) => ({
        ...p,
        expected_value: explained[i]!.expectedValue,
        contributions: explained[i]!.contributions,
      }));
      return { scored, body: { ...modelInfo(m), explanations: body } };
    });
  });

  app.get('/runs', { onRequest: guard('view_runs') }, async () => ({ runs: await listRuns() }));

  app.get<{ Params: { id: string } }>(
    '/runs/:id',
    { onRequest: guard('view_runs', (req) => ({ type: 'run', id: assertRunId((req.params as { id: string }).id) })) },
    async (req) => {
      const run = await showRun(req.params.id);
      const s = served.status();
      return {
        runId: run.runId,
        state: run.state,
        startedAt: run.info.startedAt,
        createdBy: run.info.createdBy,
        configHash: run.info.configHash,
        dataHash: run.info.dataHash,
        metrics: run.metrics,
        lock: lockSummary(await readLock(run.runDir)),
        served: s.runId === run.runId ? { model_sha256: s.modelSha256, loaded_at: s.loadedAt } : null,
        artifacts: run.manifest?.artifacts ?? [],
      };
    },
  );

  app.get('/audit-logs', { onRequest: guard('view_audit_logs', () => ({ type: 'audit_log' })) }, async (req) => {
    const entries = await queryAudit(req.query as Record<string, unknown>);
    return { count: entries.length, entries };
  });

  app.get('/openapi.json', { onRequest: guard(null) }, async () => openApiDocument());

  installLifecycle(app, {
    onReady: () => log?.start(),
    onClose: async () => {
      await log?.close();
      await flush();
    },
  });
  return app;
}
