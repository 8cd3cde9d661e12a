/**
 * Recorded histories (tests/replay/, from the security scenario: a run trained, overridden, reviewed, reproduced,
 * locked and deployed, a monitoring window, an elevation timer) replayed with today's workflow code: a change that
 * would break running workflows (non-determinism) fails here. Record new fixtures with `npm run record:histories`
 * when a change to the workflows is meant to break replay (and say so in the change).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../worker/bundle';

const FIXTURES = join(import.meta.dirname, 'replay');

describe('recorded workflow histories', () => {
  it('replay with the current workflow code: pipeline, lifecycle, monitoring, elevation', async () => {
    // Each fixture is named after its workflow id (the replayer checks child workflow ids against it).
    const ids = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
    expect(ids.sort()).toEqual([
      expect.stringMatching(/^elevation-viewer-/),
      'lifecycle-sec-a',
      'monitor-sec-a-manual-sec',
      'sec-a',
    ]);
    const bundle = await workflowBundle();
    for (const id of ids) {
      const history: unknown = JSON.parse(await readFile(join(FIXTURES, `${id}.json`), 'utf8'));
      // A determinism violation (or any replay failure) rejects, naming the workflow and the event.
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: id }, history, id);
    }
  });
});
