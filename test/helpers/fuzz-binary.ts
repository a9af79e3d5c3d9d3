/**
 * Seeded mutation fuzzing for the binary and text ECG readers (DICOM, SCP-ECG, EDF, CSV) and the ZIP expansion:
 * turns a real fixture into damaged variants (bit flips, extreme bytes, 16/32-bit fields overwritten with huge or
 * negative values, truncation, deleted or duplicated ranges, injected text tokens) and runs each through
 * sniff → read → toEcgRecord (or through readEcg for archives). Every outcome must be a record or a
 * LeadlightError; anything else (TypeError, RangeError, hang) is a reader bug. Reusable from any test or script:
 *   FUZZ_BINARY_CASES=1000 npx vitest run --project core test/core/readers/edf.test.ts test/core/readers/scp.test.ts \
 *     test/core/readers/dicom.test.ts test/core/readers/csv.test.ts test/core/readers/archive.test.ts
 */
import { seededRandom } from './random.ts';
import { isLeadlightError } from '../../functions/core/errors.ts';
import { type InputFile, toEcgRecord } from '../../functions/core/record.ts';
import type { EcgReader, ReadOptions } from '../../functions/core/readers/types.ts';
import { DEFAULT_READ_OPTIONS } from '../../functions/core/readers/types.ts';

export { seededRandom };

const TEXT_TOKENS = ['NaN', 'Infinity', '-Infinity', '1e308', '-1e309', '', ',', ';', '\t', '\n', '"', 'I', 'V1', 'time', 'Sampling Rate (Hz): 0', 'Gain: 0', '\u0000', '9'.repeat(40)];
const EXTREME_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x00010000, 0x0000ffff];

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

/**
 * One mutated copy of `bytes`; `random` drives every choice so a seed reproduces the case. `hotEnd` biases
 * positions towards the first bytes (headers) for half of the mutations.
 */
export function mutateBytes(bytes: Uint8Array, random: () => number, hotEnd = 4096): Uint8Array {
  const pick = (n: number) => Math.floor(random() * Math.max(1, n));
  const position = () => (random() < 0.5 ? pick(Math.min(bytes.length, hotEnd)) : pick(bytes.length));
  const kind = pick(8);
  const out = bytes.slice();
  switch (kind) {
    case 0: {
      // flip a few bits
      for (let k = 0, n = 1 + pick(8); k < n; k++) out[position()] ^= 1 << pick(8);
      return out;
    }
    case 1: {
      // extreme byte values
      for (let k = 0, n = 1 + pick(4); k < n; k++) out[position()] = [0x00, 0xff, 0x7f, 0x80, 0x30, 0x20][pick(6)];
      return out;
    }
    case 2: {
      // a 32-bit or 16-bit little-endian field set to an extreme value (sizes, counts, offsets)
      const at = position();
      const v = EXTREME_U32[pick(EXTREME_U32.length)];
      const width = random() < 0.5 ? 2 : 4;
      for (let b = 0; b < width && at + b < out.length; b++) out[at + b] = (v >>> (8 * b)) & 0xff;
      return out;
    }
    case 3:
      // truncate
      return bytes.slice(0, pick(bytes.length));
    case 4: {
      // delete a range
      const at = position();
      return splice(bytes, at, Math.min(bytes.length - at, 1 + pick(64)), new Uint8Array(0));
    }
    case 5: {
      // duplicate a range
      const at = position();
      const len = Math.min(bytes.length - at, 1 + pick(256));
      return splice(bytes, at, 0, bytes.slice(at, at + len));
    }
    case 6: {
      // inject a text token (exercises text readers and ASCII header fields)
      const token = new TextEncoder().encode(TEXT_TOKENS[pick(TEXT_TOKENS.length)]);
      const at = position();
      return random() < 0.5 ? splice(bytes, at, token.length, token) : splice(bytes, at, 0, token);
    }
    default: {
      // overwrite a run with random bytes
      const at = position();
      for (let k = 0, n = 1 + pick(32); k < n && at + k < out.length; k++) out[at + k] = pick(256);
      return out;
    }
  }
}

export interface FuzzSummary {
  cases: number;
  records: number;
  errorsByCode: Record<string, number>;
  /** Non-LeadlightError failures: `seed: message` (must stay empty). */
  crashes: string[];
  slowestMs: number;
}

/** How many cases a fuzz test runs: its default, or FUZZ_BINARY_CASES for a long run. */
export function fuzzCaseCount(defaultCases: number): number {
  const fromEnv = Number(globalThis.process?.env?.FUZZ_BINARY_CASES);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : defaultCases;
}

/**
 * Runs `cases` inputs made by `mutate(seededRandom(seed + k))` through `run` and classifies every outcome: a
 * record, a LeadlightError (by code), or a crash (anything else). A failing case is reproduced by its seed.
 */
export async function fuzzCases<T>(cases: number, seed: number, mutate: (random: () => number) => T, run: (mutated: T) => Promise<unknown>): Promise<FuzzSummary> {
  const summary: FuzzSummary = { cases, records: 0, errorsByCode: {}, crashes: [], slowestMs: 0 };
  for (let k = 0; k < cases; k++) {
    const mutated = mutate(seededRandom(seed + k));
    const start = performance.now();
    try {
      await run(mutated);
      summary.records++;
    } catch (e) {
      if (isLeadlightError(e)) summary.errorsByCode[e.code] = (summary.errorsByCode[e.code] ?? 0) + 1;
      else summary.crashes.push(`${seed + k}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    summary.slowestMs = Math.max(summary.slowestMs, performance.now() - start);
  }
  return summary;
}

/** Seeded byte mutations of one file through `run` (e.g. the reader's sniff → read → toEcgRecord). */
export function fuzzReader(file: InputFile, cases: number, seed: number, run: (mutated: InputFile) => Promise<unknown>): Promise<FuzzSummary> {
  return fuzzCases(cases, seed, (random) => ({ name: file.name, bytes: mutateBytes(file.bytes, random) }), run);
}

/** The default run for one reader: a file the reader does not sniff counts as refused (`unsupported_format`). */
export function readerRun(reader: EcgReader, options: Partial<ReadOptions> = {}): (f: InputFile) => Promise<unknown> {
  return async (f) => {
    if (!reader.sniff(f)) throw Object.assign(new Error('not sniffed'), { name: 'LeadlightError', code: 'unsupported_format' });
    const raw = await reader.read(f, [f], { ...DEFAULT_READ_OPTIONS, ...options });
    return toEcgRecord(raw);
  };
}
