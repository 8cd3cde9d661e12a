/**
 * A governed run taken through its whole lifecycle on a real dev server, the way people drive it: trained, an
 * override filed and approved, reproduced, locked and deployed, one monitoring window, one elevation timer. The
 * security tests attack what it leaves; the replay fixtures are its histories (RECORD_HISTORIES=1).
 */
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import {
  lifecycleHandle,
  lifecycleSettled,
  startElevationExpiry,
  startMonitoring,
  startTrainingPipeline,
} from '../../client';
import { elevateUser, issueCapability } from '../../lib/governance';
import { registerSchedule } from '../../lib/monitor/store';
import type { CapabilityOperation } from '../../schemas/governance';
import type { LifecycleState, Verdict } from '../../schemas/lifecycle';
import { monitoringScheduleId } from '../../schemas/monitoring';
import { TASK_QUEUE } from '../../workflows/definitions';
import {
  approveDeploymentUpdate,
  fileOverrideUpdate,
  lockRunUpdate,
  reviewOverrideUpdate,
  runReproducibilityUpdate,
} from '../../workflows/lifecycleDefinitions';
import type { Team } from '../governance/fixtures';
import { pipelineInput, smallConfig, smallDataset, temporalCli, writeConfig } from '../helpers';

export const RUN = 'sec-a';

/** `body` with a capability issued to the holder of `token` for `op` on run `runId`: what our CLI sends. */
export async function signed<B extends Record<string, unknown>>(
  token: string,
  op: CapabilityOperation,
  body: B,
  runId = RUN,
): Promise<B & { capability: Awaited<ReturnType<typeof issueCapability>> }> {
  return { ...body, capability: await issueCapability({ token, source: 'cli' }, { op, runId, request: body }) };
}

export interface GovernedRun {
  lifecycle: WorkflowHandle;
  state: LifecycleState;
  /** The CSV the run's monitoring plan (its schedule) reads. */
  windowCsv: string;
  /** Ids of every workflow the scenario ran, by kind. */
  workflows: { pipeline: string; lifecycle: string; monitoring: string; elevation: string };
}

const expectOk = (v: Verdict): void => {
  if (!v.ok) throw new Error(`${v.operation} refused: ${v.message}`);
};

/** Trains run `sec-a` and takes it through override, review, reproducibility, lock, deployment and monitoring. */
export async function governedRun(client: Client, root: string, team: Team): Promise<GovernedRun> {
  const data = await smallDataset(join(root, 'data'), 800);
  const config = await writeConfig(
    root,
    'sec.yaml',
    smallConfig(data, (c) => {
      c.model.catboost = { iterations: 8, depth: 3, learning_rate: 0.3, random_seed: 5 };
      c.validation.n_splits = 2;
    }),
  );
  await (
    await startTrainingPipeline(client, { runId: RUN, input: await pipelineInput(RUN, config, team.admin) })
  ).result();
  const lifecycle = lifecycleHandle(client, RUN);
  await lifecycleSettled(lifecycle);
  const update = async (def: typeof lockRunUpdate, token: string, body: Record<string, unknown>) =>
    expectOk(
      await lifecycle.executeUpdate(def, {
        args: [(await signed(token, def.name as CapabilityOperation, body)) as never],
      }),
    );
  await update(fileOverrideUpdate as never, team.tokens.MODELER, {
    reason: 'fewer false approvals',
    change: { kind: 'threshold', threshold: 0.55 },
  });
  await lifecycleSettled(lifecycle);
  await update(reviewOverrideUpdate as never, team.tokens.VALIDATOR, {
    overrideId: 'ov-1',
    decision: 'approve',
    reason: 'cut justified by costs',
  });
  await update(runReproducibilityUpdate as never, team.tokens.VALIDATOR, {});
  await lifecycleSettled(lifecycle);
  const windowCsv = join(data, 'interactions.csv');
  // What `access-perm monitor schedule` stores: the plan each scheduled window reads.
  await registerSchedule({
    runId: RUN,
    scheduleId: monitoringScheduleId(RUN),
    cron: '0 2 * * *',
    current: windowCsv,
    configuredBy: 'root',
    configuredAt: new Date().toISOString(),
  });
  // …and the Temporal Schedule that runs it (paused here: the scenario monitors by hand).
  await client.schedule.create({
    scheduleId: monitoringScheduleId(RUN),
    spec: { cronExpressions: ['0 2 * * *'] },
    action: {
      type: 'startWorkflow',
      workflowType: 'monitoringWorkflow',
      taskQueue: TASK_QUEUE,
      args: [{ runId: RUN }],
    },
    state: { paused: true },
  });
  await update(lockRunUpdate, team.tokens.VALIDATOR, { reason: 'validated for release' });
  await update(approveDeploymentUpdate as never, team.tokens.VALIDATOR, { reason: 'go live' });

  const monitoring = `${monitoringScheduleId(RUN)}-manual-sec`;
  const window = { current: windowCsv, label: 'security scenario' };
  const request = { runId: RUN, window };
  await (
    await startMonitoring(client, {
      workflowId: monitoring,
      input: {
        ...request,
        capability: await issueCapability({ token: team.tokens.MODELER }, { op: 'monitorWindow', runId: RUN, request }),
      },
    })
  ).result();

  const grant = await elevateUser(
    { token: team.admin },
    { userId: 'viewer', role: 'ANALYST', hours: 0.0005, reason: 'short cover' },
  );
  const elevation = await startElevationExpiry(client, grant.timer);
  await elevation.result();

  return {
    lifecycle,
    state: await lifecycleSettled(lifecycle),
    windowCsv,
    workflows: { pipeline: RUN, lifecycle: lifecycle.workflowId, monitoring, elevation: elevation.workflowId },
  };
}

/**
 * Writes the scenario's histories as replay fixtures (`<dir>/<workflow id>.json`, replacing the old ones), as
 * `temporal workflow show --output json`
 * prints them (the format the replayer reads, and the one people export from the CLI or the Web UI).
 */
export async function recordHistories(address: string, run: GovernedRun, dir: string): Promise<void> {
  for (const old of await readdir(dir)) if (old.endsWith('.json')) await rm(join(dir, old));
  for (const workflowId of Object.values(run.workflows)) {
    const history = await temporalCli(address, 'workflow', 'show', '--workflow-id', workflowId, '--output', 'json');
    await writeFile(join(dir, `${workflowId}.json`), history);
  }
}
