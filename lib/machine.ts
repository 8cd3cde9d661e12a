/** What the machine (or container) this process runs on offers. */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

/** The memory this machine or container has: the cgroup's limit when one is set, else the machine's. */
export function memoryLimitBytes(): number {
  try {
    const max = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    if (/^\d+$/.test(max)) return Math.min(Number(max), totalmem());
  } catch {
    // No cgroup v2 limit to read: the machine's memory is the limit.
  }
  return totalmem();
}
