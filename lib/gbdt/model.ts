/** Model files: canonical JSON out, validated JSON in. */
import { COMBINATION_SEPARATOR, ctrTableV1Schema, gbdtModelSchema } from '../../schemas/gbdt';
import type { CtrTable, GbdtModel } from '../../schemas/gbdt';
import { GbdtModelError } from './errors';
import { tableOfEntries } from './tables';

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, numbers in JavaScript's shortest round-trip
 * form, arrays of primitives (and tuples) on one line, everything else indented by two spaces.
 * Same value ⇒ same bytes. Non-finite numbers are rejected.
 */
function canonicalModelJson(value: unknown): string {
  const write = (v: unknown, indent: string): string => {
    if (v === null) return 'null';
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new GbdtModelError(`cannot serialize non-finite number ${v}`);
      return JSON.stringify(v);
    }
    if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      // Numbers straight through JSON.stringify: a CTR table's columns run to tens of millions of them.
      if (v.every((x) => typeof x === 'number' && Number.isFinite(x))) return JSON.stringify(v);
      if (v.every(isPrimitive)) return `[${v.map((x) => write(x, '')).join(',')}]`;
      const inner = indent + '  ';
      return `[\n${v.map((x) => inner + write(x, inner)).join(',\n')}\n${indent}]`;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort();
      if (keys.length === 0) return '{}';
      const inner = indent + '  ';
      const body = keys.map((k) => `${inner}${JSON.stringify(k)}: ${write((v as Record<string, unknown>)[k], inner)}`);
      return `{\n${body.join(',\n')}\n${indent}}`;
    }
    throw new GbdtModelError(`cannot serialize a value of type ${typeof v}`);
  };
  return write(value, '') + '\n';
}

/** Serializes a model as canonical JSON: same inputs ⇒ byte-identical file. */
export function serializeModel(model: GbdtModel): string {
  return canonicalModelJson(model);
}

/** Checks the cross-references the schema cannot express (indices in range, leaf counts). */
function checkReferences(m: GbdtModel): void {
  const fail = (msg: string): never => {
    throw new GbdtModelError(`invalid model file: ${msg}`);
  };
  const names = new Map(m.features.map((f) => [f.name, f.type] as const));
  for (const f of m.floatFeatures)
    if (names.get(f.name) !== 'numeric') fail(`floatFeatures '${f.name}' is not a numeric feature`);
  for (const f of m.oneHotFeatures)
    if (names.get(f.name) !== 'categorical') fail(`oneHotFeatures '${f.name}' is not a categorical feature`);
  m.ctrTables.forEach((t, i) => {
    for (const f of t.features)
      if (names.get(f) !== 'categorical') fail(`ctrTables[${i}] uses '${f}', not a categorical feature`);
    checkTable(t, `ctrTables[${i}]`, fail);
  });
  m.ctrs.forEach((c, i) => {
    if (c.table >= m.ctrTables.length) fail(`ctrs[${i}].table ${c.table} is out of range`);
  });
  m.trees.forEach((t, i) => {
    if (t.leafValues.length !== 1 << t.splits.length) {
      fail(
        `trees[${i}] has ${t.leafValues.length} leaf values for ${t.splits.length} splits (expected ${1 << t.splits.length})`,
      );
    }
    if (t.leafWeights && t.leafWeights.length !== t.leafValues.length)
      fail(`trees[${i}] has ${t.leafWeights.length} leaf weights for ${t.leafValues.length} leaf values`);
    t.splits.forEach((s, d) => {
      const where = `trees[${i}].splits[${d}]`;
      if (s.type === 'float' && s.feature >= m.floatFeatures.length)
        fail(`${where}.feature ${s.feature} is out of range`);
      if (s.type === 'onehot' && s.feature >= m.oneHotFeatures.length)
        fail(`${where}.feature ${s.feature} is out of range`);
      if (s.type === 'ctr' && s.ctr >= m.ctrs.length) fail(`${where}.ctr ${s.ctr} is out of range`);
    });
  });
}

/**
 * Parses and validates a model file.
 * @throws GbdtModelError saying what is wrong and where (JSON syntax, schema path, bad reference)
 */
export function parseModel(json: string): GbdtModel {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new GbdtModelError(`model file is not valid JSON: ${(e as Error).message}`);
  }
  data = fromFormat1(data);
  const parsed = gbdtModelSchema.safeParse(data);
  if (!parsed.success) {
    const lines = parsed.error.issues
      .slice(0, 5)
      .map((iss) => `${iss.path.length > 0 ? iss.path.join('.') : '(root)'}: ${iss.message}`);
    const more = parsed.error.issues.length > 5 ? ` (+${parsed.error.issues.length - 5} more)` : '';
    throw new GbdtModelError(`invalid model file: ${lines.join('; ')}${more}`);
  }
  checkReferences(parsed.data);
  return parsed.data;
}

/**
 * A table's columns against each other (the schema leaves them as plain arrays, checked here in one pass each):
 * distinct values in code-unit order, positions in range, counts whole with 0 ≤ positives ≤ totals, entries in the
 * order of their value tuples.
 */
function checkTable(t: CtrTable, where: string, fail: (msg: string) => never): void {
  const width = t.features.length;
  const n = t.positives.length;
  if (t.values.length !== width) fail(`${where} has ${t.values.length} value lists for ${width} features`);
  if (t.totals.length !== n) fail(`${where} has ${t.totals.length} totals for ${n} positives`);
  if (t.keys.length !== n * width) fail(`${where} has ${t.keys.length} keys for ${n} entries of ${width} features`);
  t.values.forEach((values, j) => {
    for (let v = 1; v < values.length; v++)
      if (!(values[v - 1]! < values[v]!)) fail(`${where}.values[${j}] is not in code-unit order at ${v}`);
  });
  const whole = (x: unknown, lo: number, hi: number): boolean =>
    typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
  for (let r = 0; r < n; r++) {
    if (!whole(t.totals[r], 1, t.maxCount)) fail(`${where}.totals[${r}] is not a whole number in 1..maxCount`);
    if (!whole(t.positives[r], 0, t.totals[r]!)) fail(`${where}.positives[${r}] is not a whole number in 0..totals`);
    let order = r === 0 ? 1 : 0;
    for (let j = 0; j < width; j++) {
      const key = t.keys[r * width + j];
      if (!whole(key, 0, t.values[j]!.length - 1))
        fail(`${where}.keys[${r * width + j}] is not a position in values[${j}]`);
      if (order === 0) order = Math.sign(key! - t.keys[(r - 1) * width + j]!);
    }
    if (order <= 0) fail(`${where} entry ${r} does not follow entry ${r - 1} in the order of their values`);
  }
}

/**
 * A model file of format version 1 in the current format: its tables' rows [key, positives, total], keys joined by
 * U+001F, by columns. A key with another number of parts (a value holding the separator) could never match a row
 * and is dropped.
 */
function fromFormat1(data: unknown): unknown {
  const m = data as { formatVersion?: unknown; ctrTables?: unknown };
  if (typeof m !== 'object' || m === null || m.formatVersion !== 1 || !Array.isArray(m.ctrTables)) return data;
  const ctrTables = m.ctrTables.map((raw, i) => {
    const parsed = ctrTableV1Schema.safeParse(raw);
    if (!parsed.success)
      throw new GbdtModelError(`invalid model file: ctrTables.${i}: ${parsed.error.issues[0]!.message}`);
    const { features, stats, maxCount } = parsed.data;
    const entries = stats
      .map(([key, positives, total]): [string[], number, number] => [
        features.length === 1 ? [key] : key.split(COMBINATION_SEPARATOR),
        positives,
        total,
      ])
      .filter(([values]) => values.length === features.length);
    return tableOfEntries(features, entries, maxCount);
  });
  return { ...m, formatVersion: 2, ctrTables };
}
