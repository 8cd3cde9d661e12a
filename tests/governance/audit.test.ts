import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  appendAudit,
  AuditWriteError,
  auditDir,
  auditFiles,
  auditLogPath,
  backupAudit,
  checkAuditEntry,
  checkpointAudit,
  checkpointsPath,
  entryHash,
  exportAuditAs,
  PermissionDeniedError,
  queryAudit,
  queryAuditAs,
  verifyAudit,
} from '../../lib/governance';
import { PROJECT_ROOT } from '../../lib/paths';
import type { AuditInput } from '../../schemas/governance';
import { useTempDataDir } from '../helpers';
import { auditLines, makeTeam, type Team } from './fixtures';

const override = (patch: Partial<AuditInput> = {}): AuditInput => ({
  user_id: 'modeler_user_123',
  user_role: 'MODELER',
  action: 'bin_override',
  correlation_id: 'run_20260115_001',
  resource_type: 'binning_table',
  resource_id: 'run_20260115_001/age',
  status: 'success',
  before: { bins: [{ id: 1, label: '18-25', count: 450000 }] },
  after: {
    bins: [
      { id: 1, label: '18-18', count: 50000 },
      { id: 2, label: '19-25', count: 400000 },
    ],
  },
  reason: 'Business requirement: age < 18 must be separate bin for regulatory compliance',
  source: 'api',
  duration_ms: 2345,
  result: 'completed',
  ...patch,
});

function spawnWriter(writer: string, count: number, barrier?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'tests/governance/append-child.ts', writer, String(count), ...(barrier ? [barrier] : [])],
      {
        cwd: PROJECT_ROOT,
        env: process.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`writer ${writer} exited ${code}: ${stderr}`)),
    );
  });
}

describe('audit entries (seed-3 §4 invariants, enforced at write time)', () => {
  beforeAll(async () => {
    await useTempDataDir('gov-audit-invariants');
  });

  it('writes the §4 fields in order, UTC, with an audit id like the seed and a chained hash', async () => {
    const first = await appendAudit(override());
    const second = await appendAudit(override({ resource_id: 'run_20260115_001/income' }));
    expect(Object.keys(first)).toEqual([
      'timestamp',
      'audit_id',
      'correlation_id',
      'user_id',
      'user_role',
      'action',
      'resource_type',
      'resource_id',
      'status',
      'before',
      'after',
      'reason',
      'source',
      'duration_ms',
      'result',
      'temporary_role',
      'prev_hash',
      'hash',
    ]);
    expect(first.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(first.audit_id).toMatch(/^audit_\d{8}_001_\d{5}$/);
    expect(second.audit_id).toMatch(/^audit_\d{8}_002_\d{5}$/);
    expect(first.prev_hash).toBe('0'.repeat(64));
    expect(second.prev_hash).toBe(first.hash);
    expect(entryHash(second)).toBe(second.hash);
  });

  const rejects: Array<[string, Partial<AuditInput> | Record<string, unknown>, RegExp]> = [
    ['an empty user_id', { user_id: '' }, /user_id is never null/],
    ['a null user_id', { user_id: null }, /user_id/],
    ['a manual action without reason', { reason: '  ' }, /reason is required for the manual action bin_override/],
    ['a mutation without before/after', { before: null }, /before and after are required/],
    ['a run resource without correlation id', { correlation_id: null }, /correlation_id \(the run id\) is required/],
    ['a token-named key', { details: { access_token: 'x' } }, /details\.access_token is a denied key/],
    [
      'a password inside before',
      { before: { user: { password: 'hunter2' } } },
      /before\.user\.password is a denied key/,
    ],
    ['an e-mail key', { details: { Email: 'x' } }, /denied key/],
    [
      'a JWT as a value',
      { reason: 'pasted eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyb290In0.c2lnbmF0dXJl by mistake' },
      /holds a token/,
    ],
    ['an e-mail address as a value', { reason: 'asked by jane.doe@example.com' }, /e-mail address \(PII\)/],
    ['an unknown top-level field', { password: 'x' }, /password/],
    ['an unknown status', { status: 'ok' }, /status/],
  ];
  it.each(rejects)('rejects %s', async (_name, patch, message) => {
    const before = (await auditLines()).length;
    const e = await appendAudit(override(patch as Partial<AuditInput>)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuditWriteError);
    expect((e as Error).message).toMatch(message);
    expect(await auditLines()).toHaveLength(before);
  });

  it('rejects a non-UTC timestamp when checking an entry', () => {
    const e = {
      ...override(),
      timestamp: '2026-01-15T10:45:23+02:00',
      audit_id: 'audit_20260115_001_12345',
      prev_hash: '0'.repeat(64),
      hash: '0'.repeat(64),
      temporary_role: false,
    };
    expect(() => checkAuditEntry(e)).toThrow(/timestamp/);
  });

  it('drops ip_address unless ACCESS_PERM_AUDIT_IP_ADDRESS=1 opts in', async () => {
    const withoutOptIn = await appendAudit(override({ ip_address: '192.168.1.100' } as Partial<AuditInput>));
    expect(withoutOptIn).not.toHaveProperty('ip_address');
    process.env.ACCESS_PERM_AUDIT_IP_ADDRESS = '1';
    try {
      const opted = await appendAudit(override({ ip_address: '192.168.1.100' } as Partial<AuditInput>));
      expect(opted.ip_address).toBe('192.168.1.100');
    } finally {
      delete process.env.ACCESS_PERM_AUDIT_IP_ADDRESS;
    }
    expect((await verifyAudit()).ok).toBe(true);
  });
});

describe('concurrent writers', () => {
  it('4 processes × 40 appends at once: no interleaving, no loss, one valid chain', async () => {
    const dir = await useTempDataDir('gov-audit-concurrent');
    const writers = ['w1', 'w2', 'w3', 'w4'];
    const barrier = join(dir, 'barrier');
    await mkdir(barrier);
    let exited = false;
    const done = Promise.all(writers.map((w) => spawnWriter(w, 40, barrier))).finally(() => (exited = true));
    // Start every writer at once, after all of them have loaded (a writer that dies early ends the wait).
    while (!exited && (await readdir(barrier)).length < writers.length) await sleep(5);
    await writeFile(join(barrier, 'go'), '');
    await done;
    const text = await readFile(auditLogPath(), 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(160);
    const entries = lines.map((l) => JSON.parse(l) as { user_id: string; resource_id: string; audit_id: string });
    for (const w of writers) {
      const mine = entries.filter((e) => e.user_id === w).map((e) => e.resource_id);
      expect(mine).toEqual(Array.from({ length: 40 }, (_, i) => `${w}-${i}`));
    }
    // Writers really overlapped (otherwise this test proves nothing about locking).
    const firstRun = entries.findIndex((e) => e.user_id !== entries[0]!.user_id);
    expect(firstRun).toBeLessThan(40);
    const seqs = entries.map((e) => Number(e.audit_id.split('_')[2]));
    expect(seqs).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    expect(await verifyAudit()).toMatchObject({ ok: true, entries: 160 });
    await checkpointAudit();
    expect(await verifyAudit()).toMatchObject({ ok: true, entries: 160, unsigned: { entries: 0 }, warnings: [] });
  }, 60_000);
});

describe('tamper detection', () => {
  let lines: string[];

  beforeAll(async () => {
    await useTempDataDir('gov-audit-tamper');
    for (let i = 0; i < 6; i++) await appendAudit(override({ resource_id: `run_20260115_001/f${i}` }));
    await checkpointAudit();
    lines = (await readFile(auditLogPath(), 'utf8')).trimEnd().split('\n');
    expect((await verifyAudit()).ok).toBe(true);
  });

  async function withLog(content: string[], check: () => Promise<void>): Promise<void> {
    await writeFile(auditLogPath(), content.length ? `${content.join('\n')}\n` : '');
    try {
      await check();
    } finally {
      await writeFile(auditLogPath(), `${lines.join('\n')}\n`);
    }
  }
  const idOf = (line: string): string => (JSON.parse(line) as { audit_id: string }).audit_id;

  it('names an edited entry', async () => {
    const edited = [...lines];
    edited[2] = edited[2]!.replace('Business requirement', 'Because I said so');
    await withLog(edited, async () => {
      const r = await verifyAudit();
      expect(r.ok).toBe(false);
      expect(r.problem).toMatchObject({ kind: 'edited', line: 3, audit_id: idOf(lines[2]!) });
    });
  });

  it('names an entry edited with its hash recomputed (the next link breaks)', async () => {
    const edited = [...lines];
    const e = JSON.parse(edited[2]!) as Record<string, unknown>;
    e.reason = 'rewritten';
    e.hash = entryHash(e as never);
    edited[2] = JSON.stringify(e);
    await withLog(edited, async () => {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'removed', line: 4, audit_id: idOf(lines[3]!) });
      expect(r.problem!.message).toMatch(/removed or rewritten/);
    });
  });

  it('names the entry after a removed one', async () => {
    await withLog([...lines.slice(0, 3), ...lines.slice(4)], async () => {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'removed', line: 4, audit_id: idOf(lines[4]!) });
    });
  });

  it('names reordered entries', async () => {
    const swapped = [...lines];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    await withLog(swapped, async () => {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'reordered', line: 2, audit_id: idOf(lines[2]!) });
    });
  });

  it('detects removal of the last entries (the checkpoint covers them) and of the first', async () => {
    await withLog(lines.slice(0, 4), async () => {
      const r = await verifyAudit();
      expect(r.problem).toMatchObject({ kind: 'removed', file: checkpointsPath(auditDir()) });
      expect(r.problem!.message).toMatch(/signed over 6 entries and the log has 4: entries were removed/);
    });
    await withLog(lines.slice(1), async () => {
      expect((await verifyAudit()).problem).toMatchObject({ kind: 'removed', line: 1 });
    });
  });

  it('detects a truncated (partial) last line', async () => {
    await writeFile(auditLogPath(), `${lines.join('\n')}\n${lines[0]!.slice(0, 40)}`);
    try {
      expect((await verifyAudit()).problem).toMatchObject({ kind: 'malformed', line: 7 });
      await expect(appendAudit(override())).rejects.toThrow(/partial line/);
    } finally {
      await writeFile(auditLogPath(), `${lines.join('\n')}\n`);
    }
    expect((await verifyAudit()).ok).toBe(true);
  });
});

describe('rotation and backup keep one chain across files', () => {
  it('starts a new file with the first entry of a new UTC day, chained to the previous day', async () => {
    await useTempDataDir('gov-audit-daily');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-01-14T23:59:58.000Z'));
      await appendAudit(override({ resource_id: 'run_20260115_001/x' }));
      await appendAudit(override({ resource_id: 'run_20260115_001/y' }));
      vi.setSystemTime(new Date('2026-01-15T00:00:01.000Z'));
      const next = await appendAudit(override({ resource_id: 'run_20260115_001/z' }));
      expect(next.audit_id).toMatch(/^audit_20260115_001_/);
      await checkpointAudit();
    } finally {
      vi.useRealTimers();
    }
    const files = await auditFiles();
    expect(files).toHaveLength(2);
    const day1 = await auditLines(files[0]);
    expect(day1.map((e) => e.timestamp.slice(0, 10))).toEqual(['2026-01-14', '2026-01-14']);
    expect((await auditLines(files[1]))[0]!.prev_hash).toBe(day1[1]!.hash);
    expect(await verifyAudit()).toMatchObject({ ok: true, entries: 3 });
    expect((await queryAudit({ date_range: '2026-01-14' })).map((e) => e.resource_id)).toEqual([
      'run_20260115_001/x',
      'run_20260115_001/y',
    ]);
  });

  it('verifies across segments, links each file to the one before, and detects a removed segment', async () => {
    await useTempDataDir('gov-audit-rotate');
    await appendAudit(override({ resource_id: 'run_20260115_001/a' }));
    await appendAudit(override({ resource_id: 'run_20260115_001/b' }));
    const dest = join(process.env.ACCESS_PERM_DATA_DIR!, 'offsite');
    const first = await backupAudit(dest);
    expect(first).toMatchObject({
      rotated: 'archive/audit_log.000001.jsonl',
      copied: ['archive/audit_log.000001.jsonl'],
    });
    await appendAudit(override({ resource_id: 'run_20260115_001/c' }));
    const second = await backupAudit(dest);
    expect(second).toMatchObject({
      copied: ['archive/audit_log.000002.jsonl'],
      unchanged: ['archive/audit_log.000001.jsonl'],
    });
    await appendAudit(override({ resource_id: 'run_20260115_001/d' }));

    const files = await auditFiles();
    expect(files.map((f) => f.split('/').slice(-2).join('/'))).toEqual([
      'archive/audit_log.000001.jsonl',
      'archive/audit_log.000002.jsonl',
      'audit/audit_log.jsonl',
    ]);
    const seg1 = await auditLines(files[0]);
    const seg2 = await auditLines(files[1]);
    expect(seg2[0]!.prev_hash).toBe(seg1[seg1.length - 1]!.hash);
    expect(await verifyAudit()).toMatchObject({ ok: true, entries: 4 });
    expect(await verifyAudit({ dir: dest })).toMatchObject({ ok: true, entries: 3, unsigned: { entries: 0 } });
    // Queries span every file.
    expect((await queryAudit({ action: 'bin_override' })).map((e) => e.resource_id)).toEqual([
      'run_20260115_001/a',
      'run_20260115_001/b',
      'run_20260115_001/c',
      'run_20260115_001/d',
    ]);

    const seg1Text = await readFile(files[0]!, 'utf8');
    await rm(files[0]!);
    const r = await verifyAudit();
    expect(r.problem).toMatchObject({ kind: 'removed', file: 'archive/audit_log.000001.jsonl' });
    expect(r.problem!.message).toBe('segment archive/audit_log.000001.jsonl was removed');
    await writeFile(files[0]!, seg1Text);
    // A changed backup copy no longer matches its segment; a changed segment is not backed up at all.
    const copy = join(dest, 'archive/audit_log.000001.jsonl');
    await writeFile(copy, seg1Text.replace('run_20260115_001/a', 'run_20260115_001/z'));
    await expect(backupAudit(dest)).rejects.toThrow(/differs/);
    await writeFile(copy, seg1Text);
    await writeFile(files[0]!, seg1Text.replace('run_20260115_001/a', 'run_20260115_001/z'));
    await expect(backupAudit(dest)).rejects.toThrow(/not checkpointed, it fails verification: .* was edited/);
  });
});

describe('queries (the four examples of seed-3 §4) and export', () => {
  let team: Team;

  beforeAll(async () => {
    await useTempDataDir('gov-audit-query');
    team = await makeTeam();
    await appendAudit(override({ user_id: 'modeler_123' }));
    await appendAudit(
      override({ user_id: 'modeler_123', correlation_id: 'run_20260115_002', resource_id: 'run_20260115_002/age' }),
    );
    await appendAudit(override({ user_id: 'other_modeler', status: 'failure', result: 'failed' }));
    await appendAudit(
      override({
        user_id: 'modeler_123',
        action: 'run_created',
        resource_type: 'run',
        resource_id: 'run_20260115_003',
        correlation_id: 'run_20260115_003',
        reason: null,
        before: null,
        after: null,
      }),
    );
  });

  const today = (): string => new Date().toISOString().slice(0, 10);

  it('GET /audit-logs?user_id=modeler_123&start_date=2026-01-01', async () => {
    const rows = await queryAudit({ user_id: 'modeler_123', start_date: '2026-01-01' });
    expect(rows.map((r) => r.correlation_id)).toEqual(['run_20260115_001', 'run_20260115_002', 'run_20260115_003']);
    expect(await queryAudit({ user_id: 'modeler_123', start_date: '2999-01-01' })).toEqual([]);
  });

  it('GET /audit-logs?run_id=run_20260115_001', async () => {
    const rows = await queryAudit({ run_id: 'run_20260115_001' });
    expect(rows.map((r) => r.user_id)).toEqual(['modeler_123', 'other_modeler']);
  });

  it('GET /audit-logs?action=bin_override&resource_type=binning_table', async () => {
    const rows = await queryAudit({ action: 'bin_override', resource_type: 'binning_table' });
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.action === 'bin_override' && r.resource_type === 'binning_table')).toBe(true);
    // Entries come back exactly as written.
    for (const r of rows) expect(entryHash(r)).toBe(r.hash);
  });

  it('GET /audit-logs?date_range=<day>&status=success', async () => {
    const rows = await queryAudit({ date_range: today(), status: 'success' });
    expect(rows.length).toBeGreaterThan(3);
    expect(rows.every((r) => r.status === 'success' && r.timestamp.startsWith(today()))).toBe(true);
    expect(rows.map((r) => r.user_id)).not.toContain('other_modeler');
    expect(await queryAudit({ date_range: '2026-01-14', status: 'success' })).toEqual([]);
  });

  it('end_date as a day includes that day; limit and order; unknown filters are refused', async () => {
    expect(await queryAudit({ user_id: 'modeler_123', end_date: today() })).toHaveLength(3);
    const newest = await queryAudit({ user_id: 'modeler_123', order: 'desc', limit: '1' });
    expect(newest.map((r) => r.action)).toEqual(['run_created']);
    await expect(queryAudit({ usr: 'x' })).rejects.toThrow(/invalid audit query/);
  });

  it('needs view_audit_logs to query: VIEWER is refused, ANALYST allowed', async () => {
    await expect(queryAuditAs({ token: team.tokens.VIEWER }, {})).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await queryAuditAs({ token: team.tokens.ANALYST }, { run_id: 'run_20260115_001' })).length).toBe(2);
  });

  it('exports JSONL and CSV for VALIDATOR/ADMIN only, and audits the export', async () => {
    for (const role of ['VIEWER', 'ANALYST', 'MODELER'] as const)
      await expect(exportAuditAs({ token: team.tokens[role] }, {}, 'csv')).rejects.toBeInstanceOf(
        PermissionDeniedError,
      );
    const jsonl = await exportAuditAs({ token: team.tokens.VALIDATOR }, { run_id: 'run_20260115_001' }, 'jsonl');
    expect(jsonl.entries).toBe(2);
    const exported = jsonl.content
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { hash: string });
    expect(exported.map((e) => entryHash(e as never))).toEqual(exported.map((e) => e.hash));
    const csv = await exportAuditAs({ token: team.admin }, { action: 'bin_override' }, 'csv');
    const rows = csv.content.trimEnd().split('\r\n');
    expect(rows[0]).toMatch(/^timestamp,audit_id,correlation_id,user_id,user_role,action,/);
    expect(rows).toHaveLength(4);
    expect(rows[1]).toContain('"{""bins"":[{""id"":1,""label"":""18-25"",""count"":450000}]}"');
    const [audited] = await queryAudit({ action: 'audit_export', user_id: 'validator' });
    expect(audited).toMatchObject({ user_role: 'VALIDATOR', details: { format: 'jsonl', entries: 2 } });
    expect((await verifyAudit()).ok).toBe(true);
  });
});
