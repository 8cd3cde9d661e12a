/**
 * A throwaway access-perm installation for the pipeline benches (bench:workers, bench:memory): a data directory and
 * keyring under bench/out/<name>/, its first ADMIN's token, an embedded Temporal dev server and a client, and
 * helpers to run CLI commands and `access-perm worker` processes against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { connectClient } from '../client/connection';
import { startDevServer, type DevServer } from '../client/devServer';
import { findServer } from '../client/server';
import { loadTemporalSettings } from '../client/settings';
import { PROJECT_ROOT } from '../lib/paths';

const CLI = join(PROJECT_ROOT, 'bin', 'access-perm.mjs');

export interface Installation {
  server: DevServer;
  client: Client;
  /** The ADMIN's token. */
  token: string;
  /** The installation's data directory (runs are under runs/<run id>). */
  dataDir: string;
  /** `config` copied into the installation with an absolute data folder and, optionally, another tree count. */
  copyConfig(config: string, iterations?: number): Promise<string>;
  /** Runs one CLI command to its end against the server, as the ADMIN; its stdout, or an error with its stderr. */
  cli(argv: string[]): Promise<string>;
  /** An `access-perm worker` process (`taskset -c core` when a core is given); resolves once it polls. */
  startWorker(core?: number): Promise<ChildProcess>;
  stopWorker(worker: ChildProcess): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fresh installation under bench/out/<name>/ (an earlier one of that name is removed first), or, with `reopen`,
 * the one left there by an earlier bench process: its data, keyring, ADMIN token and Temporal history, so that
 * workflows it started carry on once a worker polls again.
 */
export async function createInstallation(name: string, { reopen = false } = {}): Promise<Installation> {
  const home = join(PROJECT_ROOT, 'bench', 'out', name);
  const dataDir = join(home, 'data');
  const tokenFile = join(home, 'admin.token');
  if (!reopen) {
    await rm(home, { recursive: true, force: true });
    await rm(`${dataDir}.keyring`, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true });
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ACCESS_PERM_DATA_DIR: dataDir };

  const run = (argv: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [CLI, ...argv], { env: { ...env, ...extra } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.on('close', (code) =>
        code === 0 ? done(out) : fail(new Error(`access-perm ${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`)),
      );
    });

  let token: string;
  if (reopen) {
    token = await readFile(tokenFile, 'utf8').catch(() => {
      throw new Error(
        `no bench installation to reopen under ${relative(PROJECT_ROOT, home)} (${tokenFile} is missing)`,
      );
    });
  } else {
    await run(['keys', 'init']);
    // A reopened installation may outlive the default 8 h token by days.
    token = (await run(['users', 'bootstrap-admin', '--user', 'bench', '--ttl', '30d'])).trim();
    await writeFile(tokenFile, token, { mode: 0o600 });
  }
  const server = await startDevServer({ dbFile: join(home, 'temporal.db') });
  const client = await connectClient(
    await findServer({ settings: loadTemporalSettings({ env: { TEMPORAL_ADDRESS: server.address } }) }),
  );
  const serverEnv = { TEMPORAL_ADDRESS: server.address, ACCESS_PERM_TOKEN: token };
  const workers = new Set<ChildProcess>();
  async function stopWorker(worker: ChildProcess): Promise<void> {
    const exited = new Promise((done) => worker.once('exit', done));
    worker.kill('SIGINT');
    await exited;
  }

  return {
    server,
    client,
    token,
    dataDir,
    async copyConfig(config, iterations) {
      const path = resolve(PROJECT_ROOT, config);
      const doc = parseYaml(await readFile(path, 'utf8'));
      doc.data.dir = resolve(path, '..', doc.data.dir);
      if (iterations) doc.model.catboost.iterations = iterations;
      const copy = join(dataDir, 'config.yaml');
      await writeFile(copy, stringifyYaml(doc));
      // A generated set outside the project (e.g. bench/out/scale) is readable only once the installation's ADMIN
      // (the bench) adds its folder to read_roots, as an operator would.
      if (relative(join(PROJECT_ROOT, 'data'), doc.data.dir).startsWith('..')) {
        await run(
          ['system', 'config', 'set', 'read_roots', JSON.stringify([doc.data.dir]), '--reason', 'bench data set'],
          serverEnv,
        );
      }
      return copy;
    },
    cli: (argv) => run(argv, serverEnv),
    startWorker(core) {
      const node = [process.execPath, CLI, 'worker'];
      const [command, ...argv] = core === undefined ? node : ['taskset', '-c', String(core), ...node];
      const child = spawn(command!, argv, { env: { ...env, TEMPORAL_ADDRESS: server.address } });
      workers.add(child);
      child.once('exit', () => workers.delete(child));
      return new Promise((done, fail) => {
        let log = '';
        const onData = (d: Buffer) => {
          log += d;
          if (log.includes("state: 'RUNNING'")) done(child);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.on('exit', (code) => fail(new Error(`worker exited ${code}: ${log.slice(-2000)}`)));
      });
    },
    stopWorker,
    async close() {
      // A bench that failed midway must not leave its workers polling a server that is going away.
      await Promise.all([...workers].map(stopWorker));
      await client.connection.close();
      await server.stop();
    },
  };
}

/** A process's resident memory now (VmRSS) and its peak so far (VmHWM), MB. */
export async function residentMb(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Writes bench/out/<name>.json: the date, the command line, the machine, and the bench's own numbers. */
export async function writeBenchReport(name: string, numbers: Record<string, unknown>): Promise<void> {
  const report = {
    date: new Date().toISOString(),
    command: `npm run bench:${name} -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGb: totalmem() / 2 ** 30, loadavg: loadavg() },
    ...numbers,
  };
  await writeFile(join(PROJECT_ROOT, 'bench', 'out', `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
}
