/** The scoring service (`access-perm serve`): Fastify routes, the served model with hot reload, the inference log. */
export { buildService } from './app';
export {
  createGuard,
  installErrorHandler,
  installLifecycle,
  parseInput,
  RequestValidationError,
  type Guard,
  type GuardOptions,
} from './http';
export type { ServiceOptions } from './app';
export { InferenceLog, inferenceLogDir, readInferenceLog } from './inferenceLog';
export type { ScoredCall } from './inferenceLog';
export { ERROR_SCHEMAS, openApiDocument, toSchema } from './openapi';
export { NoModelError, ServedModel } from './servedModel';
export type { ServedModelOptions, ServedModelStatus } from './servedModel';
