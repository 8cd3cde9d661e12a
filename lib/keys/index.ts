/**
 * The keyring: the keys that make records prove themselves, held outside the data directory, so whoever can write
 * the data directory cannot mint a token or sign a record. It holds the token secret (HS256 tokens, and the key
 * capabilities are derived from) and Ed25519 signing keys: the current one signs, every earlier one still verifies.
 *
 * Where: `ACCESS_PERM_KEYRING`, else `<data dir>.keyring` beside (never inside) the data directory. Processes that
 * change governed state (the CLI, the worker, the services) read it; an auditor needs only a public key.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmod, link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { writeFileAfter, writeFileAtomic } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { canonicalJson } from '../hash';
import { dataDir, isInside } from '../paths';

/** Thrown when the keyring is missing, unreadable, inside the data directory, or readable by others. */
export class KeyringError extends Error {
  override name = 'KeyringError';
}

/** Thrown when a record's signature is missing, unknown or does not match its content, or it is not the pinned one. */
export class RecordSignatureError extends ArtifactIntegrityError {
  override name = 'RecordSignatureError';
}

export const KEYRING_ENV = 'ACCESS_PERM_KEYRING';

/** The keyring folder: ACCESS_PERM_KEYRING, else `<data dir>.keyring`. */
export function keyringDir(): string {
  const fromEnv = process.env[KEYRING_ENV];
  return fromEnv ? resolve(fromEnv) : `${dataDir()}.keyring`;
}

const SIGNING_DIR = 'signing';
const CURRENT_FILE = 'current';
const TOKEN_SECRET_FILE = 'token.secret';

/** Creates `path` with `content` (mode 0600) unless it exists: two processes racing agree on one file. */
async function createOnce(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, content, { mode: 0o600 });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The keyring folder, created owner-only; refused when it lies inside the data directory. */
export async function ensureKeyringDir(): Promise<string> {
  const dir = keyringDir();
  if (await isInside(dataDir(), dir))
    throw new KeyringError(
      `the keyring ${dir} is inside the data directory ${dataDir()}: whoever writes the data directory could use it; set ${KEYRING_ENV} to a folder outside`,
    );
  await mkdir(join(dir, SIGNING_DIR), { recursive: true, mode: 0o700 });
  return dir;
}

/** Reads a secret file, refusing one that others can read. */
async function readPrivate(path: string): Promise<string> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0)
    throw new KeyringError(`${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`);
  return readFile(path, 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// The token secret

export const tokenSecretPath = (): string => join(keyringDir(), TOKEN_SECRET_FILE);

/** The secret last read, keyed by the file's identity (inode, size, times, mode): a stat per token check. */
let secretCache: { path: string; key: string; secret: Uint8Array } | null = null;

async function readSecretFile(path: string): Promise<Uint8Array> {
  const info = await stat(path, { bigint: true });
  const key = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}:${info.mode}`;
  if (secretCache?.path === path && secretCache.key === key) return secretCache.secret;
  const secret = decodeSecret(path, await readPrivate(path));
  secretCache = { path, key, secret };
  return secret;
}

/** The secret that signs tokens, created on first use (32 random bytes, base64url, mode 0600). */
export async function tokenSecret(): Promise<Uint8Array> {
  const path = tokenSecretPath();
  try {
    return await readSecretFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await ensureKeyringDir();
  await createOnce(path, `${randomBytes(32).toString('base64url')}\n`);
  return readSecretFile(path);
}

function decodeSecret(path: string, text: string): Uint8Array {
  const bytes = Buffer.from(text.trim(), 'base64url');
  if (bytes.length < 32) throw new KeyringError(`the token secret ${path} is too short`);
  return new Uint8Array(bytes);
}

/**
 * Moves a token secret an earlier version kept in the data directory into the keyring, once, so tokens issued before
 * keep working; returns whether it moved one. Never when the keyring has a secret already: a secret planted in the
 * data directory later is ignored (and removed).
 */
export async function adoptLegacyTokenSecret(legacyPath: string): Promise<boolean> {
  let legacy: string;
  try {
    legacy = await readFile(legacyPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  await ensureKeyringDir();
  const adopted = await createOnce(tokenSecretPath(), legacy);
  await rm(legacyPath, { force: true });
  return adopted;
}

// ---------------------------------------------------------------------------------------------------------------
// Signing keys

/** A signing key's id: the first 16 hex of the sha256 of its public key (SPKI DER), also its fingerprint. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

export interface KeyInfo {
  keyId: string;
  /** sha256 of the public key (SPKI DER), in full. */
  fingerprint: string;
  current: boolean;
  createdAt: string;
}

async function createSigningKey(dir: string): Promise<string> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  await createOnce(
    join(dir, SIGNING_DIR, `${keyId}.key`),
    privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
  await writeFileAtomic(join(dir, SIGNING_DIR, `${keyId}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
  return keyId;
}

/** The current signing key, created on first use. */
async function currentKey(): Promise<{ keyId: string; privateKey: KeyObject }> {
  const dir = keyringDir();
  const currentPath = join(dir, SIGNING_DIR, CURRENT_FILE);
  let keyId = await readFile(currentPath, 'utf8')
    .then((t) => t.trim())
    .catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
  if (!keyId) {
    await ensureKeyringDir();
    const created = await createSigningKey(dir);
    await createOnce(currentPath, `${created}\n`);
    keyId = (await readFile(currentPath, 'utf8')).trim();
  }
  return { keyId, privateKey: parsedPrivateKey(await readPrivate(join(dir, SIGNING_DIR, `${keyId}.key`))) };
}

// Keys parsed from their PEM text, by that text: every signature and record check reads the keyring again (so a
// rotation or a removed key counts at once), and parsing and fingerprinting cost more than the reading.
const publicKeys = new Map<string, { keyId: string; key: KeyObject }>();
const privateKeys = new Map<string, KeyObject>();

function parsedPublicKey(pem: string): { keyId: string; key: KeyObject } {
  let parsed = publicKeys.get(pem);
  if (!parsed) {
    const key = createPublicKey(pem);
    parsed = { keyId: keyIdOf(key), key };
    publicKeys.set(pem, parsed);
  }
  return parsed;
}

function parsedPrivateKey(pem: string): KeyObject {
  let key = privateKeys.get(pem);
  if (!key) {
    key = createPrivateKey(pem);
    privateKeys.set(pem, key);
  }
  return key;
}

/** Every public key of the keyring (the current one and those rotated out), by key id. */
export async function keyringPublicKeys(): Promise<Map<string, KeyObject>> {
  const dir = join(keyringDir(), SIGNING_DIR);
  const keys = new Map<string, KeyObject>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.pub')) continue;
    const { keyId, key } = parsedPublicKey(await readFile(join(dir, name), 'utf8'));
    keys.set(keyId, key);
  }
  return keys;
}

/** Public keys read from PEM files an auditor holds (no keyring needed), by key id. */
export async function publicKeysFrom(paths: readonly string[]): Promise<Map<string, KeyObject>> {
  const keys = new Map<string, KeyObject>();
  for (const path of paths) {
    const { keyId, key } = parsedPublicKey(await readFile(path, 'utf8'));
    keys.set(keyId, key);
  }
  return keys;
}

/** Creates the keyring's signing key and token secret if missing; lists the keys. */
export async function initKeyring(): Promise<KeyInfo[]> {
  await currentKey();
  await tokenSecret();
  return listKeys();
}

/** A new current signing key; the earlier ones keep verifying what they signed. */
export async function rotateSigningKey(): Promise<KeyInfo[]> {
  const dir = await ensureKeyringDir();
  const keyId = await createSigningKey(dir);
  await writeFileAtomic(join(dir, SIGNING_DIR, CURRENT_FILE), `${keyId}\n`);
  await chmod(join(dir, SIGNING_DIR, CURRENT_FILE), 0o600);
  return listKeys();
}

/** The keyring's signing keys with their fingerprints, the current one marked. */
export async function listKeys(): Promise<KeyInfo[]> {
  const dir = join(keyringDir(), SIGNING_DIR);
  const current = await readFile(join(dir, CURRENT_FILE), 'utf8').then(
    (t) => t.trim(),
    () => null,
  );
  const infos: KeyInfo[] = [];
  for (const [keyId, key] of await keyringPublicKeys()) {
    infos.push({
      keyId,
      fingerprint: createHash('sha256')
        .update(key.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
      current: keyId === current,
      createdAt: (await stat(join(dir, `${keyId}.pub`))).birthtime.toISOString(),
    });
  }
  return infos.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** The PEM of a public key of the keyring, for auditors (`keys show --public-key`). */
export async function publicKeyPem(keyId: string): Promise<string> {
  return readFile(join(keyringDir(), SIGNING_DIR, `${basename(keyId)}.pub`), 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// Signed records

/** A record's signature: Ed25519 over the canonical JSON of the record without its `signature`. */
export interface RecordSignature {
  alg: 'Ed25519';
  key_id: string;
  value: string;
}

/** Signs bytes with the current key. */
export async function signBytes(data: Buffer | string): Promise<RecordSignature> {
  const { keyId, privateKey } = await currentKey();
  return { alg: 'Ed25519', key_id: keyId, value: sign(null, Buffer.from(data), privateKey).toString('base64') };
}

/** Whether `signature` is a valid signature of `data` by one of `keys`. */
export function verifyBytes(data: Buffer | string, signature: RecordSignature, keys: Map<string, KeyObject>): boolean {
  const key = keys.get(signature.key_id);
  if (!key || signature.alg !== 'Ed25519') return false;
  return verify(null, Buffer.from(data), key, Buffer.from(signature.value, 'base64'));
}

/** `record` with its signature. */
export async function signRecord<T extends object>(record: T): Promise<T & { signature: RecordSignature }> {
  const { signature: _old, ...content } = record as T & { signature?: unknown };
  return { ...(content as T), signature: await signBytes(canonicalJson(content)) };
}

/**
 * Checks a record's signature against the keyring (or `keys`); returns the record without it.
 * @throws RecordSignatureError naming `what` when the signature is missing, from an unknown key, or does not match.
 */
export async function verifyRecord<T extends object>(
  record: T & { signature?: RecordSignature },
  what: string,
  keys?: Map<string, KeyObject>,
): Promise<T> {
  const { signature, ...content } = record;
  if (!signature) throw new RecordSignatureError(`${what} is not signed: refused (it was written outside access-perm)`);
  const known = keys ?? (await keyringPublicKeys());
  if (!known.has(signature.key_id))
    throw new RecordSignatureError(
      `${what} is signed by key ${signature.key_id}, which is not one of the public keys it was checked with (the keyring's, or those given): refused`,
    );
  if (!verifyBytes(canonicalJson(content), signature, known))
    throw new RecordSignatureError(`${what} does not match its signature: it was changed outside access-perm`);
  return content as T;
}

// ---------------------------------------------------------------------------------------------------------------
// Pins

/**
 * The keyring remembers the signature of the latest record of each kind and id (a run's lock, the deployment), so
 * an older signed copy put back, or the record deleted, is noticed: a valid signature alone cannot tell.
 */
const pinPath = (kind: string, id: string, ext: 'sig' | 'seq'): string =>
  join(keyringDir(), 'pins', basename(kind), `${basename(id)}.${ext}`);

async function writePin(kind: string, id: string, ext: 'sig' | 'seq', value: string): Promise<void> {
  await ensureKeyringDir();
  await mkdir(join(keyringDir(), 'pins', basename(kind)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(pinPath(kind, id, ext), `${value}\n`, 0o600);
}

async function readPin(kind: string, id: string, ext: 'sig' | 'seq'): Promise<string | null> {
  try {
    return (await readFile(pinPath(kind, id, ext), 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The first line of a pin while the first record of its kind/id is being written. */
const NO_PIN = '-';

/**
 * The signatures pinned for `kind`/`id`: the latest record's (first line; null when none was written, or signed
 * before pins) and, while a write is under way, the one being put in place (second line).
 */
async function pinnedSignatures(kind: string, id: string): Promise<{ current: string | null; pending: string | null }> {
  const [current, pending] = ((await readPin(kind, id, 'sig')) ?? '').split('\n');
  return { current: current && current !== NO_PIN ? current : null, pending: pending || null };
}

/**
 * Puts a signed record of `kind`/`id` in place (`put`) and pins its signature as the latest. Its signature is pinned
 * as pending first, so that a reader between the file and the pin (the new record with the old pin) accepts it: a
 * reader then took the new file for an older copy put back.
 */
export async function commitPinnedRecord(
  kind: string,
  id: string,
  signature: RecordSignature,
  put: () => Promise<void>,
): Promise<void> {
  const { current } = await pinnedSignatures(kind, id);
  await writePin(kind, id, 'sig', `${current ?? NO_PIN}\n${signature.value}`);
  try {
    await put();
  } catch (e) {
    // Not put in place (e.g. its audit entry failed): a copy of it must not be accepted later.
    if (current) await writePin(kind, id, 'sig', current);
    else await rm(pinPath(kind, id, 'sig'), { force: true });
    throw e;
  }
  await writePin(kind, id, 'sig', signature.value);
}

/** The signature pinned for `kind`/`id`, or null when none is (never signed, or signed before pins). */
export const pinnedSignature = async (kind: string, id: string): Promise<string | null> =>
  (await pinnedSignatures(kind, id)).current;

/*
 * Records rewritten many times (a run's monitoring manifest, the schedules) carry a `sequence` that grows with every
 * write; the keyring keeps the highest one written, so an older signed copy put back, or the file deleted, is
 * noticed even when a write was interrupted between the file and the pin.
 */

/** Pins `sequence` as the latest written for `kind`/`id`. Call it after the record is in place. */
export const pinSequence = (kind: string, id: string, sequence: number): Promise<void> =>
  writePin(kind, id, 'seq', String(sequence));

/**
 * Signs a sequenced record (its `sequence` one above the record it replaces; the caller holds the record's lock) into
 * `path` and pins the sequence. The file is written first (a full disk or a read-only folder fails there), then
 * `beforeCommit` runs (the change's audit entry), then the file is put in place and pinned: a change whose audit entry
 * cannot be written is not made. A write interrupted after the file leaves it newer than the pin, which reads accept.
 */
export async function commitSequencedRecord(
  path: string,
  record: { sequence: number },
  kind: string,
  id: string,
  beforeCommit?: () => Promise<void>,
  mode?: number,
): Promise<void> {
  const text = `${JSON.stringify(await signRecord(record), null, 2)}\n`;
  await writeFileAfter(path, text, async () => beforeCommit?.(), mode);
  await pinSequence(kind, id, record.sequence);
}

/** The sequence pinned for `kind`/`id`, or null when none was written yet. */
export async function pinnedSequence(kind: string, id: string): Promise<number | null> {
  const pinned = await readPin(kind, id, 'seq');
  return pinned === null ? null : Number(pinned);
}

/**
 * Verifies a signed, sequenced record and that it is not older than the latest one written for `kind`/`id`: its
 * content, or a RecordSignatureError naming `what`.
 */
export async function verifySequencedRecord<T extends { sequence: number }>(
  record: T & { signature?: RecordSignature },
  what: string,
  kind: string,
  id: string,
): Promise<T> {
  const content = await verifyRecord(record, what);
  await assertLatestSequence(content.sequence, what, kind, id);
  return content;
}

/** Refuses a verified record whose `sequence` is below the one pinned for `kind`/`id` (an older copy put back). */
export async function assertLatestSequence(sequence: number, what: string, kind: string, id: string): Promise<void> {
  const pinned = await pinnedSequence(kind, id);
  if (pinned !== null && !(sequence >= pinned))
    throw new RecordSignatureError(
      `${what} is signed but is not the latest one access-perm wrote (write ${sequence} of ${pinned}: an older copy was put back): refused`,
    );
}

/**
 * Verifies a signed record and that it is the one pinned for `kind`/`id` (when one is): its content, or a
 * RecordSignatureError naming `what`.
 */
export async function verifyPinnedRecord<T extends object>(
  record: T & { signature?: RecordSignature },
  what: string,
  kind: string,
  id: string,
): Promise<T> {
  const content = await verifyRecord(record, what);
  const { current, pending } = await pinnedSignatures(kind, id);
  if (current && current !== record.signature!.value && pending !== record.signature!.value)
    throw new RecordSignatureError(
      `${what} is signed but is not the latest one access-perm wrote (an older copy was put back): refused`,
    );
  return content;
}
