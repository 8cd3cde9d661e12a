/**
 * Lifecycle records in a run folder (an override as filed, its review, a build failure, a reproducibility request,
 * result or failure) decide what the lifecycle allows: an approved override, a passed reproducibility test. They are
 * signed with the keyring's key together with where they lie (`<run id>/<folder>/<file>`), so one written by hand,
 * edited, or copied from another version or run is refused where it is read.
 */
import { readFile } from 'node:fs/promises';
import { sep } from 'node:path';
import { writeFileAtomic } from '../artifacts';
import { RecordSignatureError, signRecord, verifyRecord } from '../keys';

/** The place a record is signed for: the run id, the version or reproduction folder, and the file name. */
const placeOf = (path: string): string => path.split(sep).slice(-4).join('/');

/** The text of `record` signed for the place `path` (for writers that commit it themselves, after an audit entry). */
export async function signedRunRecordText(path: string, record: object): Promise<string> {
  return `${JSON.stringify(await signRecord({ ...record, record_of: placeOf(path) }), null, 2)}\n`;
}

/** Signs `record` for the place `path` and writes it (atomically). */
export async function writeRunRecord(path: string, record: object): Promise<void> {
  await writeFileAtomic(path, await signedRunRecordText(path, record));
}

/**
 * The record at `path` with its signature and place checked, or null when there is none.
 * @throws RecordSignatureError naming the file when it is unsigned, edited, or another place's.
 */
export async function readRunRecord<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const { record_of: place, ...record } = await verifyRecord(JSON.parse(text) as { record_of?: string }, path);
  if (place !== placeOf(path))
    throw new RecordSignatureError(`${path} is the record of ${place ?? 'no place'}, copied here: refused`);
  return record as T;
}
