/**
 * Seeded fuzzing of the upload API through HTTP (issue 17): damaged uploads as raw multipart bodies — the readers'
 * mutations of real fixtures (fuzz-binary.ts, fuzz-wfdb.ts) plus faults of the multipart layer itself: broken or
 * missing boundaries, a body cut short, missing, duplicated or nameless parts, 10 000 parts, huge field values,
 * non-UTF-8 file names, unknown fields, empty files, garbage. Every answer must be a 2xx or a 4xx with the API's
 * error body, never a 5xx. Used by `test/api/http-fuzz.test.ts` (a few hundred cases in workerd) and by
 * `npm run fuzz -- --http` (≥ 1000 against a running server).
 */
import { concatBytes } from '../../functions/core/bytes.ts';
import type { InputFile } from '../../functions/core/record.ts';
import { mutateBytes } from './fuzz-binary.ts';
import { mutateWfdbRecord } from './fuzz-wfdb.ts';

export interface HttpFuzzCase {
  /** What the case does (for the report of a failing case). */
  kind: string;
  contentType: string;
  body: Uint8Array;
  /** `?async=1` (most cases): a readable upload is accepted at once and analysed later. */
  query: string;
}

const encoder = new TextEncoder();


interface Part {
  name: string | null;
  /** Raw bytes of the file name (so a case can send bytes that are not UTF-8); null for a text field. */
  filename: Uint8Array | null;
  body: Uint8Array;
}

/** A multipart/form-data body (RFC 7578) of `parts`, closed unless `unclosed`. */
function multipart(boundary: string, parts: Part[], unclosed = false): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    chunks.push(encoder.encode(`--${boundary}\r\nContent-Disposition: form-data${p.name === null ? '' : `; name="${p.name}"`}`));
    if (p.filename) chunks.push(encoder.encode('; filename="'), p.filename, encoder.encode('"\r\nContent-Type: application/octet-stream'));
    chunks.push(encoder.encode('\r\n\r\n'), p.body, encoder.encode('\r\n'));
  }
  if (!unclosed) chunks.push(encoder.encode(`--${boundary}--\r\n`));
  return concatBytes(chunks);
}

const filePart = (f: InputFile): Part => ({ name: 'file', filename: encoder.encode(f.name), body: f.bytes });
const field = (name: string, value: string): Part => ({ name, filename: null, body: encoder.encode(value) });

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Case `k` of a run: fixtures are whole uploads (a WFDB record's files, or one file). */
export function httpFuzzCase(fixtures: InputFile[][], random: () => number): HttpFuzzCase {
  const boundary = `----leadlight${Math.floor(random() * 1e9).toString(36)}`;
  const contentType = `multipart/form-data; boundary=${boundary}`;
  const fixture = pick(random, fixtures);
  const method = field('method', 'gradient');
  const make = (kind: string, parts: Part[], options: { type?: string; unclosed?: boolean } = {}): HttpFuzzCase => ({
    kind,
    contentType: options.type ?? contentType,
    body: multipart(boundary, parts, options.unclosed),
    query: '?async=1',
  });
  const roll = random();
  if (roll < 0.45) {
    // The readers' damage, uploaded as the page would.
    const damaged = fixture.length > 1 && random() < 0.5
      ? mutateWfdbRecord(fixture, random)
      : fixture.map((f, i) => (i === Math.floor(random() * fixture.length) ? { name: f.name, bytes: mutateBytes(f.bytes, random) } : f));
    return make('mutated file', [...damaged.map(filePart), method]);
  }
  const faults: (() => HttpFuzzCase)[] = [
    () => make('boundary in the header differs from the body', [...fixture.map(filePart), method], { type: `multipart/form-data; boundary=${boundary}x` }),
    () => make('no boundary parameter', [...fixture.map(filePart)], { type: 'multipart/form-data' }),
    () => make('not multipart', [...fixture.map(filePart)], { type: pick(random, ['application/json', 'text/plain', 'application/octet-stream', '']) }),
    () => make('body cut short (no closing boundary)', [...fixture.map(filePart), method], { unclosed: true }),
    () => {
      const whole = multipart(boundary, [...fixture.map(filePart), method]);
      return { kind: 'body truncated mid-part', contentType, body: whole.subarray(0, Math.floor(random() * whole.byteLength)), query: '?async=1' };
    },
    () => make('no file part', [method, field('model', 'cinc2020-ai-strollers')]),
    () => make('a field given twice', [...fixture.map(filePart), method, method]),
    () => make('a part without a name', [...fixture.map(filePart), { name: null, filename: null, body: encoder.encode('x') }]),
    () => make('10 000 parts', Array.from({ length: 10_000 }, (_, i) => (i % 2 ? field('x', 'y') : { name: 'file', filename: encoder.encode(`f${i}.hea`), body: new Uint8Array(1) }))),
    () => make('10 000 tiny files', Array.from({ length: 10_000 }, (_, i) => ({ name: 'file', filename: encoder.encode(`f${i}.dat`), body: new Uint8Array(2) }))),
    () => make('a huge field value', [...fixture.map(filePart), field(pick(random, ['model', 'label', 'cohort', 'name', 'method', 'steps']), 'A'.repeat(1 + Math.floor(random() * 2_000_000)))]),
    () => make('a file name that is not UTF-8', fixture.map((f) => ({ name: 'file', filename: concatBytes([Uint8Array.of(0xff, 0xfe, 0xc3, 0x28), encoder.encode(f.name)]), body: f.bytes }))),
    () => make('a file name with path, NUL and control characters', fixture.map((f) => ({ name: 'file', filename: encoder.encode(`../../\u0000\u0007${'x'.repeat(Math.floor(random() * 5000))}/${f.name}`), body: f.bytes }))),
    () => make('an unknown field', [...fixture.map(filePart), field(pick(random, ['__proto__', 'constructor', 'x'.repeat(300), 'Model', 'file[]']), '1')]),
    () => make('a file given as text', [field('file', 'not a file'), method]),
    () => make('options out of range', [...fixture.map(filePart), field('steps', pick(random, ['0', '-1', '99999', '1.5', 'NaN', '1e9'])), field('model', pick(random, ['nope', '', '../x', 'cinc2020-ai-strollers']))]),
    () => make('empty files', fixture.map((f) => ({ ...filePart(f), body: new Uint8Array(0) }))),
    () => ({ kind: 'garbage body', contentType, body: Uint8Array.from({ length: Math.floor(random() * 5000) }, () => Math.floor(random() * 256)), query: '?async=1' }),
    () => ({ kind: 'empty body', contentType, body: new Uint8Array(0), query: pick(random, ['?async=1', '?stream=1', '']) }),
  ];
  return pick(random, faults)();
}
