/**
 * Seeded mutation fuzzing for the XML ECG readers: turns a real fixture into many damaged variants (bit flips,
 * truncation, deleted/duplicated ranges, injected markup and entity tricks, damaged base64, absurd numbers) and
 * runs them through sniff → read → toEcgRecord, classifying every outcome. Reusable from any test or script:
 *   FUZZ_XML_CASES=1000 npx vitest run --project core test/core/readers/xml-fuzz.test.ts
 */
import { seededRandom } from './random.ts';
import { isLeadlightError } from '../../functions/core/errors.ts';
import { type InputFile, toEcgRecord } from '../../functions/core/record.ts';
import type { EcgReader } from '../../functions/core/readers/types.ts';
import { DEFAULT_READ_OPTIONS } from '../../functions/core/readers/types.ts';

export { seededRandom };

const INJECTIONS = [
  '<',
  '>',
  '&',
  '&lol;',
  '&#0;',
  '&#x110000;',
  ']]>',
  '</',
  '<a>',
  '</a>',
  '<!--',
  '<![CDATA[',
  '<?xml version="1.0"?>',
  '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
  '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
  '"',
  "'",
  '=',
  '*',
  '====',
  '99999999999',
  '-1',
  '0',
  'NaN',
  '1e308',
  '\u0000',
  '\uFFFF',
];

function encodeLike(original: Uint8Array, text: string): Uint8Array {
  // Keep UTF-16 files UTF-16 so injected markup lands as characters, not as broken half-units.
  if (original[0] === 0xff && original[1] === 0xfe) {
    const out = new Uint8Array(text.length * 2);
    for (let i = 0; i < text.length; i++) {
      out[2 * i] = text.charCodeAt(i) & 0xff;
      out[2 * i + 1] = text.charCodeAt(i) >> 8;
    }
    return out;
  }
  return new TextEncoder().encode(text);
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

/** One mutated copy of `bytes`; `random` drives every choice, so a seed reproduces the case. */
export function mutateXmlBytes(bytes: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n);
  const unit = bytes[0] === 0xff && bytes[1] === 0xfe ? 2 : 1;
  const position = () => pick(Math.floor(bytes.length / unit)) * unit;
  const kind = pick(8);
  switch (kind) {
    case 0: {
      // Flip a few random bits.
      const out = bytes.slice();
      const flips = 1 + pick(8);
      for (let k = 0; k < flips; k++) out[pick(out.length)] ^= 1 << pick(8);
      return out;
    }
    case 1:
      // Truncate.
      return bytes.slice(0, position());
    case 2: {
      // Delete a range.
      const at = position();
      return splice(bytes, at, Math.min(bytes.length - at, (1 + pick(2000)) * unit), new Uint8Array(0));
    }
    case 3: {
      // Duplicate a range elsewhere.
      const from = position();
      const piece = bytes.slice(from, Math.min(bytes.length, from + (1 + pick(4000)) * unit));
      return splice(bytes, position(), 0, piece);
    }
    case 4:
      // Inject markup, entity tricks or absurd values.
      return splice(bytes, position(), 0, encodeLike(bytes, INJECTIONS[pick(INJECTIONS.length)]));
    case 5: {
      // Overwrite the text of some element with an absurd value (declared sizes, rates, gains).
      const text = decodeForMutation(bytes);
      const matches = [...text.matchAll(/>([^<>]{1,40})</gu)];
      if (!matches.length) return bytes.slice(0, position());
      const m = matches[pick(matches.length)];
      const replacement = ['0', '-5', '99999999999', 'NaN', '', '1e9', 'TRUE', '===='][pick(8)];
      const start = (m.index ?? 0) + 1;
      return encodeLike(bytes, text.slice(0, start) + replacement + text.slice(start + m[1].length));
    }
    case 6: {
      // Overwrite an attribute value.
      const text = decodeForMutation(bytes);
      const matches = [...text.matchAll(/="([^"]{0,60})"/gu)];
      if (!matches.length) return bytes.slice(0, position());
      const m = matches[pick(matches.length)];
      const replacement = ['0', '-1', '99999999', 'XLI', 'None', 'I II', '', 'Base64'][pick(8)];
      const start = (m.index ?? 0) + 2;
      return encodeLike(bytes, text.slice(0, start) + replacement + text.slice(start + m[1].length));
    }
    default: {
      // Damage a run of base64/digit characters inside long text (the waveform payload).
      const out = bytes.slice();
      const at = position();
      const n = 1 + pick(64);
      for (let k = 0; k < n && at + k * unit < out.length; k++) out[at + k * unit] = '+/=A0-9 *'.charCodeAt(pick(9));
      return out;
    }
  }
}

function decodeForMutation(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    let s = '';
    for (let i = 2; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
    return '\uFEFF' + s;
  }
  return new TextDecoder('latin1').decode(bytes);
}

export interface FuzzOutcome {
  cases: number;
  records: number;
  /** LeadlightError codes and how often each occurred. */
  errors: Record<string, number>;
  /** Any outcome that was neither a record nor a LeadlightError (must stay empty). */
  failures: { seed: number; index: number; error: string }[];
  slowestMs: number;
}

/**
 * Runs `cases` seeded mutations of `bytes` through the first of `readers` that sniffs them (no sniff → counted
 * as `unsupported_format`, as readEcg would report), then toEcgRecord. Every outcome must be a record or a
 * LeadlightError; anything else is collected in `failures`.
 */
export async function fuzzXmlReaders(readers: EcgReader[], name: string, bytes: Uint8Array, seed: number, cases: number): Promise<FuzzOutcome> {
  const random = seededRandom(seed);
  const outcome: FuzzOutcome = { cases, records: 0, errors: {}, failures: [], slowestMs: 0 };
  for (let index = 0; index < cases; index++) {
    const mutated = mutateXmlBytes(bytes, random);
    const file: InputFile = { name, bytes: mutated };
    const started = performance.now();
    try {
      const reader = readers.find((r) => r.sniff(file));
      if (!reader) {
        outcome.errors.unsupported_format = (outcome.errors.unsupported_format ?? 0) + 1;
      } else {
        const raw = await reader.read(file, [file], DEFAULT_READ_OPTIONS);
        toEcgRecord(raw);
        outcome.records++;
      }
    } catch (e) {
      if (isLeadlightError(e)) outcome.errors[e.code] = (outcome.errors[e.code] ?? 0) + 1;
      else outcome.failures.push({ seed, index, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
    outcome.slowestMs = Math.max(outcome.slowestMs, performance.now() - started);
  }
  return outcome;
}
