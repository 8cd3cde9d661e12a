/**
 * The feature rewrite of a model version (issue 6). Of all overrides, only a categorical bin override (new groups,
 * merged bins) changes the feature values the model sees: each category becomes its group (members joined by
 * '|'), a category of no group becomes __OTHER__. Numeric borders, monotonicity, feature selection and trainer
 * parameters act inside the trainer (the model file carries them), the threshold sits in the scoring spec.
 *
 * `versionFeatureSql` is the one implementation of the rewrite: a version's feature table is written through it
 * (lib/lifecycle/versions.ts) and request features are scored through it (lib/scoring/features.ts), so a version
 * is scored on exactly the values it was trained on.
 */
import type { OverrideSpec } from '../../schemas/lifecycle';
import { sqlIdent, sqlString } from '../data/duck';

/** The value every category outside the groups of a categorical bin override becomes. */
export const OTHER_CATEGORY = '__OTHER__';

/** The categorical features a spec regroups, with their groups. */
export function categoryGroups(spec: Pick<OverrideSpec, 'binning'>): Array<[feature: string, groups: string[][]]> {
  return Object.entries(spec.binning).flatMap(([f, b]) => (b.kind === 'categorical' ? [[f, b.groups]] : []));
}

/** Whether the spec changes feature values at all (false: a version's features are the run's own). */
export const rewritesFeatures = (spec: Pick<OverrideSpec, 'binning'>): boolean => categoryGroups(spec).length > 0;

/**
 * SQL selecting every column of `from` (a FROM item: a table, a table function such as `read_parquet(...)` or a
 * parenthesised query) with the spec's category groups applied; every other column passes through unchanged.
 * @example
 *   versionFeatureSql(`read_parquet('features.parquet')`, spec)
 *   // SELECT * REPLACE (CASE "category" WHEN 'a' THEN 'a|b' WHEN 'b' THEN 'a|b' ELSE '__OTHER__' END AS "category") FROM ...
 */
export function versionFeatureSql(from: string, spec: Pick<OverrideSpec, 'binning'>): string {
  const grouped = categoryGroups(spec);
  if (grouped.length === 0) return `SELECT * FROM ${from}`;
  const replace = grouped
    .map(([f, groups]) => {
      const cases = groups
        .flatMap((g) => g.map((v) => `WHEN ${sqlString(v)} THEN ${sqlString(g.join('|'))}`))
        .join(' ');
      return `CASE ${sqlIdent(f)} ${cases} ELSE ${sqlString(OTHER_CATEGORY)} END AS ${sqlIdent(f)}`;
    })
    .join(', ');
  return `SELECT * REPLACE (${replace}) FROM ${from}`;
}
