/**
 * Capabilities: what access-perm sends to Temporal instead of a person's token. A process that verified the token
 * (the CLI, the API) issues one for exactly one operation on one run and one request, for minutes; the activity
 * that acts on it claims it for its workflow execution and step, once. Anyone who reads a history finds only
 * capabilities that are used or about to expire, bound to a request that was already made.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  capabilitySchema,
  type AuditSource,
  type Capability,
  type CapabilityOperation,
  type Permission,
  type ResolvedIdentity,
} from '../../schemas/governance';
import { canonicalJson, sha256Hex } from '../hash';
import { ensureKeyringDir, keyringDir } from '../keys';
import { auditAuthFailure, authenticate, identityOf, permit, type Credential, type ResourceRef } from './authorize';
import { AUTH_FAILURES, AuthenticationError, GovernanceError, type AuthFailure } from './errors';
import { signingSecret } from './tokens';

export const DEFAULT_CAPABILITY_TTL_SECONDS = 600;
export const MAX_CAPABILITY_TTL_SECONDS = 3600;

/** The key capabilities are signed with: derived from the token secret, so it never signs a token. */
async function capabilityKey(): Promise<Buffer> {
  return Buffer.from(hkdfSync('sha256', await signingSecret(), new Uint8Array(0), 'access-perm capability v1', 32));
}

const macOf = (key: Buffer, unsigned: Omit<Capability, 'mac'>): string =>
  createHmac('sha256', key).update(canonicalJson(unsigned)).digest('hex');

/** The digest a capability binds its request by: sha256 of the canonical JSON, without the capability itself. */
export function requestDigest(request: Record<string, unknown>): string {
  const { capability: _ignored, ...rest } = request;
  return sha256Hex(canonicalJson(rest));
}

export interface CapabilityRequest {
  op: CapabilityOperation;
  runId: string;
  /** The exact request the capability allows (workflow input, signal or update argument), without `capability`. */
  request: Record<string, unknown>;
  ttlSeconds?: number;
}

/**
 * Proves the caller's token (refusals audited) and issues a capability for one operation on one run and one request.
 * Whether the caller's role allows the operation is decided when the capability is used, by the role in force then.
 * @example const capability = await issueCapability({ token, source: 'cli' }, { op: 'lockRun', runId, request: { reason } });
 */
export async function issueCapability(credential: Credential, spec: CapabilityRequest): Promise<Capability> {
  const ttl = spec.ttlSeconds ?? DEFAULT_CAPABILITY_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_CAPABILITY_TTL_SECONDS)
    throw new GovernanceError(`capability lifetime must be 1 to ${MAX_CAPABILITY_TTL_SECONDS} seconds, got ${ttl}`);
  const identity = await authenticate(credential, { resource: { type: 'run', id: spec.runId } });
  const unsigned = capabilitySchema.omit({ mac: true }).parse({
    v: 1,
    id: randomBytes(16).toString('hex'),
    user: identity.userId,
    op: spec.op,
    run: spec.runId,
    req: requestDigest(spec.request),
    exp: new Date(Date.now() + ttl * 1000).toISOString(),
  });
  return { ...unsigned, mac: macOf(await capabilityKey(), unsigned) };
}

/** Who uses a capability: one step of one workflow execution (a retried activity is the same claimant). */
export interface Claimant {
  workflowId: string;
  workflowRunId: string;
  /** The operation within the execution (the lifecycle numbers its operations), so a replayed signal is another. */
  step: string;
}

/** What the capability must have been issued for. */
export interface ExpectedUse {
  op: CapabilityOperation;
  runId: string;
  request: Record<string, unknown>;
}

/** Claims sit in the keyring: whoever can write the data directory must not be able to clear one and replay. */
const claimsDir = (): string => join(keyringDir(), 'capability-claims');
const claimFile = (id: string): string => join(claimsDir(), `${id}.json`);
const sameClaimant = (a: Claimant, b: Claimant): boolean =>
  a.workflowId === b.workflowId && a.workflowRunId === b.workflowRunId && a.step === b.step;

/** Removes claims of capabilities expired for longer than the longest lifetime: they can never be presented again. */
async function pruneClaims(now: number): Promise<void> {
  for (const name of await readdir(claimsDir()).catch(() => [] as string[])) {
    const path = join(claimsDir(), name);
    const claim = await readFile(path, 'utf8')
      .then((t) => JSON.parse(t) as { exp?: string })
      .catch(() => null);
    if (claim?.exp && Date.parse(claim.exp) + MAX_CAPABILITY_TTL_SECONDS * 1000 < now) await rm(path, { force: true });
  }
}

/**
 * Verifies a capability (signature, expiry, operation, run, request) and claims it for `claimant`: the first claim
 * wins (an exclusive file create), the same claimant may present it again (activity retries, the check before the
 * change), anyone else is refused. Every refusal is audited as `authentication_failed`.
 */
/** The wording where a capability's failure differs from a token's. */
const CAPABILITY_FAILURES: Partial<Record<AuthFailure, string>> = {
  missing: 'missing capability',
  malformed: 'malformed capability',
  expired: 'capability expired',
};

async function claim(
  raw: unknown,
  expected: ExpectedUse,
  claimant: Claimant,
  source: AuditSource,
): Promise<Capability> {
  const resource: ResourceRef = { type: 'run', id: expected.runId, runId: expected.runId };
  const refuse = async (failure: AuthFailure, user: string | null): Promise<never> => {
    const e = new AuthenticationError(
      `capability refused: ${CAPABILITY_FAILURES[failure] ?? AUTH_FAILURES[failure]}`,
      failure,
    );
    await auditAuthFailure(e, source, undefined, resource, user);
    throw e;
  };
  if (raw === undefined || raw === null) return refuse('missing', null);
  const parsed = capabilitySchema.safeParse(raw);
  if (!parsed.success) return refuse('malformed', null);
  const cap = parsed.data;
  const { mac, ...unsigned } = cap;
  const expectedMac = Buffer.from(macOf(await capabilityKey(), unsigned), 'hex');
  if (!timingSafeEqual(expectedMac, Buffer.from(mac, 'hex'))) return refuse('signature', null);
  const now = Date.now();
  if (Date.parse(cap.exp) <= now) return refuse('expired', cap.user);
  if (cap.op !== expected.op || cap.run !== expected.runId || cap.req !== requestDigest(expected.request))
    return refuse('capabilityMismatch', cap.user);
  await ensureKeyringDir();
  await mkdir(claimsDir(), { recursive: true, mode: 0o700 });
  const record = { id: cap.id, user: cap.user, op: cap.op, run: cap.run, exp: cap.exp, claimant, at: new Date(now) };
  try {
    await writeFile(claimFile(cap.id), `${JSON.stringify(record)}\n`, { flag: 'wx', mode: 0o600 });
    await pruneClaims(now);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const existing = JSON.parse(await readFile(claimFile(cap.id), 'utf8')) as { claimant: Claimant };
    if (!sameClaimant(existing.claimant, claimant)) return refuse('capabilityUsed', cap.user);
  }
  return cap;
}

/**
 * The choke point for operations that arrive through Temporal: claims the capability for `claimant` (see `claim`),
 * looks the user's role up now and checks `permission` on `resource` by the matrix (a denial audited as
 * `permission_denied`). Returns who acts: the capability's user, never a name from the payload.
 */
export async function authorizeCapability(
  raw: unknown,
  expected: ExpectedUse,
  claimant: Claimant,
  permission: Permission,
  resource: ResourceRef,
): Promise<ResolvedIdentity> {
  const cap = await claim(raw, expected, claimant, 'workflow');
  const identity = await identityOf(cap.user, { source: 'workflow', permission, resource });
  return permit(identity, permission, resource, 'workflow');
}

/** Claims a capability and returns the current identity of its user, without a permission check (callers decide). */
export async function capabilityIdentity(
  raw: unknown,
  expected: ExpectedUse,
  claimant: Claimant,
  resource: ResourceRef,
): Promise<ResolvedIdentity> {
  const cap = await claim(raw, expected, claimant, 'workflow');
  return identityOf(cap.user, { source: 'workflow', resource });
}
