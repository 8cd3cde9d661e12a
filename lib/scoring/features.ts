import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { EMPTY_OVERRIDE_SPEC, type OverrideSpec } from '../../schemas/lifecycle';
import { versionFeatureSql } from '../binning';
import { queryColumns } from '../data/duck';
import { loadCsvAsText } from '../data/raw';
import { featureSelectSql, type FeatureOptions } from '../features';
import type { OnnxColumns, OnnxInputSpec } from '../gbdt';

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
 * Which side each input is on is not declared anywhere: it is derived from the SQL's own output and verified on a
 * cross product of sampled users × apps; an input that depends on both makes `deriveLookup` return null, and every
 * request then goes through the SQL.
 */
interface FeatureLookup {
  userIndex: Map<string, number>;
  appIndex: Map<string, number>;
  /** Per model input: the values by user index or by app index. */
  source: Array<{ name: string; side: 'user' | 'app'; values: Column }>;
}

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

  /** Features of `rows`: known ids from the lookup, the rest (unknown or padded ids) through the SQL. */
  async build(rows: readonly ScoreRequest[]): Promise<RequestFeatures> {
    const lookup = this.lookup;
    if (!lookup) return this.viaSql(rows);
    const n = rows.length;
    const columns = emptyColumns(this.inputs, n);
    const unknownUser = new Uint8Array(n);
    const unknownApp = new Uint8Array(n);
    const rest: number[] = [];
    const userAt = new Int32Array(n);
    const appAt = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const u = lookup.userIndex.get(rows[i]!.userId);
      const a = lookup.appIndex.get(rows[i]!.appId);
      if (u === undefined || a === undefined) {
        rest.push(i);
        userAt[i] = -1;
      } else {
        userAt[i] = u;
        appAt[i] = a;
      }
    }
    for (const { name, side, values } of lookup.source) {
      const out = columns[name]!;
      const at = side === 'user' ? userAt : appAt;
      for (let i = 0; i < n; i++) if (userAt[i]! >= 0) out[i] = values[at[i]!]!;
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
    for (const spec of this.inputs) {
      const got = check.columns[spec.name] as Column;
      const userValues = byUser.columns[spec.name] as Column;
      const appValues = byApp.columns[spec.name] as Column;
      if (pairs.every(({ u }, k) => sameValue(got[k], userValues[u]))) {
        source.push({ name: spec.name, side: 'user', values: userValues });
      } else if (pairs.every(({ a }, k) => sameValue(got[k], appValues[a]))) {
        source.push({ name: spec.name, side: 'app', values: appValues });
      } else {
        return null;
      }
    }
    return {
      userIndex: new Map(users.map((id, i) => [id, i])),
      appIndex: new Map(apps.map((id, i) => [id, i])),
      source,
    };
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
