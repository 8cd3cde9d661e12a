import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notify, outboxPath, readOutbox, WEBHOOK_ENV } from '../lib/notify';
import { PROJECT_ROOT } from '../lib/paths';
import { useTempDataDir } from './helpers';

const NOTIFY_MODULE = join(PROJECT_ROOT, 'lib', 'notify', 'index.ts');

/** A separate Node process that sends `count` notifications as `writer` into the same data directory. */
function writerProcess(writer: string, count: number): Promise<void> {
  const code = `
    const { notify } = await import(${JSON.stringify(NOTIFY_MODULE)});
    for (let i = 0; i < ${count}; i++)
      await notify({ kind: 'drift_alert', to: { roles: ['VALIDATOR'] }, subject: '${writer} ' + i, details: { writer: '${writer}', i } });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, [WEBHOOK_ENV]: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (status) =>
      status === 0 ? resolve() : reject(new Error(`${writer} exited ${status}: ${stderr}`)),
    );
  });
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += (chunk as Buffer).toString();
  return text;
}

describe('notification outbox', () => {
  beforeAll(async () => {
    await useTempDataDir('notify');
  });
  afterEach(() => {
    delete process.env[WEBHOOK_ENV];
  });

  it('keeps every line when several processes append at once', async () => {
    const writers = ['w1', 'w2', 'w3', 'w4'];
    await Promise.all(writers.map((w) => writerProcess(w, 15)));
    const lines = (await readFile(outboxPath(), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(60);
    const all = await readOutbox();
    for (const w of writers) {
      const mine = all.filter((n) => n.details.writer === w).map((n) => n.details.i);
      expect(mine).toEqual(Array.from({ length: 15 }, (_, i) => i));
    }
    expect(new Set(all.map((n) => n.notification_id)).size).toBe(60);
    expect(all.every((n) => n.webhook.status === 'not_configured')).toBe(true);
  });

  describe('webhook', () => {
    let server: Server;
    const received: Array<{ contentType: string | undefined; payload: Record<string, unknown> }> = [];
    let status = 200;

    beforeAll(async () => {
      server = createServer((req, res) => {
        void body(req).then((text) => {
          received.push({
            contentType: req.headers['content-type'],
            payload: JSON.parse(text) as Record<string, unknown>,
          });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });
    const url = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    it('POSTs each notification as JSON and records the delivery', async () => {
      process.env[WEBHOOK_ENV] = url();
      const sent = await notify({
        kind: 'performance_alert',
        to: { roles: ['VALIDATOR', 'ADMIN'] },
        subject: 'accuracy dropped',
        run_id: 'run-x',
        details: { window_id: 'w-1' },
      });
      expect(sent.webhook).toEqual({ status: 'delivered' });
      const got = received.at(-1)!;
      expect(got.contentType).toBe('application/json');
      expect(got.payload).toMatchObject({
        notification_id: sent.notification_id,
        kind: 'performance_alert',
        subject: 'accuracy dropped',
        run_id: 'run-x',
        to: { roles: ['VALIDATOR', 'ADMIN'] },
      });
      const stored = (await readOutbox({ runId: 'run-x' })).at(-1)!;
      expect(stored.webhook.status).toBe('delivered');
    });

    it('records a failed delivery in the outbox instead of throwing', async () => {
      status = 503;
      process.env[WEBHOOK_ENV] = url();
      const refused = await notify({
        kind: 'drift_alert',
        to: { users: ['ana'] },
        subject: 'server error',
        run_id: 'run-y',
      });
      expect(refused.webhook).toEqual({ status: 'failed', detail: 'HTTP 503' });
      // Nothing listens on port 9 (discard) on this host: the connection is refused.
      process.env[WEBHOOK_ENV] = 'http://127.0.0.1:9/hook';
      const unreachable = await notify({
        kind: 'drift_alert',
        to: { users: ['ana'] },
        subject: 'no server',
        run_id: 'run-y',
      });
      expect(unreachable.webhook.status).toBe('failed');
      expect(unreachable.webhook.detail).toBeTruthy();
      const stored = await readOutbox({ runId: 'run-y', user: 'ana' });
      expect(stored.map((n) => [n.subject, n.webhook.status])).toEqual([
        ['server error', 'failed'],
        ['no server', 'failed'],
      ]);
    });
  });
});
