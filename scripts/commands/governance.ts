import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { writeFileAtomic } from '../../lib/artifacts';
import {
  addUser,
  assignRole,
  authenticate,
  backupAuditAs,
  bootstrapAdmin,
  checkEntryProof,
  checkpointAuditAs,
  DEFAULT_ELEVATION_HOURS,
  DEFAULT_TOKEN_TTL,
  elevateUser,
  exportAuditAs,
  issueCapability,
  issueToken,
  listUsers,
  MAX_CAPABILITY_TTL_SECONDS,
  parseTtl,
  proveEntryAs,
  queryAuditAs,
  revokeToken,
  rotateSigningKeyAs,
  verifyAudit,
  verifyAuditAs,
} from '../../lib/governance';
import {
  initKeyring,
  KEYRING_ENV,
  KeyringError,
  keyringDir,
  listKeys,
  publicKeyPem,
  type KeyInfo,
} from '../../lib/keys';
import { CAPABILITY_REQUESTS } from '../../schemas/capabilities';
import {
  AUDIT_STATUSES,
  CAPABILITY_OPERATIONS,
  type Capability,
  type CapabilityOperation,
  type ElevationTimerInput,
  type AuditEntry,
} from '../../schemas/governance';
import { err, printJson, reasonOption } from './output';
import { callApi, fetchFile, localOnly, remoteApi, viaApi } from './remote';
import {
  callerCredential,
  governed,
  readTokenFile,
  tokenFileOption,
  writeSecretFile,
  type TokenOpts,
} from './credentials';

const userPath = (userId: string, rest: string): string => `/users/${encodeURIComponent(userId)}${rest}`;

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number, got ${value}`);
    return n;
  };
}

function registerUsers(program: Command): void {
  const users = program.command('users').description('users and roles (seed-3 §1, §6)');

  users
    .command('bootstrap-admin')
    .description('create the first ADMIN and print a token for it (only while no users exist; needs no token)')
    .requiredOption('--user <id>', 'user id of the first administrator')
    .option('--ttl <duration>', 'token lifetime, e.g. 30m, 8h, 7d', DEFAULT_TOKEN_TTL)
    .option('--out <file>', 'write the token to this file (mode 0600) instead of stdout')
    .action(async (opts: { user: string; ttl: string; out?: string }) => {
      const issued = await bootstrapAdmin(opts.user, opts.ttl);
      if (opts.out) {
        await writeSecretFile(opts.out, `${issued.token}\n`);
        err(`ADMIN ${issued.userId} created; token (expires ${issued.expiresAt}) written to ${opts.out}`);
      } else {
        process.stdout.write(`${issued.token}\n`);
        err(`ADMIN ${issued.userId} created; token expires ${issued.expiresAt}`);
      }
    });

  users
    .command('add')
    .description('add a user with a role (ADMIN)')
    .requiredOption('--user <id>', 'user id')
    .requiredOption('--role <role>', 'VIEWER, ANALYST, MODELER, VALIDATOR or ADMIN')
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(async (opts: TokenOpts & { user: string; role: string; reason: string; json?: boolean }) => {
        const credential = await callerCredential(opts);
        const user = await viaApi(
          credential,
          { method: 'POST', path: '/users', body: { user_id: opts.user, role: opts.role, reason: opts.reason } },
          () => addUser(credential, { userId: opts.user, role: opts.role, reason: opts.reason }),
        );
        if (opts.json) return printJson(user);
        console.log(`added ${user.userId} as ${user.role}`);
      }),
    );

  users
    .command('assign-role')
    .description("change a user's permanent role (ADMIN); audited with old/new role and assigned_by")
    .requiredOption('--user <id>', 'user id')
    .requiredOption('--role <role>', 'the new role')
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(async (opts: TokenOpts & { user: string; role: string; reason: string; json?: boolean }) => {
        const credential = await callerCredential(opts);
        const user = await viaApi(
          credential,
          { method: 'PUT', path: userPath(opts.user, '/role'), body: { role: opts.role, reason: opts.reason } },
          () => assignRole(credential, { userId: opts.user, role: opts.role, reason: opts.reason }),
        );
        if (opts.json) return printJson(user);
        console.log(`${user.userId} is now ${user.role}`);
      }),
    );

  users
    .command('elevate')
    .description(
      'grant a temporary role that expires by itself (ADMIN); starts a Temporal timer when a server is reachable',
    )
    .requiredOption('--user <id>', 'user id')
    .requiredOption('--role <role>', 'the temporary role')
    .option('--hours <n>', 'how long it lasts', positiveNumber('--hours'), DEFAULT_ELEVATION_HOURS)
    .addOption(reasonOption())
    .option('--no-timer', 'do not start the expiry timer workflow (the expiry holds at every check anyway)')
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(
        async (
          opts: TokenOpts & {
            user: string;
            role: string;
            hours: number;
            reason: string;
            timer: boolean;
            json?: boolean;
          },
        ) => {
          const credential = await callerCredential(opts);
          const request = { role: opts.role, hours: opts.hours, reason: opts.reason };
          // Over the API the server starts the expiry timer on its Temporal.
          localOnly('--no-timer', opts.timer ? undefined : true);
          const { user, timer } = await viaApi(
            credential,
            { method: 'POST', path: userPath(opts.user, '/elevation'), body: request },
            async () => {
              const grant = await elevateUser(credential, { userId: opts.user, ...request });
              return {
                user: grant.user,
                timer: opts.timer ? await startElevationTimer(grant.timer) : 'expiry timer not started (--no-timer)',
              };
            },
          );
          if (opts.json) return printJson({ user, timerStatus: timer });
          console.log(
            `${user.userId} is ${user.elevation!.role} until ${user.elevation!.expiresAt}, then ${user.role} again`,
          );
          err(timer);
        },
      ),
    );

  users
    .command('list')
    .description('list users with their base role and the role in force now (ADMIN)')
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(async (opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const { users: list } = await viaApi(credential, { method: 'GET', path: '/users' }, async () => ({
          users: await listUsers(credential),
        }));
        if (opts.json) return printJson(list);
        for (const u of list) {
          const elevation = u.elevation
            ? u.elevationExpired
              ? `  (elevation to ${u.elevation.role} expired ${u.elevation.expiresAt})`
              : `  → ${u.elevation.role} until ${u.elevation.expiresAt}`
            : '';
          console.log(`${u.userId.padEnd(24)} ${u.role.padEnd(10)}${elevation}`);
        }
      }),
    );
}

/** The `--request` JSON, a monitoring window's run id filled in (paths stay as given: the server's, remotely). */
function requestJson(op: CapabilityOperation, runId: string, json: string): Record<string, unknown> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch (e) {
    throw new InvalidArgumentError(`--request is not JSON: ${(e as Error).message}`);
  }
  if (op === 'monitorWindow') raw.runId ??= runId;
  return raw;
}

/**
 * The request a capability is issued for, checked against the operation's schema: paths made absolute (the worker
 * reads them as given), a monitoring window's run id filled in.
 */
function capabilityRequest(op: CapabilityOperation, runId: string, json: string): Record<string, unknown> {
  const raw = requestJson(op, runId, json);
  if (op === 'createRun' && typeof raw.configPath === 'string') raw.configPath = resolve(raw.configPath);
  if (op === 'monitorWindow') {
    const window = raw.window as { current?: unknown } | undefined;
    if (typeof window?.current === 'string') window.current = resolve(window.current);
  }
  const parsed = CAPABILITY_REQUESTS[op].safeParse(raw);
  if (!parsed.success)
    throw new InvalidArgumentError(
      `--request for ${op}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

function registerAuth(program: Command): void {
  const auth = program.command('auth').description('tokens: signed, expiring, revocable');

  auth
    .command('issue')
    .description('issue a token for a user (ADMIN); prints it once, it is stored nowhere')
    .requiredOption('--user <id>', 'whose token')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 8h, 7d (at most 30d)', DEFAULT_TOKEN_TTL)
    .option('--out <file>', 'write the token to this file (mode 0600) instead of stdout')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & { user: string; ttl: string; out?: string }) => {
        const credential = await callerCredential(opts);
        const issued = await viaApi(
          credential,
          { method: 'POST', path: '/tokens', body: { user_id: opts.user, ttl: opts.ttl } },
          () => issueToken(credential, { userId: opts.user, ttl: opts.ttl }),
        );
        if (opts.out) await writeSecretFile(opts.out, `${issued.token}\n`);
        else process.stdout.write(`${issued.token}\n`);
        err(`token ${issued.jti} for ${issued.userId}, expires ${issued.expiresAt}${opts.out ? ` → ${opts.out}` : ''}`);
      }),
    );

  auth
    .command('revoke')
    .description(
      'revoke a token by id (--jti) or by file (--token-file); your own token needs no other token, others need ADMIN',
    )
    .option('--jti <id>', 'token id (see the token_issued audit entries)')
    .option('--token-file <file>', 'the token to revoke')
    .option('--reason <text>', 'why (recorded in the audit log)')
    .action(
      governed(async (opts: { jti?: string; tokenFile?: string; reason?: string }) => {
        if (!opts.jti === !opts.tokenFile) throw new Error('give exactly one of --jti or --token-file');
        const target = opts.tokenFile ? await readTokenFile(opts.tokenFile) : undefined;
        // The caller is the ACCESS_PERM_TOKEN(_FILE) holder; without one, the token being revoked revokes itself.
        let credential = await callerCredential({});
        if (!credential.token && target) credential = { token: target, source: 'cli' };
        const reason = opts.reason ? { reason: opts.reason } : {};
        const done = remoteApi()
          ? await callApi<{ jti: string; subject: string | null }>(
              credential,
              'DELETE',
              `/tokens/${encodeURIComponent(opts.jti ?? (await callApi<{ tokenId: string }>({ token: target!, source: 'cli' }, 'GET', '/me')).tokenId)}`,
              { body: reason },
            )
          : await revokeToken(credential, { jti: opts.jti, token: target, ...reason });
        console.log(`revoked token ${done.jti}${done.subject ? ` of ${done.subject}` : ''}`);
      }),
    );

  auth
    .command('capability')
    .description(
      'a capability for one workflow start, signal or update you send with the `temporal` CLI: prints the request with its capability, the JSON to pass as --input (single-use, minutes; your token never reaches Temporal)',
    )
    .addOption(
      new Option('--op <operation>', 'the operation').choices([...CAPABILITY_OPERATIONS]).makeOptionMandatory(),
    )
    .requiredOption('--run <id>', 'the run (for createRun: the new run id, the workflow id you start)')
    .option(
      '--request <json>',
      'the request without its capability, e.g. {"overrideId":"ov-1","decision":"approve","reason":"…"}',
      '{}',
    )
    .option('--ttl <duration>', `lifetime, e.g. 90s, 10m (at most ${MAX_CAPABILITY_TTL_SECONDS / 60}m)`, '10m')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & { op: CapabilityOperation; run: string; request: string; ttl: string }) => {
        const credential = await callerCredential(opts);
        const { request, capability } = remoteApi()
          ? await callApi<{ request: Record<string, unknown>; capability: Capability }>(
              credential,
              'POST',
              '/capabilities',
              {
                body: {
                  op: opts.op,
                  run_id: opts.run,
                  request: requestJson(opts.op, opts.run, opts.request),
                  ttl: opts.ttl,
                },
              },
            )
          : await (async () => {
              const checked = capabilityRequest(opts.op, opts.run, opts.request);
              const issued = await issueCapability(credential, {
                op: opts.op,
                runId: opts.run,
                request: checked,
                ttlSeconds: parseTtl(opts.ttl),
              });
              return { request: checked, capability: issued };
            })();
        process.stdout.write(`${JSON.stringify({ ...request, capability })}\n`);
        err(
          `capability ${capability.id} for ${capability.user}: ${opts.op} on ${opts.run}, once, until ${capability.exp}`,
        );
      }),
    );

  auth
    .command('whoami')
    .description('who your token proves you are, and the role in force now')
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(async (opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const me = await viaApi(credential, { method: 'GET', path: '/me' }, () => authenticate(credential));
        if (opts.json) return printJson(me);
        const temp = me.temporaryRole ? ` (temporary until ${me.elevationExpiresAt}; base role ${me.baseRole})` : '';
        console.log(`${me.userId} ${me.role}${temp}; token ${me.tokenId} expires ${me.tokenExpiresAt}`);
      }),
    );
}

interface FilterOpts {
  userId?: string;
  runId?: string;
  action?: string;
  resourceType?: string;
  status?: string;
  startDate?: string;
  endDate?: string;
  dateRange?: string;
  limit?: string;
  order?: string;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--user-id <id>', 'entries of this user')
    .option('--run-id <id>', 'entries correlated with this run')
    .option('--action <action>', 'e.g. bin_override, permission_denied, role_assignment')
    .option('--resource-type <type>', 'e.g. binning_table, user, token')
    .addOption(new Option('--status <status>', 'entry status').choices([...AUDIT_STATUSES]))
    .option('--start-date <date>', 'from this day (YYYY-MM-DD, UTC) or instant (ISO 8601)')
    .option('--end-date <date>', 'until this day (inclusive) or instant')
    .option('--date-range <day>', 'one UTC day, YYYY-MM-DD')
    .option('--limit <n>', 'at most n entries')
    .addOption(new Option('--order <order>', 'oldest or newest first').choices(['asc', 'desc']));
}

const filtersOf = (o: FilterOpts): Record<string, unknown> => ({
  user_id: o.userId,
  run_id: o.runId,
  action: o.action,
  resource_type: o.resourceType,
  status: o.status,
  start_date: o.startDate,
  end_date: o.endDate,
  date_range: o.dateRange,
  limit: o.limit,
  order: o.order,
});

function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('the append-only audit log (seed-3 §4): hash-chained, a Merkle tree under signed checkpoints');

  withFilters(audit.command('query').description('query the audit log (ANALYST, MODELER, VALIDATOR, ADMIN)'))
    .addOption(tokenFileOption())
    .option('--json', 'print the entries as a JSON array')
    .action(
      governed(async (opts: TokenOpts & FilterOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const entries = remoteApi()
          ? (
              await callApi<{ entries: AuditEntry[] }>(credential, 'GET', '/audit-logs', {
                query: filtersOf(opts) as Record<string, string | number | undefined>,
              })
            ).entries
          : await queryAuditAs(credential, filtersOf(opts));
        if (opts.json) return printJson(entries);
        for (const e of entries) {
          const who = `${e.user_id}(${e.user_role}${e.temporary_role ? ', temporary' : ''})`;
          const what = e.action === 'permission_denied' ? `${e.action}:${e.attempted_action}` : e.action;
          const on = e.resource_type ? ` ${e.resource_type}${e.resource_id ? `/${e.resource_id}` : ''}` : '';
          console.log(
            `${e.timestamp} ${e.audit_id} ${who} ${what} ${e.status}${on}${e.reason ? ` — ${e.reason}` : ''}`,
          );
        }
        err(`${entries.length} entries`);
      }),
    );

  audit
    .command('verify')
    .description(
      'check the hash chain and every signed checkpoint; names the first edited, removed, reordered or rewritten entry',
    )
    .option('--dir <dir>', 'a copy or backup of the log to check instead of the live log')
    .option(
      '--public-key <pem>',
      'check signatures with this public key instead of the keyring (repeatable); with --dir no token is needed',
      (value: string, all: string[] = []) => [...all, value],
    )
    .option('--since <checkpoint>', 'a checkpoint saved earlier (audit checkpoint --out): the log must extend it')
    .option('--strict', 'fail when any entry is not yet covered by a checkpoint')
    .addOption(tokenFileOption())
    .option('--json', 'print the report as JSON')
    .action(
      governed(
        async (
          opts: TokenOpts & { dir?: string; publicKey?: string[]; since?: string; strict?: boolean; json?: boolean },
        ) => {
          const options = { dir: opts.dir, publicKeys: opts.publicKey, since: opts.since, strict: opts.strict };
          // An auditor checking a copy with a pinned public key reads nothing of this installation: no token needed.
          const auditorCopy = opts.dir !== undefined && (opts.publicKey?.length ?? 0) > 0;
          if (!auditorCopy)
            for (const [flag, v] of [
              ['--dir', opts.dir],
              ['--public-key', opts.publicKey],
              ['--since', opts.since],
            ] as const)
              localOnly(flag, v);
          const report = auditorCopy
            ? await verifyAudit(options)
            : await (async () => {
                const credential = await callerCredential(opts);
                return viaApi<Awaited<ReturnType<typeof verifyAudit>>>(
                  credential,
                  { method: 'GET', path: '/audit-logs/verification', query: { strict: opts.strict } },
                  () => verifyAuditAs(credential, options),
                );
              })();
          if (opts.json) printJson(report);
          for (const w of report.warnings) err(`warning: ${w}`);
          if (!report.ok) {
            err(`access-perm: audit verify FAILED (${report.problem!.kind}): ${report.problem!.message}`);
            process.exitCode = 1;
            return;
          }
          if (opts.json) return;
          const latest = report.latest
            ? `, signed up to entry ${report.latest.tree_size} at ${report.latest.timestamp} (key ${report.latest.key_id})`
            : '';
          const since = report.since ? `; extends the saved checkpoint of ${report.since.timestamp}` : '';
          console.log(`audit log OK: ${report.entries} entries in ${report.files.length} files${latest}${since}`);
        },
      ),
    );

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the log now (ADMIN); save it to check later that the log only grew')
    .option('--out <file>', 'also write the checkpoint to this file (for audit verify --since)')
    .addOption(tokenFileOption())
    .option('--json', 'print the checkpoint as JSON')
    .action(
      governed(async (opts: TokenOpts & { out?: string; json?: boolean }) => {
        const credential = await callerCredential(opts);
        const checkpoint = await viaApi(credential, { method: 'POST', path: '/audit-logs/checkpoints' }, () =>
          checkpointAuditAs(credential),
        );
        if (opts.out) await writeFileAtomic(opts.out, `${JSON.stringify(checkpoint, null, 2)}\n`);
        if (opts.json) return printJson(checkpoint);
        console.log(
          `checkpoint: ${checkpoint.tree_size} entries, root ${checkpoint.root_hash.slice(0, 16)}…, signed by key ${checkpoint.signature.key_id} at ${checkpoint.timestamp}${opts.out ? ` → ${opts.out}` : ''}`,
        );
      }),
    );

  audit
    .command('prove')
    .description("an entry's inclusion proof against the latest checkpoint (check it with audit check-proof)")
    .requiredOption('--entry <audit_id>', 'the entry to prove')
    .option('--out <file>', 'write the proof to this file instead of stdout')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & { entry: string; out?: string }) => {
        const credential = await callerCredential(opts);
        const proof = await viaApi(
          credential,
          { method: 'GET', path: `/audit-logs/entries/${encodeURIComponent(opts.entry)}/proof` },
          () => proveEntryAs(credential, opts.entry),
        );
        const text = `${JSON.stringify(proof, null, 2)}\n`;
        if (!opts.out) return void process.stdout.write(text);
        await writeFileAtomic(opts.out, text);
        err(`${proof.audit_id}: entry ${proof.leaf_index + 1} of ${proof.checkpoint.tree_size} → ${opts.out}`);
      }),
    );

  audit
    .command('check-proof')
    .description('check an entry proof with a public key alone (no log, no token)')
    .argument('<proof>', 'a proof file written by audit prove')
    .option(
      '--public-key <pem>',
      'the public key to check with (repeatable; default: the keyring)',
      (value: string, all: string[] = []) => [...all, value],
    )
    .action(
      governed(async (file: string, opts: { publicKey?: string[] }) => {
        const auditId = await checkEntryProof(await readFile(file, 'utf8'), opts.publicKey);
        console.log(`proof OK: ${auditId} is in the signed audit log`);
      }),
    );

  withFilters(audit.command('export').description('export entries as JSONL or CSV (VALIDATOR, ADMIN)'))
    .addOption(new Option('--format <format>', 'jsonl or csv').choices(['jsonl', 'csv']).makeOptionMandatory())
    .option('--out <file>', 'output file (default: stdout)')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & FilterOpts & { format: 'jsonl' | 'csv'; out?: string }) => {
        const credential = await callerCredential(opts);
        const { content, entries } = remoteApi()
          ? await fetchFile(credential, {
              method: 'GET',
              path: '/audit-logs/export',
              query: { ...(filtersOf(opts) as Record<string, string | undefined>), format: opts.format },
            }).then((f) => ({ content: f.content, entries: Number(f.headers.get('x-audit-entries')) }))
          : await exportAuditAs(credential, filtersOf(opts), opts.format);
        if (opts.out) {
          await writeFileAtomic(opts.out, content);
          err(`${entries} entries → ${opts.out}`);
        } else process.stdout.write(content);
      }),
    );

  audit
    .command('backup')
    .description(
      'rotate the active file into an archive segment and copy new segments to a backup folder (ADMIN; run daily)',
    )
    .option('--dest <dir>', 'backup folder (default <data dir>/governance/backups/audit)')
    .addOption(tokenFileOption())
    .option('--json', 'print JSON')
    .action(
      governed(async (opts: TokenOpts & { dest?: string; json?: boolean }) => {
        localOnly('--dest', opts.dest);
        const credential = await callerCredential(opts);
        const report = await viaApi(credential, { method: 'POST', path: '/audit-logs/backups' }, () =>
          backupAuditAs(credential, opts.dest),
        );
        if (opts.json) return printJson(report);
        console.log(
          `backup ${report.dest}: ${report.copied.length} new segment(s), ${report.unchanged.length} unchanged, ${report.entries} entries in ${report.segments} segment(s)`,
        );
      }),
    );
}

function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description(`the keyring that signs records and tokens, held outside the data directory (${KEYRING_ENV})`);

  keys
    .command('init')
    .description('create the keyring (signing key, token secret) if missing and print where it is (needs no token)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const infos = await initKeyring();
      if (opts.json) return printJson({ keyring: keyringDir(), keys: infos });
      console.log(`keyring ${keyringDir()} (keep it outside the data directory, owner-only)`);
      printKeys(infos);
    });

  keys
    .command('show')
    .description('list the signing keys and fingerprints; --pem prints a public key for auditors (needs no token)')
    .option('--pem', 'print the current public key (PEM) instead')
    .option('--key <id>', 'with --pem: this key instead of the current one')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(async (opts: TokenOpts & { pem?: boolean; key?: string; json?: boolean }) => {
      if (remoteApi()) {
        const remote = await callApi<{ keys: KeyInfo[]; pem?: string }>(await callerCredential(opts), 'GET', '/keys', {
          query: { pem: opts.pem ? (opts.key ?? 'current') : undefined },
        });
        if (remote.pem) return void process.stdout.write(remote.pem);
        if (opts.json) return printJson({ api: remoteApi(), keys: remote.keys });
        return printKeys(remote.keys);
      }
      const infos = await listKeys();
      if (infos.length === 0) throw new KeyringError(`no signing key in ${keyringDir()}: run access-perm keys init`);
      if (opts.pem) {
        const keyId = opts.key ?? infos.find((k) => k.current)!.keyId;
        if (!infos.some((k) => k.keyId === keyId)) throw new KeyringError(`no key ${keyId} in ${keyringDir()}`);
        return void process.stdout.write(await publicKeyPem(keyId));
      }
      if (opts.json) return printJson({ keyring: keyringDir(), keys: infos });
      printKeys(infos);
    });

  keys
    .command('rotate')
    .description('make a new current signing key (ADMIN); earlier keys keep verifying what they signed')
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & { reason: string }) => {
        const credential = await callerCredential(opts);
        const { keys: infos } = await viaApi(
          credential,
          { method: 'POST', path: '/keys/rotation', body: { reason: opts.reason } },
          async () => ({ keys: await rotateSigningKeyAs(credential, opts.reason) }),
        );
        printKeys(infos);
        err('give auditors the new public key: access-perm keys show --pem');
      }),
    );
}

function printKeys(infos: readonly KeyInfo[]): void {
  for (const k of infos)
    console.log(`${k.current ? '*' : ' '} ${k.keyId}  sha256:${k.fingerprint}  created ${k.createdAt}`);
}

/** Starts an elevation's expiry timer; the Temporal client loads only then, so the other commands stay quick. */
const startElevationTimer = async (timer: ElevationTimerInput): Promise<string> =>
  (await import('../../client')).startElevationTimer(timer);

/**
 * `users`, `auth`, `audit` and `keys` command groups. Every command needs a token except `users bootstrap-admin`,
 * `keys init|show`, and an auditor's `audit verify --dir --public-key` and `audit check-proof`.
 */
export function registerGovernanceCommands(program: Command): void {
  registerUsers(program);
  registerAuth(program);
  registerAudit(program);
  registerKeys(program);
}
