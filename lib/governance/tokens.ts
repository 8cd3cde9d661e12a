import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { tokenClaimsSchema, type TokenClaims } from '../../schemas/governance';
import { AUTH_FAILURES, AuthenticationError, GovernanceError, type AuthFailure } from './errors';
import { fileExists } from '../data/raw';
import { adoptLegacyTokenSecret, tokenSecret } from '../keys';
import { fileStore } from './store';
import { governanceDir } from './storeDir';

const ALG = 'HS256';

/** Longest token lifetime `auth issue` accepts. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
export const DEFAULT_TOKEN_TTL = '8h';

/** Where an earlier version kept the token secret: in the data directory, which is why it moved to the keyring. */
const legacySecretPath = (): string => join(governanceDir(), 'secret.key');

/**
 * The HS256 signing secret, from the keyring (never from the data directory: a secret planted there signs nothing).
 * An installation that kept its secret in the data directory has it moved to the keyring once, so its tokens keep
 * working.
 */
export async function signingSecret(): Promise<Uint8Array> {
  if (await fileExists(join(governanceDir(), 'users.json'))) await adoptLegacyTokenSecret(legacySecretPath());
  return tokenSecret();
}

/** Parses a lifetime like `90s`, `30m`, `8h`, `7d` into seconds. */
export function parseTtl(ttl: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(ttl.trim());
  if (!m) throw new GovernanceError(`invalid token lifetime ${JSON.stringify(ttl)}: use e.g. 30m, 8h or 7d`);
  const seconds = Math.round(Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']);
  if (seconds <= 0 || seconds > MAX_TOKEN_TTL_SECONDS)
    throw new GovernanceError(`token lifetime must be between 1 s and 30 d, got ${ttl}`);
  return seconds;
}

export interface IssuedToken {
  token: string;
  jti: string;
  userId: string;
  expiresAt: string;
}

/** Signs a token for `userId` and records its id (never the token) so it can be listed and revoked. */
export async function signToken(userId: string, ttlSeconds: number, issuedBy: string): Promise<IssuedToken> {
  const secret = await signingSecret();
  const jti = randomUUID();
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + ttlSeconds;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: ALG, typ: 'JWT' })
    .setSubject(userId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(secret);
  await fileStore.mutate('tokens', (doc) => {
    const now = Math.floor(Date.now() / 1000);
    for (const [id, t] of Object.entries(doc.issued)) if (t.exp < now) delete doc.issued[id];
    doc.issued[jti] = { sub: userId, iat, exp, issuedBy };
  });
  return { token, jti, userId, expiresAt: new Date(exp * 1000).toISOString() };
}

/** A failure to verify, with what can be said about who tried (a verified subject, or an unverified claim). */
export class TokenRejection extends AuthenticationError {
  constructor(
    failure: AuthFailure,
    /** The subject, when the signature was valid (expired, revoked tokens). */
    readonly verifiedSub: string | null,
    /** The subject an unverifiable token claims, sanitised; never trusted. */
    readonly claimedSub: string | null,
  ) {
    super(`authentication failed: ${AUTH_FAILURES[failure]}`, failure);
  }
}

function claimedSubject(token: string): string | null {
  try {
    const sub = decodeJwt(token).sub;
    if (typeof sub !== 'string') return null;
    const clean = sub.replace(/[^A-Za-z0-9._-]/g, '?').slice(0, 64);
    return clean.length > 0 ? clean : null;
  } catch {
    return null;
  }
}

/**
 * Tokens whose signature and claims were verified, by token text, with the secret they were verified against. The
 * signature of the same bytes under the same secret cannot change, so a hit skips the HMAC (the scoring service
 * checks a token per request); expiry and the revocation list are still checked on every call. Bounded: cleared
 * when full.
 */
const verifiedTokens = new Map<string, { secret: Uint8Array; claims: TokenClaims }>();
const VERIFIED_TOKENS_MAX = 1024;

/**
 * Verifies signature (HS256 only), expiry and claims, then the revocation list.
 * Throws TokenRejection naming the failure; never includes the token in messages.
 */
export async function verifyToken(token: string | undefined | null): Promise<TokenClaims> {
  const raw = (token ?? '').trim();
  if (raw.length === 0) throw new TokenRejection('missing', null, null);
  if (raw.split('.').length !== 3) throw new TokenRejection('malformed', null, null);
  const secret = await signingSecret();
  const known = verifiedTokens.get(raw);
  let claims: TokenClaims;
  if (known?.secret === secret) {
    claims = known.claims;
    // jose's rule: expired once exp ≤ now (whole seconds).
    if (claims.exp <= Math.floor(Date.now() / 1000)) throw new TokenRejection('expired', claims.sub, null);
  } else {
    claims = await verifySignedClaims(raw, secret);
    if (verifiedTokens.size >= VERIFIED_TOKENS_MAX) verifiedTokens.clear();
    verifiedTokens.set(raw, { secret, claims });
  }
  const tokens = await fileStore.read('tokens');
  if (tokens.revoked[claims.jti]) throw new TokenRejection('revoked', claims.sub, null);
  return claims;
}

/** Signature, expiry and claims of a token under `secret` (no revocation check). */
async function verifySignedClaims(raw: string, secret: Uint8Array): Promise<TokenClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(raw, secret, {
      algorithms: [ALG],
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
    }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) {
      const sub = tokenClaimsSchema.shape.sub.safeParse(e.payload.sub);
      throw new TokenRejection('expired', sub.success ? sub.data : null, null);
    }
    if (e instanceof joseErrors.JWSSignatureVerificationFailed)
      throw new TokenRejection('signature', null, claimedSubject(raw));
    throw new TokenRejection('malformed', null, claimedSubject(raw));
  }
  const claims = tokenClaimsSchema.safeParse(payload);
  if (!claims.success) throw new TokenRejection('malformed', null, claimedSubject(raw));
  return Object.freeze(claims.data);
}

/** Adds a token id to the revocation list (kept until the token would have expired anyway). */
export async function revokeTokenId(jti: string, revokedBy: string): Promise<{ jti: string; sub: string | null }> {
  return fileStore.mutate('tokens', (doc) => {
    const issued = doc.issued[jti];
    doc.revoked[jti] = { revokedAt: new Date().toISOString(), revokedBy, exp: issued?.exp ?? null };
    const now = Math.floor(Date.now() / 1000);
    for (const [id, r] of Object.entries(doc.revoked)) if (r.exp !== null && r.exp < now) delete doc.revoked[id];
    return { jti, sub: issued?.sub ?? null };
  });
}

/** The subject and id of a token signed by us, even when expired or revoked (for `auth revoke --token-file`). */
export async function inspectOwnToken(token: string): Promise<{ jti: string; sub: string }> {
  const secret = await signingSecret();
  try {
    const { payload } = await jwtVerify(token.trim(), secret, {
      algorithms: [ALG],
      currentDate: new Date(0),
    });
    const claims = tokenClaimsSchema.parse(payload);
    return { jti: claims.jti, sub: claims.sub };
  } catch {
    throw new GovernanceError('that token was not issued by this installation (bad signature or claims)');
  }
}
