import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { connectClient, findServer, type TemporalServer } from '../client';
import {
  createGuard,
  installErrorHandler,
  installLifecycle,
  parseInput,
  RequestValidationError,
  type GuardOptions,
} from '../lib/serve';
import { ConsoleSessions, CsrfError } from './console';
import { IdempotencyConflictError } from './idempotency';
import { docsPage, openApiDocument } from './openapi';
import { resourceFor, type FileBody } from './operation';
import { OPERATIONS } from './operations';

export interface ControlPlaneOptions extends GuardOptions {
  /** Where workflows run; default: the configured server (TEMPORAL_ADDRESS, a profile) or `access-perm dev`'s. */
  temporal?: () => Promise<TemporalServer>;
  bodyLimit?: number;
  logger?: boolean;
}

/** Thrown when an operation needs Temporal and no server answers: 503 naming the server. */
class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

const isFile = (value: unknown): value is FileBody =>
  typeof value === 'object' && value !== null && Buffer.isBuffer((value as FileBody).file);

/** `/runs/{run_id}` in Fastify's syntax: `/runs/:run_id`. */
const fastifyPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');

/**
 * The control-plane HTTP API (`access-perm api`): every operation of {@link OPERATIONS} behind a bearer token.
 * The permission is checked before anything is looked up (a denied caller learns nothing, not even a 404; the
 * body is seed-3 §8's), then the request is validated against its zod schemas and the operation runs the same lib
 * and client functions as the CLI. `GET /openapi.json` and `GET /docs` describe it without a token.
 */
export async function buildControlPlane(options: ControlPlaneOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 1024 * 1024 });
  const sessions = new ConsoleSessions();
  const { guard, flush } = createGuard({ ...options, tokenWithoutBearer: (req) => sessions.tokenFor(req) });

  let client: Promise<Client> | null = null;
  const temporal = (): Promise<Client> => {
    client ??= (options.temporal ?? (() => findServer()))()
      .then(connectClient)
      .catch((e: unknown) => {
        client = null;
        throw new TemporalUnavailableError(`this operation needs Temporal: ${(e as Error).message}`);
      });
    return client;
  };

  installErrorHandler(app, (error) => {
    if (error instanceof TemporalUnavailableError)
      return { status: 503, body: { error: 'Temporal unavailable', message: error.message } };
    if (error instanceof IdempotencyConflictError)
      return { status: 422, body: { error: 'Idempotency conflict', message: error.message } };
    if (error instanceof CsrfError) return { status: 403, body: { error: 'CSRF', message: error.message } };
    return null;
  });
  sessions.install(app);

  for (const op of OPERATIONS) {
    app.route({
      method: op.method,
      url: fastifyPath(op.path),
      onRequest: guard(
        op.permission,
        (req) => resourceFor(op, (req.params ?? {}) as Record<string, string>),
        'precheck',
      ),
      handler: async (req, reply) => {
        const key = req.headers['idempotency-key'];
        const idempotencyKey = typeof key === 'string' ? key : null;
        if (op.idempotent && !idempotencyKey)
          throw new RequestValidationError(
            `${op.method} ${op.path} needs an Idempotency-Key header: a retried request then never does the work twice`,
            [{ row: null, field: 'Idempotency-Key', message: 'required' }],
          );
        const result = await op.handler({
          credential: req.credential!,
          identity: req.identity!,
          params: op.params ? parseInput(op.params, req.params, 'path') : undefined,
          query: op.query ? parseInput(op.query, req.query ?? {}, 'query') : undefined,
          body: op.body ? parseInput(op.body, req.body ?? {}, 'body') : undefined,
          idempotencyKey,
          temporal,
        });
        reply.code(op.status ?? 200);
        if (isFile(result))
          return reply
            .headers(result.headers ?? {})
            .type(result.contentType)
            .send(result.file);
        return result;
      },
    });
  }

  app.get('/openapi.json', async () => openApiDocument());
  app.get('/docs', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(docsPage()),
  );

  installLifecycle(app, {
    onClose: async () => {
      await flush();
      const open = client;
      client = null;
      await open?.then((c) => c.connection.close()).catch(() => undefined);
    },
  });
  return app;
}
