import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  appendAudit,
  auditDir,
  auditFiles,
  auditLogPath,
  backupAudit,
  checkEntryProof,
  checkpointAudit,
  checkpointsPath,
  entryHash,
  keepAuditCheckpointed,
  keyringCheckpointPath,
  proveEntry,
  queryAudit,
  verifyAudit,
} from '../../lib/governance';
import { keyringDir, listKeys, publicKeyPem, rotateSigningKey } from '../../lib/keys';
import { settingsPath } from '../../lib/settings';
import type { AuditInput } from '../../schemas/governance';
import { cliInProcess, runCli, runCreator, useTempDataDir } from '../helpers';

const entry = (i: number, patch: Partial<AuditInput> = {}): AuditInput => ({
  user_id: 'validator_1',
  user_role: 'VALIDATOR',
  action: 'report_viewed',
  resource_type: 'report',
  resource_id: `run_20260115_001/r${i}`,
  correlation_id: 'run_20260115_001',
  status: 'success',
  source: 'cli',
  ...patch,
});

const readLines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).trimEnd().split('\n');

/** Re-links a list of entries from the genesis hash, recomputing every hash: what a forger without the key can do. */
function rechain(lines: readonly string[]): string[] {
  let prev = '0'.repeat(64);
  return lines.map((line) => {
    const e = JSON.parse(line) as Record<string, unknown>;
    e.prev_hash = prev;
    e.hash = entryHash(e as never);
    prev = e.hash as string;
    return JSON.stringify(e);
  });
}

/** The public key an auditor was given, as a PEM file outside the keyring. */
async function auditorPublicKey(dir: string): Promise<string> {
  const [current] = (await listKeys()).filter((k) => k.current);
  const path = join(dir, `${current!.keyId}.pem`);
  await writeFile(path, await publicKeyPem(current!.keyId));
  return path;
}

describe('a log rewritten by someone who can write the data directory but holds no key', () => {
  let original: string[];

  beforeAll(async () => {
    await useTempDataDir('audit-signed-rewrite');
    for (let i = 0; i < 5; i++) await appendAudit(entry(i));
    await checkpointAudit();
    original = await readLines(auditLogPath());
  });

  async function tampered(lines: string[], check: () => Promise<void>): Promise<void> {
    await writeFile(auditLogPath(), `${lines.join('\n')}\n`);
    try {
      await check();
    } finally {
      await writeFile(auditLogPath(), `${original.join('\n')}\n`);
    }
  }

  it('an entry edited and the whole chain re-linked: the signed root no longer matches', async () => {
    const edited = [...original];
    edited[1] = edited[1]!.replace('"status":"success"', '"status":"failure"');
    await tampered(rechain(edited), async () => {
      const r = await verifyAudit();
      expect(r.ok).toBe(false);
      expect(r.problem).toMatchObject({ kind: 'rewritten' });
      expect(r.problem!.message).toMatch(/first 5 entries no longer match the checkpoint/);
    });
  });

  it('entries reordered, deleted, or the log truncated, and re-linked', async () => {
    await tampered(rechain([original[1]!, original[0]!, ...original.slice(2)]), async () => {
      expect((await verifyAudit()).problem?.kind).toBe('rewritten');
    });
    await tampered(rechain([original[0]!, ...original.slice(2)]), async () => {
      expect((await verifyAudit()).problem?.message).toMatch(/signed over 5 entries and the log has 4/);
    });
    await tampered(original.slice(0, 3), async () => {
      expect((await verifyAudit()).problem).toMatchObject({ kind: 'removed' });
    });
  });

  it('a forged override_approved appended with a correct hash: reported as unsigned, a failure with --strict', async () => {
    const last = JSON.parse(original[original.length - 1]!) as Record<string, unknown>;
    const forged: Record<string, unknown> = {
      ...last,
      audit_id: 'audit_20260115_999_00001',
      action: 'override_approved',
      reason: 'looks fine',
      prev_hash: last.hash,
    };
    forged.hash = entryHash(forged as never);
    await tampered([...original, JSON.stringify(forged)], async () => {
      const r = await verifyAudit();
      expect(r).toMatchObject({ ok: true, unsigned: { entries: 1 } });
      expect(r.warnings).toEqual([expect.stringMatching(/^1 entries since .* are not yet covered/)]);
      expect(await verifyAudit({ strict: true })).toMatchObject({ ok: false, problem: { kind: 'unsigned' } });
    });
  });

  it('a forged checkpoint (re-rooted over a rewritten log, signature kept or made with another key)', async () => {
    const checkpoints = await readLines(checkpointsPath(auditDir()));
    const last = JSON.parse(checkpoints[checkpoints.length - 1]!) as Record<string, unknown>;
    const rerooted = { ...last, root_hash: 'ab'.repeat(32) };
    await writeFile(checkpointsPath(auditDir()), `${[...checkpoints, JSON.stringify(rerooted)].join('\n')}\n`);
    try {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'forged' });
      expect(r.problem!.message).toMatch(/does not match its signature/);
      const otherKey = { ...last, signature: { ...(last.signature as object), key_id: 'ffffffffffffffff' } };
      await writeFile(checkpointsPath(auditDir()), `${[...checkpoints, JSON.stringify(otherKey)].join('\n')}\n`);
      expect((await verifyAudit()).problem!.message).toMatch(
        /key ffffffffffffffff, which is not one of the public keys/,
      );
    } finally {
      await writeFile(checkpointsPath(auditDir()), `${checkpoints.join('\n')}\n`);
    }
    expect((await verifyAudit()).ok).toBe(true);
  });

  it('the checkpoints removed, or the whole log: the keyring still holds the latest checkpoint', async () => {
    const saved = await readFile(checkpointsPath(auditDir()), 'utf8');
    await rm(checkpointsPath(auditDir()));
    try {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'removed' });
      expect(r.problem!.message).toMatch(/keyring holds a checkpoint of \d+ entries .* it has none/);
      // A checkpointer refuses to sign over it rather than bless the rewrite.
      await expect(checkpointAudit()).rejects.toThrow(/not checkpointed, it fails verification/);
    } finally {
      await writeFile(checkpointsPath(auditDir()), saved);
    }
    const backup = `${auditDir()}.bak`;
    await cp(auditDir(), backup, { recursive: true });
    await rm(auditDir(), { recursive: true });
    try {
      await mkdir(auditDir());
      expect((await verifyAudit()).problem).toMatchObject({ kind: 'removed' });
    } finally {
      await rm(auditDir(), { recursive: true });
      await cp(backup, auditDir(), { recursive: true });
    }
    expect((await verifyAudit()).ok).toBe(true);
  });

  it('a log with entries and no checkpoint at all fails (never a warning)', async () => {
    const copy = join(process.env.ACCESS_PERM_DATA_DIR!, 'copy-without-checkpoints');
    await cp(auditDir(), copy, { recursive: true });
    await rm(checkpointsPath(copy));
    const r = await verifyAudit({ dir: copy });
    expect(r).toMatchObject({ ok: false, problem: { kind: 'unsigned' } });
    expect(r.problem!.message).toMatch(/no signed checkpoint covers this log's \d+ entries/);
  });
});

describe('an auditor with only the public key and a checkpoint saved earlier', () => {
  let auditor: string;
  let publicKey: string;
  let saved: string;

  beforeAll(async () => {
    const data = await useTempDataDir('audit-signed-auditor');
    auditor = join(data, 'auditor');
    await mkdir(auditor);
    for (let i = 0; i < 4; i++) await appendAudit(entry(i));
    publicKey = await auditorPublicKey(auditor);
    saved = join(auditor, 'checkpoint-monday.json');
    await writeFile(saved, JSON.stringify(await checkpointAudit()));
    await backupAudit(join(data, 'offsite'));
    for (let i = 4; i < 9; i++) await appendAudit(entry(i));
    await checkpointAudit();
  });

  /** A copy of the live log, as the auditor receives it, optionally changed on the way. */
  async function copyOfLog(name: string, change?: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(auditor, name);
    await cp(auditDir(), dir, { recursive: true });
    await change?.(dir);
    return dir;
  }

  it('verifies a faithful copy, which extends the saved checkpoint (with the consistency proof)', async () => {
    const copy = await copyOfLog('faithful');
    const r = await verifyAudit({ dir: copy, publicKeys: [publicKey], since: saved });
    expect(r).toMatchObject({ ok: true, entries: 9, unsigned: { entries: 0 } });
    expect(r.since).toMatchObject({ tree_size: 4 });
    expect(r.since!.proof.length).toBeGreaterThan(0);
  });

  it('detects an archived segment rewritten end to end and its checkpoints replaced by older ones', async () => {
    const copy = await copyOfLog('rewritten-segment', async (dir) => {
      const [segment] = await auditFiles(dir);
      const lines = await readLines(segment!);
      lines[0] = lines[0]!.replace('validator_1', 'validator_2');
      const rechained = rechain(lines);
      await writeFile(segment!, `${rechained.join('\n')}\n`);
      // The active file's first entry must follow the rewritten segment for the chain to hold.
      const active = await readLines(join(dir, 'audit_log.jsonl'));
      await writeFile(
        join(dir, 'audit_log.jsonl'),
        `${rechain([...rechained, ...active])
          .slice(rechained.length)
          .join('\n')}\n`,
      );
      await writeFile(checkpointsPath(dir), '');
    });
    const r = await verifyAudit({ dir: copy, publicKeys: [publicKey], since: saved });
    expect(r.ok).toBe(false);
    expect(r.problem!.kind).toMatch(/unsigned|removed/);
    const withoutSince = await verifyAudit({ dir: copy, publicKeys: [publicKey] });
    expect(withoutSince.problem).toMatchObject({ kind: 'unsigned' });
  });

  it('detects a copy truncated back to before the saved checkpoint', async () => {
    const copy = await copyOfLog('truncated', async (dir) => {
      const checkpoints = await readLines(checkpointsPath(dir));
      await writeFile(checkpointsPath(dir), `${checkpoints[0]}\n`);
      const [segment] = await auditFiles(dir);
      const first = JSON.parse(checkpoints[0]!) as { tree_size: number };
      await writeFile(segment!, `${(await readLines(segment!)).slice(0, first.tree_size).join('\n')}\n`);
      await rm(join(dir, 'audit_log.jsonl'));
    });
    const r = await verifyAudit({ dir: copy, publicKeys: [publicKey], since: saved });
    expect(r.problem).toMatchObject({ kind: 'removed' });
    expect(r.problem!.message).toMatch(/saved checkpoint covers 4 entries/);
  });

  it('refuses a key it was not given, and keeps verifying after the keyring rotates its key', async () => {
    const copy = await copyOfLog('rotated');
    await rotateSigningKey();
    await appendAudit(entry(99));
    await checkpointAudit();
    const stale = await verifyAudit({ dir: await copyOfLog('after-rotation'), publicKeys: [publicKey] });
    expect(stale.problem).toMatchObject({ kind: 'forged' });
    expect(stale.problem!.message).toMatch(/which is not one of the public keys/);
    const both = [publicKey, await auditorPublicKey(auditor)];
    expect(await verifyAudit({ dir: await copyOfLog('after-rotation-2'), publicKeys: both })).toMatchObject({
      ok: true,
    });
    expect(await verifyAudit({ dir: copy, publicKeys: [publicKey], since: saved })).toMatchObject({ ok: true });
    expect((await verifyAudit()).ok).toBe(true);
  });

  it('proves one entry with the public key alone; an edited entry or proof fails', async () => {
    const target = (await queryAudit({})).find((e) => e.resource_id === 'run_20260115_001/r2');
    const proof = await proveEntry(target!.audit_id);
    expect(proof).toMatchObject({ audit_id: target!.audit_id, leaf_index: 2 });
    expect(await checkEntryProof(JSON.stringify(proof), [publicKey, await auditorPublicKey(auditor)])).toBe(
      target!.audit_id,
    );
    const edited = { ...proof, entry: proof.entry.replace('r2', 'r3') };
    await expect(checkEntryProof(JSON.stringify(edited))).rejects.toThrow(/proof does not hold/);
    const moved = { ...proof, leaf_index: 3 };
    await expect(checkEntryProof(JSON.stringify(moved))).rejects.toThrow(/proof does not hold/);
    const last = await appendAudit(entry(100));
    await expect(proveEntry(last.audit_id)).rejects.toThrow(/after the latest checkpoint/);
    await expect(proveEntry('audit_20990101_001_00001')).rejects.toThrow(/no audit entry/);
  });
});

describe('the auditor and key commands of the CLI', () => {
  it('keys show --pem, audit checkpoint --out, audit prove; then verify and check-proof on a copy with no token', async () => {
    const data = await useTempDataDir('audit-signed-cli');
    // The ADMIN's commands run in this process; the auditor's in processes of their own, with no token or data.
    const env = { ACCESS_PERM_TOKEN: (await runCreator()).token };
    const pem = join(data, 'auditor.pem');
    const shown = await cliInProcess(env, 'keys', 'show', '--pem');
    expect(shown.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    await writeFile(pem, shown.stdout);
    const saved = join(data, 'saved.json');
    expect((await cliInProcess(env, 'audit', 'checkpoint', '--out', saved)).stdout).toMatch(/^checkpoint: \d+ entries/);
    const [first] = await queryAudit({});
    const proof = join(data, 'proof.json');
    expect((await cliInProcess(env, 'audit', 'prove', '--entry', first!.audit_id, '--out', proof)).code).toBe(0);
    const copy = join(data, 'copy');
    await cp(auditDir(), copy, { recursive: true });
    const auditor = { ...process.env, ACCESS_PERM_DATA_DIR: join(data, 'nowhere'), ACCESS_PERM_TOKEN: '' };
    const verified = await runCli(auditor, 'audit', 'verify', '--dir', copy, '--public-key', pem, '--since', saved);
    expect(verified.stdout, verified.stderr).toMatch(/^audit log OK: \d+ entries .* extends the saved checkpoint/);
    expect((await runCli(auditor, 'audit', 'check-proof', proof, '--public-key', pem)).stdout).toBe(
      `proof OK: ${first!.audit_id} is in the signed audit log\n`,
    );
    const [segment] = await auditFiles(copy);
    await writeFile(segment!, (await readFile(segment!, 'utf8')).replace('"root"', '"toor"'));
    const refused = await runCli(auditor, 'audit', 'verify', '--dir', copy, '--public-key', pem);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^access-perm: audit verify FAILED \(edited\): /m);
    // Without --public-key, verifying a copy is the governed command: a token is needed.
    expect((await runCli(auditor, 'audit', 'verify', '--dir', copy)).code).toBe(4);
  });
});

describe('checkpoints over time', () => {
  it('a log from before checkpoints fails until migrated; the migration is audited and signed', async () => {
    await useTempDataDir('audit-signed-migrate');
    for (let i = 0; i < 3; i++) await appendAudit(entry(i));
    // What an earlier version left: the chain alone.
    await rm(checkpointsPath(auditDir()));
    await rm(keyringCheckpointPath());
    expect((await verifyAudit()).problem).toMatchObject({ kind: 'unsigned' });
    const checkpoint = await checkpointAudit();
    expect(checkpoint).toMatchObject({ reason: 'migration', tree_size: 4 });
    const [migrated] = await queryAudit({ action: 'audit_log_migrated' });
    expect(migrated).toMatchObject({ user_role: 'SYSTEM', details: { entries: 3 } });
    expect(await verifyAudit()).toMatchObject({ ok: true, entries: 4, unsigned: { entries: 0 } });
  });

  it('signs by itself when the interval has passed, and fails entries left unsigned too long', async () => {
    await useTempDataDir('audit-signed-interval');
    await mkdir(keyringDir(), { recursive: true, mode: 0o700 });
    // 0.005 min = 0.3 s: verify fails once entries have waited 0.6 s.
    await writeFile(settingsPath(), JSON.stringify({ audit: { checkpoint_interval_minutes: 0.005 } }));
    await appendAudit(entry(0));
    await appendAudit(entry(1));
    expect(await verifyAudit()).toMatchObject({ ok: true, checkpoints: 1, unsigned: { entries: 1 } });
    await sleep(700);
    const stale = await verifyAudit();
    expect(stale.problem).toMatchObject({ kind: 'unsigned' });
    expect(stale.problem!.message).toMatch(/1 entries since .* have waited \d+ min for a checkpoint/);
    await appendAudit(entry(2));
    expect(await verifyAudit()).toMatchObject({ ok: true, checkpoints: 2, unsigned: { entries: 0 } });
  });
});

describe('a long-running process holding the key', () => {
  it('signs the entries short-lived processes left, once the interval has passed (the worker and the service)', async () => {
    await useTempDataDir('audit-signed-timer');
    await mkdir(keyringDir(), { recursive: true, mode: 0o700 });
    await writeFile(settingsPath(), JSON.stringify({ audit: { checkpoint_interval_minutes: 0.01 } }));
    await appendAudit(entry(0));
    await appendAudit(entry(1));
    expect(await verifyAudit()).toMatchObject({ checkpoints: 1, unsigned: { entries: 1 } });
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stop = keepAuditCheckpointed();
    try {
      await sleep(700);
      vi.advanceTimersByTime(60_000);
      for (let i = 0; i < 50 && (await verifyAudit()).checkpoints < 2; i++) await sleep(20);
    } finally {
      stop();
      vi.useRealTimers();
    }
    expect(await verifyAudit()).toMatchObject({ ok: true, checkpoints: 2, unsigned: { entries: 0 } });
  });
});

describe('property: appends, rotations, checkpoints and one single-byte edit', () => {
  type Op = 'append' | 'rotate' | 'checkpoint';
  const ops = fc.array(fc.constantFrom<Op>('append', 'append', 'append', 'rotate', 'checkpoint'), {
    minLength: 1,
    maxLength: 10,
  });

  it('every edit is detected, and no untouched log fails', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        ops,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (sequence, where, delta) => {
          const data = await useTempDataDir(`audit-signed-prop-${run++}`);
          for (const op of sequence) {
            if (op === 'append') await appendAudit(entry(run));
            else if (op === 'rotate') await backupAudit(join(data, 'offsite'));
            else await checkpointAudit();
          }
          const untouched = await verifyAudit();
          expect(untouched.problem).toBeNull();
          // One byte of one file of the log (entries or checkpoints) changed to another value.
          const files = [...(await auditFiles()), checkpointsPath(auditDir())];
          const sizes = await Promise.all(files.map(async (f) => (await readFile(f)).length));
          const total = sizes.reduce((a, b) => a + b, 0);
          let offset = Math.min(total - 1, Math.floor(where * total));
          let i = 0;
          while (offset >= sizes[i]!) offset -= sizes[i++]!;
          const bytes = await readFile(files[i]!);
          bytes[offset] = (bytes[offset]! + delta) % 256;
          await writeFile(files[i]!, bytes);
          const edited = await verifyAudit({ strict: true });
          expect(edited.ok, `edit at byte ${offset} of ${files[i]}`).toBe(false);
        },
      ),
      {
        numRuns: 40,
        // Found by this property once: the last newline of checkpoints.jsonl turned into a carriage return.
        examples: [[['append'], 0.9988518943742825, 3]],
      },
    );
  }, 120_000);
});
