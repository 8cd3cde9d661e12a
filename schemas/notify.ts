import { z } from 'zod';
import { ROLES } from './governance';

/** Why a notification was sent; readers (CLI, tests, webhooks) switch on it. */
export const NOTIFICATION_KINDS = [
  'override_pending_review',
  'override_approved',
  'override_rejected',
  'run_locked',
  'drift_alert',
  'performance_alert',
] as const;

export const notificationInputSchema = z
  .object({
    kind: z.enum(NOTIFICATION_KINDS),
    /** Who should read it: roles (every holder) and/or explicit user ids. */
    to: z
      .object({ roles: z.array(z.enum(ROLES)).default([]), users: z.array(z.string().min(1).max(128)).default([]) })
      .strict()
      .refine((t) => t.roles.length + t.users.length > 0, 'a notification needs at least one role or user'),
    subject: z.string().min(1).max(300),
    body: z.string().max(10_000).default(''),
    run_id: z.string().max(128).optional(),
    /** Links the notification to the audit entries of the same action. */
    correlation_id: z.string().max(128).optional(),
    details: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type NotificationInput = z.input<typeof notificationInputSchema>;

export const notificationSchema = notificationInputSchema.extend({
  notification_id: z.string(),
  timestamp: z.string(),
  webhook: z.object({ status: z.enum(['not_configured', 'delivered', 'failed']), detail: z.string().optional() }),
});

export type Notification = z.output<typeof notificationSchema>;
