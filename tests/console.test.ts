import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONSOLE_CSP } from '../api/console';
import { buildControlPlane } from '../api/server';
import { pipelineHandle } from '../client/workflows';
import { addUser, issueToken, queryAudit } from '../lib/governance';
import { resolveRunDir } from '../lib/run';
import { sha256Hex } from '../lib/hash';
import type { ArtifactRef } from '../schemas/run';
import {
  cliInProcess,
  runCreator,
  serverFromEnv,
  smallConfig,
  startTemporalStack,
  useTempDataDir,
  writeConfig,
  type TemporalStack,
} from './helpers';
import { trainedRun } from './scoringRun';

/** Where the bootstrap's Chromium is (scripts/bootstrap.mjs --browser installs Debian's when none is). */
const CHROMIUM =
  process.env.CHROMIUM_PATH ??
  ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

const RUN = 'console-run';
let app: FastifyInstance;
let base: string;
let browser: Browser;
let stack: TemporalStack;
let root: string;
const tokens: Record<'ADMIN' | 'VIEWER' | 'MODELER' | 'VALIDATOR', string> = {} as never;
const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

beforeAll(async () => {
  root = await useTempDataDir('console');
  tokens.ADMIN = (await runCreator()).token;
  for (const role of ['VIEWER', 'MODELER', 'VALIDATOR'] as const) {
    const userId = `con-${role.toLowerCase()}`;
    await addUser({ token: tokens.ADMIN }, { userId, role, reason: 'console tests' });
    tokens[role] = (await issueToken({ token: tokens.ADMIN }, { userId, ttl: '1h' })).token;
  }
  await trainedRun(root, RUN);
  stack = await startTemporalStack(root);
  app = await buildControlPlane({ temporal: () => serverFromEnv(stack.server.address) });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  if (!CHROMIUM) throw new Error('no Chromium: run node scripts/bootstrap.mjs --browser, or set CHROMIUM_PATH');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stack?.stop();
});

/** The page's globals, for code that runs in the browser (this project's TypeScript has no DOM types). */
interface InPage {
  document: { cookie: string };
  axe: { run: (context: unknown) => Promise<{ violations: Array<{ id: string; help: string; impact: string }> }> };
}

/** A fresh browser context on the console, recording every console message (CSP violations land there). */
async function openConsole(): Promise<{ page: Page; messages: string[] }> {
  const page = await (await browser.newContext()).newPage();
  const messages: string[] = [];
  page.on('console', (m) => messages.push(m.text()));
  await page.goto(`${base}/console/`);
  return { page, messages };
}

/** Starts a training run through the API as the ADMIN. */
async function startRunAsAdmin(runId: string, configPath: string): Promise<void> {
  const started = await fetch(`${base}/runs`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens.ADMIN}`,
      'content-type': 'application/json',
      'idempotency-key': `${runId}-0001`,
    },
    body: JSON.stringify({ config_path: configPath, run_id: runId }),
  });
  expect(started.status).toBe(202);
}

/** What axe-core finds serious or critical on the page as it is now. */
async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.evaluate(await axeSource);
  return page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as InPage;
    const { violations } = await axe.run(document);
    return violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => `${v.id}: ${v.help}`);
  });
}

/** The text of the element that has the focus (runs in the page). */
function focusedText(): string {
  const { document } = globalThis as unknown as { document: { activeElement: { textContent: string } | null } };
  return document.activeElement?.textContent?.trim() ?? '';
}

/** How far the page is wider than the window (runs in the page): > 0 means it scrolls sideways. */
function overflowingWidth(): number {
  const { document } = globalThis as unknown as {
    document: { documentElement: { scrollWidth: number; clientWidth: number } };
  };
  return document.documentElement.scrollWidth - document.documentElement.clientWidth;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Your access-perm token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
}

describe('the web console (access-perm api, /console/) in a real browser', () => {
  it('a VIEWER signs in with the keyboard alone: an HttpOnly session, the runs with their states, no actions, no CSP or axe violations, no sideways scrolling on a phone', async () => {
    const { page, messages } = await openConsole();
    const served = await fetch(`${base}/console/`);
    expect(served.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    // The token field has the focus; Tab reaches the button, Enter signs in, Tab and Enter follow the pages' links.
    await page.keyboard.type(tokens.VIEWER);
    await page.keyboard.press('Tab');
    await expect(page.evaluate(focusedText)).resolves.toBe('Sign in');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await expect.poll(() => page.evaluate(focusedText)).toBe('Runs');
    for (let presses = 0; (await page.evaluate(focusedText)) !== 'Review queue'; presses++) {
      expect(presses, 'Tab presses to reach the review queue link').toBeLessThan(12);
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await expect(page.locator('#who').textContent()).resolves.toMatch(/^con-viewer \(VIEWER\), until /);
    const row = page.getByRole('row').filter({ hasText: RUN });
    await expect(row.locator('.state').textContent()).resolves.toBe('completed');
    expect(await page.locator('button[data-action]:visible').count()).toBe(0);
    // The token is not kept by the page, and its session cookie is out of the page's reach.
    await expect(page.getByLabel('Your access-perm token').inputValue()).resolves.toBe('');
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.cookie)).toBe('');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'ap_session', httpOnly: true, sameSite: 'Strict', path: '/' });

    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
    // On a phone's width (390 px) every page fits: nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ['#runs', `#run/${RUN}`, `#monitoring/${RUN}`]) {
      await page.goto(`${base}/console/${hash}`);
      await page.waitForSelector('body[data-ready]');
      expect(await page.evaluate(overflowingWidth), hash).toBeLessThanOrEqual(0);
    }
    await page.context().close();
  });

  it("a forged POST from a VIEWER's session gets 403; one without the CSRF token is refused; sign-out makes the cookie useless", async () => {
    const { page } = await openConsole();
    await signIn(page, tokens.VIEWER);
    const answers = await page.evaluate(async () => {
      const { csrf } = (await (await fetch('/session')).json()) as { csrf: string };
      const post = (headers: Record<string, string>) =>
        fetch('/runs', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'forged-0001', ...headers },
          body: JSON.stringify({ config_path: 'config/sample.yaml' }),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      return { forged: await post({ 'x-csrf-token': csrf }), csrfless: await post({}) };
    });
    expect(answers.forged).toMatchObject({
      status: 403,
      body: { error: 'Permission denied', required_permission: 'create_run', user_role: 'VIEWER' },
    });
    expect(answers.csrfless).toMatchObject({ status: 403, body: { error: 'CSRF' } });

    const [cookie] = await page.context().cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.locator('#notice').textContent()).resolves.toBe('Signed out.');
    const replayed = await fetch(`${base}/runs`, { headers: { cookie: `ap_session=${cookie!.value}` } });
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { message: string }).message).toMatch(/console session has ended/);
    // A session that ends while the page is open (here: signed out elsewhere) says so and returns to sign-in.
    await signIn(page, tokens.VIEWER);
    await page.evaluate(async () => {
      const { csrf } = (await (await fetch('/session')).json()) as { csrf: string };
      await fetch('/session', { method: 'DELETE', headers: { 'x-csrf-token': csrf } });
    });
    await page.getByRole('link', { name: 'Monitoring' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.locator('#notice').textContent()).resolves.toBe('Your session has ended: sign in again.');
    await page.context().close();
  });

  it('a VALIDATOR approves in the review queue an override a MODELER filed with the CLI, runs the reproducibility test, and is told what the lock still needs', async () => {
    const config = await writeConfig(
      root,
      'life.yaml',
      smallConfig(join(root, 'data'), (c) => {
        c.model.catboost.iterations = 10;
        c.validation.n_splits = 2;
      }),
    );
    await startRunAsAdmin('con-life', config);
    await pipelineHandle(stack.client, 'con-life').result();
    const filed = await cliInProcess(
      { ACCESS_PERM_TOKEN: tokens.MODELER, TEMPORAL_ADDRESS: stack.server.address },
      ...['override', 'con-life', '--merge', 'seniority:0,1', '--reason', 'juniors behave alike', '--wait'],
    );
    expect(filed.stdout, filed.stderr).toMatch(/version 2 ready/);

    // A VIEWER sees the override but no way to decide it.
    const viewer = await openConsole();
    await signIn(viewer.page, tokens.VIEWER);
    await viewer.page.goto(`${base}/console/#run/con-life`);
    await viewer.page.getByRole('article', { name: 'ov-1' }).waitFor();
    expect(await viewer.page.locator('button[data-action]:visible').count()).toBe(0);
    await viewer.page.context().close();

    const { page, messages } = await openConsole();
    await signIn(page, tokens.VALIDATOR);
    await page.getByRole('link', { name: 'Review queue' }).click();
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
    const queued = page.getByRole('link', { name: 'con-life' });
    await queued.waitFor({ timeout: 10_000 });
    await queued.click();
    const override = page.getByRole('article', { name: 'ov-1' });
    await expect(override.getByRole('heading').textContent()).resolves.toBe(
      'ov-1: merge_bins of seniority — pending_review',
    );
    await expect(override.locator('caption').textContent()).resolves.toBe('seniority: bins of version 1 and version 2');
    await expect(override.getByText(/^ROC-AUC 0\.\d{4} → 0\.\d{4}; threshold/).count()).resolves.toBe(1);
    expect(await seriousAxeViolations(page)).toEqual([]);
    // No reason, no decision.
    await override.getByRole('button', { name: 'Approve' }).click();
    await expect(override.getByRole('heading').textContent()).resolves.toMatch(/pending_review$/);
    await override.getByLabel('Reason for your decision on ov-1').fill('bins checked against the policy');
    await override.getByRole('button', { name: 'Approve' }).click();
    await page.getByText(/^ov-1: .*; status approved$/).waitFor();
    // The page draws the run again after a decision: read it once that is over, not while its figures are replaced.
    await page.reload();
    await page.waitForSelector('body[data-ready]');

    // The run page shows the headline metrics with their intervals, the report's figures and model card, and what
    // the lock still needs.
    await expect(page.locator('#run-facts').textContent()).resolves.toMatch(
      /OOF ROC-AUC0\.\d{4} \[0\.\d{4}, 0\.\d{4}\].*intervals95% bootstrap over groups/,
    );
    // Every figure is an interactive chart drawn from the report's spec; hovering a mark shows its values.
    const charts = page.locator('#figures .chart');
    await expect.poll(() => page.locator('#figures .chart[data-chart="interactive"] svg').count()).toBeGreaterThan(5);
    expect(await page.locator('#figures .chart[data-chart="static"]').count()).toBe(0);
    const confusion = charts.filter({ has: page.locator('xpath=../figcaption[text()="confusion matrix"]') });
    await confusion
      .locator('svg .mark-rect path')
      .first()
      .hover({ position: { x: 8, y: 8 } });
    await expect
      .poll(() => confusion.getAttribute('title'), { timeout: 5000 })
      .toMatch(/^Predicted: \w+\nActual: \w+\nRow share: \d+%$/);
    await expect(confusion.getAttribute('aria-label')).resolves.toMatch(/^confusion matrix of version [12]$/);
    await expect(page.locator('#model-card').textContent()).resolves.toMatch(/^# /);
    const needs = page.getByRole('list', { name: 'What the lock needs' });
    await needs.getByText('Reproducibility test of version 2: not run yet (needed for the lock).').waitFor();
    await page.getByRole('button', { name: 'Run reproducibility test' }).click();
    await page
      .getByText(/reproducib.*; status /i)
      .first()
      .waitFor();
    await vi.waitUntil(
      async () => {
        await page.goto(`${base}/console/#run/con-life`);
        await page.reload();
        await page.waitForSelector('body[data-ready]');
        return (await needs.textContent())?.includes('Reproducibility test of version 2: passed');
      },
      { timeout: 60_000, interval: 1000 },
    );
    await page.getByLabel(/^Reason \(for lock and deployment/).fill('validated');
    await page.getByRole('button', { name: 'Lock' }).click();
    await page.getByText(/cannot be locked yet, not met: .*monitoring schedule in place/).waitFor();

    const state = await fetch(`${base}/runs/con-life/lifecycle`, {
      headers: { authorization: `Bearer ${tokens.VIEWER}` },
    });
    expect(await state.json()).toMatchObject({
      status: 'approved',
      overrides: [{ id: 'ov-1', status: 'approved', review: { by: { userId: 'con-validator' } } }],
    });
    expect(await queryAudit({ action: 'override_approved', run_id: 'con-life' })).toEqual([
      expect.objectContaining({ user_id: 'con-validator', reason: 'bins checked against the policy' }),
    ]);
    expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
    await page.context().close();
  }, 120_000);

  it('an ADMIN adds a user and issues its token in Administration; the audit explorer finds the entry; a VIEWER sees neither page', async () => {
    const viewer = await openConsole();
    await signIn(viewer.page, tokens.VIEWER);
    expect(await viewer.page.getByRole('link', { name: 'Audit log' }).isVisible()).toBe(false);
    expect(await viewer.page.getByRole('link', { name: 'Administration' }).isVisible()).toBe(false);
    expect(await viewer.page.evaluate(async () => (await fetch('/users')).status)).toBe(403);
    await viewer.page.context().close();

    const { page } = await openConsole();
    await signIn(page, tokens.ADMIN);
    await page.getByRole('link', { name: 'Administration' }).click();
    const add = page.getByRole('form', { name: 'Add a user' });
    await add.getByLabel('user id').fill('con-new');
    await add.getByLabel('role').selectOption('ANALYST');
    await add.getByLabel('reason').fill('joins the review team');
    await add.getByRole('button', { name: 'Add user' }).click();
    await page.getByText('Added con-new as ANALYST.').waitFor();
    await expect(page.getByRole('row').filter({ hasText: 'con-new' }).textContent()).resolves.toBe(
      'con-newANALYSTANALYST',
    );
    const tokensForm = page.getByRole('form', { name: 'Tokens' });
    await tokensForm.getByLabel('issue a token for user id').fill('con-new');
    await tokensForm.getByRole('button', { name: 'Issue token' }).click();
    await page.getByText(/^Token \S+ for con-new, until .*: copy it now, it is shown once\.$/).waitFor();
    const issued = (await page.locator('#issued-token').textContent())!;
    const me = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${issued}` } });
    expect(await me.json()).toMatchObject({ userId: 'con-new', role: 'ANALYST' });
    expect(await seriousAxeViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByText(/^Log verified: \d+ entries, hash chain intact/).waitFor();
    await page.getByLabel('action', { exact: true }).fill('user_added');
    await page.getByLabel('user', { exact: true }).fill('con-new');
    await page.getByRole('button', { name: 'Search' }).click();
    // The search shows only the matching entry (the header row and one).
    await expect.poll(() => page.locator('#audit-table tr').count()).toBe(2);
    await page.getByRole('row').filter({ hasText: 'joins the review team' }).getByRole('button').click();
    expect(JSON.parse((await page.locator('#audit-detail').textContent())!)).toMatchObject({
      action: 'user_added',
      user_id: 'con-new',
      assigned_by: 'root',
      new_role: 'ANALYST',
      source: 'api',
    });
    await expect(page.getByRole('link', { name: 'Export these entries (CSV)' }).getAttribute('href')).resolves.toBe(
      '/audit-logs/export?user_id=con-new&action=user_added&format=csv',
    );
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.context().close();
  });

  it("monitoring: a VIEWER sees the schedule's next run, the interactive trend, each window's drift per feature, calibration, alerts and full report; the CLI shows the same", async () => {
    const window = join(root, 'window.csv');
    const lines = (await readFile(join(root, 'data', 'interactions.csv'), 'utf8')).trim().split('\n');
    await writeFile(window, `${lines.slice(0, 400).join('\n')}\n`);
    const asAdmin = { authorization: `Bearer ${tokens.ADMIN}`, 'content-type': 'application/json' };
    const windowIds: string[] = [];
    for (const label of ['nightly-1', 'nightly-2']) {
      const monitored = await fetch(`${base}/runs/${RUN}/monitoring/windows`, {
        method: 'POST',
        headers: asAdmin,
        body: JSON.stringify({ current: window, label }),
      });
      expect(monitored.status).toBe(201);
      windowIds.push(((await monitored.json()) as { windowId: string }).windowId);
    }
    const scheduled = await fetch(`${base}/runs/${RUN}/monitoring/schedule`, {
      method: 'PUT',
      headers: asAdmin,
      body: JSON.stringify({ current: window, cron: '0 2 * * *', reason: 'nightly drift watch' }),
    });
    expect(scheduled.status).toBe(200);

    const { page, messages } = await openConsole();
    await signIn(page, tokens.VIEWER);
    await page.getByRole('link', { name: 'Monitoring' }).click();
    await page.getByLabel('Run', { exact: true }).selectOption(RUN);
    const row = page.getByRole('row').filter({ hasText: 'nightly-2' });
    await row.waitFor();
    await expect(row.locator('td').nth(2).textContent()).resolves.toBe('399');
    await expect(page.locator('#monitoring-schedule').textContent()).resolves.toMatch(
      /^Nightly plan: cron '0 2 \* \* \*' on .*window\.csv, set by root; next run .+; 0 recent runs\.$/,
    );
    await page.locator('#monitoring-chart[data-chart="interactive"] svg').waitFor();
    // The newest window is shown: its drift per feature, metrics with calibration, alerts and full report.
    await page.locator('#window-title', { hasText: /^Window nightly-2: 399 rows/ }).waitFor();
    const features = page.locator('#feature-drift tbody tr');
    expect(await features.count()).toBeGreaterThan(3);
    await expect(page.locator('#window-facts').textContent()).resolves.toMatch(
      /calibrationBrier 0\.\d{4}, log loss 0\.\d{4}alerts/,
    );
    const report = await page.evaluate(
      async (href) => {
        const r = await fetch(href);
        return {
          status: r.status,
          type: r.headers.get('content-type'),
          csp: r.headers.get('content-security-policy'),
          text: await r.text(),
        };
      },
      (await page.getByRole('link', { name: "The window's full report" }).getAttribute('href'))!,
    );
    expect(report).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
    expect(report.csp).toMatch(/^default-src 'none'/);
    expect(report.text).toContain('nightly-2');
    await page.getByRole('link', { name: /details of window nightly-1$/ }).click();
    await page
      .locator('#window-title')
      .getByText(/^Window nightly-1:/)
      .waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
    await page.context().close();

    // Someone who writes the data directory cannot change what the page shows: a window report edited after it
    // was recorded (with or without its hash in the signed monitoring manifest), or an artifact record pointing out
    // of the run folder (planted in the signed run manifest), is refused and named.
    const asViewer = { authorization: `Bearer ${tokens.VIEWER}` };
    const runDir = await resolveRunDir(RUN);
    const reportFile = join(runDir, 'monitoring', 'windows', windowIds[1]!, 'report.html');
    const original = await readFile(reportFile, 'utf8');
    await writeFile(reportFile, original.replace('nightly-2', 'all clear'));
    const edited = await fetch(`${base}/runs/${RUN}/monitoring/windows/${windowIds[1]}/report`, { headers: asViewer });
    expect(edited.status).toBe(409);
    expect(((await edited.json()) as { message: string }).message).toMatch(/report\.html was modified: sha256 /);
    await writeFile(reportFile, original);
    const manifestFile = join(runDir, 'monitoring', 'manifest.json');
    const manifest = await readFile(manifestFile, 'utf8');
    const recorded = JSON.parse(manifest) as { windows: { windowId: string; artifacts: ArtifactRef[] }[] };
    const recordedReport = recorded.windows
      .find((w) => w.windowId === windowIds[1])!
      .artifacts.find((a) => a.role === 'monitoring-report')!;
    const forged = original.replace('nightly-2', 'all clear');
    await writeFile(reportFile, forged);
    await writeFile(manifestFile, manifest.replace(recordedReport.sha256, sha256Hex(forged)));
    const rehashed = await fetch(`${base}/runs/${RUN}/monitoring/windows/${windowIds[1]}/report`, {
      headers: asViewer,
    });
    expect(rehashed.status).toBe(409);
    expect(((await rehashed.json()) as { message: string }).message).toMatch(
      /monitoring manifest of run .* does not match its signature/,
    );
    await writeFile(reportFile, original);
    await writeFile(manifestFile, manifest);
    const runManifestFile = join(runDir, 'manifest.json');
    const runManifest = await readFile(runManifestFile, 'utf8');
    await writeFile(runManifestFile, runManifest.replace('"report/report.md"', '"../../../../keys.json"'));
    const planted = await fetch(`${base}/runs/${RUN}/artifact?version=1&path=..%2F..%2F..%2F..%2Fkeys.json`, {
      headers: asViewer,
    });
    expect(planted.status).toBe(409);
    expect(((await planted.json()) as { message: string }).message).toMatch(/manifest .* does not match its signature/);
    await writeFile(runManifestFile, runManifest);

    // An unknown or malformed window id is named, not guessed at.
    const unknown = await fetch(`${base}/runs/${RUN}/monitoring/windows/no-such-window`, { headers: asViewer });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { message: string }).message).toBe(
      `run ${RUN} has no monitored window no-such-window`,
    );
    const malformed = await fetch(`${base}/runs/${RUN}/monitoring/windows/..%2F..%2Fkeys`, { headers: asViewer });
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toMatch(/window_id/);

    // The server-rendered chart stays for readers without script.
    const svg = await fetch(`${base}/runs/${RUN}/monitoring/trend.svg`, {
      headers: { authorization: `Bearer ${tokens.VIEWER}` },
    });
    expect([svg.status, (await svg.text()).startsWith('<svg')]).toEqual([200, true]);
    // The CLI prints the same schedule and window, locally and through the API.
    const env = { ACCESS_PERM_TOKEN: tokens.VIEWER, TEMPORAL_ADDRESS: stack.server.address };
    for (const args of [
      ['monitor', 'status', '--run', RUN],
      ['monitor', 'window', '--run', RUN, '--window', windowIds[0]!],
    ]) {
      const local = await cliInProcess(env, ...args);
      const remote = await cliInProcess(env, ...args, '--api', base);
      expect(local.stderr).toBe('');
      expect(remote).toEqual(local);
      expect(local.stdout).toMatch(
        args[1] === 'status' ? /^plan {7}cron '0 2 \* \* \*'[^]*\nnext {7}\d{4}-/ : /alerts /,
      );
    }
  }, 90_000);

  it('an ADMIN follows a running run live and cancels it from the runs page, giving the reason the audit log records', async () => {
    const slow = await writeConfig(
      root,
      'slow.yaml',
      smallConfig(join(root, 'data'), (c) => (c.model.catboost.iterations = 20000)),
    );
    await startRunAsAdmin('con-slow', slow);
    await vi.waitUntil(
      async () => {
        const res = await fetch(`${base}/runs/con-slow`, { headers: { authorization: `Bearer ${tokens.ADMIN}` } });
        return res.ok && ((await res.json()) as { state: string }).state === 'running';
      },
      { timeout: 30_000, interval: 200 },
    );
    const { page } = await openConsole();
    await signIn(page, tokens.ADMIN);
    const row = page.getByRole('row').filter({ hasText: 'con-slow' });
    await row.getByText(/ — \[\d\/7\] train, folds \d\/3$/).waitFor({ timeout: 60_000 });
    page.once('dialog', (dialog) => void dialog.accept('wrong data window'));
    await row.getByRole('button', { name: 'Cancel run con-slow' }).click();
    await page.getByText('Cancellation of con-slow sent.').waitFor();
    await pipelineHandle(stack.client, 'con-slow')
      .result()
      .catch(() => undefined);
    await row.locator('.state').getByText('cancelled', { exact: true }).waitFor({ timeout: 20_000 });
    expect(await queryAudit({ action: 'run_cancel_requested', run_id: 'con-slow' })).toEqual([
      expect.objectContaining({ user_id: 'root', reason: 'wrong data window', source: 'api' }),
    ]);
    await page.context().close();
  }, 120_000);
});
