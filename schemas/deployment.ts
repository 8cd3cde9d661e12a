import { z } from 'zod';

/** The run the scoring service serves: written when a validator approves a locked run for deployment. */
export const deploymentSchema = z
  .object({
    run_id: z.string().min(1).max(128),
    /** sha256 of the run's ONNX model; the service refuses a model file whose bytes differ. */
    model_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    deployed_at: z.string(),
    deployed_by: z.string().min(1),
  })
  .strict();

export type Deployment = z.infer<typeof deploymentSchema>;
