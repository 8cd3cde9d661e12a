import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Permission, ResolvedIdentity } from '../../schemas/governance';
import { explainBodySchema, explainQuerySchema, predictBodySchema, type PredictRow } from '../../schemas/serving';
import { UnknownRunError } from '../errors';
import {
  authenticate,
  authorize,
  AuthenticationError,
  clientLabel,
  GovernanceError,
  keepAuditCheckpointed,
  PermissionDeniedError,
  queryAudit,
  RefusalAggregator,
  type ResourceRef,
} from '../governance';
import { assertRunId, listRuns, readLock, showRun } from '../run';
import { SCORING_PERMISSION, type RunModel, type ScoredRequests } from '../scoring';
import { FailureLimit } from './failureLimit';
import { InferenceLog } from './inferenceLog';
import { openApiDocument } from './openapi';
import { NoModelError, type ServedModel } from './servedModel';

/** Thrown for a request body or query that fails its schema; the 400 body names the row and the field. */
export class RequestValidationError extends Error {
  override name = 'RequestValidationError';
  constructor(
    message: string,
    readonly issues: Array<{ row: number | null; field: string; message: string }>,
  ) {
    super(message);
  }
}

function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, 20).map((i) => {
    const row = typeof i.path[0] === 'number' ? i.path[0] : null;
    const rest = row === null ? i.path : i.path.slice(1);
    const keys = 'keys' in i ? (i.keys as string[]).join(', ') : '';
    return { row, field: rest.join('.') || keys || what, message: i.message };
  });
  const first = issues[0]!;
  throw new RequestValidationError(
    `${first.row === null ? '' : `row ${first.row}: `}${first.field}: ${first.message}`,
    issues,
  );
}

const bearer = (req: FastifyRequest): string | null => {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : h;
};

declare module 'fastify' {
  interface FastifyRequest {
    identity?: ResolvedIdentity;
  }
}

export interface ServiceOptions {
  served: ServedModel;
  /** Inference log window (ms); 0 disables the log. */
  logWindowMs?: number;
  /** Largest request body accepted (bytes). */
  bodyLimit?: number;
  logger?: boolean;
  /**
   * Refused tokens one client may send per interval before its requests are answered 429 unchecked (default 20),
   * and the interval, which is also the one repeated refusals are summarised over in the audit log (default 60 s).
   */
  authFailureLimit?: number;
  refusalWindowMs?: number;
  /**
   * How long a blocked client's 429 is held back (default 250 ms): answered at once, a 429 is so cheap that a
   * flooder waiting for each answer sends tens of thousands a second and takes the event loop from good clients;
   * held, each of its connections sends a few a second, at the cost of a timer.
   */
  blockedDelayMs?: number;
}

/** Thrown for a client that sent too many refused tokens in the current interval: 429 with Retry-After. */
class TooManyFailuresError extends Error {
  override name = 'TooManyFailuresError';
  constructor(readonly retryAfterSeconds: number) {
    super(`too many refused tokens from this client: retry in ${retryAfterSeconds} s`);
  }
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
  const windowMs = options.refusalWindowMs ?? 60_000;
  const refusals = new RefusalAggregator({ windowMs });
  const failures = new FailureLimit(options.authFailureLimit ?? 20, windowMs);
  const blockedDelay = options.blockedDelayMs ?? 250;

  /** An onRequest hook (before the body is read) that authorizes `permission` on the resource the request names. */
  const guard =
    (permission: Permission | null, resource?: (req: FastifyRequest) => ResourceRef) =>
    async (req: FastifyRequest): Promise<void> => {
      const client = clientLabel(req.ip);
      const wait = failures.retryAfter(client);
      if (wait > 0) {
        // Counted like the refusals before it: the first of the interval at once, the rest in one summary.
        await refusals.audit(
          {
            user_id: 'anonymous',
            user_role: 'NONE',
            action: 'authentication_failed',
            status: 'denied',
            reason: 'too many refused tokens from this client (answered 429 unchecked)',
            source: 'api',
            result: 'refused',
            ...(permission ? { attempted_action: permission } : {}),
          },
          client,
        );
        await sleep(blockedDelay);
        throw new TooManyFailuresError(wait);
      }
      const credential = { token: bearer(req), source: 'api' as const, refusals: { audit: refusals.audit, client } };
      try {
        req.identity = permission
          ? await authorize(credential, permission, resource?.(req))
          : await authenticate(credential, {});
      } catch (e) {
        if (e instanceof AuthenticationError) failures.fail(client);
        throw e;
      }
    };
  const scoringResource = (): ResourceRef => {
    const runId = served.status().runId;
    return runId ? { type: 'run', id: runId } : { type: 'scoring_service' };
  };

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (error instanceof TooManyFailuresError)
      return reply
        .code(429)
        .header('retry-after', String(error.retryAfterSeconds))
        .send({ error: 'Too many requests', message: error.message });
    if (error instanceof AuthenticationError) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="access-perm"')
        .send({ error: 'Not authenticated', reason: error.failure, message: error.message });
    }
    if (error instanceof PermissionDeniedError) return reply.code(403).send(error.toResponse());
    if (error instanceof RequestValidationError) {
      return reply.code(400).send({ error: 'Invalid request', message: error.message, issues: error.issues });
    }
    if (error instanceof GovernanceError)
      return reply.code(400).send({ error: 'Invalid request', message: error.message });
    if (error instanceof UnknownRunError) return reply.code(404).send({ error: 'Not found', message: error.message });
    if (error instanceof NoModelError) return reply.code(503).send({ error: 'No model', message: error.message });
    const status = error.statusCode ?? 500;
    if (status === 413) {
      return reply.code(413).send({
        error: 'Payload too large',
        message: `request bodies are limited to ${app.initialConfig.bodyLimit} bytes`,
      });
    }
    if (status >= 400 && status < 500)
      return reply.code(status).send({ error: 'Invalid request', message: error.message });
    req.log.error(error);
    return reply
      .code(500)
      .send({ error: 'Internal error', message: 'the request could not be served; see the service log' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'Not found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
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

  // Graceful close: stop accepting, let requests in flight finish, and close keep-alive connections as soon as they
  // are idle (instead of waiting for their keep-alive timeout).
  let idleSweep: NodeJS.Timeout | undefined;
  let stopCheckpoints: (() => void) | undefined;
  app.addHook('onReady', async () => {
    log?.start();
    // The service holds the keyring: it keeps the audit log's signed checkpoints fresh while it runs.
    stopCheckpoints = keepAuditCheckpointed();
  });
  app.addHook('preClose', async () => {
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => {
    clearInterval(idleSweep);
    stopCheckpoints?.();
    await log?.close();
    await refusals.flush();
  });
  return app;
}
