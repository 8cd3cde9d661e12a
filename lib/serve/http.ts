/**
 * The HTTP plumbing every access-perm server shares (the scoring service, the control-plane API): bearer tokens
 * checked by the one choke point with bounded audit volume under a flood, request validation that names the field,
 * and one mapping from domain errors to status codes and bodies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Permission, ResolvedIdentity } from '../../schemas/governance';
import {
  ArtifactIntegrityError,
  ConfigError,
  InputError,
  JobFailedError,
  PathOutsideError,
  RunStateError,
  UnknownConfigError,
  UnknownRunError,
} from '../errors';
import {
  authenticate,
  authorize,
  AuthenticationError,
  clientLabel,
  GovernanceError,
  keepAuditCheckpointed,
  permit,
  PermissionDeniedError,
  RefusalAggregator,
  type Credential,
  type ResourceRef,
} from '../governance';
import { LifecycleStateError, LockRequirementError } from '../lifecycle/errors';
import { RunLockedError } from '../run';
import { FailureLimit } from './failureLimit';

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

/** Parses a body, query or params object; RequestValidationError naming the row (for arrays) and the field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
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
    /** The caller's token as lib functions take it (source `api`, refusals counted per client). */
    credential?: Credential;
  }
}

/** Thrown for a client that sent too many refused tokens in the current interval: 429 with Retry-After. */
class TooManyFailuresError extends Error {
  override name = 'TooManyFailuresError';
  constructor(readonly retryAfterSeconds: number) {
    super(`too many refused tokens from this client: retry in ${retryAfterSeconds} s`);
  }
}

export interface GuardOptions {
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
  /** The token of a request without a bearer token (the console's session cookie), or null. May throw to refuse. */
  tokenWithoutBearer?: (req: FastifyRequest) => string | null;
}

/** How a route is guarded: the permission and resource it authorises, or `precheck` (see {@link createGuard}). */
export type Guard = (
  permission: Permission | null,
  resource?: (req: FastifyRequest) => ResourceRef | undefined,
  mode?: 'authorize' | 'precheck',
) => (req: FastifyRequest) => Promise<void>;

/**
 * Builds the onRequest guard of a server (runs before the body is read): 429 for a client past the failure limit,
 * then the token. `authorize` checks the permission on the resource; `precheck` refuses a role the matrix gives no
 * cell at all (audited, before any lookup) and leaves ownership to the operation, which authorises again with
 * the resource's owner. Repeated refusals are summarised per client and per user. Returns the guard and a flush
 * for shutdown.
 */
export function createGuard(options: GuardOptions): { guard: Guard; flush: () => Promise<void> } {
  const windowMs = options.refusalWindowMs ?? 60_000;
  const refusals = new RefusalAggregator({ windowMs });
  const failures = new FailureLimit(options.authFailureLimit ?? 20, windowMs);
  const blockedDelay = options.blockedDelayMs ?? 250;
  const guard: Guard =
    (permission, resource, mode = 'authorize') =>
    async (req) => {
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
      const credential: Credential = { token: null, source: 'api', refusals: { audit: refusals.audit, client } };
      req.credential = credential;
      try {
        credential.token = bearer(req) ?? options.tokenWithoutBearer?.(req) ?? null;
        if (!permission) req.identity = await authenticate(credential, {});
        else if (mode === 'authorize') req.identity = await authorize(credential, permission, resource?.(req));
        else req.identity = await precheck(credential, permission, resource?.(req));
      } catch (e) {
        if (e instanceof AuthenticationError) failures.fail(client);
        throw e;
      }
    };
  return { guard, flush: () => refusals.flush() };
}

/** Refuses (audited) a caller whose role has no cell for `permission`, even on its own resources. */
async function precheck(credential: Credential, permission: Permission, resource?: ResourceRef) {
  const identity = await authenticate(credential, { permission, resource });
  // An own-only cell passes here as if the caller owned the resource: the operation knows the owner and checks it.
  const own = { type: 'api', ...resource, ownerId: identity.userId };
  return permit(identity, permission, own, 'api', credential.refusals?.audit);
}

/**
 * One mapping from errors to answers: 401 (refused token, with WWW-Authenticate), 403 (the seed-3 §8 body), 429,
 * 400 (invalid request, config or input, a path outside the data directory), 404 (unknown run or version),
 * 409 (the run's state or records forbid it: ended, locked, changed outside access-perm), 413, else 500 without
 * internals. `extra` maps a server's own errors first.
 */
export function installErrorHandler(
  app: FastifyInstance,
  extra: (error: Error) => { status: number; body: object } | null = () => null,
): void {
  app.setErrorHandler((error: Error & { statusCode?: number }, req, reply) => {
    const own = extra(error);
    if (own) return reply.code(own.status).send(own.body);
    if (error instanceof TooManyFailuresError)
      return reply
        .code(429)
        .header('retry-after', String(error.retryAfterSeconds))
        .send({ error: 'Too many requests', message: error.message });
    if (error instanceof AuthenticationError)
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="access-perm"')
        .send({ error: 'Not authenticated', reason: error.failure, message: error.message });
    if (error instanceof PermissionDeniedError) return reply.code(403).send(error.toResponse());
    if (error instanceof RequestValidationError)
      return reply.code(400).send({ error: 'Invalid request', message: error.message, issues: error.issues });
    if (
      error instanceof GovernanceError ||
      error instanceof ConfigError ||
      error instanceof InputError ||
      error instanceof PathOutsideError
    )
      return reply.code(400).send({ error: 'Invalid request', message: error.message });
    if (error instanceof JobFailedError) return reply.code(422).send({ error: 'Job failed', message: error.message });
    if (error instanceof UnknownRunError || error instanceof UnknownConfigError)
      return reply.code(404).send({ error: 'Not found', message: error.message });
    if (
      error instanceof RunStateError ||
      error instanceof ArtifactIntegrityError ||
      error instanceof RunLockedError ||
      error instanceof LifecycleStateError ||
      error instanceof LockRequirementError
    )
      return reply.code(409).send({ error: 'Conflict', message: error.message });
    const status = error.statusCode ?? 500;
    if (status === 413)
      return reply.code(413).send({
        error: 'Payload too large',
        message: `request bodies are limited to ${app.initialConfig.bodyLimit} bytes`,
      });
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
}

/**
 * Lifecycle hooks every server needs: keeps the audit log's signed checkpoints fresh while it runs (it holds the
 * keyring), closes keep-alive connections as soon as they are idle on close, and runs `onClose` last.
 */
export function installLifecycle(
  app: FastifyInstance,
  hooks: { onReady?: () => void; onClose?: () => Promise<void> } = {},
): void {
  let idleSweep: NodeJS.Timeout | undefined;
  let stopCheckpoints: (() => void) | undefined;
  app.addHook('onReady', async () => {
    hooks.onReady?.();
    stopCheckpoints = keepAuditCheckpointed();
  });
  app.addHook('preClose', async () => {
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => {
    clearInterval(idleSweep);
    stopCheckpoints?.();
    await hooks.onClose?.();
  });
}
