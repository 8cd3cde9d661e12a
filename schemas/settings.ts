import { z } from 'zod';

/**
 * `<keyring>/settings.json`: settings of the installation that its operators keep, written by hand. It sits in the
 * keyring, not the data directory, because it widens what workflows may read and how long the audit log may go
 * unsigned: whoever can only write the data directory must not be able to change it. Unknown keys are refused.
 */
export const settingsSchema = z.strictObject({
  /**
   * Folders, besides the data directory and the project's bundled `data/` and `config/`, that workflows may read
   * inputs from (configs, data files, monitoring windows). Absolute paths.
   */
  read_roots: z
    .array(
      z
        .string()
        .min(1)
        .refine((p) => p.startsWith('/'), 'an absolute path'),
    )
    .default([]),
  audit: z
    .strictObject({
      /**
       * Minutes between signed checkpoints of the audit log: a process holding the signing key checkpoints when the
       * last one is older (the worker on a timer, any writer after appending). `audit verify` fails when entries
       * have waited for a checkpoint longer than twice this.
       */
      checkpoint_interval_minutes: z.number().positive().max(1440).default(15),
    })
    .default({ checkpoint_interval_minutes: 15 }),
});
export type Settings = z.infer<typeof settingsSchema>;
