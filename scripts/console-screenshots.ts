/**
 * Screenshots of every console page for docs/console/ (`npm run docs:screenshots`): builds a throwaway installation
 * (a Temporal dev server, a worker, a trained run with an override waiting for review, two monitored windows),
 * serves the control-plane API and photographs each page in headless Chromium. Not part of `npm test`, so the tree
 * stays clean; run it after changing a page.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { stringify } from 'yaml';

const out = join(import.meta.dirname, '..', 'docs', 'console');
const home = await mkdtemp(join(tmpdir(), 'access-perm-screenshots-'));
process.env.ACCESS_PERM_DATA_DIR = join(home, 'data');
process.env.ACCESS_PERM_KEYRING = join(home, 'keyring');

// Loaded after the environment names the installation.
const { connectClient, findServer, loadTemporalSettings, startDevServer, startLocalWorker } = await import('../client');
const { writeSyntheticDataset } = await import('../lib/data/generate');
const { addUser, bootstrapAdmin, issueToken } = await import('../lib/governance');
const { buildControlPlane } = await import('../api/server');

const server = await startDevServer({ dbFile: join(home, 'temporal.sqlite') });
const target = await findServer({ settings: loadTemporalSettings({ env: { TEMPORAL_ADDRESS: server.address } }) });
const worker = await startLocalWorker(target);
const client = await connectClient(target);
const app = await buildControlPlane({ temporal: async () => target });
const base = await app.listen({ port: 0, host: '127.0.0.1' });
const browser = await chromium.launch({
  executablePath:
    process.env.CHROMIUM_PATH ?? ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p)),
  args: ['--no-sandbox'],
});

try {
  const admin = (await bootstrapAdmin('admin')).token;
  const tokens: Record<string, string> = { ADMIN: admin };
  for (const [userId, role] of [
    ['maya', 'MODELER'],
    ['victor', 'VALIDATOR'],
  ] as const) {
    await addUser({ token: admin }, { userId, role, reason: 'screenshots' });
    tokens[role] = (await issueToken({ token: admin }, { userId, ttl: '1h' })).token;
  }
  const call = async (role: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens[role]}`,
        'content-type': 'application/json',
        'idempotency-key': `${method}-${path}`,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a script reading a few known fields
  };
  const until = async (check: () => Promise<boolean>) => {
    const deadline = Date.now() + 300_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('gave up waiting after 5 min');
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  // Inside the data directory: workflows read only there (and the project's config/ and data/).
  const data = join(process.env.ACCESS_PERM_DATA_DIR!, 'input');
  await writeSyntheticDataset(data, { seed: 3, interactions: 6000 });
  const config = join(process.env.ACCESS_PERM_DATA_DIR!, 'team.yaml');
  await writeFile(
    config,
    stringify({
      name: 'access requests, team config',
      data: { mode: 'seed', dir: data },
      model: { catboost: { iterations: 60, learning_rate: 0.2, depth: 4, random_seed: 7 } },
      validation: { n_splits: 3, threshold_strategy: 'max_accuracy', expectations: { min_rows: 100 } },
    }),
  );
  await call('ADMIN', 'POST', '/runs', { config_path: config, run_id: 'run-2026-q4-baseline' });
  await until(async () => {
    const { progress, result } = await call('ADMIN', 'GET', '/runs/run-2026-q4-baseline/progress');
    if (progress.status === 'failed' || progress.status === 'cancelled')
      throw new Error(`the run ${progress.status} at ${progress.step}: ${progress.error ?? progress.message}`);
    return result !== null;
  });
  await until(
    async () => !(await call('ADMIN', 'GET', '/runs/run-2026-q4-baseline/lifecycle').catch(() => ({ job: 1 }))).job,
  );
  const lines = (await readFile(join(data, 'interactions.csv'), 'utf8')).trim().split('\n');
  const window = join(process.env.ACCESS_PERM_DATA_DIR, 'window.csv');
  for (const [label, from] of [
    ['2026-12-05', 1],
    ['2026-12-06', 1500],
    ['2026-12-07', 3000],
  ] as const) {
    await writeFile(window, `${[lines[0], ...lines.slice(from, from + 1500)].join('\n')}\n`);
    await call('ADMIN', 'POST', '/runs/run-2026-q4-baseline/monitoring/windows', { current: window, label });
  }
  await call('ADMIN', 'PUT', '/runs/run-2026-q4-baseline/monitoring/schedule', {
    current: window,
    cron: '0 2 * * *',
    reason: 'nightly drift watch',
  });
  await call('MODELER', 'POST', '/runs/run-2026-q4-baseline/overrides/merge_bins', {
    feature: 'seniority',
    bins: [0, 1],
    reason: 'juniors and new hires are approved alike',
  });
  await until(async () => {
    const state = await call('ADMIN', 'GET', '/runs/run-2026-q4-baseline/lifecycle');
    return !state.job && state.overrides[0]?.status === 'pending_review';
  });

  await mkdir(out, { recursive: true });
  const shoot = async (role: string, pages: Array<[string, string]>, width = 1280) => {
    const page: Page = await (await browser.newContext({ viewport: { width, height: 800 } })).newPage();
    await page.goto(`${base}/console/`);
    await page.getByLabel('Your access-perm token').fill(tokens[role]!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    for (const [hash, file] of pages) {
      await page.evaluate(
        () =>
          delete (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body
            .dataset.ready,
      );
      await page.goto(`${base}/console/${hash}`);
      await page.waitForSelector('body[data-ready]');
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: join(out, file), fullPage: true });
      console.log(`docs/console/${file}`);
    }
    await page.context().close();
  };
  await shoot('VALIDATOR', [
    ['#runs', 'runs.png'],
    ['#review', 'review-queue.png'],
    ['#run/run-2026-q4-baseline', 'run-review.png'],
    ['#monitoring/run-2026-q4-baseline', 'monitoring.png'],
    ['#audit', 'audit.png'],
  ]);
  await shoot('ADMIN', [['#admin', 'administration.png']]);
  await shoot('VALIDATOR', [['#runs', 'runs-phone.png']], 390);
} finally {
  await browser.close();
  await app.close();
  await client.connection.close();
  await worker.stop();
  await server.stop();
}
