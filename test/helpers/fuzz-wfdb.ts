/**
 * Seeded mutation fuzzing for the multi-file WFDB reader, the CinC `.mat` variant and the MATLAB parser: each case
 * takes a real record (header + signal files) and damages one part — header line edits (numbers made huge,
 * negative, fractional or empty; fields dropped, duplicated or swapped; formats and `x`/`:`/`+` suffixes changed;
 * lines deleted or duplicated; garbage inserted) or signal-file bytes (the byte mutations of fuzz-binary.ts) — or
 * drops a companion file. Every outcome must be a record or a LeadlightError. Reusable from tests and scripts:
 *   FUZZ_BINARY_CASES=1000 npx vitest run --project core test/core/readers/wfdb-fuzz.test.ts
 */
import type { InputFile } from '../../functions/core/record.ts';
import { fuzzCases, mutateBytes, type FuzzSummary } from './fuzz-binary.ts';

export { seededRandom, fuzzCaseCount, type FuzzSummary } from './fuzz-binary.ts';

const NUMBER_SWAPS = ['0', '-1', '1', '65536', '-32768', '2147483648', '1000000000000', '99999999999999999999', '1.5', '-0.0', 'NaN', '1e308', ''];
const FORMAT_SWAPS = ['8', '16', '24', '32', '61', '80', '160', '212', '310', '311', '0', '508', '999', '16x2', '16x64', '16x65', '16:3', '16+24', '16+999999999', '212x3:1+7', '16x0', 'x', '+'];
const GARBAGE = ['#', '/', '(', ')', '(-)', '/mV', '\t', ' ', '\u0000', '\u00e9', '\r', '\n', '999999999', '-', '.', '1716(6)/mV'];

function editHeader(text: string, random: () => number): string {
  const pick = (n: number) => Math.floor(random() * Math.max(1, n));
  const lines = text.split('\n');
  const li = random() < 0.3 ? 0 : pick(lines.length);
  const fields = lines[li].split(' ');
  const fi = pick(fields.length);
  switch (pick(9)) {
    case 0: // a number field becomes something extreme
      fields[fi] = NUMBER_SWAPS[pick(NUMBER_SWAPS.length)];
      break;
    case 1: // a signal line's format field changes
      if (li > 0 && fields.length > 1) fields[1] = FORMAT_SWAPS[pick(FORMAT_SWAPS.length)];
      else fields[fi] = FORMAT_SWAPS[pick(FORMAT_SWAPS.length)];
      break;
    case 2: // a field is dropped
      fields.splice(fi, 1);
      break;
    case 3: // a field is duplicated
      fields.splice(fi, 0, fields[fi]);
      break;
    case 4: // two fields swap
      { const fj = pick(fields.length); [fields[fi], fields[fj]] = [fields[fj], fields[fi]]; }
      break;
    case 5: // a line is deleted
      lines.splice(li, 1);
      return lines.join('\n');
    case 6: // a line is duplicated
      lines.splice(li, 0, lines[li]);
      return lines.join('\n');
    case 7: // garbage inside a field
      { const f = fields[fi]; const at = pick(f.length + 1); fields[fi] = f.slice(0, at) + GARBAGE[pick(GARBAGE.length)] + f.slice(at); }
      break;
    default: // the gain field gets a baseline/units variant
      if (fields.length > 2 && li > 0) fields[2] = ['0', '200(0)/uV', '1e-9/mV', '1e300/V', '-5/mV', '100(99999999999)/mV', '(5)', '1/', '1/µV'][pick(9)];
      break;
  }
  lines[li] = fields.join(' ');
  return lines.join('\n');
}

/** One damaged copy of a record (`files[0]` is its header); `random` drives every choice. */
export function mutateWfdbRecord(files: InputFile[], random: () => number): InputFile[] {
  const out = files.map((f) => ({ name: f.name, bytes: f.bytes }));
  const r = random();
  if (r < 0.45) {
    const text = new TextDecoder().decode(out[0].bytes);
    let edited = text;
    for (let k = 0, n = 1 + Math.floor(random() * 3); k < n; k++) edited = editHeader(edited, random);
    out[0] = { name: out[0].name, bytes: new TextEncoder().encode(edited) };
  } else if (r < 0.6) {
    out[0] = { name: out[0].name, bytes: mutateBytes(out[0].bytes, random, 256) };
  } else if (r < 0.95 || out.length < 2) {
    const k = out.length > 1 ? 1 + Math.floor(random() * (out.length - 1)) : 0;
    out[k] = { name: out[k].name, bytes: mutateBytes(out[k].bytes, random, 512) };
  } else {
    out.splice(1 + Math.floor(random() * (out.length - 1)), 1); // a companion goes missing
  }
  return out;
}

/**
 * Runs `cases` seeded mutations of a record through `run` (e.g. readEcg) and classifies the outcomes; seeds are
 * `seed + k`, so a failing case is reproduced by its seed.
 */
export async function fuzzWfdbRecord(
  files: InputFile[],
  cases: number,
  seed: number,
  run: (files: InputFile[]) => Promise<unknown>,
): Promise<FuzzSummary> {
  return fuzzCases(cases, seed, (random) => mutateWfdbRecord(files, random), run);
}
