/**
 * The config registry (seed-3 "Config management"): versioned config documents with an owner and a visibility, in
 * `<data dir>/configs/<id>/`. Each edit is a new immutable version (`v<n>.yaml`, its sha256 in the signed record);
 * a run can start from one (`pipeline run --config-id ID[@VERSION]`) and records which.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import {
  configRecordSchema,
  configIdSchema,
  type ConfigRecord,
  type ConfigVisibility,
  type RegisteredConfigRef,
} from '../../schemas/configs';
import type { Permission, ResolvedIdentity } from '../../schemas/governance';
import { ensureDir, writeFileAfter } from '../artifacts';
import { configRegistryDir, parseConfigText } from '../config';
import { ConfigError, InputError, RunStateError, UnknownConfigError } from '../errors';
import { actorFields, appendAudit, auditAdoption, authorize, type Credential } from '../governance';
import { sha256Hex } from '../hash';
import {
  commitSequencedRecord,
  pinnedSequence,
  RecordSignatureError,
  verifyRecord,
  verifySequencedRecord,
  type RecordSignature,
} from '../keys';
import { withFileLock } from '../lock';
import { PROJECT_ROOT } from '../paths';
import { assertRunId, CONFIG_FILE, listRuns, readRunInfo, resolveRunDir } from '../run';

const recordPath = (id: string): string => join(configRegistryDir(), id, 'record.json');
/** The file of one version of a registered config. */
export const configVersionPath = (id: string, version: number): string =>
  join(configRegistryDir(), id, `v${version}.yaml`);

/** Training parameters that only regularise (seed-3: adjusting them is MODELER's, `adjust_regularization`). */
const REGULARISATION_KEYS = ['l2_leaf_reg', 'depth', 'random_strength', 'model_size_reg'] as const;

/** A record as written before records were sequenced (`config@1`): read only to adopt it. */
const legacyRecordSchema = configRecordSchema
  .omit({ sequence: true })
  .extend({ format: z.literal('access-perm/config@1') });

/**
 * The keyring pins each record's latest `sequence` (kind `config-registry`, id the config id), so an older signed
 * record put back (a deleted config undeleted, a private one made public again, a version dropped) or the record
 * deleted is refused, naming the file.
 */
const CONFIG_PIN = 'config-registry';

const what = (id: string): string => `the record of config ${id} (${recordPath(id)})`;

/**
 * A config's record, its signature, sequence and id checked; null when the config was never registered.
 * `locked`: the caller holds the config's lock (a `config@1` record is then adopted without taking it again).
 * @throws RecordSignatureError naming the file when it is edited, unsigned, an older copy, another config's, or was
 *   deleted after access-perm wrote it.
 */
async function readRecord(id: string, locked = false): Promise<ConfigRecord | null> {
  let raw: ConfigRecord & { signature?: RecordSignature };
  try {
    raw = JSON.parse(await readFile(recordPath(id), 'utf8')) as typeof raw;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const pinned = await pinnedSequence(CONFIG_PIN, id);
    if (pinned)
      throw new RecordSignatureError(
        `${what(id)} was deleted after access-perm wrote it (write ${pinned}, which the keyring holds): refused; restore it from a backup`,
      );
    return null;
  }
  if ((raw.format as string) === 'access-perm/config@1') {
    const pinned = await pinnedSequence(CONFIG_PIN, id);
    if (pinned !== null)
      throw new RecordSignatureError(
        `${what(id)} is signed but was written before config records were sequenced, and the keyring holds write ${pinned}: an older copy was put back: refused`,
      );
    return locked ? adoptLegacyRecord(id) : lockConfig(id, () => adoptLegacyRecord(id));
  }
  const record = configRecordSchema.parse(await verifySequencedRecord(raw, what(id), CONFIG_PIN, id));
  if (record.id !== id) throw new RecordSignatureError(`${what(id)} is the record of config ${record.id}: refused`);
  return record;
}

/**
 * Adopts, once, a signed record written before records were sequenced (`config@1`, no pin in the keyring): its
 * signature and id checked, written again as `config@2` with sequence 1 and pinned; audited as `config_adopted`.
 * The caller holds the config's lock.
 */
async function adoptLegacyRecord(id: string): Promise<ConfigRecord | null> {
  // Another process may have adopted it while this one waited for the lock.
  if ((await pinnedSequence(CONFIG_PIN, id)) !== null) return readRecord(id, true);
  const text = await readFile(recordPath(id), 'utf8');
  const raw = JSON.parse(text) as ConfigRecord & { signature?: RecordSignature };
  if ((raw.format as string) !== 'access-perm/config@1') return readRecord(id, true);
  const legacy = legacyRecordSchema.parse(await verifyRecord(raw, what(id)));
  if (legacy.id !== id) throw new RecordSignatureError(`${what(id)} is the record of config ${legacy.id}: refused`);
  await writeRecord({ ...legacy, format: 'access-perm/config@2', sequence: 1 }, () =>
    auditAdoption(
      'config_adopted',
      { resource_type: 'config', resource_id: id },
      text,
      'signed before config records were sequenced: accepted as it stood, its sequence pinned from now',
    ),
  );
  return readRecord(id, true);
}

/** Runs `fn` holding the config's lock (its folder created first), so concurrent edits never lose a version. */
async function lockConfig<T>(id: string, fn: () => Promise<T>): Promise<T> {
  await ensureDir(join(configRegistryDir(), id));
  return withFileLock(recordPath(id), fn);
}

/**
 * Signs `record` into place and pins its sequence (the caller holds the config's lock and has set the sequence one
 * above the record it read). `beforeCommit` (an audit entry) runs once the file is written, before it is put in
 * place. Returns the record written.
 */
async function writeRecord(record: ConfigRecord, beforeCommit?: () => Promise<void>): Promise<ConfigRecord> {
  const valid = configRecordSchema.parse(record);
  await commitSequencedRecord(recordPath(valid.id), valid, CONFIG_PIN, valid.id, beforeCommit);
  return valid;
}

/** Whether `identity` may see `record`: private to its owner and ADMINs, team to everyone but VIEWERs, or everyone. */
export function canSee(identity: Pick<ResolvedIdentity, 'userId' | 'role'>, record: ConfigRecord): boolean {
  if (record.visibility === 'everyone' || identity.role === 'ADMIN' || record.owner === identity.userId) return true;
  return record.visibility === 'team' && identity.role !== 'VIEWER';
}

/** A config the caller may see, or UnknownConfigError (an invisible config is not said to exist). */
async function visibleRecord(identity: ResolvedIdentity, id: string): Promise<ConfigRecord> {
  const parsed = configIdSchema.safeParse(id);
  const record = parsed.success ? await readRecord(parsed.data) : null;
  if (!record || !canSee(identity, record))
    throw new UnknownConfigError(`no config ${JSON.stringify(id.slice(0, 80))}`);
  return record;
}

/** `ID` or `ID@VERSION` → id and version (the latest when none is named). */
function parseRef(ref: string, record?: ConfigRecord): { id: string; version: number | null } {
  const m = /^([^@]+)(?:@(\d+))?$/.exec(ref);
  if (!m) throw new InputError(`a config reference is ID or ID@VERSION, got ${JSON.stringify(ref.slice(0, 80))}`);
  return { id: m[1]!, version: m[2] ? Number(m[2]) : (record?.versions.at(-1)?.version ?? null) };
}

const who = (identity: ResolvedIdentity) => ({ userId: identity.userId, role: identity.role });

/** Validates a document as a config would be loaded from the registry (relative paths: the project's folder). */
function validate(text: string, source: string) {
  return parseConfigText(text, source, PROJECT_ROOT);
}

/** The permissions a change of the training parameters needs beyond `edit_config` (seed-3 §2, §3). */
function paramPermissions(before: Record<string, unknown> | null, after: Record<string, unknown>): Permission[] {
  const needed: Permission[] = [];
  const same = (key: string) => JSON.stringify(before?.[key] ?? null) === JSON.stringify(after[key] ?? null);
  if (!same('ignored_features')) needed.push('select_features');
  if (before && REGULARISATION_KEYS.some((k) => !same(k))) needed.push('adjust_regularization');
  return needed;
}

async function audit(
  identity: ResolvedIdentity,
  source: Credential['source'],
  action: string,
  id: string,
  fields: { before?: unknown; after?: unknown; reason?: string | null; details?: Record<string, unknown> },
): Promise<void> {
  await appendAudit({
    ...actorFields(identity),
    action,
    resource_type: 'config',
    resource_id: id,
    status: 'success',
    source: source ?? 'cli',
    result: 'completed',
    ...(fields.before === undefined ? {} : { before: fields.before as Record<string, unknown> }),
    ...(fields.after === undefined ? {} : { after: fields.after as Record<string, unknown> }),
    ...(fields.reason ? { reason: fields.reason } : {}),
    ...(fields.details ? { details: fields.details } : {}),
  });
}

/** Registered configs the caller may see (view_config: every role), newest first. */
export async function listConfigsAs(credential: Credential) {
  const identity = await authorize(credential, 'view_config', { type: 'config' });
  const ids = await readdir(configRegistryDir()).catch(() => [] as string[]);
  const records = (await Promise.all(ids.map((id) => readRecord(id).catch(() => null)))).filter(
    (r): r is ConfigRecord => r !== null && canSee(identity, r),
  );
  return records
    .map((r) => ({
      id: r.id,
      owner: r.owner,
      visibility: r.visibility,
      latest: r.versions.at(-1)!.version,
      updated_at: r.versions.at(-1)!.at,
      deleted: r.deleted !== null,
    }))
    .sort((a, b) => b.updated_at.localeCompare(a.updated_at));
}

/** One config version (`ID[@VERSION]`, the latest by default) with its document, verified against its sha256. */
export async function showConfigAs(credential: Credential, ref: string) {
  const identity = await authorize(credential, 'view_config', { type: 'config', id: ref.slice(0, 128) });
  const record = await visibleRecord(identity, parseRef(ref).id);
  const { version } = parseRef(ref, record);
  const entry = record.versions.find((v) => v.version === version);
  if (!entry)
    throw new UnknownConfigError(
      `config ${record.id} has no version ${version} (versions 1..${record.versions.length})`,
    );
  const text = await readFile(configVersionPath(record.id, entry.version), 'utf8');
  if (sha256Hex(text) !== entry.sha256)
    throw new ConfigError(
      `config ${record.id} version ${entry.version} was changed outside access-perm: sha256 ${sha256Hex(text)} ≠ recorded ${entry.sha256}`,
    );
  return { record, version: entry, document: text, path: configVersionPath(record.id, entry.version) };
}

/** Resolves `ID[@VERSION]` for a run: the version file's path and what the run records (view_config, visible). */
export async function registeredConfigPathAs(
  credential: Credential,
  ref: string,
): Promise<{ path: string; ref: RegisteredConfigRef }> {
  const shown = await showConfigAs(credential, ref);
  if (shown.record.deleted)
    throw new RunStateError(
      `config ${shown.record.id} was deleted by ${shown.record.deleted.by.userId}: no new run starts from it`,
    );
  return {
    path: shown.path,
    ref: { id: shown.record.id, version: shown.version.version, sha256: shown.version.sha256 },
  };
}

/**
 * Registers a config (create_config: ANALYST, MODELER, ADMIN; choosing features, `ignored_features`, is
 * select_features): validated like a config file, stored as version 1, audited as `config_created`.
 */
export async function createConfigAs(
  credential: Credential,
  input: { id: string; document: string; visibility?: ConfigVisibility; reason?: string },
): Promise<ConfigRecord> {
  const identity = await authorize(credential, 'create_config', { type: 'config', id: input.id.slice(0, 128) });
  const id = configIdSchema.parse(input.id);
  const config = validate(input.document, `config ${id}`);
  for (const p of paramPermissions(null, config.model.catboost)) await authorize(credential, p, { type: 'config', id });
  return lockConfig(id, async () => {
    if (await readRecord(id, true)) throw new InputError(`config ${id} already exists: edit it (configs edit ${id})`);
    const at = new Date().toISOString();
    const record: ConfigRecord = {
      format: 'access-perm/config@2',
      id,
      sequence: 1,
      owner: identity.userId,
      visibility: input.visibility ?? 'private',
      created_at: at,
      versions: [
        {
          version: 1,
          sha256: sha256Hex(input.document),
          bytes: Buffer.byteLength(input.document),
          by: who(identity),
          at,
          reason: input.reason?.trim() || null,
        },
      ],
      deleted: null,
    };
    await writeFileAfter(configVersionPath(id, 1), input.document, () =>
      audit(identity, credential.source, 'config_created', id, {
        after: { version: 1, sha256: record.versions[0]!.sha256, visibility: record.visibility },
        reason: input.reason?.trim() || null,
      }),
    );
    return writeRecord(record);
  });
}

/**
 * A new version of a config (edit_config: ANALYST, MODELER, ADMIN, on a config they can see). Changing the
 * feature selection needs select_features too, changing regularisation adjust_regularization (MODELER). Audited as
 * `config_edited` with the version and sha256 before and after.
 */
export async function editConfigAs(
  credential: Credential,
  input: { id: string; document: string; reason: string },
): Promise<ConfigRecord> {
  const identity = await authorize(credential, 'edit_config', { type: 'config', id: input.id.slice(0, 128) });
  const current = await showConfigAs(credential, input.id);
  if (current.record.deleted) throw new RunStateError(`config ${input.id} was deleted: it cannot be edited`);
  const before = validate(current.document, `config ${input.id} v${current.version.version}`);
  const after = validate(input.document, `config ${input.id}`);
  for (const p of paramPermissions(before.model.catboost, after.model.catboost))
    await authorize(credential, p, { type: 'config', id: input.id });
  return lockConfig(input.id, async () => {
    const record = (await readRecord(input.id, true))!;
    const last = record.versions.at(-1)!;
    const sha256 = sha256Hex(input.document);
    if (sha256 === last.sha256) throw new InputError(`config ${input.id} v${last.version} already has this content`);
    const version = last.version + 1;
    const next: ConfigRecord = {
      ...record,
      sequence: record.sequence + 1,
      versions: [
        ...record.versions,
        {
          version,
          sha256,
          bytes: Buffer.byteLength(input.document),
          by: who(identity),
          at: new Date().toISOString(),
          reason: input.reason,
        },
      ],
    };
    await writeFileAfter(configVersionPath(input.id, version), input.document, () =>
      audit(identity, credential.source, 'config_edited', input.id, {
        before: { version: last.version, sha256: last.sha256 },
        after: { version, sha256 },
        reason: input.reason,
      }),
    );
    return writeRecord(next);
  });
}

/**
 * Changes who may see a config (share_config: ANALYST, MODELER, ADMIN, on a config they can see: a private one only
 * its owner or an ADMIN). Audited as `config_shared` with the visibility before and after.
 */
export async function shareConfigAs(
  credential: Credential,
  input: { id: string; visibility: ConfigVisibility; reason: string },
): Promise<ConfigRecord> {
  const identity = await authorize(credential, 'share_config', { type: 'config', id: input.id.slice(0, 128) });
  await visibleRecord(identity, input.id);
  return lockConfig(input.id, async () => {
    const now = (await readRecord(input.id, true))!;
    if (now.visibility === input.visibility) return now;
    const next = { ...now, sequence: now.sequence + 1, visibility: input.visibility };
    await audit(identity, credential.source, 'config_shared', input.id, {
      before: { visibility: now.visibility },
      after: { visibility: input.visibility },
      reason: input.reason,
    });
    return writeRecord(next);
  });
}

/**
 * Deletes a config (delete_config: MODELER, ADMIN): refused while a locked or deployed run used one of its versions
 * (their reproduction needs it). Marks the record deleted; the version files stay for the runs that name them.
 * Audited as `config_deleted`.
 */
export async function deleteConfigAs(
  credential: Credential,
  input: { id: string; reason: string },
): Promise<ConfigRecord> {
  const identity = await authorize(credential, 'delete_config', { type: 'config', id: input.id.slice(0, 128) });
  const record = await visibleRecord(identity, input.id);
  if (record.deleted) throw new RunStateError(`config ${input.id} was already deleted by ${record.deleted.by.userId}`);
  const holding: string[] = [];
  for (const run of await listRuns()) {
    if (run.state !== 'locked' && run.state !== 'deployed') continue;
    const info = await readRunInfo(await resolveRunDir(run.runId)).catch(() => null);
    const rel = info ? relative(join(configRegistryDir(), input.id), info.configPath) : '..';
    if (info?.registeredConfig?.id === input.id || !rel.startsWith('..')) holding.push(`${run.runId} (${run.state})`);
  }
  if (holding.length > 0)
    throw new RunStateError(
      `config ${input.id} cannot be deleted: ${holding.join(', ')} used it, and a locked run must stay reproducible`,
    );
  return lockConfig(input.id, async () => {
    const now = (await readRecord(input.id, true))!;
    const next: ConfigRecord = {
      ...now,
      sequence: now.sequence + 1,
      deleted: { by: who(identity), at: new Date().toISOString(), reason: input.reason },
    };
    await audit(identity, credential.source, 'config_deleted', input.id, {
      before: { deleted: false, versions: now.versions.length },
      after: { deleted: true },
      reason: input.reason,
    });
    return writeRecord(next);
  });
}

/**
 * What a run records of a registered config, when `configPath` is a version file of the registry: checked against
 * the signed record (a version file changed outside access-perm is refused). Null for any other config path.
 */
export async function registeredConfigOf(configPath: string, text: string): Promise<RegisteredConfigRef | null> {
  const rel = relative(configRegistryDir(), configPath);
  const m = /^([a-z0-9][a-z0-9._-]{0,63})\/v(\d+)\.yaml$/.exec(rel.split('\\').join('/'));
  if (!m) return null;
  const record = await readRecord(m[1]!);
  const entry = record?.versions.find((v) => v.version === Number(m[2]));
  if (!record || !entry) throw new ConfigError(`${configPath} is not a version of a registered config`);
  if (sha256Hex(text) !== entry.sha256)
    throw new ConfigError(`config ${record.id} version ${entry.version} was changed outside access-perm: refused`);
  return { id: record.id, version: entry.version, sha256: entry.sha256 };
}

/**
 * The stored config of a run trained before, to retrain it on the data as it is now (train_model: ANALYST, MODELER,
 * ADMIN). An unknown or deleted run is named.
 */
export async function retrainConfigPathAs(credential: Credential, runId: string): Promise<string> {
  await authorize(credential, 'train_model', { type: 'run', id: assertRunId(runId) });
  const dir = await resolveRunDir(runId);
  await readRunInfo(dir);
  return join(dir, CONFIG_FILE);
}

/** The config a new run starts from: exactly one of a file, a registered config `ID[@V]`, or a run to retrain. */
export async function startConfigPathAs(
  credential: Credential,
  choice: { configPath?: string; configId?: string; retrain?: string },
): Promise<string> {
  const given = [choice.configPath, choice.configId, choice.retrain].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new InputError('name one config: a config file, a registered config id[@version], or a run to retrain');
  if (choice.configId) return (await registeredConfigPathAs(credential, choice.configId)).path;
  if (choice.retrain) return retrainConfigPathAs(credential, choice.retrain);
  return choice.configPath!;
}

/**
 * Chooses the features of a config (select_features: ANALYST, MODELER, ADMIN; no review, seed-3 §3): a new version
 * whose `model.catboost.ignored_features` is `ignored` (features no tree may split on).
 */
export async function selectConfigFeaturesAs(
  credential: Credential,
  input: { id: string; ignored: string[]; reason: string },
): Promise<ConfigRecord> {
  await authorize(credential, 'select_features', { type: 'config', id: input.id.slice(0, 128) });
  const current = await showConfigAs(credential, input.id);
  const doc = (parseYaml(current.document) ?? {}) as { model?: { catboost?: Record<string, unknown> } };
  doc.model = { ...doc.model, catboost: { ...doc.model?.catboost, ignored_features: input.ignored } };
  return editConfigAs(credential, { id: input.id, document: stringifyYaml(doc), reason: input.reason });
}
