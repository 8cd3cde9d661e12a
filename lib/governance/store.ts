import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
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
import { writeFileAtomic } from '../artifacts';
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
  await mkdir(dir, { recursive: true, mode: 0o700 });
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
  const parsed = (spec.schema as z.ZodType).safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new GovernanceError(`governance store file ${path} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  parsedCache.set(path, { key, doc: deepFreeze(parsed.data) });
  return parsed.data as DocOf<K>;
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
      const valid = (DOCS[name].schema as z.ZodType).parse(doc);
      await beforeCommit?.(result);
      const path = join(governanceDir(), DOCS[name].file);
      await writeFileAtomic(path, `${JSON.stringify(valid, null, 2)}\n`);
      await chmod(path, 0o600);
      return result;
    });
  },
};
