import { InvalidArgumentError, Option } from 'commander';

/** Human-facing lines go to stderr so stdout stays clean for --json. */
export const err = (line: string): void => void process.stderr.write(`${line}\n`);

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A commander option parser for positive integers that names the option in its error. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
    return n;
  };
}

/** `--reason`, mandatory and not blank: manual actions record why (seed-3 §4). */
export const reasonOption = (): Option =>
  new Option('--reason <text>', 'why (mandatory, recorded in the audit log)')
    .makeOptionMandatory()
    .argParser((value: string) => {
      if (!value.trim()) throw new InvalidArgumentError('a reason is required: manual actions record why (seed-3 §4)');
      return value;
    });

/** The environment variable (or `--api`) naming the control-plane API governed commands go through. */
export const API_ENV = 'ACCESS_PERM_API';
