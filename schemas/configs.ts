import { z } from 'zod';

/** Who may see a registered config: its owner (and ADMIN), everyone but VIEWERs (the modelling team), or everyone. */
export const CONFIG_VISIBILITIES = ['private', 'team', 'everyone'] as const;
export type ConfigVisibility = (typeof CONFIG_VISIBILITIES)[number];

export const configIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a config id: lowercase letters, digits, . _ -, at most 64');

const who = z.strictObject({ userId: z.string(), role: z.string() });

/**
 * `<data dir>/configs/<id>/record.json`: a registered config, signed with the keyring's key. Each edit adds a
 * version (`v<n>.yaml`, never rewritten) whose sha256 the record holds; deleting marks the record, the versions stay
 * (runs that used them still name them). Every write of the record adds one to `sequence`, which the keyring pins.
 */
export const configRecordSchema = z.strictObject({
  format: z.literal('access-perm/config@2'),
  id: configIdSchema,
  sequence: z.number().int().min(1),
  owner: z.string(),
  visibility: z.enum(CONFIG_VISIBILITIES),
  created_at: z.string(),
  versions: z
    .array(
      z.strictObject({
        version: z.number().int().min(1),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        bytes: z.number().int().nonnegative(),
        by: who,
        at: z.string(),
        reason: z.string().nullable(),
      }),
    )
    .min(1),
  deleted: z.strictObject({ by: who, at: z.string(), reason: z.string() }).nullable(),
});
export type ConfigRecord = z.infer<typeof configRecordSchema>;

/** What a run records of the registered config it started from (run.json `registeredConfig`). */
export const registeredConfigRefSchema = z.strictObject({
  id: configIdSchema,
  version: z.number().int().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type RegisteredConfigRef = z.infer<typeof registeredConfigRefSchema>;
