/**
 * Deterministic synthetic access-permission dataset in the seed's input schema
 * (users_metadata.csv, apps_metadata.csv, interactions.csv, submission.csv).
 *
 * Latent story: each request's log-odds = app sensitivity + department clearance and department×category
 * affinity + office clearance and office×category affinity + the manager's team norm + the manager's office
 * policy + a small category/seniority effect + an unobserved per-user quirk, with a large penalty for machine
 * accounts; the label is a Bernoulli draw on that (logistic noise). Users mostly share their manager's
 * department/office, so values hidden by missingness stay recoverable through the manager.
 *
 * Rows are streamed per user (no per-row objects), every random draw comes from seeded Rng streams, and
 * each file is written under a temp name and renamed only when all four are complete (interactions.csv last).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Rng } from '../rng';

export interface GenerateOptions {
  seed: number;
  interactions: number;
  users?: number;
  apps?: number;
  submissions?: number;
}

export interface GeneratedSummary {
  dir: string;
  users: number;
  apps: number;
  interactions: number;
  submissions: number;
  approvalRate: number;
  files: { users: string; apps: string; interactions: string; submission: string };
}

const N_DEPTS = 12;
const N_OFFICES = 25;
const N_CATEGORIES = 15;
const SEED_ROWS = 116_063; // the seed dataset's scale: 3,724 users and 509 apps
const MACHINE_SHARE = 0.02; // share of requests made by machine accounts
const TARGET_HUMAN_RATE = (0.501 - MACHINE_SHARE * 0.085) / (1 - MACHINE_SHARE); // overall ≈ 50.1%
const TARGET_MACHINE_RATE = 0.085;
const CALIBRATION_ROWS = 200_000; // rows replayed to calibrate intercepts (bounded memory)
const CHUNK_CHARS = 1 << 16;

// Effect scales (standard deviations, in log-odds), tuned so CatBoost on the seed's features lands at OOF AUC ≈ 0.93
// with the seed's importance ranking: app > department > manager ≈ office > manager office > category.
const S = {
  app: 2.5, // per-app sensitivity: the dominant signal
  dept: 2.8, // department clearance
  deptCat: 0.4, // department × category affinity
  deptApp: 1.3, // department × app need: gives department signal that managerId cannot absorb
  office: 1.1, // office clearance
  officeCat: 0.2, // office × category affinity
  mgr: 0.3, // team norm beyond what the team's department/office explain
  mgrOffice: 2.2, // the manager's office policy (site-level approver)
  cat: 0.2, // category main effect: small, categories are coarse
  user: 0.3, // unobserved per-user quirk (userId is not a feature)
  sen: 0.05, // curvature of the mid-level seniority bump
};

/** Fully deterministic 32-bit mix, so every user gets its own Rng stream regardless of processing order. */
function mix32(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2d);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Vose alias table: O(1) weighted draws, needed for 10M popularity-weighted app picks. */
class Alias {
  private readonly prob: Float64Array;
  private readonly alias: Uint32Array;
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    this.prob = new Float64Array(n);
    this.alias = new Uint32Array(n);
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i]! * n) / total;
      (scaled[i]! < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large.pop()!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    for (const i of [...small, ...large]) this.prob[i] = 1;
  }
  draw(rng: Rng): number {
    const i = rng.int(this.prob.length);
    return rng.next() < this.prob[i]! ? i : this.alias[i]!;
  }
}

function gaussians(rng: Rng, n: number, scale: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Picks exactly round(rate·|pool|) members of pool (exact rates, not Bernoulli noise) and marks them. */
function markExact(rng: Rng, pool: number[], rate: number, mark: Uint8Array): void {
  const k = Math.round(rate * pool.length);
  const order = rng.permutation(pool.length);
  for (let i = 0; i < k; i++) mark[pool[order[i]!]!] = 1;
}

/** Splits `total` over slots proportionally to weight without exceeding cap[i]; leftovers go by weighted draws. */
function allocate(rng: Rng, total: number, slots: number[], weight: Float64Array, cap: Uint32Array, out: Uint32Array) {
  let left = total;
  for (let round = 0; left > 0 && round < 20; round++) {
    let w = 0;
    for (const i of slots) if (out[i]! < cap[i]!) w += weight[i]!;
    if (w === 0) break;
    const budget = left;
    for (const i of slots) {
      if (out[i]! >= cap[i]!) continue;
      const give = Math.min(Math.floor((budget * weight[i]!) / w), cap[i]! - out[i]!, left);
      out[i] = out[i]! + give;
      left -= give;
    }
    // The floor()s leave < slots.length units: hand them out one at a time to weighted random slots.
    for (let tries = 0; left > 0 && tries < 50 * slots.length; tries++) {
      const i = slots[rng.int(slots.length)]!;
      if (out[i]! < cap[i]! && rng.next() * 4 < weight[i]! / (w / slots.length)) {
        out[i] = out[i]! + 1;
        left--;
      }
    }
  }
  for (const i of slots) {
    if (left === 0) break;
    const give = Math.min(cap[i]! - out[i]!, left);
    out[i] = out[i]! + give;
    left -= give;
  }
  if (left > 0) throw new Error('interactions: not enough distinct (user, app) pairs; raise users or apps');
}

function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name}: must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

interface Plan {
  seed: number;
  interactions: number;
  users: number;
  apps: number;
  submissions: number;
}

function plan(o: GenerateOptions): Plan {
  if (o === null || typeof o !== 'object') throw new Error('options: expected an object');
  const seed = checkInt('seed', o.seed, 0, 0xffffffff);
  const n = checkInt('interactions', o.interactions, 100, 50_000_000);
  // Scale with the seed, with a sqrt floor so small samples still have many rows per user and app.
  const users = o.users ?? Math.min(n, Math.max(Math.round((n * 3724) / SEED_ROWS), Math.round(7.07 * Math.sqrt(n))));
  const apps = o.apps ?? Math.max(20, Math.round((n * 509) / SEED_ROWS), Math.round(1.414 * Math.sqrt(n)));
  checkInt('users', users, 10, n);
  checkInt('apps', apps, 10, 1_000_000);
  const submissions = checkInt('submissions', o.submissions ?? Math.max(100, Math.round(n * 0.05)), 0, 50_000_000);
  // Each user draws at most half the catalogue so per-user sampling without replacement stays cheap.
  if (n + submissions > users * Math.floor(apps / 2)) {
    throw new Error(`interactions: ${n} + ${submissions} submissions exceed the pair capacity of ${users} users × ${apps} apps`);
  }
  return { seed, interactions: n, users, apps, submissions };
}

/** The latent world: org tree, metadata, effects and per-user request counts, all as typed arrays. */
function buildWorld(p: Plan) {
  const root = new Rng(p.seed);
  const U = p.users;
  const A = p.apps;
  // Org tree: a few top users, ~1 manager per 7 users; managers report to earlier managers (shallow tree).
  const nTop = Math.min(50, Math.max(2, Math.round(U / 800)));
  const nMgr = Math.max(nTop + 1, Math.round(U / 7));
  const org = root.fork(1);
  const manager = new Int32Array(U).fill(-1);
  const dept = new Uint8Array(U);
  const office = new Uint8Array(U);
  const deptPick = new Alias(Array.from({ length: N_DEPTS }, () => Math.exp(org.normal() * 0.6)));
  const officePick = new Alias(Array.from({ length: N_OFFICES }, () => Math.exp(org.normal() * 0.8)));
  const teamPick = new Alias(Array.from({ length: nMgr }, () => Math.exp(org.normal() * 0.7)));
  for (let u = 0; u < U; u++) {
    if (u < nTop) {
      dept[u] = deptPick.draw(org);
      office[u] = officePick.draw(org);
      continue;
    }
    const m = u < nMgr ? org.int(u) : teamPick.draw(org);
    manager[u] = m;
    // Teams mostly share the manager's department and office; this is what makes backfilling work.
    const keepDept = u < nMgr ? 0.8 : 0.88;
    const keepOffice = u < nMgr ? 0.6 : 0.75;
    dept[u] = org.next() < keepDept ? dept[m]! : deptPick.draw(org);
    office[u] = org.next() < keepOffice ? office[m]! : officePick.draw(org);
  }
  const isMachine = new Uint8Array(U);
  const humans: number[] = [];
  const machines: number[] = [];
  const workers = Array.from({ length: U - nMgr }, (_, i) => i + nMgr);
  markExact(org, workers, Math.max(1, Math.round(MACHINE_SHARE * U)) / workers.length, isMachine);
  for (let u = 0; u < U; u++) (isMachine[u] ? machines : humans).push(u);
  // Seniority 1..10: tops at the summit, managers senior, staff junior; machines usually have none.
  const seniority = new Uint8Array(U);
  for (let u = 0; u < U; u++) {
    const base = u < nTop ? 9.5 : u < nMgr ? 7 : 3.8;
    seniority[u] = Math.max(1, Math.min(10, Math.round(base + org.normal() * 1.5)));
  }
  // Missingness at exact rates; managers are better documented so their values can fill their team's gaps.
  const mgrs = Array.from({ length: nMgr }, (_, i) => i);
  const staff = workers.filter((u) => !isMachine[u]);
  const noDept = new Uint8Array(U);
  const noOffice = new Uint8Array(U);
  const noSeniority = new Uint8Array(U);
  markExact(org, mgrs, 0.2, noDept);
  markExact(org, workers, (0.4 * U - 0.2 * nMgr) / workers.length, noDept);
  markExact(org, mgrs, 0.1, noOffice);
  markExact(org, workers, (0.22 * U - 0.1 * nMgr) / workers.length, noOffice);
  markExact(org, staff, 0.03, noSeniority);
  markExact(org, mgrs, 0.03, noSeniority);
  markExact(org, machines, 0.7, noSeniority);

  const apps = root.fork(2);
  const category = new Uint8Array(A);
  const catPick = new Alias(Array.from({ length: N_CATEGORIES }, () => Math.exp(apps.normal() * 0.5)));
  for (let a = 0; a < A; a++) category[a] = catPick.draw(apps);
  const noCategory = new Uint8Array(A);
  markExact(apps, Array.from({ length: A }, (_, i) => i), 0.035, noCategory);
  // Zipf-like popularity so a few apps carry many requests (as in real request logs).
  const popRank = apps.permutation(A);
  const popularity = new Alias(Array.from(popRank, (r) => 1 / Math.pow(r + 8, 0.9)));

  const fx = root.fork(3);
  const effects = {
    app: gaussians(fx, A, S.app),
    dept: gaussians(fx, N_DEPTS, S.dept),
    deptCat: gaussians(fx, N_DEPTS * N_CATEGORIES, S.deptCat),
    deptApp: gaussians(fx, N_DEPTS * A, S.deptApp),
    office: gaussians(fx, N_OFFICES, S.office),
    officeCat: gaussians(fx, N_OFFICES * N_CATEGORIES, S.officeCat),
    mgrOffice: gaussians(fx, N_OFFICES, S.mgrOffice),
    cat: gaussians(fx, N_CATEGORIES, S.cat),
  };
  // Per-user part of the log-odds (everything except the app-dependent terms); intercepts are added later.
  const userBase = new Float64Array(U);
  const teamNorm = gaussians(fx, nMgr, S.mgr);
  for (let u = 0; u < U; u++) {
    const m = manager[u]!;
    // Mid-level staff fare slightly better (seed EDA); the per-user quirk is invisible to the model.
    let x = effects.dept[dept[u]!]! + effects.office[office[u]!]! - S.sen * (seniority[u]! - 5.5) ** 2;
    if (m >= 0) x += teamNorm[m]! + effects.mgrOffice[office[m]!]!;
    userBase[u] = x + fx.normal() * S.user;
  }

  // Request counts: everyone has at least one; heavy-tailed activity; machines share exactly ~2% of rows.
  const act = root.fork(4);
  const activity = new Float64Array(U);
  for (let u = 0; u < U; u++) activity[u] = Math.exp(act.normal() * 0.9);
  const cap = new Uint32Array(U).fill(Math.floor(A / 2));
  const count = new Uint32Array(U).fill(1);
  const machineRows = Math.max(machines.length, Math.round(MACHINE_SHARE * p.interactions));
  allocate(act, machineRows - machines.length, machines, activity, cap, count);
  allocate(act, p.interactions - machineRows - humans.length, humans, activity, cap, count);
  const subCount = new Uint32Array(U);
  const subCap = new Uint32Array(U);
  for (let u = 0; u < U; u++) subCap[u] = cap[u]! - count[u]!;
  allocate(act, p.submissions, Array.from({ length: U }, (_, i) => i), activity, subCap, subCount);

  // Anonymised integer ids: users and apps shuffled into disjoint numeric ranges.
  const ids = root.fork(5);
  const userId = Array.from(ids.permutation(U), (i) => String(100_001 + i));
  const appId = Array.from(ids.permutation(A), (i) => String(5_001 + i));
  const order = ids.permutation(U); // users' blocks appear in this order in interactions.csv
  return {
    ...{ U, A, manager, dept, office, isMachine, seniority, noDept, noOffice, noSeniority, category, noCategory },
    ...{ popularity, effects, userBase, count, subCount, userId, appId, order },
  };
}
type World = ReturnType<typeof buildWorld>;

/** Draws count[u] + subCount[u] distinct apps for user u into `out` (shuffled); uses its own Rng stream. */
function drawApps(w: World, seed: number, u: number, out: Uint32Array, seen: Set<number>): number {
  const k = w.count[u]! + w.subCount[u]!;
  const rng = new Rng(mix32(mix32(seed, 0x5eed), u));
  seen.clear();
  let n = 0;
  while (n < k) {
    const a = w.popularity.draw(rng);
    if (!seen.has(a)) {
      seen.add(a);
      out[n++] = a;
    }
  }
  rng.shuffle(out, n);
  return k;
}

function logOdds(w: World, u: number, a: number): number {
  const c = w.category[a]!;
  const d = w.dept[u]!;
  const e = w.effects;
  return (
    w.userBase[u]! +
    e.app[a]! +
    e.cat[c]! +
    e.deptCat[d * N_CATEGORIES + c]! +
    e.deptApp[d * w.A + a]! +
    e.officeCat[w.office[u]! * N_CATEGORIES + c]!
  );
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Intercept b with mean sigmoid(x + b) = target, by bisection on replayed log-odds. */
function solveIntercept(xs: Float64Array, n: number, target: number): number {
  let lo = -30;
  let hi = 30;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    let s = 0;
    for (let i = 0; i < n; i++) s += sigmoid(xs[i]! + mid);
    if (s / n < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Replays the pairs of a deterministic sample of users to set the human and machine intercepts. */
function calibrate(w: World, seed: number, buf: Uint32Array, seen: Set<number>): { human: number; machine: number } {
  const xs = { h: new Float64Array(CALIBRATION_ROWS), m: new Float64Array(CALIBRATION_ROWS) };
  let nh = 0;
  let nm = 0;
  for (let i = 0; i < w.U && (nh < CALIBRATION_ROWS || nm < CALIBRATION_ROWS); i++) {
    const u = w.order[i]!;
    const machine = w.isMachine[u] === 1;
    if ((machine ? nm : nh) >= CALIBRATION_ROWS) continue;
    drawApps(w, seed, u, buf, seen);
    for (let j = 0; j < w.count[u]!; j++) {
      if (machine && nm < CALIBRATION_ROWS) xs.m[nm++] = logOdds(w, u, buf[j]!);
      else if (!machine && nh < CALIBRATION_ROWS) xs.h[nh++] = logOdds(w, u, buf[j]!);
    }
  }
  const human = solveIntercept(xs.h, nh, TARGET_HUMAN_RATE);
  // Machines get their own (strongly negative) offset on top of the human intercept.
  for (let i = 0; i < nm; i++) xs.m[i] = xs.m[i]! + human;
  return { human, machine: human + solveIntercept(xs.m, nm, TARGET_MACHINE_RATE) };
}

let tmpSerial = 0; // keeps temp names distinct when one process generates into the same folder twice at once

/** Buffered CSV writer on a temp file; respects backpressure; renamed into place by the caller. */
class CsvSink {
  readonly tmp: string;
  private readonly stream: WriteStream;
  private buf = '';
  private error: Error | undefined;
  constructor(readonly path: string, header: string) {
    this.tmp = `${path}.${process.pid}-${++tmpSerial}.tmp`;
    this.stream = createWriteStream(this.tmp);
    // Keep the first I/O error (an unhandled 'error' event would crash the process) and rethrow it on next use.
    this.stream.on('error', (err) => (this.error ??= err));
    this.buf = header + '\n';
  }
  line(s: string): void {
    this.buf += s + '\n';
  }
  async flush(force = false): Promise<void> {
    if (this.buf.length < CHUNK_CHARS && !force) return;
    if (this.error) throw this.error;
    const ok = this.stream.write(this.buf);
    this.buf = '';
    if (!ok) await once(this.stream, 'drain');
  }
  async close(): Promise<void> {
    await this.flush(true);
    if (this.error) throw this.error;
    this.stream.end();
    await once(this.stream, 'finish');
  }
  abort(): Promise<void> {
    this.stream.destroy();
    return unlink(this.tmp).catch(() => undefined);
  }
}

export async function writeSyntheticDataset(
  dir: string,
  options: GenerateOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<GeneratedSummary> {
  const p = plan(options);
  const w = buildWorld(p);
  await mkdir(dir, { recursive: true });
  const files = {
    users: join(dir, 'users_metadata.csv'),
    apps: join(dir, 'apps_metadata.csv'),
    interactions: join(dir, 'interactions.csv'),
    submission: join(dir, 'submission.csv'),
  };
  const sinks = [
    new CsvSink(files.users, 'userId,managerId,department,officeLocation,isMachine,seniority'),
    new CsvSink(files.apps, 'appId,category'),
    new CsvSink(files.interactions, 'userId,appId,permission'),
    new CsvSink(files.submission, 'userId,appId'),
  ] as const;
  const [users, apps, inter, subm] = sinks;
  const total = p.interactions + p.submissions;
  let approved = 0;
  try {
    const byId = (ids: string[]) => Array.from(ids.keys()).sort((x, y) => Number(ids[x]) - Number(ids[y]));
    for (const u of byId(w.userId)) {
      const m = w.manager[u]!;
      users.line(
        [
          w.userId[u],
          m < 0 ? '' : w.userId[m],
          w.noDept[u] ? '' : w.dept[u],
          w.noOffice[u] ? '' : w.office[u],
          w.isMachine[u],
          w.noSeniority[u] ? '' : w.seniority[u],
        ].join(','),
      );
      await users.flush();
    }
    for (const a of byId(w.appId)) {
      apps.line(`${w.appId[a]},${w.noCategory[a] ? '' : w.category[a]}`);
      await apps.flush();
    }
    const buf = new Uint32Array(p.apps);
    const seen = new Set<number>();
    const bias = calibrate(w, p.seed, buf, seen);
    let done = 0;
    for (let i = 0; i < w.U; i++) {
      const u = w.order[i]!;
      const k = drawApps(w, p.seed, u, buf, seen);
      const labels = new Rng(mix32(mix32(p.seed, 0x1abe1), u)); // label noise independent of pair choice
      const b = w.isMachine[u] ? bias.machine : bias.human;
      const uid = w.userId[u]!;
      for (let j = 0; j < w.count[u]!; j++) {
        const a = buf[j]!;
        const y = labels.next() < sigmoid(logOdds(w, u, a) + b) ? 1 : 0;
        approved += y;
        inter.line(`${uid},${w.appId[a]},${y}`);
      }
      for (let j = w.count[u]!; j < k; j++) subm.line(`${uid},${w.appId[buf[j]!]}`);
      await inter.flush();
      await subm.flush();
      done += k;
      if (onProgress && (i % 256 === 255 || i === w.U - 1)) onProgress(done, total);
    }
    for (const s of sinks) await s.close();
    // interactions.csv goes last: its presence under the final name implies the whole set is complete.
    for (const s of [subm, apps, users, inter]) await rename(s.tmp, s.path);
  } catch (err) {
    await Promise.all(sinks.map((s) => s.abort()));
    throw err;
  }
  return {
    dir,
    users: p.users,
    apps: p.apps,
    interactions: p.interactions,
    submissions: p.submissions,
    approvalRate: approved / p.interactions,
    files,
  };
}
