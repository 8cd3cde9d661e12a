import type { z } from 'zod';
import type { CapabilityOperation } from './governance';
import {
  approveDeploymentRequestSchema,
  fileOverrideRequestSchema,
  lockRequestSchema,
  reproduceRequestSchema,
  reviewRequestSchema,
} from './lifecycle';
import { manualMonitoringInputSchema } from './monitoring';
import { pipelineInputSchema } from './run';

/**
 * The request each capability operation is issued for: the workflow input, signal or update argument without its
 * `capability` (what `access-perm auth capability --request` checks before it signs).
 */
export const CAPABILITY_REQUESTS: Record<CapabilityOperation, z.ZodType<Record<string, unknown>>> = {
  createRun: pipelineInputSchema.omit({ capability: true }),
  fileOverride: fileOverrideRequestSchema.omit({ capability: true }),
  reviewOverride: reviewRequestSchema.omit({ capability: true }),
  runReproducibility: reproduceRequestSchema.omit({ capability: true }),
  lockRun: lockRequestSchema.omit({ capability: true }),
  approveDeployment: approveDeploymentRequestSchema.omit({ capability: true }),
  monitorWindow: manualMonitoringInputSchema.omit({ capability: true }),
};
