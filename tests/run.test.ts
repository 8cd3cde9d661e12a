import { lstat, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PathOutsideError, UnknownRunError } from '../lib/errors';
import { appendText, ensureDir, readVerified, writeArtifact, writeFileAtomic } from '../lib/artifacts';
import { sha256Hex } from '../lib/hash';
import { withFileLock } from '../lib/lock';
import { WINDOW_FILES, writeWindowFile } from '../lib/monitor/window';
import { notify } from '../lib/notify';
import { PROJECT_ROOT } from '../lib/paths';
import {
  allRunDirs,
  assertFolderWriter,
  BUILD_FAILED_FILE,
  createRunDir,
  finishedFile,
  readManifest,
  readMetrics,
  readRunText,
  resolveRunDir,
  resolveRunFolder,
  tableAt,
  tableForWriting,
  recordStep,
  registerFolderWriter,
  reportedArtifacts,
  startStepRecord,
  verifyFinishedFiles,
  verifyStepRecord,
  writeManifest,
  writeRunRecord,
} from '../lib/run';
import { runRefSchema } from '../schemas/run';
import { commitPinnedRecord, signRecord, verifyPinnedRecord } from '../lib/keys';
import { useTempDataDir } from './helpers';

let root: string;

beforeAll(async () => {
  root = await useTempDataDir('run-folder');
});

describe('the run folder: one rule from run id to folder', () => {
  it('creates a run below a non-default artifacts.dir and finds it again from the id alone', async () => {
    const dir = await createRunDir('rf-team', 'team-a/runs');
    expect(dir).toBe(join(root, 'team-a', 'runs', 'rf-team'));
    expect(await resolveRunDir('rf-team')).toBe(dir);
    const entry = JSON.parse(await readFile(join(root, 'run-index', 'rf-team.json'), 'utf8')) as { dir: string };
    expect(entry.dir).toBe(join('team-a', 'runs', 'rf-team'));
    // Preparing the same run again (a retried step) finds the same folder.
    expect(await createRunDir('rf-team', 'team-a/runs')).toBe(dir);
  });

  it('refuses the same run id below another artifacts.dir, naming where it lives', async () => {
    await expect(createRunDir('rf-team', 'runs')).rejects.toThrow(
      /run id rf-team is taken: it lives in team-a\/runs\/rf-team/,
    );
  });

  it('keeps every run inside the data directory: .., absolute paths outside it and symlinks out are refused', async () => {
    const outside = join(tmpdir(), `access-perm-outside-${process.pid}`);
    await mkdir(outside, { recursive: true });
    for (const dir of ['../elsewhere', '../../tmp', outside]) {
      await expect(createRunDir('rf-escape', dir)).rejects.toThrow(PathOutsideError);
      await expect(createRunDir('rf-escape', dir)).rejects.toThrow(/artifacts\.dir .* is outside the data directory/);
    }
    await symlink(outside, join(root, 'link-out'));
    await expect(createRunDir('rf-escape', 'link-out/runs')).rejects.toThrow(PathOutsideError);
    // An absolute path inside the data directory is fine.
    expect(await createRunDir('rf-abs', join(root, 'abs-runs'))).toBe(join(root, 'abs-runs', 'rf-abs'));
  });

  it('refuses an index entry edited to point outside the data directory', async () => {
    await writeFile(join(root, 'run-index', 'rf-moved.json'), JSON.stringify({ runId: 'rf-moved', dir: '../../etc' }));
    await expect(resolveRunDir('rf-moved')).rejects.toThrow(PathOutsideError);
    await writeFile(join(root, 'run-index', 'rf-other.json'), JSON.stringify({ runId: 'someone-else', dir: 'runs/x' }));
    await expect(resolveRunDir('rf-other')).rejects.toThrow(UnknownRunError);
  });

  it('finds runs prepared before the index in the default folder, and lists every run once', async () => {
    await mkdir(join(root, 'runs', 'rf-legacy'), { recursive: true });
    expect(await resolveRunDir('rf-legacy')).toBe(join(root, 'runs', 'rf-legacy'));
    const found = (await allRunDirs()).filter((r) => r.runId.startsWith('rf-'));
    expect(
      found
        .filter((r) => r.dir !== null)
        .map((r) => r.runId)
        .sort(),
    ).toEqual(['rf-abs', 'rf-legacy', 'rf-team']);
    // Bad index entries are listed with their problem, not dropped and not fatal to the listing.
    const problems = Object.fromEntries(found.flatMap((r) => (r.dir === null ? [[r.runId, r.problem]] : [])));
    expect(Object.keys(problems).sort()).toEqual(['rf-moved', 'rf-other']);
    expect(problems['rf-moved']).toMatch(/outside the data directory/);
  });

  it('rejects invalid run ids before touching the disk', async () => {
    for (const id of ['../etc', 'a/b', '', '.hidden', 'x'.repeat(200)])
      await expect(resolveRunDir(id)).rejects.toThrow(/invalid run id/);
  });

  it('resolves payload references (ids only) to the run, version and reproduction folders', async () => {
    const base = join(root, 'team-a', 'runs', 'rf-team');
    expect((await resolveRunFolder({ runId: 'rf-team' })).dir).toBe(base);
    expect((await resolveRunFolder({ runId: 'rf-team', version: 3 })).dir).toBe(join(base, 'versions', 'v3'));
    expect((await resolveRunFolder({ runId: 'rf-team', repro: 'v2-g0-h41' })).dir).toBe(
      join(base, 'repro', 'v2-g0-h41'),
    );
    // A payload naming a path is not a run reference.
    for (const bad of [
      { runId: 'rf-team', runDir: '/tmp' },
      { runId: '../x' },
      { runId: 'rf-team', repro: '../../etc' },
      { runId: 'rf-team', version: 1 },
    ])
      expect(runRefSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
  });
});

describe('who writes a folder', () => {
  it('refuses every step in a build or test its lifecycle recorded as failed, even from the owning workflow id', async () => {
    // A workflow started on the Temporal server under a child's id before the lifecycle starts the child: the
    // child's start fails, the lifecycle records the failure, and the impostor's steps must not complete the folder.
    const dir = join(root, 'writer-failed');
    await mkdir(dir, { recursive: true });
    await registerFolderWriter(dir, { workflowId: 'wf-run-v2', workflowRunId: null });
    const impostor = { workflowId: 'wf-run-v2', workflowRunId: 'impostor-execution' };
    await assertFolderWriter(dir, impostor);
    await assertFolderWriter(dir, impostor);
    await expect(assertFolderWriter(dir, { ...impostor, workflowRunId: 'another' })).rejects.toThrow(
      /belongs to workflow wf-run-v2 \(impostor-execution\)/,
    );
    await writeRunRecord(join(dir, BUILD_FAILED_FILE), { version: 2, error: 'already started', at: 'now' });
    await expect(assertFolderWriter(dir, impostor)).rejects.toThrow(
      /was recorded as failed \(build-failed\.json\): no step writes it again/,
    );
  });
});

describe('the files the steps of an unfinished folder wrote', () => {
  it('are checked before each step: one edited, removed or the record missing is refused, naming it', async () => {
    // Someone who writes the data directory edits a file between two steps (say the features, before the folds
    // train) and puts it back after: the next step refuses to build on it.
    const dir = join(root, 'steps-ledger');
    await mkdir(join(dir, 'features'), { recursive: true });
    await expect(verifyStepRecord(dir)).rejects.toThrow(/steps\.json is missing: the files of this unfinished folder/);
    const features = await writeArtifact(dir, 'features/features.parquet', 'rows', 'features');
    await startStepRecord(dir, [await writeArtifact(dir, 'config.json', '{}', 'config')]);
    await recordStep(dir, reportedArtifacts({ artifacts: [features], summary: { fold: 0 } }));
    const beforeModel = await readFile(join(dir, 'steps.json'), 'utf8');
    await recordStep(dir, reportedArtifacts(await writeArtifact(dir, 'model/model.json', '{"trees":[]}', 'model')));
    await verifyStepRecord(dir);
    await writeFile(join(dir, 'features', 'features.parquet'), 'poisoned rows');
    await expect(verifyStepRecord(dir)).rejects.toThrow(/artifact features\/features\.parquet was modified: sha256/);
    await writeFile(join(dir, 'features', 'features.parquet'), 'rows');
    await verifyStepRecord(dir);
    const ledger = await readFile(join(dir, 'steps.json'), 'utf8');
    await writeFile(join(dir, 'steps.json'), ledger.replace(/"sha256": "[0-9a-f]+"/, `"sha256": "${'0'.repeat(64)}"`));
    await expect(verifyStepRecord(dir)).rejects.toThrow(/steps\.json does not match its signature/);
    // An earlier signed record put back (fewer files to check, so a later file could be edited unseen) is refused.
    await writeFile(join(dir, 'steps.json'), beforeModel);
    await expect(verifyStepRecord(dir)).rejects.toThrow(/write 2 of 3: an older copy was put back/);
  });
});

describe('pinned records (the lock, the deployment)', () => {
  it('a record being put in place is accepted between its file and its pin; one never put in place is refused', async () => {
    const verify = (record: object) => verifyPinnedRecord(record, 'the record', 'test-pins', 'x');
    const first = await signRecord({ n: 1 });
    await commitPinnedRecord('test-pins', 'x', first.signature, async () => undefined);
    const second = await signRecord({ n: 2 });
    // A reader (the scoring service polling the deployment) that reads the new file before its pin is written.
    let seenBetween: unknown;
    await commitPinnedRecord('test-pins', 'x', second.signature, async () => void (seenBetween = await verify(second)));
    expect(seenBetween).toEqual({ n: 2 });
    await expect(verify(first)).rejects.toThrow(/an older copy was put back/);
    // A write whose put failed (its audit entry): a copy of its record is not accepted afterwards.
    const third = await signRecord({ n: 3 });
    const failed = commitPinnedRecord('test-pins', 'x', third.signature, () =>
      Promise.reject(new Error('audit failed')),
    );
    await expect(failed).rejects.toThrow('audit failed');
    await expect(verify(third)).rejects.toThrow(/an older copy was put back/);
    expect(await verify(second)).toEqual({ n: 2 });
  });
});

describe('file access of pipeline steps: one seam for another storage backend', () => {
  it('pipeline steps, training and activities import no file system module: run files go through lib/run', async () => {
    const dirs = ['lib/pipeline', 'lib/training', 'activities'];
    const offenders: string[] = [];
    for (const dir of dirs)
      for (const name of await readdir(join(PROJECT_ROOT, dir), { recursive: true })) {
        if (!name.endsWith('.ts')) continue;
        const source = await readFile(join(PROJECT_ROOT, dir, name), 'utf8');
        if (/from ['"](node:)?fs(\/promises)?['"]/.test(source)) offenders.push(`${dir}/${name}`);
      }
    expect(offenders).toEqual([]);
  });

  it('reads and writes inside the folder only, naming a path that leaves it', async () => {
    const dir = await createRunDir('rf-files', 'runs');
    const table = await tableForWriting(dir, 'predictions/oof.parquet');
    expect(table).toBe(join(dir, 'predictions', 'oof.parquet'));
    await writeFile(table, 'x');
    await expect(readRunText(dir, 'predictions/oof.parquet')).resolves.toBe('x');
    for (const rel of ['../rf-team/run.json', 'predictions/../../x', '.'])
      await expect(tableForWriting(dir, rel)).rejects.toThrow(/leaves its run folder/);
    expect(() => tableAt(dir, '../../keys.json')).toThrow(/leaves its run folder/);
  });
});

describe('no process follows a symbolic link inside the data directory', () => {
  const refusedLink = (path: string): RegExp =>
    new RegExp(`${path.replaceAll('/', '\\/')} is a symbolic link inside the data directory .*: refused`);

  it('refuses a run folder that is a link, or is reached through one, by the default path and by the index', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'access-perm-outside-'));
    // runs/<id> replaced by a link: to a folder outside, or to another run's folder.
    await symlink(outside, join(root, 'runs', 'rf-linked'));
    await expect(resolveRunDir('rf-linked')).rejects.toThrow(PathOutsideError);
    await expect(resolveRunDir('rf-linked')).rejects.toThrow(refusedLink('runs/rf-linked'));
    await symlink(join(root, 'runs', 'rf-legacy'), join(root, 'runs', 'rf-alias'));
    await expect(resolveRunFolder({ runId: 'rf-alias', version: 2 })).rejects.toThrow(refusedLink('runs/rf-alias'));
    // An index entry whose folder, or a folder on its way, is a link (inside the data directory, so not "outside").
    await mkdir(join(root, 'team-b'));
    await symlink(join(root, 'runs', 'rf-legacy'), join(root, 'team-b', 'rf-indexed'));
    await writeFile(
      join(root, 'run-index', 'rf-indexed.json'),
      JSON.stringify({ runId: 'rf-indexed', dir: 'team-b/rf-indexed' }),
    );
    await expect(resolveRunDir('rf-indexed')).rejects.toThrow(refusedLink('team-b/rf-indexed'));
    await symlink(join(root, 'team-a'), join(root, 'team-c'));
    await writeFile(
      join(root, 'run-index', 'rf-via.json'),
      JSON.stringify({ runId: 'rf-via', dir: 'team-c/runs/rf-team' }),
    );
    await expect(resolveRunDir('rf-via')).rejects.toThrow(refusedLink('team-c'));
    // A new run below a link is not created.
    await expect(createRunDir('rf-new', 'team-c/runs')).rejects.toThrow(refusedLink('team-c'));
    expect(await readdir(join(root, 'team-a', 'runs'))).toEqual(['rf-team']);
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses every write (and read) through a link below a run folder: nothing appears in the outside folder', async () => {
    const dir = await createRunDir('rf-links', 'runs');
    const outside = await mkdtemp(join(tmpdir(), 'access-perm-outside-'));
    await mkdir(join(dir, 'monitoring'));
    await symlink(outside, join(dir, 'monitoring', 'windows'));
    const windowDir = join(dir, 'monitoring', 'windows', 'w1');
    const refused = refusedLink('rf-links/monitoring/windows');
    await expect(ensureDir(windowDir)).rejects.toThrow(refused);
    await expect(
      writeWindowFile({ runId: 'rf-links', runDir: dir, windowId: 'w1', windowDir }, WINDOW_FILES.validation, '{}'),
    ).rejects.toThrow(refused);
    await expect(writeArtifact(dir, 'monitoring/windows/w1/figures/psi.svg', '<svg/>', 'figure')).rejects.toThrow(
      refused,
    );
    await expect(tableForWriting(dir, 'monitoring/windows/w1/scored.parquet')).rejects.toThrow(refused);
    await expect(appendText(join(windowDir, 'log.jsonl'), 'x\n')).rejects.toThrow(refused);
    await expect(withFileLock(windowDir, async () => undefined)).rejects.toThrow(refused);
    await writeFile(join(outside, 'window.json'), '{}');
    await expect(readRunText(dir, 'monitoring/windows/window.json')).rejects.toThrow(refused);
    expect(await readdir(outside)).toEqual(['window.json']);

    // A link in place of a file: an append or DuckDB (writing in place) refuses it; an atomic write replaces it.
    const history = join(dir, 'monitoring', 'history.jsonl');
    await symlink(join(outside, 'profile'), history);
    await expect(appendText(history, 'x\n')).rejects.toThrow(refusedLink('monitoring/history.jsonl'));
    await expect(tableForWriting(dir, 'monitoring/history.jsonl')).rejects.toThrow(refusedLink('history.jsonl'));
    await writeFileAtomic(history, 'y\n');
    expect((await lstat(history)).isSymbolicLink()).toBe(false);
    expect(await readdir(outside)).toEqual(['window.json']);

    // The notification outbox's folder.
    await symlink(outside, join(root, 'notifications'));
    await expect(
      notify({ kind: 'drift_alert', to: { roles: ['VALIDATOR'] }, subject: 'drift', run_id: 'rf-links' }),
    ).rejects.toThrow(refusedLink('notifications'));
    expect(await readdir(outside)).toEqual(['window.json']);
  });
});

describe('manifests: signed, and bound to their folder', () => {
  it('refuses a manifest edited, unsigned, or copied into another run or version, and a listed file changed', async () => {
    const dir = await createRunDir('rf-signed', 'runs');
    await writeFile(join(dir, 'config.json'), '{}\n');
    const manifest = {
      format: 'access-perm/manifest@1' as const,
      runId: 'rf-signed',
      configPath: '/c.yaml',
      configHash: 'c',
      dataHash: 'd',
      createdAt: '2026-12-07T00:00:00.000Z',
      artifacts: [{ path: 'config.json', role: 'config', sha256: sha256Hex('{}\n'), bytes: 3 }],
    };
    await writeManifest(dir, manifest, '.');
    await expect(readManifest(dir)).resolves.toMatchObject({ runId: 'rf-signed', folder: '.' });
    const file = join(dir, 'manifest.json');
    const signed = await readFile(file, 'utf8');

    await writeFile(file, signed.replace('"/c.yaml"', '"/other.yaml"'));
    await expect(readManifest(dir)).rejects.toThrow(/does not match its signature/);
    const { signature: _s, ...unsigned } = JSON.parse(signed) as Record<string, unknown>;
    await writeFile(file, JSON.stringify(unsigned));
    await expect(readManifest(dir)).rejects.toThrow(/is not signed .*: refused/);
    await writeFile(file, signed);

    const other = await createRunDir('rf-copied-into', 'runs');
    await writeFile(join(other, 'manifest.json'), signed);
    await expect(readManifest(other)).rejects.toThrow(/is the manifest of run rf-signed, copied here: refused/);
    const v2 = join(dir, 'versions', 'v2');
    await mkdir(v2, { recursive: true });
    await writeManifest(v2, manifest, 'versions/v2');
    await expect(readManifest(v2)).resolves.toMatchObject({ folder: 'versions/v2' });
    const v3 = join(dir, 'versions', 'v3');
    await mkdir(v3, { recursive: true });
    await writeFile(join(v3, 'manifest.json'), await readFile(join(v2, 'manifest.json'), 'utf8'));
    await expect(readManifest(v3)).rejects.toThrow(/is the manifest of versions\/v2 of run rf-signed, copied here/);

    expect((await finishedFile(dir, 'config.json'))!.bytes.toString()).toBe('{}\n');
    expect(await finishedFile(dir, 'model/model.json')).toBeNull();
    await writeFile(join(dir, 'config.json'), '{"iterations":1}\n');
    await expect(finishedFile(dir, 'config.json')).rejects.toThrow(/config\.json was modified: sha256 /);
    await expect(verifyFinishedFiles(dir, ['model/model.json'])).rejects.toThrow(/model\/model\.json is not listed/);
    // A finished folder's metrics (what a reviewer decides on) are read as the manifest recorded them.
    const metricsDir = await createRunDir('rf-metrics', 'runs');
    await writeFile(join(metricsDir, 'metrics.json'), '{}\n');
    await writeManifest(
      metricsDir,
      {
        ...manifest,
        runId: 'rf-metrics',
        artifacts: [{ path: 'metrics.json', role: 'metrics', sha256: sha256Hex('{}\n'), bytes: 3 }],
      },
      '.',
    );
    await writeFile(join(metricsDir, 'metrics.json'), '{"oof":{}}\n');
    await expect(readMetrics(metricsDir)).rejects.toThrow(/metrics\.json was modified: sha256 /);
    // Beneath the signatures, an artifact record never opens a file outside its folder.
    const outside = { path: '../rf-team/run.json', role: 'run-info', sha256: sha256Hex(''), bytes: 0 };
    await expect(readVerified(dir, outside)).rejects.toThrow(/leaves its run folder/);
  });
});
