/**
 * A small deterministic approval history in flat form (one table, columns declared in config), for tests and the
 * bundled example `data/flat-example/approvals.csv`.
 *
 * Columns: request_id, team (the group), region, role, resource (categoricals), tenure_years, risk_score
 * (numerics), approved (0/1). Latent story: log-odds = the resource's sensitivity + the role's clearance + a small
 * region effect + the team's norm + 0.5 · (tenure − 4) / 3 − 1.5 · (risk − 0.5) / 0.25; the label is a Bernoulli
 * draw on that. About 10 % of regions and 5 % of tenures are missing, and 1 % of risk scores are the text `n/a`
 * (so a numeric column is castable only "mostly").
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Rng } from '../rng';

export interface FlatExampleOptions {
  rows: number;
  seed: number;
  /** Distinct teams (groups); default rows / 20. */
  teams?: number;
  /**
   * Rows generated first and left out: with the same seed and teams, the output continues the table of `skipRows`
   * rows (same latent effects, request ids counting on), i.e. a hold-out set of the same population.
   */
  skipRows?: number;
}

export const FLAT_EXAMPLE_COLUMNS = [
  'request_id',
  'team',
  'region',
  'role',
  'resource',
  'tenure_years',
  'risk_score',
  'approved',
] as const;

const REGIONS = ['emea', 'amer', 'apac', 'latam'];
const ROLES = ['engineer', 'analyst', 'manager', 'contractor', 'support', 'finance'];
const N_RESOURCES = 60;

/** The example table as CSV text (header included, `\n` line ends); same options give the same bytes. */
export function flatExampleCsv(options: FlatExampleOptions): string {
  const rng = new Rng(options.seed);
  const teams = options.teams ?? Math.max(5, Math.round(options.rows / 20));
  const resourceEffect = Array.from({ length: N_RESOURCES }, () => 2 * rng.normal());
  const roleEffect = ROLES.map(() => 1.2 * rng.normal());
  const regionEffect = REGIONS.map(() => 0.3 * rng.normal());
  const teamEffect = Array.from({ length: teams }, () => 0.7 * rng.normal());
  const lines = [FLAT_EXAMPLE_COLUMNS.join(',')];
  const skip = options.skipRows ?? 0;
  for (let i = 0; i < skip + options.rows; i++) {
    const team = rng.int(teams);
    // Skewed resource popularity, so segments have a few large values and a long tail.
    const resource = Math.floor(N_RESOURCES * rng.next() ** 2);
    const role = rng.int(ROLES.length);
    const region = rng.int(REGIONS.length);
    const tenure = Math.round(rng.next() * 120) / 10;
    const risk = Math.min(1, Math.max(0, 0.5 + 0.25 * rng.normal()));
    const logit =
      resourceEffect[resource]! +
      roleEffect[role]! +
      regionEffect[region]! +
      teamEffect[team]! +
      (0.5 * (tenure - 4)) / 3 -
      (1.5 * (risk - 0.5)) / 0.25;
    const approved = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    const regionText = rng.next() < 0.1 ? '' : REGIONS[region]!;
    const tenureText = rng.next() < 0.05 ? '' : tenure.toFixed(1);
    const riskText = rng.next() < 0.01 ? 'n/a' : risk.toFixed(3);
    if (i < skip) continue;
    lines.push(
      [
        `r${String(i + 1).padStart(6, '0')}`,
        `team-${String(team).padStart(3, '0')}`,
        regionText,
        ROLES[role]!,
        `res-${String(resource).padStart(2, '0')}`,
        tenureText,
        riskText,
        approved,
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes `flatExampleCsv(options)` to `path` (folders created); returns the path. */
export async function writeFlatExample(path: string, options: FlatExampleOptions): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, flatExampleCsv(options));
  return path;
}
