import type { z } from 'zod';
import { allowedRoles, cellFor, CELL } from '../lib/governance';
import { ERROR_SCHEMAS, toSchema } from '../lib/serve';
import { ROLES, type Permission } from '../schemas/governance';
import type { Operation } from './operation';
import { OPERATIONS } from './operations';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string, schema = 'Error') => ({ description, content: json(ref(schema)) });

/** Who may call an operation, in the seed-3 matrix's words: the roles with a ✓, and those limited to their own. */
export function whoMay(op: Operation): string {
  if (!op.permission) return op.permissionNote ?? 'any valid token';
  const own = ROLES.filter((r) => cellFor(r, op.permission as Permission) === CELL.own);
  const roles = allowedRoles(op.permission).filter((r) => !own.includes(r));
  return `\`${op.permission}\`: ${roles.join(', ')}${own.length ? `; ${own.join(', ')} on its own (${op.permissionNote ?? 'own resources'})` : ''}`;
}

/** The properties of an object schema as OpenAPI parameters `in` path or query. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const s = toSchema(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: property,
    ...('description' in property ? { description: property.description } : {}),
  }));
}

function describeOperation(op: Operation) {
  const success =
    'schema' in op.response
      ? { description: 'Done', content: json(toSchema(op.response.schema)) }
      : { description: 'The file', content: Object.fromEntries(op.response.media.map((m) => [m, {}])) };
  return {
    operationId: op.id,
    summary: op.summary,
    description: `Permission: ${whoMay(op)}. The permission is checked before anything is looked up.`,
    tags: [op.tag],
    security: [{ bearer: [] }],
    'x-permission': op.permission,
    parameters: [
      ...parameters(op.params, 'path'),
      ...parameters(op.query, 'query'),
      ...(op.idempotent
        ? [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: true,
              description: 'A retried request with the same key and body returns the first result and starts nothing',
              schema: { type: 'string', minLength: 8, maxLength: 200 },
            },
          ]
        : []),
    ],
    ...(op.body ? { requestBody: { required: true, content: json(toSchema(op.body, 'input')) } } : {}),
    responses: {
      [String(op.status ?? 200)]: success,
      400: error('Invalid path, query or body: the message and `issues` name the field'),
      401: error('Missing, malformed, forged, expired or revoked token'),
      403: error('Permission denied (seed-3 §8)', 'PermissionDenied'),
      404: error('Unknown run, version, artifact or user'),
      409: error("The run's state or records forbid it (ended, locked, deployed, changed outside access-perm)"),
      ...(op.idempotent ? { 422: error('The Idempotency-Key was used for a different request') } : {}),
      429: error('Too many refused tokens from this client'),
      503: error('The operation needs Temporal and no server answers'),
    },
  };
}

let cached: object | null = null;

/** The control plane's OpenAPI 3.1 document, generated from {@link OPERATIONS} and their zod schemas. */
export function openApiDocument(): object {
  if (cached) return cached;
  const paths: Record<string, Record<string, object>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method.toLowerCase()] = describeOperation(op);
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'access-perm control plane',
      version: '1',
      description:
        'Every governed operation of access-perm over HTTP: runs, exports, system configuration, audit queries, ' +
        'users and tokens. Every operation takes `Authorization: Bearer <token>` (tokens from `access-perm auth ' +
        'issue` or `POST /tokens`); the seed-3 §2 matrix decides, and a denial answers the §8 body.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: ERROR_SCHEMAS },
    paths,
  };
  return cached;
}

const escape = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** `GET /docs`: one page listing every operation with its permission and parameters, no script, no other origin. */
export function docsPage(): string {
  const rows = OPERATIONS.map((op) => {
    const d = describeOperation(op);
    const params = d.parameters.map((p) => `<code>${escape(p.name)}</code> (${p.in})`).join(', ');
    const body = op.body
      ? Object.keys((toSchema(op.body, 'input') as { properties?: object }).properties ?? {})
          .map((k) => `<code>${escape(k)}</code>`)
          .join(', ')
      : '';
    return `<tr><td><code>${op.method} ${escape(op.path)}</code></td><td>${escape(op.summary)}</td><td>${escape(whoMay(op)).replace(/`([^`]+)`/g, '<code>$1</code>')}</td><td>${params}</td><td>${body}</td></tr>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>access-perm control plane</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}code{font-size:.9em}</style>
</head><body>
<h1>access-perm control plane</h1>
<p>Every request takes <code>Authorization: Bearer &lt;token&gt;</code>. The permission (seed-3 §2) is checked before
anything is looked up; a denial answers 403 with the seed-3 §8 body and is audited. The machine-readable description
is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table><thead><tr><th>operation</th><th>what</th><th>permission</th><th>parameters</th><th>body</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
