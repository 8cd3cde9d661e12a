import { describe, expect, it } from 'vitest';
import { pollEvery } from '../client/poll';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pollEvery', () => {
  it('never overlaps calls, survives a failing one, and stop() waits for the call in flight', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    let finished = 0;
    const poll = pollEvery(5, async () => {
      calls++;
      running++;
      most = Math.max(most, running);
      await sleep(30); // six ticks pass while one call runs
      running--;
      finished++;
      if (calls === 1) throw new Error('a failed query is ignored; polling goes on');
    });
    await sleep(100);
    await poll.stop();
    expect(most).toBe(1);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(finished).toBe(calls);
    const after = calls;
    await sleep(40);
    expect(calls).toBe(after);
  });
});
