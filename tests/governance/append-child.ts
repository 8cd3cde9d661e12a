// A writer process for the concurrent-append test: appends `count` entries as `writer` to ACCESS_PERM_DATA_DIR's log.
import { appendAudit } from '../../lib/governance/audit';

const [writer, count] = [process.argv[2] ?? 'w', Number(process.argv[3] ?? 10)];
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
