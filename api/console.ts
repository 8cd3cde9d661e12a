/**
 * The web console (issue: a console for validators, reviewers and viewers): its pages under `/console/` and its
 * sessions under `/session`. A token pasted once is exchanged for an HttpOnly, SameSite=Strict session cookie; a
 * request carrying the cookie instead of a bearer token acts as the session's user, and every state change made
 * with it must also carry the session's CSRF token. Sessions live in this process (a restart signs everyone out)
 * and end with their token, after {@link SESSION_HOURS} hours, or at sign-out.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticate, AuthenticationError, isAllowed, MATRIX } from '../lib/governance';
import { PROJECT_ROOT } from '../lib/paths';
import { parseInput } from '../lib/serve';
import type { ResolvedIdentity } from '../schemas/governance';

export const SESSION_COOKIE = 'ap_session';
export const CSRF_HEADER = 'x-csrf-token';
const SESSION_HOURS = 8;

/** The console's files: nothing else under /console/ is served. */
const PAGES: Record<string, string> = {
  '': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
};

/**
 * `/console/charts.js`: vega and its expression interpreter, bundled from `console/charts.entry.js` and the
 * installed packages on the first request (about 0.2 s), then kept; no build step, and never stale.
 */
let chartsBundle: Promise<Buffer> | null = null;
function chartsScript(): Promise<Buffer> {
  chartsBundle ??= build({
    entryPoints: [join(PROJECT_ROOT, 'console', 'charts.entry.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  }).then(
    (out) => Buffer.from(out.outputFiles[0]!.contents),
    (e: unknown) => {
      chartsBundle = null;
      throw e;
    },
  );
  return chartsBundle;
}

/** Everything from this origin, nothing inline, nothing evaluated, no framing. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Thrown for a state change made with a session cookie but without its CSRF token: 403. */
export class CsrfError extends Error {
  override name = 'CsrfError';
}

interface Session {
  token: string;
  csrf: string;
  expiresAt: number;
}

const signInBodySchema = z.strictObject({ token: z.string().min(1).max(4096) });

const cookieOf = (req: FastifyRequest, name: string): string | null => {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return null;
};

const sameSecret = (a: string, b: string): boolean =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console's sessions, in this process. */
export class ConsoleSessions {
  private readonly sessions = new Map<string, Session>();

  /** The session a request's cookie names, if it is still open. */
  private open(req: FastifyRequest): { id: string; session: Session } | null {
    const id = cookieOf(req, SESSION_COOKIE);
    const session = id ? this.sessions.get(id) : undefined;
    if (!id || !session) return null;
    if (session.expiresAt <= Date.now()) {
      this.sessions.delete(id);
      return null;
    }
    return { id, session };
  }

  /**
   * The token a request without a bearer token acts with: its session's, once a state change has shown the CSRF
   * token. A cookie naming no open session is answered as signed out.
   */
  tokenFor(req: FastifyRequest): string | null {
    if (!cookieOf(req, SESSION_COOKIE)) return null;
    const open = this.open(req);
    if (!open) throw new AuthenticationError('your console session has ended: sign in again', 'missing');
    const sent = req.headers[CSRF_HEADER];
    if (!SAFE_METHODS.has(req.method) && !(typeof sent === 'string' && sameSecret(sent, open.session.csrf)))
      throw new CsrfError(`a change made with the console's session needs its ${CSRF_HEADER} header`);
    return open.session.token;
  }

  /** `/session`: sign in (POST), who is signed in (GET), sign out (DELETE); and the console's pages. */
  install(app: FastifyInstance): void {
    const describe = (identity: ResolvedIdentity, session: Session) => ({
      userId: identity.userId,
      role: identity.role,
      expiresAt: new Date(session.expiresAt).toISOString(),
      csrf: session.csrf,
      permissions: MATRIX.map((row) => row.permission).filter((p) => isAllowed(identity, p).allowed),
    });

    app.post('/session', async (req, reply) => {
      const { token } = parseInput(signInBodySchema, req.body ?? {}, 'body');
      const identity = await authenticate({ token, source: 'api' });
      const tokenEnds = identity.tokenExpiresAt ? Date.parse(identity.tokenExpiresAt) : Infinity;
      const session = {
        token,
        csrf: randomBytes(24).toString('base64url'),
        expiresAt: Math.min(tokenEnds, Date.now() + SESSION_HOURS * 3_600_000),
      };
      const id = randomBytes(32).toString('base64url');
      this.sessions.set(id, session);
      const maxAge = Math.max(0, Math.floor((session.expiresAt - Date.now()) / 1000));
      setCookie(reply, req, `${id}; Max-Age=${maxAge}`);
      return reply.code(201).send(describe(identity, session));
    });

    app.get('/session', async (req, reply) => {
      const open = this.open(req);
      if (!open) throw new AuthenticationError('not signed in: paste a token to sign in', 'missing');
      // A token revoked or expired since sign-in ends the session with it.
      const identity = await authenticate({ token: open.session.token, source: 'api' }).catch((e: unknown) => {
        this.sessions.delete(open.id);
        throw e;
      });
      return reply.send(describe(identity, open.session));
    });

    app.delete('/session', async (req, reply) => {
      const open = this.open(req);
      if (open) {
        this.tokenFor(req);
        this.sessions.delete(open.id);
      }
      setCookie(reply, req, '; Max-Age=0');
      return reply.code(204).send();
    });

    app.get('/console', async (_req, reply) => reply.redirect('/console/'));
    app.get('/console/*', async (req, reply) => {
      const name = (req.params as { '*': string })['*'];
      const type = PAGES[name];
      if (type === undefined) return reply.code(404).send({ error: 'Not found', message: `no console page ${name}` });
      const body =
        name === 'charts.js'
          ? await chartsScript()
          : await readFile(join(PROJECT_ROOT, 'console', name || 'index.html'));
      return reply
        .headers({
          'content-security-policy': CONSOLE_CSP,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'cache-control': 'no-store',
        })
        .type(type)
        .send(body);
    });
  }
}

/** The session cookie: HttpOnly, SameSite=Strict, for the whole origin; Secure when the request came over TLS. */
function setCookie(reply: FastifyReply, req: FastifyRequest, value: string): void {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${secure}`);
}
