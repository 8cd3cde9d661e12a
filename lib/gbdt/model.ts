/** Model files: canonical JSON out, validated JSON in. */
import { gbdtModelSchema } from '../../schemas/gbdt';
import type { GbdtModel } from '../../schemas/gbdt';
import { GbdtModelError } from './errors';

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
