import { z } from 'zod';
import { auditQuerySchema, type Permission } from '../../schemas/governance';
import {
  explainBodySchema,
  explainQuerySchema,
  MAX_EXPLAIN_ROWS,
  MAX_PREDICT_ROWS,
  predictBodySchema,
} from '../../schemas/serving';
import { minimumRole } from '../governance';
import { SCORING_PERMISSION } from '../scoring';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema object. */
export const toSchema = (s: z.ZodType, io: 'input' | 'output' = 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

/** The error bodies every access-perm server answers with: `Error` and seed-3 §8's `PermissionDenied`. */
export const ERROR_SCHEMAS = {
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string' },
      message: { type: 'string' },
      reason: { type: 'string' },
      issues: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            row: { type: ['integer', 'null'] },
            field: { type: 'string' },
            message: { type: 'string' },
          },
        },
      },
    },
  },
  PermissionDenied: {
    type: 'object',
    required: ['error', 'required_permission', 'user_role', 'minimum_role', 'message'],
    properties: {
      error: { const: 'Permission denied' },
      required_permission: { type: 'string' },
      user_role: { type: 'string' },
      minimum_role: { type: 'string' },
      allowed_roles: { type: 'array', items: { type: 'string' } },
      message: { type: 'string' },
    },
  },
};

const ERRORS = {
  400: {
    description: 'Invalid body or query: the message and `issues` name the row and field',
    content: json(ref('Error')),
  },
  401: { description: 'Missing, malformed, forged, expired or revoked token', content: json(ref('Error')) },
  403: { description: 'Permission denied (seed-3 §8)', content: json(ref('PermissionDenied')) },
};

function operation(summary: string, permission: Permission | null, extra: Record<string, unknown>) {
  const who = permission
    ? `Needs \`${permission}\` (${minimumRole(permission)} and up in the seed-3 matrix).`
    : 'Needs any valid token.';
  return { summary, description: who, security: [{ bearer: [] }], ...extra };
}

const predictionSchema = {
  type: 'object',
  required: ['userId', 'appId', 'approval_probability', 'predicted_label', 'unknown_user', 'unknown_app'],
  properties: {
    requestId: { type: 'string' },
    userId: { type: 'string' },
    appId: { type: 'string' },
    approval_probability: { type: 'number', minimum: 0, maximum: 1 },
    predicted_label: { type: 'integer', enum: [0, 1], description: '1 = approve (probability ≥ threshold)' },
    unknown_user: { type: 'boolean', description: 'userId not in users_metadata: scored on the sentinel path' },
    unknown_app: { type: 'boolean', description: 'appId not in apps_metadata: scored on the sentinel path' },
  },
};
const modelFields = {
  run_id: { type: 'string' },
  model_sha256: { type: 'string' },
  threshold: { type: 'number' },
};

let cached: object | null = null;

/** The service's OpenAPI 3.1 document: request schemas generated from the zod schemas the handlers validate with. */
export function openApiDocument(): object {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'access-perm scoring service',
      version: '1',
      description:
        'Approval predictions for app-permission requests from the deployed run (or the run given with `--run`). ' +
        'Every endpoint takes `Authorization: Bearer <token>` (tokens from `access-perm auth issue`).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        PredictRequest: toSchema(predictBodySchema, 'input'),
        ExplainRequest: toSchema(explainBodySchema, 'input'),
        Prediction: predictionSchema,
        ...ERROR_SCHEMAS,
      },
    },
    paths: {
      '/health': {
        get: operation('Model loaded, run id, model hash, uptime', 'view_system_health', {
          responses: { 200: { description: 'A model is loaded' }, 503: { description: 'No model loaded' }, ...ERRORS },
        }),
      },
      '/predict': {
        post: operation(`Score up to ${MAX_PREDICT_ROWS} requests`, SCORING_PERMISSION, {
          requestBody: { required: true, content: json(ref('PredictRequest')) },
          responses: {
            200: {
              description: 'One prediction per request, in request order',
              content: json({
                type: 'object',
                properties: { ...modelFields, predictions: { type: 'array', items: ref('Prediction') } },
              }),
            },
            413: { description: 'Body over the size limit', content: json(ref('Error')) },
            503: { description: 'No model loaded', content: json(ref('Error')) },
            ...ERRORS,
          },
        }),
      },
      '/explain': {
        post: operation(`Score and explain (exact SHAP) up to ${MAX_EXPLAIN_ROWS} requests`, SCORING_PERMISSION, {
          parameters: [{ name: 'top', in: 'query', schema: toSchema(explainQuerySchema.shape.top, 'input') }],
          requestBody: { required: true, content: json(ref('ExplainRequest')) },
          responses: {
            200: {
              description:
                'Predictions with base log-odds and the largest contributions (log-odds, > 0 towards approval)',
            },
            413: { description: 'Body over the size limit', content: json(ref('Error')) },
            503: { description: 'No model loaded', content: json(ref('Error')) },
            ...ERRORS,
          },
        }),
      },
      '/runs': {
        get: operation('Runs, newest first, with state and OOF metrics', 'view_runs', {
          responses: { 200: { description: 'Runs' }, ...ERRORS },
        }),
      },
      '/runs/{id}': {
        get: operation('One run: state, metrics, lock, artifacts', 'view_runs', {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: { description: 'The run' }, 404: { description: 'Unknown run' }, ...ERRORS },
        }),
      },
      '/audit-logs': {
        get: operation('Audit log entries (seed-3 §4 queries)', 'view_audit_logs', {
          parameters: Object.entries(
            (toSchema(auditQuerySchema, 'input').properties ?? {}) as Record<string, object>,
          ).map(([name, schema]) => ({ name, in: 'query', schema })),
          responses: { 200: { description: 'Matching entries, oldest first' }, ...ERRORS },
        }),
      },
      '/openapi.json': {
        get: operation('This document', null, { responses: { 200: { description: 'OpenAPI 3.1' }, 401: ERRORS[401] } }),
      },
    },
  };
  return cached;
}
