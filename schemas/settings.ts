import { z } from 'zod';

/**
 * `<data dir>/settings.json`: settings of the installation that an ADMIN keeps. Written by hand for now (the file is
 * inside the data directory, so only its operators can change it); unknown keys are refused.
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
});
export type Settings = z.infer<typeof settingsSchema>;
