import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import type { Credential, ResourceRef } from '../lib/governance';
import type { Permission, ResolvedIdentity } from '../schemas/governance';

/** What a handler gets: the caller (token already proven, permission pre-checked), the parsed request. */
export interface OperationContext<P, Q, B> {
  credential: Credential;
  identity: ResolvedIdentity;
  params: P;
  query: Q;
  body: B;
  /** The `Idempotency-Key` header, for operations that take one. */
  idempotencyKey: string | null;
  /** The server's Temporal client, connected on first use. */
  temporal: () => Promise<Client>;
}

/** A body that is not JSON: a file (artifact, report, model card) with its media type and extra headers. */
export interface FileBody {
  file: Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

/** How an operation's success is described in OpenAPI: a JSON schema, or a media type for files. */
export type OperationResponse = { schema: z.ZodType } | { media: string[] };

/**
 * One operation of the control plane: its route, the seed-3 permission it needs (null: any valid token; the
 * handler decides, e.g. revoking one's own token), request and response schemas, and the handler, which calls the
 * same lib and client functions as the CLI. `resourceType` names what a denial is audited against.
 */
export interface Operation<P = unknown, Q = unknown, B = unknown> {
  id: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI path, e.g. `/runs/{run_id}`. */
  path: string;
  summary: string;
  tag: string;
  permission: Permission | null;
  /** Also allowed: who else may (an ANALYST's own runs); shown in the docs. */
  permissionNote?: string;
  resourceType?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Needs an `Idempotency-Key` header: a retried request never does the work twice. */
  idempotent?: boolean;
  status?: number;
  response: OperationResponse;
  handler: (ctx: OperationContext<P, Q, B>) => Promise<unknown>;
}

/** An operation with its types inferred from its schemas. */
export function operation<P = undefined, Q = undefined, B = undefined>(op: Operation<P, Q, B>): Operation {
  return op as unknown as Operation;
}

/** What a denial of `op` is audited against: its resource, named by the id in its path parameters (not looked up). */
export function resourceFor(op: Operation, params: Record<string, string>): ResourceRef | undefined {
  if (!op.resourceType) return undefined;
  const id = params.run_id ?? params.config_id ?? params.user_id ?? params.key ?? params.jti;
  return { type: op.resourceType, ...(id === undefined ? {} : { id: id.slice(0, 128) }) };
}
