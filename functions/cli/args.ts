/**
 * Argument parsing and input-file gathering shared by the CLI commands. Option errors are LeadlightErrors
 * (`option_invalid`) so they exit 2 with a clear line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LeadlightError } from '../core/errors.ts';
import type { InputFile } from '../core/record.ts';

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new LeadlightError('option_invalid', `${(e as Error).message.split('\n')[0]}. Run "leadlight --help" for the options.`);
  }
}

export function parseIntegerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/u.test(value)) throw new LeadlightError('option_invalid', `--${name} must be a whole number; got "${value}".`);
  return Number(value);
}

export function parseRuntime(value: string | undefined, allowed: readonly string[] = ['wasm', 'native']): string {
  const runtime = value ?? allowed[0];
  if (!allowed.includes(runtime)) throw new LeadlightError('option_invalid', `--runtime must be one of ${allowed.join(', ')}; got "${runtime}".`);
  return runtime;
}

/** Largest single file the CLI reads (the readers bound what they decode; this bounds what is read at all). */
export const MAX_CLI_FILE_BYTES = 512 * 1024 * 1024;

/**
 * Reads the files of one record. A WFDB record is given by its `.hea`: companion files beside it that share the
 * record's name (`A0001.mat`, `s0010_re.dat`, `s0010_re.xyz`) are read too. Names are passed without directories.
 */
export function gatherRecordFiles(paths: string[]): InputFile[] {
  if (paths.length === 0) throw new LeadlightError('request_invalid', 'Give an ECG file to analyse, e.g. leadlight analyze A0001.hea');
  const chosen = new Map<string, string>();
  for (const p of paths) {
    const full = resolve(p);
    if (!existsSync(full) || !statSync(full).isFile()) throw new LeadlightError('request_invalid', `There is no file "${p}".`);
    chosen.set(basename(full), full);
    if (/\.hea$/iu.test(full)) {
      const stem = basename(full).replace(/\.hea$/iu, '');
      for (const name of readdirSync(dirname(full))) {
        if (name !== basename(full) && name.startsWith(`${stem}.`) && !chosen.has(name)) chosen.set(name, join(dirname(full), name));
      }
    }
  }
  return [...chosen].map(([name, full]) => {
    const size = statSync(full).size;
    if (size > MAX_CLI_FILE_BYTES) throw new LeadlightError('file_too_large', `${name} has ${size} bytes; at most ${MAX_CLI_FILE_BYTES} are read.`);
    return { name, bytes: new Uint8Array(readFileSync(full)) };
  });
}
