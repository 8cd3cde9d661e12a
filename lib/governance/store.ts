import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import {
  delegationsDocSchema,
  tokensDocSchema,
  usersDocSchema,
  type DelegationsDoc,
  type TokensDoc,
  type UsersDoc,
} from '../../schemas/governance';
import { ensureDir, prepareFile, writeFileAtomic } from '../artifacts';
import { fileExists } from '../data/raw';
import { ensureKeyringDir, keyringDir, signRecord, verifyRecord } from '../keys';
import { withFileLock } from '../lock';
import { dataDir } from '../paths';
import { GovernanceError } from './errors';

/** The governance store folder: `<dataDir>/governance` (users, tokens, delegations, secret, audit log). */
export function governanceDir(): string {
  return join(dataDir(), 'governance');
}

/** Creates the folder readable by its owner only (it holds the signing secret). */
export async function ensureGovernanceDir(): Promise<string> {
  const dir = governanceDir();
  await ensureDir(dir, 0o700);
  return dir;
}

/**
 * Runs `fn` while holding an exclusive cross-process lock named `name` in the governance folder.
 * Proper-lockfile keys held locks by target path, so each lock name has its own (nested locks: users → audit).
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = await ensureGovernanceDir();
  return withFileLock(join(dir, name), fn);
}

/** The JSON documents of the embedded store, each with its schema and empty value. */
const DOCS = {
  users: { file: 'users.json', schema: usersDocSchema, empty: (): UsersDoc => ({ version: 1, users: {} }) },
  tokens: {
    file: 'tokens.json',
    schema: tokensDocSchema,
    empty: (): TokensDoc => ({ version: 1, issued: {}, revoked: {} }),
  },
  delegations: {
    file: 'delegations.json',
    schema: delegationsDocSchema,
    empty: (): DelegationsDoc => ({ version: 1, delegations: {} }),
  },
} as const;

export type DocName = keyof typeof DOCS;
export type DocOf<K extends DocName> = ReturnType<(typeof DOCS)[K]['empty']>;

/**
 * Parsed documents by path, keyed by the file's identity: writes replace the file (temp file + rename, a new inode),
 * so an unchanged (inode, size, mtime, ctime) means unchanged content. A `stat` instead of read + parse on every
 * token check (the scoring service checks one per request); role changes still apply at the next check. The cached
 * documents are deep-frozen: `read` hands out the snapshot itself, `mutate` a copy.
 */
const parsedCache = new Map<string, { key: string; doc: unknown }>();

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

async function readDocFile<K extends DocName>(name: K): Promise<DocOf<K>> {
  await ensureStoreSigned();
  const spec = DOCS[name];
  const path = join(governanceDir(), spec.file);
  let key: string;
  let text: string;
  try {
    const info = await stat(path, { bigint: true });
    key = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    const cached = parsedCache.get(path);
    if (cached?.key === key) return cached.doc as DocOf<K>;
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return deepFreeze(spec.empty()) as DocOf<K>;
    throw e;
  }
  const content = await signedContent(path, JSON.parse(text) as Record<string, unknown>);
  const parsed = (spec.schema as z.ZodType).safeParse(content);
  if (!parsed.success) {
    throw new GovernanceError(`governance store file ${path} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  parsedCache.set(path, { key, doc: deepFreeze(parsed.data) });
  return parsed.data as DocOf<K>;
}

/**
 * A store document's content once its signature is checked against the keyring: an edited document is refused, not
 * obeyed. Documents written before the store was signed (no signature, and the keyring has never signed this store)
 * are accepted once and signed at their next write.
 */
async function signedContent(path: string, raw: Record<string, unknown>): Promise<unknown> {
  try {
    return await verifyRecord(raw, `governance store file ${path}`);
  } catch (e) {
    throw new GovernanceError((e as Error).message);
  }
}

/** In the keyring: this data directory's governance store is signed (from then on, unsigned documents are refused). */
const storeSignedMarker = (): string => join(keyringDir(), 'store-signed');
/** The marker last found or written, so the check costs nothing after the first read of a process. */
let storeSignedMarkerSeen: string | null = null;

/**
 * Signs, once, the documents of a store written before documents were signed, then marks the store signed in the
 * keyring (where whoever writes the data directory cannot remove the mark). Later unsigned documents are refused.
 */
async function ensureStoreSigned(): Promise<void> {
  const marker = storeSignedMarker();
  if (storeSignedMarkerSeen === marker) return;
  if (!(await fileExists(marker))) {
    for (const spec of Object.values(DOCS)) {
      const path = join(governanceDir(), spec.file);
      const raw = await readFile(path, 'utf8').then(
        (t) => JSON.parse(t) as Record<string, unknown>,
        () => null,
      );
      if (!raw || raw.signature) continue;
      const valid = (spec.schema as z.ZodType).parse(raw) as object;
      await writeFileAtomic(path, `${JSON.stringify(await signRecord(valid), null, 2)}\n`, 0o600);
    }
    await ensureKeyringDir();
    await writeFile(marker, `${new Date().toISOString()}\n`, { flag: 'wx', mode: 0o600 }).catch(
      (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      },
    );
  }
  storeSignedMarkerSeen = marker;
}

/**
 * What a governance store backend provides: consistent reads and serialised read-modify-write of the three
 * documents (users, tokens, delegations). The embedded file store implements it; a PostgreSQL backend would map
 * `mutate` onto `SELECT … FOR UPDATE` + `UPDATE` in one transaction.
 */
export interface GovernanceStore {
  /** A snapshot to read, frozen: change documents through `mutate`. */
  read<K extends DocName>(name: K): Promise<DocOf<K>>;
  mutate<K extends DocName, T>(
    name: K,
    fn: (doc: DocOf<K>) => T | Promise<T>,
    beforeCommit?: (result: T) => Promise<void>,
  ): Promise<T>;
}

/**
 * The embedded governance store: JSON documents under `<dataDir>/governance/`, written atomically
 * (temp file + rename, so readers never see half a file) inside a cross-process lock (read-modify-write).
 */
export const fileStore: GovernanceStore = {
  /** A consistent snapshot (files are replaced atomically, so no lock is needed to read). */
  read<K extends DocName>(name: K): Promise<DocOf<K>> {
    return readDocFile(name);
  },

  /**
   * Reads, lets `fn` change the document in place, validates it, runs `beforeCommit` (e.g. the audit append, so a
   * change whose audit entry cannot be written is not made), and writes it back, all under the document's lock.
   */
  async mutate<K extends DocName, T>(
    name: K,
    fn: (doc: DocOf<K>) => T | Promise<T>,
    beforeCommit?: (result: T) => Promise<void>,
  ): Promise<T> {
    return withLock(name, async () => {
      const doc = structuredClone(await readDocFile(name));
      const result = await fn(doc);
      const valid = (DOCS[name].schema as z.ZodType).parse(doc) as object;
      const path = join(governanceDir(), DOCS[name].file);
      // Written first (a full disk or read-only folder fails here), audited, then put in place: an action whose
      // audit entry cannot be written is not made, and none is audited as done that was not.
      const prepared = await prepareFile(path, `${JSON.stringify(await signRecord(valid), null, 2)}\n`, 0o600);
      try {
        await beforeCommit?.(result);
      } catch (e) {
        await prepared.discard();
        throw e;
      }
      await prepared.commit();
      return result;
    });
  },
};
