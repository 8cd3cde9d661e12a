import { z } from 'zod';
import { ROLES } from './governance';

/**
 * `<keyring>/settings.json`: the installation's system configuration, changed by an ADMIN with `system config set`
 * (audited with before and after). It sits in the keyring, not the data directory, because it widens what workflows
 * may read and how long the audit log may go unsigned: whoever can only write the data directory must not be able
 * to change it. Unknown keys are refused. Every key is read by the system; the doc comment says where.
 */
export const settingsSchema = z.strictObject({
  read_roots: z
    .array(
      z
        .string()
        .min(1)
        .refine((p) => p.startsWith('/'), 'an absolute path'),
    )
    .describe(
      'Folders (absolute paths), besides the data directory and the bundled data/ and config/, that workflows may read configs, data files and monitoring windows from',
    )
    .default([]),
  audit: z
    .strictObject({
      checkpoint_interval_minutes: z
        .number()
        .positive()
        .max(1440)
        .describe(
          'Minutes between signed checkpoints of the audit log (the worker and the service on a timer, any writer after appending); audit verify fails when entries waited longer than twice this',
        )
        .default(15),
    })
    .default({ checkpoint_interval_minutes: 15 }),
  alerts: z
    .strictObject({
      recipient_roles: z
        .array(z.enum(ROLES))
        .describe('Roles monitoring alerts (drift, performance drops) are addressed to, in the outbox and the webhook')
        .default(['VALIDATOR', 'ADMIN']),
      recipient_users: z
        .array(z.string().min(1).max(128))
        .describe('Named users who also receive every monitoring alert')
        .default([]),
      webhook_url: z
        .url({ protocol: /^https?$/ })
        .nullable()
        .describe(
          'Where every notification is POSTed as JSON (chat, ticketing); null: the ACCESS_PERM_WEBHOOK_URL environment variable, if set',
        )
        .default(null),
    })
    .default({ recipient_roles: ['VALIDATOR', 'ADMIN'], recipient_users: [], webhook_url: null }),
  worker: z
    .strictObject({
      max_concurrent_activities: z
        .number()
        .int()
        .min(1)
        .max(64)
        .describe(
          'Activities one worker runs at once, read when the worker starts (folds train in a thread pool beside)',
        )
        .default(8),
    })
    .default({ max_concurrent_activities: 8 }),
});
export type Settings = z.infer<typeof settingsSchema>;
