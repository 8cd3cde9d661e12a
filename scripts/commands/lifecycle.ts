import { InvalidArgumentError, Option, type Command } from 'commander';
import { exportBundleAs } from '../../lib/lifecycle/exports';
import { binningTablesAs } from '../../lib/lifecycle/versions';
import { assertRunId, versionDirName } from '../../lib/run';
import { basename, join, resolve } from 'node:path';
import {
  lifecycleSettled,
  sendLifecycleUpdate,
  untilSettled,
  verdictError,
  withLifecycle,
  withRecords,
  type LifecycleUpdate,
} from '../../client';
import { prepareFile } from '../../lib/artifacts';
import { sha256Hex } from '../../lib/hash';
import { authorize, delegateApproval, type Credential } from '../../lib/governance';
import type { CapabilityOperation, Delegation } from '../../schemas/governance';
import { overrideChangeSchema, type LifecycleState, type OverrideChange, type Verdict } from '../../schemas/lifecycle';
import { stateQuery } from '../../workflows/lifecycleDefinitions';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { positiveInt, printJson, reasonOption } from './output';
import { callApi, remoteApi, runPath, viaApi, type ApiCall } from './remote';

/**
 * The run lifecycle from the terminal: state, binning tables, overrides, reviews, reproducibility, lock,
 * deployment approval, export. Changes go to the run's `runLifecycle` workflow as updates carrying a capability for
 * exactly that request (the caller's token is proven here and never sent); the workflow authorizes it by the role
 * in force then. Reads of locked runs verify every frozen artifact.
 */

/** Prints an update's verdict; a refusal becomes the command's error (a denial exits 3, like every command). */
function report(verdict: Verdict, json?: boolean): void {
  if (json) printJson(verdict);
  if (!verdict.ok) throw verdictError(verdict);
  if (!json) console.log(`${verdict.message}; status ${verdict.status}`);
}

function printState(s: LifecycleState): void {
  console.log(`run        ${s.runId} — ${s.status}${s.job ? ` (${s.job.detail})` : ''}`);
  for (const v of s.versions)
    console.log(
      `version    ${v.version}${v.version === s.currentVersion ? '*' : ' '} ${versionDirName(v.version).padEnd(12)} ROC-AUC ${v.rocAuc?.toFixed(4) ?? '-'}  threshold ${v.threshold?.toFixed(4) ?? '-'}${v.overrideId ? `  (${v.overrideId})` : ''}`,
    );
  for (const o of s.overrides) {
    const outcome = o.review
      ? `${o.status} by ${o.review.by.userId}${o.review.delegatedBy ? ` (delegated by ${o.review.delegatedBy})` : ''}: ${o.review.reason}`
      : `${o.status}${o.error ? `: ${o.error}` : ''}`;
    console.log(
      `override   ${o.id} ${o.change.kind} by ${o.requestedBy.userId} (version ${o.version}): ${o.reason} — ${outcome}`,
    );
  }
  if (s.reproducibility)
    console.log(
      `reproduced version ${s.reproducibility.version}: ${s.reproducibility.passed ? 'passed' : 'FAILED'} (${s.reproducibility.by.userId}, ${s.reproducibility.at})`,
    );
  if (s.lock) console.log(`locked     by ${s.lock.locked_by} at ${s.lock.locked_at}: ${s.lock.reason}`);
  if (s.deployment) console.log(`deployment approved by ${s.deployment.approvedBy} at ${s.deployment.at}`);
  for (const d of s.denials.slice(-5)) console.log(`denied     ${d.at} ${d.operation}: ${d.message}`);
}

/** A run's lifecycle state, from the remote API or the run's workflow. */
const lifecycleState = (credential: Credential, runId: string): Promise<LifecycleState> =>
  viaApi(credential, { method: 'GET', path: runPath(runId, '/lifecycle') }, async () => {
    await authorize(credential, 'view_runs', { type: 'run', id: assertRunId(runId) });
    return withRecords(runId, await withLifecycle(runId, (handle) => handle.query(stateQuery)));
  });

/** The state once the run's background job (a version build, a reproduction) is done. */
const settledState = async (credential: Credential, runId: string): Promise<LifecycleState> =>
  remoteApi()
    ? untilSettled(() => lifecycleState(credential, runId))
    : withRecords(runId, await withLifecycle(runId, lifecycleSettled));

/** The API route of each lifecycle update. */
const UPDATE_ROUTES: Record<LifecycleUpdate, (request: Record<string, unknown>) => ApiCall> = {
  fileOverride: ({ reason, change }) => {
    const { kind, ...rest } = change as OverrideChange;
    return { method: 'POST', path: `/overrides/${kind}`, body: { ...rest, reason } };
  },
  reviewOverride: ({ overrideId, ...body }) => ({
    method: 'POST',
    path: `/overrides/${encodeURIComponent(String(overrideId))}/review`,
    body,
  }),
  runReproducibility: () => ({ method: 'POST', path: '/reproducibility' }),
  lockRun: (body) => ({ method: 'POST', path: '/lock', body }),
  approveDeployment: (body) => ({ method: 'POST', path: '/deployment', body }),
};

/** Sends one lifecycle update to the remote API or the run's workflow; the verdict. */
async function lifecycleUpdate(
  opts: TokenOpts,
  runId: string,
  op: LifecycleUpdate & CapabilityOperation,
  request: Record<string, unknown>,
): Promise<Verdict> {
  const credential = await callerCredential(opts);
  const call = UPDATE_ROUTES[op](request);
  return viaApi(credential, { ...call, path: runPath(runId, call.path) }, () =>
    withLifecycle(runId, (handle) => sendLifecycleUpdate(handle, runId, credential, op, request)),
  );
}

/** `feature:rest` → [feature, rest]. */
function splitFeature(flag: string, value: string): [string, string] {
  const i = value.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError(`${flag} takes FEATURE:VALUES, got ${value}`);
  return [value.slice(0, i), value.slice(i + 1)];
}

/** `feature:a,b` → [feature, ['a','b']]. */
function featureList(flag: string, value: string): [string, string[]] {
  const [feature, rest] = splitFeature(flag, value);
  return [feature, rest.split(',').filter(Boolean)];
}

const number = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: ${v} is not a number`);
  return n;
};

interface OverrideOpts {
  borders?: string;
  groups?: string;
  autoBins?: string;
  maxBins?: string;
  minShare?: string;
  merge?: string;
  monotone?: string;
  ignore?: string;
  params?: string[];
  threshold?: string;
}

/** The one change the options describe (exactly one kind per override, so each has its own review). */
function changeFrom(opts: OverrideOpts): OverrideChange {
  const given = Object.entries(opts).filter(
    ([k, v]) =>
      v !== undefined &&
      ['borders', 'groups', 'autoBins', 'merge', 'monotone', 'ignore', 'params', 'threshold'].includes(k),
  );
  if ((opts.maxBins !== undefined || opts.minShare !== undefined) && opts.autoBins === undefined)
    throw new Error('--max-bins and --min-share go with --auto-bins');
  if (given.length !== 1)
    throw new Error(
      'give exactly one of --borders, --groups, --auto-bins, --merge, --monotone, --ignore, --params, --threshold',
    );
  let change: unknown;
  if (opts.autoBins) {
    change = {
      kind: 'auto_bins',
      feature: opts.autoBins,
      ...(opts.maxBins === undefined ? {} : { max_bins: number('--max-bins', opts.maxBins) }),
      ...(opts.minShare === undefined ? {} : { min_share: number('--min-share', opts.minShare) }),
    };
  } else if (opts.borders) {
    const [feature, values] = featureList('--borders', opts.borders);
    change = {
      kind: 'bin_override',
      feature,
      binning: { kind: 'numeric', borders: values.map((v) => number('--borders', v)) },
    };
  } else if (opts.groups) {
    const [feature, rest] = splitFeature('--groups', opts.groups);
    const groups = rest.split(';').map((g) => g.split(',').filter(Boolean));
    change = { kind: 'bin_override', feature, binning: { kind: 'categorical', groups } };
  } else if (opts.merge) {
    const [feature, ids] = featureList('--merge', opts.merge);
    change = { kind: 'merge_bins', feature, bins: ids.map((v) => number('--merge', v)) };
  } else if (opts.monotone) {
    const [feature, [dir]] = featureList('--monotone', opts.monotone);
    const direction = ({ '1': 1, '+1': 1, increasing: 1, '-1': -1, decreasing: -1 } as Record<string, number>)[
      dir ?? ''
    ];
    if (direction === undefined)
      throw new InvalidArgumentError(`--monotone takes FEATURE:1 or FEATURE:-1, got ${opts.monotone}`);
    change = { kind: 'enforce_monotonicity', feature, direction };
  } else if (opts.ignore) {
    change = { kind: 'feature_selection', ignored: opts.ignore.split(',').filter(Boolean) };
  } else if (opts.params) {
    const params = Object.fromEntries(
      opts.params.map((p) => {
        const [k, v] = p.split('=');
        return [k, number('--params', v ?? '')];
      }),
    );
    change = { kind: 'regularization', params };
  } else {
    change = { kind: 'threshold', threshold: number('--threshold', opts.threshold!) };
  }
  const parsed = overrideChangeSchema.safeParse(change);
  if (!parsed.success)
    throw new Error(`invalid override: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

interface BundleFile {
  name: string;
  sha256: string;
  content_base64: string;
}

/** Writes a deployment bundle the API sent, each file checked against its sha256 first (all or nothing). */
async function writeBundle(bundle: { files: BundleFile[] }, out: string): Promise<string[]> {
  const files = bundle.files.map((f) => {
    const content = Buffer.from(f.content_base64, 'base64');
    if (sha256Hex(content) !== f.sha256 || basename(f.name) !== f.name)
      throw new Error(`the deployment bundle's ${f.name} does not match the sha256 the API sent`);
    return { path: join(resolve(out), f.name), content };
  });
  const prepared = await Promise.all(files.map((f) => prepareFile(f.path, f.content)));
  for (const p of prepared) await p.commit();
  return files.map((f) => f.path);
}

export function registerLifecycleCommands(program: Command): void {
  program
    .command('lifecycle <runId>')
    .description("a run's lifecycle state: status, versions, overrides with reviews, reproducibility, lock, denials")
    .option('--json', 'print the state as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { json?: boolean } & TokenOpts) => {
        const state = await lifecycleState(await callerCredential(opts), runId);
        if (opts.json) return printJson(state);
        printState(state);
      }),
    );

  program
    .command('bins <runId>')
    .description("a run's binning tables: bins with count, approval rate, WoE and IV (every role)")
    .option('--feature <name>', 'only this feature')
    .option('--version <n>', 'model version (default: the newest)', positiveInt('--version'))
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { feature?: string; version?: number; json?: boolean } & TokenOpts) => {
        const credential = await callerCredential(opts);
        const { version, tables } = await viaApi<Awaited<ReturnType<typeof binningTablesAs>>>(
          credential,
          { method: 'GET', path: runPath(runId, '/bins'), query: { feature: opts.feature, version: opts.version } },
          () =>
            binningTablesAs(credential, runId, {
              ...(opts.feature === undefined ? {} : { feature: opts.feature }),
              ...(opts.version === undefined ? {} : { version: opts.version }),
            }),
        );
        if (opts.json) return printJson({ runId, version, tables });
        for (const t of tables) {
          console.log(`${t.feature} (${t.kind}, ${t.source}) IV ${t.iv.toFixed(4)}`);
          for (const b of t.bins)
            console.log(
              `  ${String(b.id).padStart(3)} ${b.label.slice(0, 40).padEnd(40)} n ${String(b.count).padStart(7)}  approved ${(100 * b.approvalRate).toFixed(1).padStart(5)}%  WoE ${b.woe.toFixed(3).padStart(7)}  IV ${b.iv.toFixed(4)}`,
            );
        }
      }),
    );

  program
    .command('override <runId>')
    .description(
      'file an override (MODELER, ADMIN; an ANALYST only --auto-bins and --monotone): builds a new model version for validator review',
    )
    .addOption(reasonOption())
    .option('--borders <feature:b1,b2,...>', 'numeric bin borders, e.g. seniority:2,5,10')
    .option('--groups <feature:a,b;c;...>', "categorical groups (';' between groups), e.g. category:ops,it;hr")
    .option(
      '--auto-bins <feature>',
      "regenerate a feature's bins automatically (numeric quantiles; rare categories merged)",
    )
    .option('--max-bins <n>', 'with --auto-bins on a numeric feature: at most n bins (default 5)')
    .option(
      '--min-share <x>',
      'with --auto-bins on a categorical: categories under this share of rows merged (default 0.5%)',
    )
    .option('--merge <feature:i,j>', 'merge bins by id (numeric: adjacent), e.g. seniority:0,1')
    .option('--monotone <feature:1|-1>', 'monotone constraint on a numeric feature, e.g. seniority:1')
    .option('--ignore <f1,f2>', 'features no tree may split on')
    .option('--params <key=value...>', 'regularisation: l2_leaf_reg, depth, random_strength, model_size_reg')
    .option('--threshold <p>', 'decision threshold in (0, 1)')
    .option('--wait', 'wait until the new version is built and print it')
    .option('--json', 'print the verdict (with --wait the override and its version) as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(
        async (runId: string, opts: OverrideOpts & { reason: string; wait?: boolean; json?: boolean } & TokenOpts) => {
          const request = { reason: opts.reason, change: changeFrom(opts) };
          const verdict = await lifecycleUpdate(opts, runId, 'fileOverride', request);
          report(verdict, opts.json && !opts.wait);
          if (!opts.wait) return;
          const state = await settledState(await callerCredential(opts), runId);
          const override = state.overrides.find((o) => o.id === verdict.overrideId)!;
          const version = state.versions.find((v) => v.version === override.version);
          if (opts.json) printJson({ override, version: version ?? null });
          if (!version)
            throw new Error(`override ${override.id}: version ${override.version} failed: ${override.error}`);
          if (opts.json) return;
          const from = state.versions[state.versions.indexOf(version) - 1];
          const auc = (v: typeof version | undefined) => v?.rocAuc?.toFixed(4) ?? '-';
          console.log(
            `version ${version.version} ready: OOF ROC-AUC ${auc(version)} (version ${from?.version ?? '-'}: ${auc(from)}), threshold ${version.threshold?.toFixed(4) ?? '-'}; validators notified, ${override.id} waits for review`,
          );
        },
      ),
    );

  program
    .command('review <runId> <overrideId>')
    .description(
      'approve or reject an override (VALIDATOR, ADMIN, or the ANALYST it was delegated to); rejection is final',
    )
    .addOption(
      new Option('--decision <decision>', 'approve or reject').choices(['approve', 'reject']).makeOptionMandatory(),
    )
    .addOption(reasonOption())
    .option('--json', 'print the verdict as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(
        async (
          runId: string,
          overrideId: string,
          opts: { decision: 'approve' | 'reject'; reason: string; json?: boolean } & TokenOpts,
        ) => {
          const request = { overrideId, decision: opts.decision, reason: opts.reason };
          report(await lifecycleUpdate(opts, runId, 'reviewOverride', request), opts.json);
        },
      ),
    );

  program
    .command('delegate <runId> <overrideId>')
    .description(
      "delegate an override's approval to a named ANALYST (MODELER, ADMIN; seed-3 §6); you stay accountable for it",
    )
    .requiredOption('--to <user>', 'the ANALYST who may approve or reject it')
    .addOption(reasonOption())
    .option('--json', 'print the delegation as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(
        async (runId: string, overrideId: string, opts: { to: string; reason: string; json?: boolean } & TokenOpts) => {
          const credential = await callerCredential(opts);
          const delegation = await viaApi<Delegation>(
            credential,
            {
              method: 'POST',
              path: runPath(runId, `/overrides/${encodeURIComponent(overrideId)}/delegation`),
              body: { delegate_to: opts.to, reason: opts.reason },
            },
            () =>
              delegateApproval(credential, {
                runId: assertRunId(runId),
                overrideId,
                delegateTo: opts.to,
                reason: opts.reason,
              }),
          );
          if (opts.json) return printJson(delegation);
          console.log(
            `${delegation.id}: ${delegation.delegatedTo} may now review ${overrideId} of ${runId} (delegated by ${delegation.delegatedBy})`,
          );
        },
      ),
    );

  program
    .command('repro <runId>')
    .description('run the reproducibility test of the current version (MODELER, VALIDATOR, ADMIN)')
    .option('--wait', 'wait for the result and print it')
    .option('--json', 'print the verdict (and with --wait the result) as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { wait?: boolean; json?: boolean } & TokenOpts) => {
        const verdict = await lifecycleUpdate(opts, runId, 'runReproducibility', {});
        report(verdict, opts.json && !opts.wait);
        if (!opts.wait) return;
        const state = await settledState(await callerCredential(opts), runId);
        // The outcome of this test (a test that failed to run leaves an earlier result in the state).
        const outcome = state.events
          .filter((e) => e.operation === 'runReproducibility' && ['completed', 'failed'].includes(e.outcome))
          .at(-1);
        if (outcome?.outcome !== 'completed') throw new Error(`run ${runId}: ${outcome?.message ?? 'no result'}`);
        const result = state.reproducibility!;
        if (opts.json) printJson(result);
        else for (const c of result.checks) console.log(`${c.passed ? 'ok  ' : 'FAIL'} ${c.name}`);
        if (!result.passed) throw new Error(`run ${runId}: ${outcome.message}`);
        if (!opts.json) console.log(outcome.message);
      }),
    );

  program
    .command('lock <runId>')
    .description(
      'lock the run (VALIDATOR, ADMIN): needs a passed reproducibility test, model card, scoring spec, monitoring schedule',
    )
    .addOption(reasonOption())
    .option('--json', 'print the verdict as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { reason: string; json?: boolean } & TokenOpts) => {
        report(await lifecycleUpdate(opts, runId, 'lockRun', { reason: opts.reason }), opts.json);
      }),
    );

  program
    .command('deploy <runId>')
    .description('approve a locked run for deployment (VALIDATOR, ADMIN): points deployment.json at it')
    .addOption(reasonOption())
    .option('--json', 'print the verdict as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { reason: string; json?: boolean } & TokenOpts) => {
        report(await lifecycleUpdate(opts, runId, 'approveDeployment', { reason: opts.reason }), opts.json);
      }),
    );

  program
    .command('export <runId>')
    .description(
      'export a locked run approved for deployment (MODELER, VALIDATOR, ADMIN): model.onnx, model.json, model_card.md, threshold.json, manifest.json, lock.json, and overrides.json when the version has one',
    )
    .requiredOption('--out <dir>', 'output folder')
    .addOption(tokenFileOption())
    .action(
      governed(async (runId: string, opts: { out: string } & TokenOpts) => {
        const credential = await callerCredential(opts);
        const files = remoteApi()
          ? await writeBundle(
              await callApi<{ files: BundleFile[] }>(credential, 'GET', runPath(runId, '/deployment-bundle')),
              opts.out,
            )
          : await exportBundleAs(credential, runId, opts.out);
        for (const file of files) console.log(file);
      }),
    );
}
