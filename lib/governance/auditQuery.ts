import { auditQuerySchema, type AuditEntry, type AuditQuery } from '../../schemas/governance';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { GovernanceError } from './errors';
import { auditDir, auditFiles } from './audit';
import { stat } from 'node:fs/promises';

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(d.getTime())) throw new GovernanceError(`invalid day ${day}`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

const isDay = (s: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(s);
/** Timestamps are written by `toISOString()` (fixed width, UTC), so they compare correctly as strings. */
const instant = (s: string): string => (isDay(s) ? `${s}T00:00:00.000Z` : new Date(s).toISOString());

/**
 * Parses filters as they arrive from the CLI or an HTTP query string (`limit` may be a string). Empty values are
 * ignored; unknown filters are an error naming them.
 */
export function parseAuditQuery(raw: Record<string, unknown>): AuditQuery {
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const parsed = auditQuerySchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = 'keys' in issue ? ` ${(issue.keys as string[]).join(', ')}` : '';
    throw new GovernanceError(`invalid audit query: ${issue.path.join('.') || 'filter'}${keys}: ${issue.message}`);
  }
  return parsed.data;
}

function whereClauses(q: AuditQuery): string[] {
  const field = (name: string): string => `json_extract_string(json, ${sqlString(`$.${name}`)})`;
  const where: string[] = [];
  if (q.user_id) where.push(`${field('user_id')} = ${sqlString(q.user_id)}`);
  if (q.run_id) where.push(`${field('correlation_id')} = ${sqlString(q.run_id)}`);
  if (q.action) where.push(`${field('action')} = ${sqlString(q.action)}`);
  if (q.resource_type) where.push(`${field('resource_type')} = ${sqlString(q.resource_type)}`);
  if (q.status) where.push(`${field('status')} = ${sqlString(q.status)}`);
  if (q.start_date) where.push(`${field('timestamp')} >= ${sqlString(instant(q.start_date))}`);
  if (q.end_date) {
    // A day as end_date includes that whole day; an instant is inclusive.
    if (isDay(q.end_date)) where.push(`${field('timestamp')} < ${sqlString(nextDay(q.end_date))}`);
    else where.push(`${field('timestamp')} <= ${sqlString(instant(q.end_date))}`);
  }
  if (q.date_range) {
    where.push(`${field('timestamp')} >= ${sqlString(instant(q.date_range))}`);
    where.push(`${field('timestamp')} < ${sqlString(nextDay(q.date_range))}`);
  }
  return where;
}

/**
 * The one audit query (seed-3 §4): filters by user_id, run_id (= correlation_id), action, resource_type, status,
 * start_date/end_date, date_range (one UTC day) and limit, over every file of the chain (archive + active), read by
 * DuckDB. Entries come back exactly as written, oldest first unless `order: 'desc'`. Used by `audit query`,
 * `audit export` and the HTTP service's `GET /audit-logs`.
 *
 * @example await queryAudit({ action: 'bin_override', resource_type: 'binning_table' })
 */
export async function queryAudit(
  filters: AuditQuery | Record<string, unknown>,
  dir = auditDir(),
): Promise<AuditEntry[]> {
  const q = parseAuditQuery(filters as Record<string, unknown>);
  const files: string[] = [];
  for (const f of await auditFiles(dir)) if ((await stat(f)).size > 0) files.push(f);
  if (files.length === 0) return [];
  const where = whereClauses(q);
  const order = q.order === 'desc' ? 'DESC' : 'ASC';
  const sql = `
    SELECT CAST(json AS VARCHAR) AS entry FROM read_ndjson_objects([${files.map(sqlString).join(', ')}])
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY json_extract_string(json, '$.timestamp') ${order},
             CAST(split_part(json_extract_string(json, '$.audit_id'), '_', 3) AS BIGINT) ${order}
    ${q.limit ? `LIMIT ${q.limit}` : ''}`;
  const rows = await withDuckDb((conn) => queryRows(conn, sql));
  return rows.map((r) => JSON.parse(String(r.entry)) as AuditEntry);
}

/** Columns of the CSV export: the §4 fields, then the §6/§8 fields, then the chain. */
export const CSV_COLUMNS = [
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
  'ip_address',
  'source',
  'duration_ms',
  'result',
  'temporary_role',
  'attempted_action',
  'old_role',
  'new_role',
  'assigned_by',
  'expiration',
  'delegated_by',
  'delegated_to',
  'delegation_id',
  'claimed_user_id',
  'details',
  'prev_hash',
  'hash',
] as const;

function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  // Spreadsheet formula injection: a cell that starts with = + - @ is shown as text.
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Renders entries as JSONL (exactly as stored, so the chain can be re-checked) or CSV (objects as JSON text). */
export function renderAudit(entries: AuditEntry[], format: 'jsonl' | 'csv'): string {
  if (format === 'jsonl') return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of entries) {
    const row = e as unknown as Record<string, unknown>;
    lines.push(CSV_COLUMNS.map((c) => csvCell(row[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
