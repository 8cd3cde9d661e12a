import { ConfigError, InputError, RunStateError, UnknownConfigError, UnknownRunError } from '../../lib/errors';
import { AuthenticationError, PermissionDeniedError, type AuthFailure, type Credential } from '../../lib/governance';
import type { Permission, Role } from '../../schemas/governance';

/**
 * The CLI against a remote deployment: with `ACCESS_PERM_API=<url>` (or `--api`), governed commands send their
 * operation to the control-plane API instead of reading the local data directory, and an error answer becomes the
 * error (message and exit code) the local command would have given.
 */
export const API_ENV = 'ACCESS_PERM_API';

/** The control-plane API to use, if any. */
export const remoteApi = (): string | null => process.env[API_ENV]?.trim() || null;

export interface ApiRequest {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
}

/** Calls one operation of the remote API as the holder of `credential`; the JSON answer, or the mapped error. */
export async function callApi<T>(
  credential: Credential,
  method: string,
  path: string,
  request: ApiRequest = {},
): Promise<T> {
  const base = remoteApi()!;
  const url = new URL(path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
  for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = {};
  if (credential.token) headers.authorization = `Bearer ${credential.token}`;
  const withBody = request.body !== undefined;
  if (withBody) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(withBody ? { body: JSON.stringify(request.body) } : {}) }).catch(
    (e: Error) => {
      throw new Error(
        `cannot reach the control-plane API at ${base} (${API_ENV}): ${e.cause instanceof Error ? e.cause.message : e.message}`,
      );
    },
  );
  const answer = (
    res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : { message: await res.text() }
  ) as Record<string, unknown>;
  if (res.ok) return answer as T;
  const message = String(answer.message ?? `HTTP ${res.status}`);
  switch (res.status) {
    case 401:
      throw new AuthenticationError(message, (answer.reason as AuthFailure | undefined) ?? 'missing');
    case 403:
      throw new PermissionDeniedError(
        message,
        answer.required_permission as Permission,
        answer.user_role as Role,
        String(answer.minimum_role),
        (answer.allowed_roles as Role[] | undefined) ?? [],
      );
    case 404:
      throw message.startsWith('no config') ? new UnknownConfigError(message) : new UnknownRunError(message);
    case 409:
      throw new RunStateError(message);
    case 400:
    case 422:
      throw /config/.test(message) ? new ConfigError(message) : new InputError(message);
    default:
      throw new Error(`${base} answered ${res.status}: ${message}`);
  }
}
