// A writer process for the concurrent-append test: appends `count` entries as `writer` to ACCESS_PERM_DATA_DIR's log.
// With a barrier folder, it first reports `ready-<writer>` there and waits for `go`, so all writers start together
// (process start-up times differ by more than a writer needs for its appends).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { appendAudit } from '../../lib/governance/audit';

const [writer, count, barrier] = [process.argv[2] ?? 'w', Number(process.argv[3] ?? 10), process.argv[4]];
if (barrier) {
  writeFileSync(join(barrier, `ready-${writer}`), '');
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(barrier, 'go'))) {
    if (Date.now() > deadline) throw new Error(`writer ${writer}: no go signal within 30 s`);
    await sleep(2);
  }
}
for (let i = 0; i < count; i++) {
  await appendAudit({
    user_id: writer,
    user_role: 'ANALYST',
    action: 'concurrency_probe',
    resource_type: 'probe',
    resource_id: `${writer}-${i}`,
    status: 'success',
    source: 'worker',
    details: { i, pid: process.pid },
  });
}
