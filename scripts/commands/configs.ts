import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import {
  createConfigAs,
  deleteConfigAs,
  editConfigAs,
  listConfigsAs,
  shareConfigAs,
  showConfigAs,
} from '../../lib/configs';
import { CONFIG_VISIBILITIES, type ConfigRecord, type ConfigVisibility } from '../../schemas/configs';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, printJson, reasonOption } from './output';
import { callApi, remoteApi } from './remote';

const readDocument = async (file: string): Promise<string> =>
  readFile(resolve(file), 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${file}: ${e.code ?? e.message}`);
  });

const visibilityOption = (fallback?: ConfigVisibility) => {
  const o = new Option('--visibility <who>', 'private (owner and ADMIN), team (all but VIEWERs) or everyone').choices(
    CONFIG_VISIBILITIES,
  );
  return fallback ? o.default(fallback) : o.makeOptionMandatory();
};

/** `configs list|show|create|edit|share|delete`: the config registry (seed-3 "Config management"). */
export function registerConfigCommands(program: Command): void {
  const configs = program
    .command('configs')
    .description(
      'registered configs: versioned, with an owner and a visibility; runs start from them with --config-id',
    );

  configs
    .command('list')
    .description('the configs you can see (every role)')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const list = remoteApi()
          ? (await callApi<{ configs: Awaited<ReturnType<typeof listConfigsAs>> }>(credential, 'GET', '/configs'))
              .configs
          : await listConfigsAs(credential);
        if (opts.json) return printJson(list);
        if (list.length === 0)
          return err('no configs you can see yet: access-perm configs create --id <id> --file <yaml>');
        for (const c of list)
          console.log(
            `${c.id.padEnd(30)} v${String(c.latest).padEnd(4)} ${c.visibility.padEnd(9)} ${c.owner.padEnd(16)} ${c.updated_at}${c.deleted ? '  (deleted)' : ''}`,
          );
      }),
    );

  configs
    .command('show <ref>')
    .description('a config version, ID or ID@VERSION (default the latest): its document, verified against its sha256')
    .option('--json', 'print the record and the document as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (ref: string, opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const [id, version] = ref.split('@');
        const shown = remoteApi()
          ? await callApi<Awaited<ReturnType<typeof showConfigAs>>>(
              credential,
              'GET',
              `/configs/${encodeURIComponent(id!)}`,
              {
                query: { version },
              },
            )
          : await showConfigAs(credential, ref);
        if (opts.json) return printJson({ record: shown.record, version: shown.version, document: shown.document });
        err(
          `# ${shown.record.id} v${shown.version.version} (${shown.record.visibility}, owner ${shown.record.owner}), sha256 ${shown.version.sha256}, by ${shown.version.by.userId} at ${shown.version.at}`,
        );
        process.stdout.write(shown.document);
      }),
    );

  configs
    .command('create')
    .description('register a config file as version 1 (ANALYST, MODELER, ADMIN)')
    .requiredOption('--id <id>', 'lowercase letters, digits, . _ -')
    .requiredOption('--file <yaml>', 'the config document')
    .addOption(visibilityOption('private'))
    .option('--reason <text>', 'why (recorded in the audit log)')
    .addOption(tokenFileOption())
    .action(
      governed(
        async (opts: TokenOpts & { id: string; file: string; visibility: ConfigVisibility; reason?: string }) => {
          const credential = await callerCredential(opts);
          const input = {
            id: opts.id,
            document: await readDocument(opts.file),
            visibility: opts.visibility,
            ...(opts.reason ? { reason: opts.reason } : {}),
          };
          const record = remoteApi()
            ? await callApi<ConfigRecord>(credential, 'POST', '/configs', { body: input })
            : await createConfigAs(credential, input);
          console.log(`config ${record.id} v1 registered (${record.visibility}), sha256 ${record.versions[0]!.sha256}`);
        },
      ),
    );

  configs
    .command('edit <id>')
    .description(
      'a new version from a file (ANALYST, MODELER, ADMIN; features: select_features; regularisation: MODELER)',
    )
    .requiredOption('--file <yaml>', 'the new document')
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .action(
      governed(async (id: string, opts: TokenOpts & { file: string; reason: string }) => {
        const credential = await callerCredential(opts);
        const document = await readDocument(opts.file);
        const record = remoteApi()
          ? await callApi<ConfigRecord>(credential, 'PUT', `/configs/${encodeURIComponent(id)}`, {
              body: { document, reason: opts.reason },
            })
          : await editConfigAs(credential, { id, document, reason: opts.reason });
        const v = record.versions.at(-1)!;
        console.log(`config ${id} v${v.version}, sha256 ${v.sha256}`);
      }),
    );

  configs
    .command('share <id>')
    .description('change who may see a config (the owner or an ADMIN; ANALYST, MODELER, ADMIN)')
    .addOption(visibilityOption())
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .action(
      governed(async (id: string, opts: TokenOpts & { visibility: ConfigVisibility; reason: string }) => {
        const credential = await callerCredential(opts);
        const body = { visibility: opts.visibility, reason: opts.reason };
        const record = remoteApi()
          ? await callApi<ConfigRecord>(credential, 'PUT', `/configs/${encodeURIComponent(id)}/visibility`, { body })
          : await shareConfigAs(credential, { id, ...body });
        console.log(`config ${id} is ${record.visibility}`);
      }),
    );

  configs
    .command('delete <id>')
    .description('delete a config (MODELER, ADMIN); refused while a locked or deployed run used it')
    .addOption(reasonOption())
    .addOption(tokenFileOption())
    .action(
      governed(async (id: string, opts: TokenOpts & { reason: string }) => {
        const credential = await callerCredential(opts);
        if (remoteApi())
          await callApi(credential, 'DELETE', `/configs/${encodeURIComponent(id)}`, { body: { reason: opts.reason } });
        else await deleteConfigAs(credential, { id, reason: opts.reason });
        console.log(`config ${id} deleted; its versions stay for the runs that name them`);
      }),
    );
}
