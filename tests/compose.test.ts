import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// Structure checks for the production docker-compose.yml and Dockerfile. No Docker engine runs in
// CI, so these pin down what would otherwise only fail on a user's machine: start-up order,
// service wiring, pinned images and the shared data volume.

const ROOT = join(import.meta.dirname, '..');

type Dependency = { condition?: string };
type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  container_name?: string;
  profiles?: string[];
  healthcheck?: { test?: unknown };
  depends_on?: Record<string, Dependency>;
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

// `merge: true`: the file shares settings between services with YAML merge keys (`<<: *anchor`).
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** Names of the services running the given image repository, e.g. `temporalio/server`. */
function servicesWithImage(repository: string): string[] {
  return Object.entries(services)
    .filter(([, s]) => s.image?.split(':')[0] === repository)
    .map(([name]) => name);
}

function condition(of: string, on: string): string | undefined {
  return service(of).depends_on?.[on]?.condition;
}

describe('docker-compose.yml', () => {
  it('has the database, Temporal, its UI and our services', () => {
    for (const name of [
      'postgres',
      'temporal-schema',
      'temporal',
      'temporal-init',
      'temporal-ui',
      'worker',
      'scoring',
    ]) {
      expect(services, name).toHaveProperty(name);
    }
    expect(service('postgres').image).toMatch(/^postgres:16(\.|$)/);
    expect(service('temporal').image).toMatch(/^temporalio\/server:/);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:/);
  });

  it('pins every image to a version, and the schema tools to the server version', () => {
    for (const [name, s] of Object.entries(services)) {
      const tag = s.image?.split(':')[1];
      expect(tag, `${name} image tag`).toMatch(/^\d+(\.\d+)*(-[a-z0-9.-]+)?$/);
    }
    const serverTag = service('temporal').image?.split(':')[1];
    expect(serverTag).toMatch(/^\d+\.\d+\.\d+$/);
    for (const name of servicesWithImage('temporalio/admin-tools')) {
      expect(service(name).image, name).toBe(`temporalio/admin-tools:${serverTag}`);
    }
  });

  it('starts in order: postgres healthy, schema migrated, server healthy, namespace ready, then workers', () => {
    expect(service('postgres').healthcheck?.test).toBeDefined();
    expect(service('temporal').healthcheck?.test).toBeDefined();
    expect(condition('temporal-schema', 'postgres')).toBe('service_healthy');
    expect(condition('temporal', 'postgres')).toBe('service_healthy');
    expect(condition('temporal', 'temporal-schema')).toBe('service_completed_successfully');
    expect(condition('temporal-init', 'temporal')).toBe('service_healthy');
    expect(condition('temporal-ui', 'temporal')).toBe('service_healthy');
    for (const name of ['worker', 'scoring']) {
      expect(condition(name, 'temporal-init'), name).toBe('service_completed_successfully');
    }
  });

  it('configures the server for PostgreSQL', () => {
    const env = service('temporal').environment ?? {};
    expect(env.DB).toBe('postgres12');
    expect(servicesWithImage('postgres')).toContain(env.POSTGRES_SEEDS);
    expect(env.DB_PORT).toBe('5432');
  });

  it('points the worker, the scoring service and the UI at the Temporal frontend', () => {
    const [server] = servicesWithImage('temporalio/server');
    const frontend = `${server}:7233`;
    for (const name of ['worker', 'scoring', 'temporal-ui', 'temporal-init']) {
      expect(service(name).environment?.TEMPORAL_ADDRESS, name).toBe(frontend);
    }
  });

  it('runs our image as worker by default and scoring only under its profile', () => {
    const worker = service('worker');
    const scoring = service('scoring');
    expect(worker.build).toBeDefined();
    expect(worker.command).toEqual(['worker']);
    expect(worker.profiles).toBeUndefined();
    // `docker compose up --scale worker=N` needs a worker with no fixed name and no published port.
    expect(worker.ports).toBeUndefined();
    expect(worker.container_name).toBeUndefined();
    expect(scoring.image).toBe(worker.image);
    expect(scoring.command).toEqual(['serve', '--host', '0.0.0.0', '--port', '8000']);
    expect(scoring.profiles).toEqual(['scoring']);
    expect(scoring.ports?.some((p) => p.endsWith('8000:8000'))).toBe(true);
    // Nothing started by a plain `docker compose up` may depend on a profiled service.
    for (const [name, s] of Object.entries(services)) {
      if (!s.profiles) expect(Object.keys(s.depends_on ?? {}), name).not.toContain('scoring');
    }
  });

  it('declares its volumes and shares /data between the worker and the scoring service', () => {
    const declared = Object.keys(compose.volumes ?? {});
    const dataVolume = (name: string) => {
      const mount = service(name).volumes?.find((v) => v.split(':')[1] === '/data');
      return mount?.split(':')[0];
    };
    expect(service('worker').environment?.ACCESS_PERM_DATA_DIR).toBe('/data');
    expect(declared).toContain(dataVolume('worker'));
    expect(dataVolume('scoring')).toBe(dataVolume('worker'));
    const pgVolume = service('postgres').volumes?.find((v) => v.includes(':/var/lib/postgresql/data'));
    expect(declared).toContain(pgVolume?.split(':')[0]);
  });

  it('bind-mounts only files that exist in the repository', () => {
    const binds = Object.values(services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.startsWith('./'));
    expect(binds.length).toBeGreaterThan(0);
    for (const bind of binds) expect(existsSync(join(ROOT, bind.split(':')[0] ?? '')), bind).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').map((l) => l.trim());
  const index = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

  it('installs production dependencies with .npmrc in place and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/node:20[\w.-]*bookworm-slim/);
    expect(index(/^COPY .*\.npmrc/)).toBeGreaterThanOrEqual(0);
    expect(index(/^COPY .*\.npmrc/)).toBeLessThan(index(/npm install --omit=dev/));
    expect(lines.filter((l) => l.startsWith('USER ')).at(-1)).toMatch(/^USER (?!root\b|0\b)\S+/);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "bin/access-perm.mjs"]');
  });
});
