import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ensureDir, writeFileAtomic } from '../lib/artifacts';
import { GovernanceError } from '../lib/governance';
import { dataDir } from '../lib/paths';

const recordSchema = z.strictObject({ request: z.string(), result: z.string(), at: z.string() });

/** Thrown when an Idempotency-Key is used again with a different request: 422, nothing is done. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Does `work` once per (user, operation, key): the first request claims the key (a file created exclusively under
 * `<data dir>/api/idempotency/`), a retry with the same request gets the first result back without doing anything,
 * the same key with another request is refused. A failed `work` frees the key so that a retry can try again.
 */
export async function once(
  scope: { userId: string; operation: string; key: string },
  request: unknown,
  work: () => Promise<string>,
): Promise<{ result: string; replayed: boolean }> {
  if (!/^[\x21-\x7e]{8,200}$/.test(scope.key))
    throw new GovernanceError('Idempotency-Key must be 8 to 200 visible ASCII characters (a UUID is a good one)');
  const dir = join(dataDir(), 'api', 'idempotency');
  const file = join(dir, `${sha(`${scope.userId}\n${scope.operation}\n${scope.key}`)}.json`);
  const requestHash = sha(JSON.stringify(request));
  await ensureDir(dir);
  const claim = { request: requestHash, result: '', at: new Date().toISOString() };
  const claimed = await writeFile(file, JSON.stringify(claim), { flag: 'wx' }).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return false;
      throw e;
    },
  );
  if (!claimed) {
    const existing = recordSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    if (existing.request !== requestHash)
      throw new IdempotencyConflictError(
        `Idempotency-Key ${scope.key} was used at ${existing.at} for a different request: use a new key`,
      );
    if (!existing.result)
      throw new IdempotencyConflictError(`the request with Idempotency-Key ${scope.key} is still being processed`);
    return { result: existing.result, replayed: true };
  }
  try {
    const result = await work();
    await writeFileAtomic(file, JSON.stringify({ ...claim, result }));
    return { result, replayed: false };
  } catch (e) {
    await rm(file, { force: true });
    throw e;
  }
}
