import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { EMPTY_OVERRIDE_SPEC, type OverrideSpec } from '../../schemas/lifecycle';
import { categoryGroups, versionFeatureSql } from '../binning';
import { queryColumns } from '../data/duck';
import { loadCsvAsText } from '../data/raw';
import { featureSelectSql, type FeatureOptions } from '../features';
import type { OnnxInputSpec } from '../gbdt';
import type { OnnxColumns } from '../gbdt/onnx';

/** One request to score: who asks for which app. */
export interface ScoreRequest {
  userId: string;
  appId: string;
}

/** The model inputs of a batch of requests (by input name, request order) and the ids the metadata lacks. */
export interface RequestFeatures {
  rows: number;
  columns: OnnxColumns;
  /** 1 where the userId is not in users_metadata (its features are the sentinel path's). */
  unknownUser: Uint8Array;
  /** 1 where the appId is not in apps_metadata. */
  unknownApp: Uint8Array;
}

type Column = string[] | Float64Array;

function emptyColumns(inputs: readonly OnnxInputSpec[], n: number): Record<string, Column> {
  return Object.fromEntries(
    inputs.map((i) => [i.name, i.type === 'string' ? new Array<string>(n) : new Float64Array(n)]),
  );
}

const sameValue = (a: unknown, b: unknown): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

/**
 * Per-id feature values computed by `featureSelectSql` once, at open: every model input is either a function of
 * the user (its metadata and its manager's) or of the app, so a request with known ids is answered by two lookups.
 * Which side each input is on is not declared anywhere: it is derived from the SQL's own output (the side its values
 * vary over, across every user and every app) and verified on a cross product of sampled users × apps; an input that
 * depends on both makes `deriveLookup` return null, and every request then goes through the SQL. Unknown ids are
 * answered the same way, from values derived for made-up ids and checked against the SQL (`deriveUnknown`).
 */
interface FeatureLookup {
  userIndex: Map<string, number>;
  appIndex: Map<string, number>;
  /** Per model input: the values by user index or by app index. */
  source: Array<{ name: string; side: 'user' | 'app'; values: Column }>;
  /**
   * Per side, by input name, the values of that side's inputs for an id the metadata does not have: a constant (the
   * sentinel path) or the id itself; null when the SQL's answer for unknown ids is not of that form, and such
   * requests go through the SQL.
   */
  unknown: { user: Map<string, UnknownValue> | null; app: Map<string, UnknownValue> | null };
  /** Every value the version's category groups name: an unknown id among them goes through the SQL. */
  groupedValues: Set<string>;
}

/** An input's value for an unknown id: a constant, or the (trimmed) id itself. */
type UnknownValue = { kind: 'constant'; value: string | number } | { kind: 'id' };

/** Marks a row whose id is unknown and answered from `FeatureLookup.unknown` (ids ≥ 0 index the metadata). */
const UNKNOWN_ID = -1;
/** Marks a row that goes through the SQL. */
const VIA_SQL = -2;

/** Ids the lookup may answer: exactly as stored and without surrounding whitespace (the SQL trims request ids). */
const lookupable = (id: string): boolean => id.length > 0 && id.trim() === id;

function evenlySpaced<T>(xs: readonly T[], k: number): T[] {
  if (xs.length <= k) return [...xs];
  return Array.from({ length: k }, (_, i) => xs[Math.floor((i * xs.length) / k)]!);
}

/**
 * Engineered features for scoring requests, from a run's users/apps metadata, with the training code path
 * (`featureSelectSql`). Holds an in-memory DuckDB with the two metadata tables for its lifetime.
 *
 * @example
 *   const fb = await RequestFeatureBuilder.open(paths, options, scorer.inputs, versionSpec);
 *   const f = await fb.build([{ userId: '100001', appId: '5001' }]);
 */
export class RequestFeatureBuilder {
  /** Serialises use of the connection (its `requests` table is refilled per SQL batch). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly options: FeatureOptions,
    readonly inputs: readonly OnnxInputSpec[],
    private readonly rewrite: Pick<OverrideSpec, 'binning'>,
    private lookup: FeatureLookup | null = null,
  ) {}

  /**
   * Loads users and apps metadata (CSV, as training loads them) and prepares the per-id lookup. `rewrite` is the
   * override spec of the scored model version: its category groups are applied as its feature table had them
   * (`versionFeatureSql`); the default (no overrides) gives the run's own features.
   */
  static async open(
    paths: { users: string; apps: string },
    options: FeatureOptions,
    inputs: readonly OnnxInputSpec[],
    rewrite: Pick<OverrideSpec, 'binning'> = EMPTY_OVERRIDE_SPEC,
  ): Promise<RequestFeatureBuilder> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const conn = await instance.connect();
    try {
      await loadCsvAsText(conn, 'users', paths.users);
      await loadCsvAsText(conn, 'apps', paths.apps);
      await conn.run('CREATE TABLE requests (userId VARCHAR, appId VARCHAR)');
      const builder = new RequestFeatureBuilder(instance, conn, options, inputs, rewrite);
      builder.lookup = await builder.deriveLookup();
      return builder;
    } catch (e) {
      conn.closeSync();
      instance.closeSync();
      throw e;
    }
  }

  /** Whether known ids are answered from the per-id lookup (false: every request goes through the SQL). */
  get usesLookup(): boolean {
    return this.lookup !== null;
  }

  /** Whether requests with an unknown userId / appId are answered without the SQL (see deriveUnknown). */
  get answersUnknownIds(): { user: boolean; app: boolean } {
    return { user: Boolean(this.lookup?.unknown.user), app: Boolean(this.lookup?.unknown.app) };
  }

  /**
   * Features of `rows`: known ids from the lookup, unknown ids from the derived sentinel-path values, the rest
   * (padded ids, ids a category group names, or any row when the derivation did not hold) through the SQL.
   */
  build(rows: readonly ScoreRequest[]): Promise<RequestFeatures> {
    return this.lookup ? this.buildWith(this.lookup, rows) : this.viaSql(rows);
  }

  private async buildWith(lookup: FeatureLookup, rows: readonly ScoreRequest[]): Promise<RequestFeatures> {
    const n = rows.length;
    const columns = emptyColumns(this.inputs, n);
    const unknownUser = new Uint8Array(n);
    const unknownApp = new Uint8Array(n);
    const rest: number[] = [];
    const userAt = new Int32Array(n);
    const appAt = new Int32Array(n);
    /** The metadata index of `id`, UNKNOWN_ID when the unknown-id values answer it, else VIA_SQL. */
    const position = (index: Map<string, number>, unknown: Map<string, UnknownValue> | null, id: string): number => {
      const at = index.get(id);
      if (at !== undefined) return at;
      return unknown && lookupable(id) && !lookup.groupedValues.has(id) ? UNKNOWN_ID : VIA_SQL;
    };
    for (let i = 0; i < n; i++) {
      const u = position(lookup.userIndex, lookup.unknown.user, rows[i]!.userId);
      const a = position(lookup.appIndex, lookup.unknown.app, rows[i]!.appId);
      if (u === VIA_SQL || a === VIA_SQL) {
        rest.push(i);
        userAt[i] = VIA_SQL;
        continue;
      }
      userAt[i] = u;
      appAt[i] = a;
      unknownUser[i] = u === UNKNOWN_ID ? 1 : 0;
      unknownApp[i] = a === UNKNOWN_ID ? 1 : 0;
    }
    for (const { name, side, values } of lookup.source) {
      const out = columns[name]!;
      const at = side === 'user' ? userAt : appAt;
      const rule = lookup.unknown[side]?.get(name);
      for (let i = 0; i < n; i++) {
        if (userAt[i] === VIA_SQL) continue;
        const k = at[i]!;
        if (k >= 0) out[i] = values[k]!;
        else if (rule?.kind === 'constant') out[i] = rule.value;
        else out[i] = side === 'user' ? rows[i]!.userId : rows[i]!.appId;
      }
    }
    if (rest.length > 0) {
      const slow = await this.viaSql(rest.map((i) => rows[i]!));
      rest.forEach((i, k) => {
        for (const spec of this.inputs) columns[spec.name]![i] = (slow.columns[spec.name] as Column)[k]!;
        unknownUser[i] = slow.unknownUser[k]!;
        unknownApp[i] = slow.unknownApp[k]!;
      });
    }
    return { rows: n, columns, unknownUser, unknownApp };
  }

  /**
   * Features of `rows` straight from `featureSelectSql` (the training path) and the version's rewrite, with the
   * unknown-id flags.
   */
  viaSql(rows: readonly ScoreRequest[]): Promise<RequestFeatures> {
    const run = this.queue.then(async () => {
      await this.conn.run('DELETE FROM requests');
      const appender = await this.conn.createAppender('requests');
      for (const r of rows) {
        appender.appendVarchar(r.userId);
        appender.appendVarchar(r.appId);
        appender.endRow();
      }
      appender.closeSync();
      // Known ids are flagged before the version's rewrite, which may regroup appId itself.
      const flagged = `(SELECT f.*,
                coalesce(f.userId IN (SELECT userId FROM users), false) AS known_user,
                coalesce(f.appId IN (SELECT appId FROM apps), false) AS known_app
         FROM (${featureSelectSql('requests', this.options, false)}) f)`;
      const data = await queryColumns(this.conn, `${versionFeatureSql(flagged, this.rewrite)} ORDER BY row_idx`);
      const n = data.row_idx?.length ?? 0;
      if (n !== rows.length) {
        throw new Error(
          `feature SQL returned ${n} rows for ${rows.length} requests: users_metadata or apps_metadata has duplicate ids`,
        );
      }
      const columns: OnnxColumns = {};
      for (const spec of this.inputs) {
        const values = data[spec.name];
        if (!values) throw new Error(`the model needs input '${spec.name}', which the feature SQL does not produce`);
        columns[spec.name] =
          spec.type === 'string'
            ? values.map(String)
            : Float64Array.from(values, (v) => (v === null ? Number.NaN : Number(v)));
      }
      return {
        rows: n,
        columns,
        unknownUser: Uint8Array.from(data.known_user!, (k) => (k ? 0 : 1)),
        unknownApp: Uint8Array.from(data.known_app!, (k) => (k ? 0 : 1)),
      };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async deriveLookup(): Promise<FeatureLookup | null> {
    const ids = async (table: string, column: string): Promise<string[] | null> => {
      const data = await queryColumns(
        this.conn,
        `SELECT ${column} AS id, count(*) OVER (PARTITION BY ${column}) AS n FROM ${table} WHERE ${column} IS NOT NULL ORDER BY rowid`,
      );
      const values = (data.id ?? []).map(String);
      if ((data.n ?? []).some((k) => Number(k) > 1)) return null;
      return values.filter(lookupable);
    };
    const users = await ids('users', 'userId');
    const apps = await ids('apps', 'appId');
    if (!users || !apps || users.length === 0 || apps.length === 0) return null;
    const u0 = users[0]!;
    const a0 = apps[0]!;
    const byUser = await this.viaSql(users.map((userId) => ({ userId, appId: a0 })));
    const byApp = await this.viaSql(apps.map((appId) => ({ userId: u0, appId })));
    const sampleUsers = evenlySpaced([...users.keys()], 40);
    const sampleApps = evenlySpaced([...apps.keys()], 40);
    const pairs = sampleUsers.flatMap((u) => sampleApps.map((a) => ({ u, a })));
    const check = await this.viaSql(pairs.map(({ u, a }) => ({ userId: users[u]!, appId: apps[a]! })));
    const source: FeatureLookup['source'] = [];
    const varies = (values: Column): boolean =>
      Array.from(values as ArrayLike<unknown>).some((v) => !sameValue(v, values[0]));
    for (const spec of this.inputs) {
      const got = check.columns[spec.name] as Column;
      const userValues = byUser.columns[spec.name] as Column;
      const appValues = byApp.columns[spec.name] as Column;
      // The side is the one the input varies over, across every id (a sample could miss the few ids that differ,
      // e.g. under a category group that sends all but two apps to __OTHER__); then the sample checks the choice.
      const byApps = varies(appValues);
      if (byApps && varies(userValues)) return null;
      const side = byApps ? 'app' : 'user';
      const values = side === 'app' ? appValues : userValues;
      if (!pairs.every(({ u, a }, k) => sameValue(got[k], values[side === 'app' ? a : u]))) return null;
      source.push({ name: spec.name, side, values });
    }
    const lookup: FeatureLookup = {
      userIndex: new Map(users.map((id, i) => [id, i])),
      appIndex: new Map(apps.map((id, i) => [id, i])),
      source,
      unknown: { user: null, app: null },
      groupedValues: new Set(categoryGroups(this.rewrite).flatMap(([, groups]) => groups.flat())),
    };
    lookup.unknown = await this.deriveUnknown(lookup, users, apps);
    return lookup;
  }

  /**
   * What the SQL gives the inputs of an id the metadata lacks, per side: each input either a constant or the id
   * itself, read off two made-up ids per side and then checked against the SQL on made-up ids paired with sampled
   * known ones (and with each other). A side whose answer is not of that form, or fails the check, gets null.
   */
  private async deriveUnknown(
    lookup: FeatureLookup,
    users: string[],
    apps: string[],
  ): Promise<FeatureLookup['unknown']> {
    const madeUp = (index: Map<string, number>, label: string, k: number): string => {
      let id = `access-perm-unknown-${label}-${k}`;
      while (index.has(id) || lookup.groupedValues.has(id)) id += '_';
      return id;
    };
    const probe = async (side: 'user' | 'app'): Promise<Map<string, UnknownValue> | null> => {
      const ids = [1, 2].map((k) => madeUp(side === 'user' ? lookup.userIndex : lookup.appIndex, side, k));
      const got = await this.viaSql(
        ids.map((id) => (side === 'user' ? { userId: id, appId: apps[0]! } : { userId: users[0]!, appId: id })),
      );
      const rules = new Map<string, UnknownValue>();
      for (const { name } of lookup.source.filter((x) => x.side === side)) {
        const [a, b] = got.columns[name] as Column;
        if (sameValue(a, b)) rules.set(name, { kind: 'constant', value: a! });
        else if (a === ids[0] && b === ids[1]) rules.set(name, { kind: 'id' });
        else return null;
      }
      return rules;
    };
    const unknown = { user: await probe('user'), app: await probe('app') };
    if (!unknown.user && !unknown.app) return unknown;
    // The check: other made-up ids against sampled known ones and against each other, every input and both flags.
    const someUsers = evenlySpaced(users, 20);
    const someApps = evenlySpaced(apps, 20);
    const pairs: ScoreRequest[] = [];
    for (let k = 0; k < 20; k++) {
      const u = madeUp(lookup.userIndex, 'user', 10 + k);
      const a = madeUp(lookup.appIndex, 'app', 10 + k);
      if (unknown.user) pairs.push({ userId: u, appId: someApps[k % someApps.length]! });
      if (unknown.app) pairs.push({ userId: someUsers[k % someUsers.length]!, appId: a });
      if (unknown.user && unknown.app) pairs.push({ userId: u, appId: a });
    }
    const expected = await this.viaSql(pairs);
    const fast = await this.buildWith({ ...lookup, unknown }, pairs);
    const agrees =
      this.inputs.every((spec) => {
        const e = expected.columns[spec.name] as Column;
        const f = fast.columns[spec.name] as Column;
        return pairs.every((_, i) => sameValue(e[i], f[i]));
      }) &&
      pairs.every(
        (_, i) => expected.unknownUser[i] === fast.unknownUser[i] && expected.unknownApp[i] === fast.unknownApp[i],
      );
    return agrees ? unknown : { user: null, app: null };
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
