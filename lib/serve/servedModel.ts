import { unwatchFile, watchFile } from 'node:fs';
import { deploymentPath, readDeployment, readLock, resolveRunDir, resolveVersion } from '../run';
import { openRunModel, type RunModel } from '../scoring';
import type { Deployment } from '../../schemas/deployment';

/** Thrown when a scoring call arrives and no model is loaded (nothing deployed yet, or the deployed run failed to load). */
export class NoModelError extends Error {
  override name = 'NoModelError';
}

interface Loaded {
  model: RunModel;
  loadedAt: string;
  deployment: Deployment | null;
  inFlight: number;
  retired: boolean;
}

export interface ServedModelStatus {
  loaded: boolean;
  source: 'explicit' | 'deployment';
  runId: string | null;
  /** The run's model version served (the locked one for a deployed run; see openRunModel). */
  version: number | null;
  modelSha256: string | null;
  threshold: number | null;
  loadedAt: string | null;
  lock: RunModel['lock'];
  metadata: RunModel['metadata'] | null;
  deployment: Deployment | null;
  /** Why the last (re)load failed; the previous model, if any, keeps serving. */
  lastError: string | null;
}

/**
 * The model the service scores with: an explicit run (`--run`), reloaded when the version it means changes (a newer
 * approved version, the lock) unless a version was given; or the deployed run, reloaded when `deployment.json`
 * changes. A reload opens and verifies the new model before swapping it in; calls in flight
 * finish on the model they started with, which is closed afterwards. A failed reload keeps the old model.
 */
export interface ServedModelOptions {
  /** With an explicit run only: the model version to serve instead of openRunModel's default (locked, approved, 1). */
  version?: number;
  /** A locked run: join the live metadata tables instead of those frozen with its lock. */
  liveMetadata?: boolean;
  /** Called after a deployment (re)load swapped a new model in, or failed (the previous model keeps serving). */
  onReload?: (status: ServedModelStatus) => void;
}

export class ServedModel {
  private current: Loaded | null = null;
  private reloading: Promise<void> = Promise.resolve();
  private lastError: string | null = null;
  private readonly onDeploymentChange = (): void => void this.reload();
  private watching = false;
  private runTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly explicitRunId: string | undefined,
    private readonly pollMs = 1000,
    private readonly options: ServedModelOptions = {},
  ) {
    if (options.version !== undefined && !explicitRunId) {
      throw new Error(
        `a model version (${options.version}) can only be chosen with an explicit run: the deployed run serves its locked version`,
      );
    }
  }

  /**
   * Loads the model; for the deployed run, starts watching the deployment record; for an explicit run without a
   * version, checks every poll interval which version its records mean now.
   */
  async start(): Promise<void> {
    if (this.explicitRunId) {
      const version = this.options.version;
      this.swap({
        model: await openRunModel(this.explicitRunId, {
          scoringThreads: 1,
          liveMetadata: this.options.liveMetadata === true,
          ...(version === undefined ? {} : { version }),
        }),
        deployment: null,
      });
      if (version === undefined) {
        this.runTimer = setInterval(() => void this.reloadRun(this.explicitRunId!), this.pollMs);
        this.runTimer.unref();
      }
      return;
    }
    await this.reload();
    watchFile(deploymentPath(), { interval: this.pollMs, persistent: false }, this.onDeploymentChange);
    this.watching = true;
  }

  /** Re-reads the deployment record and loads its run when it differs from the served one. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const deployment = await readDeployment();
        const served = this.current;
        if (!deployment) return;
        if (served?.deployment?.run_id === deployment.run_id && served.model.modelSha256 === deployment.model_sha256) {
          return;
        }
        const model = await openRunModel(deployment.run_id, {
          expectedModelSha256: deployment.model_sha256,
          scoringThreads: 1,
          liveMetadata: this.options.liveMetadata === true,
        });
        this.swap({ model, deployment });
        this.lastError = null;
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
      }
      this.options.onReload?.(this.status());
    });
    return this.reloading;
  }

  /**
   * Reloads an explicit run when the version its records mean (the locked one, else the newest approved, else 1)
   * or its lock differs from the served model: an approval or a lock reaches `serve --run` without a restart.
   */
  private reloadRun(runId: string): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const dir = await resolveRunDir(runId);
        const [{ version }, lock] = await Promise.all([resolveVersion(runId, dir), readLock(dir)]);
        const served = this.current?.model;
        if (served && served.version === version && (served.lock !== null) === (lock !== null)) return;
        const model = await openRunModel(runId, {
          scoringThreads: 1,
          liveMetadata: this.options.liveMetadata === true,
        });
        this.swap({ model, deployment: null });
        this.lastError = null;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        // Said once: the check repeats every interval while the problem lasts.
        if (message === this.lastError) return;
        this.lastError = message;
      }
      this.options.onReload?.(this.status());
    });
    return this.reloading;
  }

  private swap(next: { model: RunModel; deployment: Deployment | null }): void {
    const old = this.current;
    this.current = { ...next, loadedAt: new Date().toISOString(), inFlight: 0, retired: false };
    if (old) {
      old.retired = true;
      if (old.inFlight === 0) void old.model.close();
    }
  }

  /** Runs `fn` with the current model, which stays open until `fn` settles even if a reload swaps it out. */
  async use<T>(fn: (model: RunModel) => Promise<T>): Promise<T> {
    const entry = this.current;
    if (!entry) {
      throw new NoModelError(
        this.lastError
          ? `no model loaded: ${this.lastError}`
          : 'no model loaded: no run is deployed yet (start with --run <id> to serve a run explicitly)',
      );
    }
    entry.inFlight++;
    try {
      return await fn(entry.model);
    } finally {
      entry.inFlight--;
      if (entry.retired && entry.inFlight === 0) void entry.model.close();
    }
  }

  status(): ServedModelStatus {
    const c = this.current;
    return {
      loaded: c !== null,
      source: this.explicitRunId ? 'explicit' : 'deployment',
      runId: c?.model.runId ?? null,
      version: c?.model.version ?? null,
      modelSha256: c?.model.modelSha256 ?? null,
      threshold: c?.model.threshold ?? null,
      loadedAt: c?.loadedAt ?? null,
      lock: c?.model.lock ?? null,
      metadata: c?.model.metadata ?? null,
      deployment: c?.deployment ?? null,
      lastError: this.lastError,
    };
  }

  /** Stops watching, waits for a reload in progress, closes the model. */
  async close(): Promise<void> {
    if (this.watching) unwatchFile(deploymentPath(), this.onDeploymentChange);
    this.watching = false;
    clearInterval(this.runTimer);
    await this.reloading;
    const c = this.current;
    this.current = null;
    if (c) {
      c.retired = true;
      if (c.inFlight === 0) await c.model.close();
    }
  }
}
