#!/usr/bin/env node
/**
 * `leadlight` — the command line (../shared/docs/contract.md, "Commands"): `analyze`, `cohort`, `bench`, and
 * issue 16's `compare` (method agreement) and `sanity` (model randomisation).
 * A thin shell: it reads files, picks the runtime and calls the same core pipeline the Worker runs.
 * Bad input exits 2 with one line `error <code>: <message>` on stderr and no stack trace.
 */
import { isLeadlightError, LeadlightError } from '../core/errors.ts';

const USAGE = `Usage:
  leadlight analyze FILE... [--model ID] [--method METHOD] [--class NAME] [--steps N|auto]
                            [--weights FILE] [--runtime wasm|native] [--out PATH]
  leadlight cohort --labels LABELS.csv --out DIR [--model ID] [--method METHOD] [--class NAME] [--runtime native|wasm [--lean-memory]]
                   [--methods A,B,... ] [--sanity [--sanity-records N]] [--beat-leads V1,V6,...]
                   [--remote URL [--name NAME] [--expiry 1d|7d|30d|never]]
  leadlight compare FILE... [--methods ig,gradient,...] [--model ID] [--class NAME] [--steps N|auto] [--runtime native|wasm] [--out PATH]
  leadlight sanity FILE... [--model ID] [--method METHOD] [--class NAME] [--steps N|auto] [--seed N] [--weights FILE] [--out PATH]
  leadlight bench [--json] [--model ID] [--weights FILE] [--runtime wasm|native|workerd]
Methods: ig (default), gradient, gradient-x-input, lrp-epsilon, lrp-alpha1-beta0.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'analyze':
      return (await import('./analyze.ts')).runAnalyze(rest);
    case 'cohort':
      return (await import('./cohort.ts')).runCohort(rest);
    case 'compare':
      return (await import('./compare.ts')).runCompare(rest);
    case 'sanity':
      return (await import('./sanity.ts')).runSanity(rest);
    case 'bench':
      return (await import('./bench.ts')).runBench(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new LeadlightError('request_invalid', `Unknown command "${command}".\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isLeadlightError(error)) {
      process.stderr.write(`error ${error.code}: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`error internal: ${message.split('\n')[0]}\n`);
      if (process.env.LEADLIGHT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      process.exitCode = 1;
    }
  },
);
