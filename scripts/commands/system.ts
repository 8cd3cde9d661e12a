import type { Command } from 'commander';
import { setSystemConfigAs, systemConfigAs } from '../../lib/governance';
import { settingAt, settingsPath, settingValue } from '../../lib/settings';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, printJson, reasonOption } from './output';
import { callApi, remoteApi } from './remote';

const show = (value: unknown): string => JSON.stringify(value);

/** `system config show|set`: the installation's settings in the keyring (system_configuration: ADMIN). */
export function registerSystemCommands(program: Command): void {
  const system = program.command('system').description('system configuration (ADMIN)');
  const config = system
    .command('config')
    .description(`the settings the system reads, kept in the keyring (${settingsPath()})`);

  config
    .command('show [key]')
    .description('every setting with its value, default and meaning; or one value')
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (key: string | undefined, opts: TokenOpts & { json?: boolean }) => {
        const credential = await callerCredential(opts);
        const { settings, keys } = remoteApi()
          ? await callApi<Awaited<ReturnType<typeof systemConfigAs>>>(credential, 'GET', '/system/config')
          : await systemConfigAs(credential);
        if (key !== undefined) {
          const found = keys.find((k) => k.key === key);
          if (!found) settingAt(settings, key); // an unknown key: the error lists the settings there are
          return opts.json ? printJson(found) : console.log(show(found!.value));
        }
        if (opts.json) return printJson({ path: settingsPath(), settings, keys });
        for (const k of keys) {
          const changed = show(k.value) !== show(k.default);
          console.log(`${k.key.padEnd(36)} ${show(k.value)}${changed ? `  (default ${show(k.default)})` : ''}`);
          if (k.description) err(`    ${k.description}`);
        }
      }),
    );

  config
    .command('set <key> <value>')
    .description('change one setting (VALUE as JSON: 30, ["ADMIN"], null; else a plain string); audited before/after')
    .addOption(reasonOption())
    .option('--json', 'print JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (key: string, value: string, opts: TokenOpts & { reason: string; json?: boolean }) => {
        const credential = await callerCredential(opts);
        const result = remoteApi()
          ? await callApi<Awaited<ReturnType<typeof setSystemConfigAs>>>(
              credential,
              'PUT',
              `/system/config/${encodeURIComponent(key)}`,
              { body: { value: settingValue(value), reason: opts.reason } },
            )
          : await setSystemConfigAs(credential, key, settingValue(value), opts.reason);
        if (opts.json) return printJson(result);
        if (!result.changed) return err(`${key} is already ${show(result.after)}: nothing changed, nothing audited`);
        console.log(`${key}: ${show(result.before)} -> ${show(result.after)}`);
      }),
    );
}
