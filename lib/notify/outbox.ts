import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  notificationInputSchema,
  notificationSchema,
  type Notification,
  type NotificationInput,
} from '../../schemas/notify';
import { appendText, ensureDir } from '../artifacts';
import { withFileLock } from '../lock';
import { dataDir } from '../paths';
import { readSettings } from '../settings';

/** The webhook when the system setting `alerts.webhook_url` is null. */
export const WEBHOOK_ENV = 'ACCESS_PERM_WEBHOOK_URL';
const WEBHOOK_TIMEOUT_MS = 5000;

/** The notification outbox: `<dataDir>/notifications/outbox.jsonl`, one notification per line, append-only. */
export function outboxPath(): string {
  return join(dataDir(), 'notifications', 'outbox.jsonl');
}

async function deliverToWebhook(notification: Omit<Notification, 'webhook'>): Promise<Notification['webhook']> {
  const url = (await readSettings()).alerts.webhook_url ?? process.env[WEBHOOK_ENV];
  if (!url) return { status: 'not_configured' };
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(notification),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    return res.ok ? { status: 'delivered' } : { status: 'failed', detail: `HTTP ${res.status}` };
  } catch (e) {
    // A webhook outage must not fail the action that notifies: the outbox line records the failure instead.
    return { status: 'failed', detail: e instanceof Error ? e.message.slice(0, 200) : String(e) };
  }
}

/**
 * Records a notification in the outbox (under a cross-process lock, so concurrent writers never interleave)
 * and POSTs it to the webhook when one is configured. Returns what was written.
 */
export async function notify(input: NotificationInput): Promise<Notification> {
  const parsed = notificationInputSchema.parse(input);
  const base = { ...parsed, notification_id: randomUUID(), timestamp: new Date().toISOString() };
  const notification: Notification = { ...base, webhook: await deliverToWebhook(base) };
  const path = outboxPath();
  await ensureDir(join(dataDir(), 'notifications'));
  await withFileLock(path, () => appendText(path, `${JSON.stringify(notification)}\n`));
  return notification;
}

/** Every notification in the outbox, oldest first, optionally only those a role or user should read. */
export async function readOutbox(
  filter: { role?: string; user?: string; runId?: string } = {},
): Promise<Notification[]> {
  let text: string;
  try {
    text = await readFile(outboxPath(), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => notificationSchema.parse(JSON.parse(line)))
    .filter(
      (n) =>
        (filter.runId === undefined || n.run_id === filter.runId) &&
        (filter.role === undefined && filter.user === undefined
          ? true
          : (filter.role !== undefined && n.to.roles.includes(filter.role as never)) ||
            (filter.user !== undefined && n.to.users.includes(filter.user))),
    );
}
