import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticDataset, type GeneratedSummary, type GenerateOptions } from '../lib/data/generate';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'access-perm-gen-'));
  dirs.push(dir);
  return dir;
}

/** Header + rows of a generated CSV (no quoting is ever needed: all fields are integer codes or empty). */
async function readCsv(path: string): Promise<{ header: string; rows: string[][] }> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  expect(lines.pop()).toBe(''); // file ends with a newline
  return { header: lines[0]!, rows: lines.slice(1).map((l) => l.split(',')) };
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('writeSyntheticDataset', () => {
  it('is byte-identical for the same seed and options, and differs for another seed', async () => {
    const opts: GenerateOptions = { seed: 7, interactions: 4000 };
    const [a, b, c] = await Promise.all([tempDir(), tempDir(), tempDir()]);
    await writeSyntheticDataset(a, opts);
    await writeSyntheticDataset(b, opts);
    await writeSyntheticDataset(c, { ...opts, seed: 8 });
    for (const f of ['users_metadata.csv', 'apps_metadata.csv', 'interactions.csv', 'submission.csv']) {
      const bytesA = await readFile(join(a, f));
      expect(bytesA.equals(await readFile(join(b, f))), f).toBe(true);
    }
    const interA = await readFile(join(a, 'interactions.csv'));
    expect(interA.equals(await readFile(join(c, 'interactions.csv')))).toBe(false);
  });

  describe('a 20k-interaction sample', () => {
    let dir: string;
    let summary: GeneratedSummary;
    let users: Awaited<ReturnType<typeof readCsv>>;
    let apps: Awaited<ReturnType<typeof readCsv>>;
    let inter: Awaited<ReturnType<typeof readCsv>>;
    let subm: Awaited<ReturnType<typeof readCsv>>;
    let lastProgress: [number, number] = [0, 0];

    beforeAll(async () => {
      dir = await tempDir();
      summary = await writeSyntheticDataset(dir, { seed: 42, interactions: 20_000 }, (done, total) => {
        lastProgress = [done, total];
      });
      users = await readCsv(summary.files.users);
      apps = await readCsv(summary.files.apps);
      inter = await readCsv(summary.files.interactions);
      subm = await readCsv(summary.files.submission);
    });

    it('writes the seed schema and nothing else (no temp files left)', async () => {
      expect(users.header).toBe('userId,managerId,department,officeLocation,isMachine,seniority');
      expect(apps.header).toBe('appId,category');
      expect(inter.header).toBe('userId,appId,permission');
      expect(subm.header).toBe('userId,appId');
      expect((await readdir(dir)).sort()).toEqual([
        'apps_metadata.csv',
        'interactions.csv',
        'submission.csv',
        'users_metadata.csv',
      ]);
      for (const [t, width] of [
        [users, 6],
        [apps, 2],
        [inter, 3],
        [subm, 2],
      ] as const) {
        for (const r of t.rows) expect(r.length).toBe(width);
      }
      const intOrEmpty = /^(\d+)?$/;
      for (const r of users.rows) for (const v of r) expect(v).toMatch(intOrEmpty);
      for (const r of inter.rows) expect(r[2]).toMatch(/^[01]$/);
    });

    it('matches the summary and the default sizes', () => {
      expect(summary.interactions).toBe(20_000);
      expect(inter.rows.length).toBe(20_000);
      expect(subm.rows.length).toBe(summary.submissions);
      expect(summary.submissions).toBe(1000);
      expect(users.rows.length).toBe(summary.users);
      expect(apps.rows.length).toBe(summary.apps);
      expect(summary.users).toBeGreaterThanOrEqual(900);
      expect(summary.apps).toBeGreaterThanOrEqual(180);
      expect(lastProgress).toEqual([21_000, 21_000]);
      const approved = inter.rows.filter((r) => r[2] === '1').length;
      expect(summary.approvalRate).toBeCloseTo(approved / 20_000, 10);
    });

    it('has unique ids, unique (user, app) pairs, and submissions disjoint from the history', () => {
      const userIds = new Set(users.rows.map((r) => r[0]));
      const appIds = new Set(apps.rows.map((r) => r[0]));
      expect(userIds.size).toBe(users.rows.length);
      expect(appIds.size).toBe(apps.rows.length);
      const pairs = new Set(inter.rows.map((r) => `${r[0]}|${r[1]}`));
      expect(pairs.size).toBe(inter.rows.length); // unique pairs ⇒ no contradictory labels either
      for (const r of [...inter.rows, ...subm.rows]) {
        expect(userIds.has(r[0])).toBe(true);
        expect(appIds.has(r[1])).toBe(true);
      }
      const subPairs = new Set(subm.rows.map((r) => `${r[0]}|${r[1]}`));
      expect(subPairs.size).toBe(subm.rows.length);
      for (const p of subPairs) expect(pairs.has(p)).toBe(false);
      // Every user has labelled history.
      expect(new Set(inter.rows.map((r) => r[0])).size).toBe(users.rows.length);
    });

    it('has a manager hierarchy of users: a few roots, machines managed', () => {
      const userIds = new Set(users.rows.map((r) => r[0]));
      const roots = users.rows.filter((r) => r[1] === '');
      expect(roots.length).toBeGreaterThanOrEqual(1);
      expect(roots.length).toBeLessThanOrEqual(10);
      for (const r of users.rows) if (r[1] !== '') expect(userIds.has(r[1])).toBe(true);
      for (const r of users.rows) if (r[4] === '1') expect(r[1]).not.toBe('');
      // Most users with a missing department can take their manager's.
      const dept = new Map(users.rows.map((r) => [r[0], r[2]]));
      const missing = users.rows.filter((r) => r[2] === '');
      const recoverable = missing.filter((r) => r[1] !== '' && dept.get(r[1]) !== '');
      expect(recoverable.length / missing.length).toBeGreaterThan(0.7);
    });

    it('reproduces the seed statistics within tolerance', () => {
      const share = (rows: string[][], pred: (r: string[]) => boolean) => rows.filter(pred).length / rows.length;
      expect(share(inter.rows, (r) => r[2] === '1')).toBeGreaterThan(0.48);
      expect(share(inter.rows, (r) => r[2] === '1')).toBeLessThan(0.52);
      expect(share(users.rows, (r) => r[2] === '')).toBeCloseTo(0.4, 1);
      expect(share(users.rows, (r) => r[3] === '')).toBeCloseTo(0.22, 1);
      expect(Math.abs(share(apps.rows, (r) => r[1] === '') - 0.035)).toBeLessThan(0.01);
      const machines = new Set(users.rows.filter((r) => r[4] === '1').map((r) => r[0]));
      const machineRows = inter.rows.filter((r) => machines.has(r[0]));
      expect(Math.abs(machineRows.length / inter.rows.length - 0.02)).toBeLessThan(0.003);
      expect(Math.abs(share(machineRows, (r) => r[2] === '1') - 0.085)).toBeLessThan(0.04);
      const codes = (rows: string[][], col: number) => new Set(rows.map((r) => r[col]).filter((v) => v !== '')).size;
      expect(codes(users.rows, 2)).toBeLessThanOrEqual(12);
      expect(codes(users.rows, 3)).toBeLessThanOrEqual(25);
      expect(codes(apps.rows, 1)).toBeLessThanOrEqual(15);
      for (const r of users.rows) if (r[5] !== '') expect(Number(r[5])).toBeGreaterThanOrEqual(1);
      for (const r of users.rows) if (r[5] !== '') expect(Number(r[5])).toBeLessThanOrEqual(10);
    });
  });

  it('rejects bad options with a message naming the option, before writing anything', async () => {
    const dir = await tempDir();
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ seed: -1, interactions: 1000 }, /^seed:/],
      [{ seed: 1.5, interactions: 1000 }, /^seed:/],
      [{ interactions: 1000 }, /^seed:/],
      [{ seed: 1, interactions: 0 }, /^interactions:/],
      [{ seed: 1, interactions: 2500.5 }, /^interactions:/],
      [{ seed: 1, interactions: '1000' }, /^interactions:/],
      [{ seed: 1, interactions: 1000, users: 0 }, /^users:/],
      [{ seed: 1, interactions: 1000, users: 5000 }, /^users:/],
      [{ seed: 1, interactions: 1000, apps: -3 }, /^apps:/],
      [{ seed: 1, interactions: 1000, submissions: -1 }, /^submissions:/],
      [{ seed: 1, interactions: 100_000, users: 50, apps: 20 }, /^interactions:.*capacity/],
    ];
    for (const [opts, message] of bad) {
      await expect(
        writeSyntheticDataset(dir, opts as unknown as GenerateOptions),
        JSON.stringify(opts),
      ).rejects.toThrow(message);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves no temp or half-written file when a write fails', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'apps_metadata.csv')); // a directory in the way makes that rename fail
    await expect(writeSyntheticDataset(dir, { seed: 1, interactions: 1000 })).rejects.toThrow();
    const left = await readdir(dir);
    expect(left.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(left).not.toContain('interactions.csv'); // renamed last, so absent when the set is incomplete
  });

  it('honours explicit sizes', async () => {
    const dir = await tempDir();
    const s = await writeSyntheticDataset(dir, { seed: 3, interactions: 2000, users: 150, apps: 60, submissions: 0 });
    expect([s.users, s.apps, s.interactions, s.submissions]).toEqual([150, 60, 2000, 0]);
    expect((await readCsv(s.files.submission)).rows).toEqual([]);
    expect((await readCsv(s.files.users)).rows.length).toBe(150);
  });
});
