import { findTemporalCli } from '../worker/temporalCli';

/** Fails fast, with the fix, when the Temporal CLI that server tests need is missing. */
export default function setup(): void {
  findTemporalCli();
}
