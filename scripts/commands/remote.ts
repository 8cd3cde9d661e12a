import { ConfigError, InputError, RunStateError, UnknownConfigError, UnknownRunError } from '../../lib/errors';
import { AuthenticationError, PermissionDeniedError, type AuthFailure, type Credential } from '../../lib/governance';
import { sha256Hex } from '../../lib/hash';
import type { ExportedArtifact } from '../../lib/lifecycle/exports';
import { assertRunId } from '../../lib/run';
import type { Permission, Role } from '../../schemas/governance';
import { API_ENV } from './output';

/**
 * The CLI against a remote deployment: with `ACCESS_PERM_API=<url>` (or `--api`), governed commands send their
 * operation to the control-plane API instead of reading the local data directory, and an error answer becomes the
 * error (message and exit code) the local command would have given.
 */
export { API_ENV };

/** The control-plane API to use, if any. */
export const remoteApi = (): string | null => process.env[API_ENV]?.trim() || null;

export interface ApiRequest {
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiCall extends ApiRequest {
  method: string;
  path: string;
}

/** `/runs/<id><rest>`, the id checked and encoded. */
export const runPath = (runId: string, rest = ''): string => `/runs/${encodeURIComponent(assertRunId(runId))}${rest}`;

/** Refuses an option that names a place on this machine the remote server cannot reach. */
export function localOnly(option: string, given: unknown): void {
  if (given !== undefined && given !== false && remoteApi())
    throw new InputError(`${option} works on a local data directory only: unset ${API_ENV} to use it`);
}

/** Sends one request; a non-2xx answer becomes the error the local command would have thrown. */
async function send(credential: Credential, call: ApiCall): Promise<Response> {
  const base = remoteApi()!;
  const url = new URL(call.path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
  for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = { ...call.headers };
  if (credential.token) headers.authorization = `Bearer ${credential.token}`;
  const withBody = call.body !== undefined;
  if (withBody) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: call.method,
    headers,
    ...(withBody ? { body: JSON.stringify(call.body) } : {}),
  }).catch((e: Error) => {
    throw new Error(
      `cannot reach the control-plane API at ${base} (${API_ENV}): ${e.cause instanceof Error ? e.cause.message : e.message}`,
    );
  });
  if (res.ok) return res;
  const answer = (
    res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : { message: await res.text() }
  ) as Record<string, unknown>;
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

/** Calls one operation of the remote API as the holder of `credential`; the JSON answer, or the mapped error. */
export async function callApi<T>(
  credential: Credential,
  method: string,
  path: string,
  request: ApiRequest = {},
): Promise<T> {
  return (await send(credential, { method, path, ...request })).json() as Promise<T>;
}

/** One governed operation: through the remote API when {@link API_ENV} is set, else the local lib call. */
export const viaApi = <T>(credential: Credential, call: ApiCall, local: () => Promise<T>): Promise<T> =>
  remoteApi() ? callApi<T>(credential, call.method, call.path, call) : local();

/** An artifact the API sends as a file, with the run, version, path and sha256 it names in its headers. */
export async function fetchArtifact(
  credential: Credential,
  runId: string,
  path: string,
  query: ApiRequest['query'],
): Promise<ExportedArtifact> {
  const res = await send(credential, { method: 'GET', path: runPath(runId, path), query });
  const content = Buffer.from(await res.arrayBuffer());
  const header = (name: string) => res.headers.get(name) ?? '';
  // Checked here too: what arrived is what the server verified against the manifest.
  if (sha256Hex(content) !== header('x-artifact-sha256'))
    throw new Error(`${runId} ${header('x-artifact-path')}: the bytes received do not match the sha256 the API sent`);
  return {
    runId,
    version: Number(header('x-model-version')),
    artifact: { path: header('x-artifact-path'), role: '', sha256: header('x-artifact-sha256'), bytes: content.length },
    content,
  };
}

/** A file the API sends (an audit export): its bytes and the headers that describe it. */
export async function fetchFile(credential: Credential, call: ApiCall): Promise<{ content: Buffer; headers: Headers }> {
  const res = await send(credential, call);
  return { content: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}
