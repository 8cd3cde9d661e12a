import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  delegationsDocSchema,
  tokensDocSchema,
  usersDocSchema,
  type DelegationsDoc,
  type TokensDoc,
  type UsersDoc,
} from '../../schemas/governance';
import { writeFileAtomic } from '../artifacts';
import { fileExists } from '../data/raw';
import {
  commitSequencedRecord,
  ensureKeyringDir,
  keyringDir,
  pinnedSequence,
  signRecord,
  verifyRecord,
  verifySequencedRecord,
  type RecordSignature,
} from '../keys';
import { auditAdoption } from './audit';
import { GovernanceError } from './errors';
import { governanceDir, withLock } from './storeDir';

/** Documents as written before sequences (version 1, no `sequence`): read only to adopt them. */
const legacyOf = <S extends z.ZodObject>(schema: S) =>
  schema.omit({ sequence: true }).extend({ version: z.literal(1) });

/** The JSON documents of the embedded store, each with its schema, its version-1 schema and empty value. */
const DOCS = {
  users: {
    file: 'users.json',
    schema: usersDocSchema,
    legacy: legacyOf(usersDocSchema),
    empty: (): UsersDoc => ({ version: 2, sequence: 0, users: {} }),
  },
  tokens: {
    file: 'tokens.json',
    schema: tokensDocSchema,
    legacy: legacyOf(tokensDocSchema),
    empty: (): TokensDoc => ({ version: 2, sequence: 0, issued: {}, revoked: {} }),
  },
  delegations: {
    file: 'delegations.json',
    schema: delegationsDocSchema,
    legacy: legacyOf(delegationsDocSchema),
    empty: (): DelegationsDoc => ({ version: 2, sequence: 0, delegations: {} }),
  },
} as const;

export type DocName = keyof typeof DOCS;
export type DocOf<K extends DocName> = ReturnType<(typeof DOCS)[K]['empty']>;

/**
 * The keyring pins each document's latest `sequence` (kind `governance-store`, id the document's name): a signature
 * alone cannot tell an older signed copy put back (a revoked token's entry gone, a demoted ADMIN's role back), or a
 * deleted file read as empty, from the latest one.
 */
const STORE_PIN = 'governance-store';

const docPath = (name: DocName): string => join(governanceDir(), DOCS[name].file);
const what = (name: DocName): string => `governance store file ${docPath(name)}`;

/**
 * Parsed documents by path, keyed by the file's identity: writes replace the file (temp file + rename, a new inode),
 * so an unchanged (inode, size, mtime, ctime) means unchanged content. A `stat` instead of read + parse on every
 * token check (the scoring service checks one per request); role changes still apply at the next check. A copy put
 * back has another identity (its ctime is now), so it is never served from here: it is checked against the pin. The
 * cached documents are deep-frozen: `read` hands out the snapshot itself, `mutate` a copy.
 */
const parsedCache = new Map<string, { key: string; doc: unknown }>();

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * A document, its signature and sequence checked. `locked`: the caller holds the document's lock (a version-1
 * document is then adopted without taking it again).
 */
async function readDocFile<K extends DocName>(name: K, locked = false): Promise<DocOf<K>> {
  await ensureStoreSigned();
  const spec = DOCS[name];
  const path = docPath(name);
  let key: string;
  let text: string;
  try {
    const info = await stat(path, { bigint: true });
    key = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    const cached = parsedCache.get(path);
    if (cached?.key === key) return cached.doc as DocOf<K>;
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const pinned = await pinnedSequence(STORE_PIN, name);
    if (pinned)
      throw new GovernanceError(
        `${what(name)} was deleted after access-perm wrote it (write ${pinned}, which the keyring holds): refused; restore it from a backup`,
      );
    return deepFreeze(spec.empty()) as DocOf<K>;
  }
  const raw = JSON.parse(text) as Record<string, unknown> & { sequence: number; signature?: RecordSignature };
  if (raw.version === 1) {
    const pinned = await pinnedSequence(STORE_PIN, name);
    if (pinned !== null)
      throw new GovernanceError(
        `${what(name)} is signed but was written before this store was sequenced, and the keyring holds write ${pinned}: an older copy was put back: refused`,
      );
    return locked ? adoptLegacyDoc(name) : withLock(name, () => adoptLegacyDoc(name));
  }
  let content: unknown;
  try {
    content = await verifySequencedRecord(raw, what(name), STORE_PIN, name);
  } catch (e) {
    throw new GovernanceError((e as Error).message);
  }
  const parsed = (spec.schema as z.ZodType).safeParse(content);
  if (!parsed.success) {
    throw new GovernanceError(`${what(name)} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  parsedCache.set(path, { key, doc: deepFreeze(parsed.data) });
  return parsed.data as DocOf<K>;
}

/**
 * Signs `doc` into place and pins its sequence; the caller holds the document's lock. Written first (a full disk or
 * read-only folder fails here), `beforeCommit` (the audit entry) next, then put in place and pinned: a change whose
 * audit entry cannot be written is not made, and none is audited as done that was not.
 */
async function writeDocLocked(name: DocName, doc: object, beforeCommit?: () => Promise<void>): Promise<void> {
  const valid = (DOCS[name].schema as z.ZodType).parse(doc) as { sequence: number };
  await commitSequencedRecord(docPath(name), valid, STORE_PIN, name, beforeCommit, 0o600);
}

/**
 * Adopts, once, a signed document written before this store was sequenced (version 1, and no pin in the keyring):
 * its signature is checked, it is written again as version 2 with sequence 1 and pinned, and the adoption is audited
 * (`governance_store_adopted`, with the sha256 of what was adopted). From then on a version-1 copy is refused. The
 * caller holds the document's lock.
 */
async function adoptLegacyDoc<K extends DocName>(name: K): Promise<DocOf<K>> {
  // Another process may have adopted it while this one waited for the lock.
  if ((await pinnedSequence(STORE_PIN, name)) !== null) return readDocFile(name, true);
  const spec = DOCS[name];
  const text = await readFile(docPath(name), 'utf8');
  const raw = JSON.parse(text) as Record<string, unknown> & { signature?: RecordSignature };
  if (raw.version !== 1) return readDocFile(name, true);
  let content: object;
  try {
    content = await verifyRecord(raw, what(name));
  } catch (e) {
    throw new GovernanceError((e as Error).message);
  }
  const legacy = (spec.legacy as z.ZodType).parse(content) as object;
  const doc = { ...legacy, version: 2, sequence: 1 };
  await writeDocLocked(name, doc, () =>
    auditAdoption(
      'governance_store_adopted',
      { resource_type: 'governance_store', resource_id: spec.file },
      text,
      'signed before this store was sequenced: accepted as it stood, its sequence pinned from now',
    ),
  );
  return readDocFile(name, true);
}

/** In the keyring: this data directory's governance store is signed (from then on, unsigned documents are refused). */
const storeSignedMarker = (): string => join(keyringDir(), 'store-signed');
/** The marker last found or written, so the check costs nothing after the first read of a process. */
let storeSignedMarkerSeen: string | null = null;

/**
 * Signs, once, the documents of a store written before documents were signed, then marks the store signed in the
 * keyring (where whoever writes the data directory cannot remove the mark). Later unsigned documents are refused.
 * They are signed as they were (version 1) and adopted into a sequence at their first read.
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
      const valid = (spec.legacy as z.ZodType).parse(raw) as object;
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
 * (temp file + rename, so readers never see half a file) inside a cross-process lock (read-modify-write), each
 * write's sequence pinned in the keyring inside the same lock.
 */
export const fileStore: GovernanceStore = {
  /** A consistent snapshot (files are replaced atomically, so no lock is needed to read). */
  read<K extends DocName>(name: K): Promise<DocOf<K>> {
    return readDocFile(name);
  },

  /**
   * Reads, lets `fn` change the document in place, validates it, runs `beforeCommit` (e.g. the audit append, so a
   * change whose audit entry cannot be written is not made), and writes it back with the next sequence, all under
   * the document's lock.
   */
  async mutate<K extends DocName, T>(
    name: K,
    fn: (doc: DocOf<K>) => T | Promise<T>,
    beforeCommit?: (result: T) => Promise<void>,
  ): Promise<T> {
    return withLock(name, async () => {
      const current = await readDocFile(name, true);
      const doc = structuredClone(current);
      const result = await fn(doc);
      await writeDocLocked(
        name,
        { ...doc, sequence: current.sequence + 1 },
        beforeCommit && (() => beforeCommit(result)),
      );
      return result;
    });
  },
};
