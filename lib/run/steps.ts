/**
 * The signed record of the files a folder's steps wrote while the folder is built (`steps.json` in a run, version or
 * reproduction folder). Every step checks the files recorded so far before it runs and adds the ones it wrote, so a
 * file edited in the data directory between two steps (the features, a fold's scores, a reproduction's model) is
 * refused, not built on and then signed into the manifest. The manifest takes over once the folder is finished.
 */
import { join, resolve } from 'node:path';
import type { ArtifactRef } from '../../schemas/run';
import { verifyArtifact } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { sha256Hex } from '../hash';
import { assertLatestSequence, pinnedSequence, pinSequence } from '../keys';
import { withFileLock } from '../lock';
import { STEPS_FILE } from './layout';
import { readRunRecord, writeRunRecord } from './signedRecord';

interface StepLedger {
  /** Grows with every write and is pinned in the keyring: an earlier copy (fewer files to check) is refused. */
  sequence: number;
  files: Record<string, { sha256: string; bytes: number; role: string }>;
}

const STEPS_PIN = 'folder-steps';
/** The folder's pin id: its full path, hashed (a pin file name cannot hold the path itself). */
const pinId = (dir: string): string => sha256Hex(resolve(dir)).slice(0, 32);

const isArtifactRef = (x: unknown): x is ArtifactRef =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as ArtifactRef).path === 'string' &&
  typeof (x as ArtifactRef).sha256 === 'string';

/** The artifacts a step reported: its result when that is one, else the `artifacts` list it returned. */
export function reportedArtifacts(result: unknown): ArtifactRef[] {
  if (isArtifactRef(result)) return [result];
  const listed = (result as { artifacts?: unknown } | null)?.artifacts;
  return Array.isArray(listed) ? listed.filter(isArtifactRef) : [];
}

const ledgerPath = (dir: string): string => join(dir, STEPS_FILE);

/**
 * Starts a folder's record with the files its creator wrote (a new run, version or reproduction, or a run folder a
 * new execution takes over): its sequence continues from the pinned one.
 */
export async function startStepRecord(dir: string, artifacts: ArtifactRef[]): Promise<void> {
  await withFileLock(ledgerPath(dir), async () => {
    const sequence = ((await pinnedSequence(STEPS_PIN, pinId(dir))) ?? 0) + 1;
    await writeLedger(dir, withFiles(artifacts, { sequence, files: {} }));
  });
}

function withFiles(artifacts: ArtifactRef[], into: StepLedger): StepLedger {
  for (const a of artifacts) into.files[a.path] = { sha256: a.sha256, bytes: a.bytes, role: a.role };
  return into;
}

async function writeLedger(dir: string, ledger: StepLedger): Promise<void> {
  await writeRunRecord(ledgerPath(dir), ledger);
  await pinSequence(STEPS_PIN, pinId(dir), ledger.sequence);
}

async function readStepRecord(dir: string): Promise<StepLedger> {
  const ledger = await readRunRecord<StepLedger>(ledgerPath(dir));
  if (!ledger)
    throw new ArtifactIntegrityError(
      `${ledgerPath(dir)} is missing: the files of this unfinished folder cannot be trusted (start it again)`,
    );
  await assertLatestSequence(ledger.sequence, ledgerPath(dir), STEPS_PIN, pinId(dir));
  return ledger;
}

/** Checks every file the folder's steps recorded so far; names the first one changed or missing. */
export async function verifyStepRecord(dir: string): Promise<void> {
  const { files } = await readStepRecord(dir);
  for (const [path, f] of Object.entries(files)) await verifyArtifact(dir, { path, ...f });
}

/** Adds the files a step wrote to the folder's record (steps running at once agree under the lock). */
export async function recordStep(dir: string, artifacts: ArtifactRef[]): Promise<void> {
  if (artifacts.length === 0) return;
  await withFileLock(ledgerPath(dir), async () => {
    const ledger = await readStepRecord(dir);
    await writeLedger(dir, withFiles(artifacts, { ...ledger, sequence: ledger.sequence + 1 }));
  });
}
