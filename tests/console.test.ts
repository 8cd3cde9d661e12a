import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../api/console';
import { buildControlPlane } from '../api/server';
import { addUser, issueToken } from '../lib/governance';
import { runCreator, useTempDataDir } from './helpers';
import { trainedRun } from './scoringRun';

/** Where the bootstrap's Chromium is (scripts/bootstrap.mjs --browser installs Debian's when none is). */
const CHROMIUM =
  process.env.CHROMIUM_PATH ??
  ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

const RUN = 'console-run';
let app: FastifyInstance;
let base: string;
let browser: Browser;
let viewerToken: string;
const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

beforeAll(async () => {
  const root = await useTempDataDir('console');
  const admin = { token: (await runCreator()).token };
  await addUser(admin, { userId: 'con-viewer', role: 'VIEWER', reason: 'console tests' });
  viewerToken = (await issueToken(admin, { userId: 'con-viewer', ttl: '1h' })).token;
  await trainedRun(root, RUN);
  // The pages and the reads they make need no Temporal.
  app = await buildControlPlane({ temporal: () => Promise.reject(new Error('no Temporal in this test')) });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  if (!CHROMIUM) throw new Error('no Chromium: run node scripts/bootstrap.mjs --browser, or set CHROMIUM_PATH');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
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

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Your access-perm token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
}

describe('the web console (access-perm api, /console/) in a real browser', () => {
  it('a VIEWER signs in with a token: an HttpOnly session, the runs with their states, no actions, no CSP or axe violations', async () => {
    const { page, messages } = await openConsole();
    const served = await fetch(`${base}/console/`);
    expect(served.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await signIn(page, viewerToken);
    await expect(page.locator('#who').textContent()).resolves.toMatch(/^con-viewer \(VIEWER\), until /);
    const row = page.getByRole('row').filter({ hasText: RUN });
    await expect(row.locator('.state').textContent()).resolves.toBe('completed');
    expect(await page.locator('button[data-action]').count()).toBe(0);
    // The token is not kept by the page, and its session cookie is out of the page's reach.
    await expect(page.getByLabel('Your access-perm token').inputValue()).resolves.toBe('');
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.cookie)).toBe('');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'ap_session', httpOnly: true, sameSite: 'Strict', path: '/' });

    await page.evaluate(await axeSource);
    const serious = await page.evaluate(async () => {
      const { axe, document } = globalThis as unknown as InPage;
      const { violations } = await axe.run(document);
      return violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => `${v.id}: ${v.help}`);
    });
    expect(serious).toEqual([]);
    expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
    await page.context().close();
  });

  it("a forged POST from a VIEWER's session gets 403; one without the CSRF token is refused; sign-out makes the cookie useless", async () => {
    const { page } = await openConsole();
    await signIn(page, viewerToken);
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
    await page.context().close();
  });
});
