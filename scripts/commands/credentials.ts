import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option } from 'commander';
import { prepareFile } from '../../lib/artifacts';
import { AuthenticationError, PermissionDeniedError, type Credential } from '../../lib/governance';
import { err, printJson } from './output';

/** How every governed command learns who the caller is, and how denials reach the terminal. */

/** Exit codes beyond 1: scripts can tell "not allowed" from "not authenticated" from other errors. */
const EXIT = { authentication: 4, permission: 3 } as const;

export interface TokenOpts {
  tokenFile?: string;
}

export async function readTokenFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new Error(`cannot read token file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** The caller's token: --token-file, else ACCESS_PERM_TOKEN, else the file named by ACCESS_PERM_TOKEN_FILE. */
export async function callerCredential(opts: TokenOpts): Promise<Credential> {
  if (opts.tokenFile) return { token: await readTokenFile(opts.tokenFile), source: 'cli' };
  const inline = process.env.ACCESS_PERM_TOKEN?.trim();
  if (inline) return { token: inline, source: 'cli' };
  const file = process.env.ACCESS_PERM_TOKEN_FILE;
  if (file) return { token: await readTokenFile(file), source: 'cli' };
  return { token: null, source: 'cli' };
}

const AUTH_HINTS: Record<AuthenticationError['failure'], string> = {
  missing: 'set ACCESS_PERM_TOKEN or ACCESS_PERM_TOKEN_FILE, or pass --token-file (an ADMIN issues tokens)',
  malformed: 'the token is not an access-perm token; ask an ADMIN for one (access-perm auth issue)',
  signature: 'the token was not signed by this installation; ask an ADMIN for a new one',
  expired: 'ask an ADMIN for a new token (access-perm auth issue --user <you>)',
  revoked: 'ask an ADMIN for a new token (access-perm auth issue --user <you>)',
  unknownUser: 'the token names a user this installation does not know; ask an ADMIN',
  capabilityUsed: 'ask access-perm for a new capability (access-perm auth capability); each one works once',
  capabilityMismatch: 'ask access-perm for a capability for exactly this operation, run and request',
};

/** Runs a command action; denials and refused tokens become one line on stderr and their own exit code. */
export function governed<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      const opts = args.find((a): a is { json?: boolean } => typeof a === 'object' && a !== null && 'json' in a);
      if (e instanceof PermissionDeniedError) {
        if (opts?.json) printJson(e.toResponse());
        err(
          `access-perm: permission denied: ${e.message} [required_permission ${e.required_permission}, your role ${e.user_role}, minimum_role ${e.minimum_role}]`,
        );
        if (e.auditFailure) err(`access-perm: warning: the denial could not be audited: ${e.auditFailure}`);
        process.exitCode = EXIT.permission;
        return;
      }
      if (e instanceof AuthenticationError) {
        err(`access-perm: ${e.message}: ${AUTH_HINTS[e.failure]}`);
        if (e.auditFailure) err(`access-perm: warning: the refusal could not be audited: ${e.auditFailure}`);
        process.exitCode = EXIT.authentication;
        return;
      }
      throw e;
    }
  };
}

/** Writes a token file readable by its owner only (a failed write leaves nothing behind). */
export async function writeSecretFile(path: string, content: string): Promise<void> {
  await (await prepareFile(resolve(path), content, 0o600)).commit();
}

export const tokenFileOption = (): Option =>
  new Option('--token-file <file>', 'file holding your token (else ACCESS_PERM_TOKEN / ACCESS_PERM_TOKEN_FILE)');
