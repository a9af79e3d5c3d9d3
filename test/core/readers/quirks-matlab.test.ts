/**
 * MATLAB v5 `.mat` files with a struct `ECG` (the CPSC 2018 layout) from writers that state the sampling rate in a
 * field (`fs`, `Fs`, `freq`, `sampleRate`, `samplingRate`, `SamplingFrequency`, …) or a top-level variable. Written
 * here ("MATLAB 7 MAT-File Format": 128-byte header, miMATRIX elements, optionally miCOMPRESSED) from a known
 * signal: 12 sines of known amplitudes in mV at 1000 Hz, 2 s, as `data` 12 × N or N × 12.
 */
import { zlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { cpscMatReader } from '../../../functions/core/readers/cpsc-mat.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { codeAndMessageOf } from '../../helpers/outcomes.ts';

const FS = 1000;
const N = 2 * FS;
/** Lead k: a sine of amplitude 0.2 + 0.1·k mV at (1 + k/2) Hz. */
const sineMv = (k: number, n: number) => (0.2 + 0.1 * k) * Math.sin((2 * Math.PI * (1 + k / 2) * n) / FS);

// ---- a minimal MAT Level 5 writer (little-endian) ----

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
/** A data element: 8-byte tag (type, byte count), the data, padding to 8 bytes. */
function element(type: number, data: Uint8Array): Uint8Array {
  const tag = new DataView(new ArrayBuffer(8));
  tag.setUint32(0, type, true);
  tag.setUint32(4, data.length, true);
  return concat([new Uint8Array(tag.buffer), data, new Uint8Array((8 - (data.length % 8)) % 8)]);
}
/** A small data element: count and type in the first 4 bytes, up to 4 bytes of data in the next 4. */
function smallElement(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setUint32(0, (data.length << 16) | type, true);
  out.set(data, 4);
  return out;
}
const i32 = (...xs: number[]) => new Uint8Array(new Int32Array(xs).buffer);
const u32 = (...xs: number[]) => new Uint8Array(new Uint32Array(xs).buffer);
const text = (s: string) => new TextEncoder().encode(s);
/** miMATRIX: array flags (class), dimensions, name, then the body elements. */
const matrix = (classId: number, dims: number[], name: string, body: Uint8Array[]) =>
  element(14, concat([element(6, u32(classId, 0)), element(5, i32(...dims)), element(1, text(name)), ...body]));

type Value = { double: number[]; dims: number[] } | { uint16: number } | { single: number } | { char: string };
const DOUBLE = 6;
/** A MATLAB value as MATLAB writes it: doubles as miDOUBLE; a whole number as double class stored in miUINT16. */
function valueElement(name: string, v: Value): Uint8Array {
  if ('double' in v) return matrix(DOUBLE, v.dims, name, [element(9, new Uint8Array(new Float64Array(v.double).buffer))]);
  if ('uint16' in v) return matrix(DOUBLE, [1, 1], name, [smallElement(4, new Uint8Array(new Uint16Array([v.uint16]).buffer))]);
  if ('single' in v) return matrix(7, [1, 1], name, [smallElement(7, new Uint8Array(new Float32Array([v.single]).buffer))]);
  return matrix(4, [1, v.char.length], name, [element(4, new Uint8Array(new Uint16Array([...v.char].map((c) => c.charCodeAt(0))).buffer))]);
}
function struct(name: string, fields: [string, Value][]): Uint8Array {
  const names = new Uint8Array(32 * fields.length);
  fields.forEach(([f], k) => names.set(text(f), 32 * k));
  return matrix(2, [1, 1], name, [smallElement(5, i32(32)), element(1, names), ...fields.map(([, v]) => valueElement('', v))]);
}
/** A MAT v5 file of top-level elements (each compressed on its own when asked, as MATLAB -v7 does). */
function matFile(elements: Uint8Array[], compressed: boolean): Uint8Array {
  const header = new Uint8Array(128).fill(0x20);
  header.set(text('MATLAB 5.0 MAT-file, written by the Leadlight quirk tests'));
  header.fill(0, 116, 124);
  header.set([0x00, 0x01, 0x49, 0x4d], 124);
  const body = elements.map((e) => (compressed ? (() => {
    const z = zlibSync(e);
    return concat([u32(15, z.length), z]);
  })() : e));
  return concat([header, ...body]);
}
/** The 12 sines as `data`: 12 × N (leads as rows, as CPSC 2018) or N × 12, column-major. */
function data(orientation: '12xN' | 'Nx12'): Value {
  const out = new Array<number>(12 * N);
  for (let k = 0; k < 12; k++) for (let n = 0; n < N; n++) out[orientation === '12xN' ? n * 12 + k : k * N + n] = sineMv(k, n);
  return { double: out, dims: orientation === '12xN' ? [12, N] : [N, 12] };
}

async function expectSignal(bytes: Uint8Array, rateHz: number, options = {}) {
  const record = await readEcg([{ name: 'quirk.mat', bytes }], options);
  expect(record.format).toBe('cpsc-mat');
  expect(record.samplingRateHz).toBe(rateHz);
  expect(record.samples).toBe(N);
  LEAD_ORDER.forEach((lead, k) => {
    let worst = 0;
    for (let n = 0; n < N; n++) worst = Math.max(worst, Math.abs(record.signalsMv[k][n] - sineMv(k, n)));
    expect(worst, `lead ${lead}`).toBeLessThan(1e-6);
  });
  return record;
}

describe('MATLAB struct ECG with a sampling-rate field', () => {
  const names = ['fs', 'Fs', 'freq', 'sampleRate', 'samplingRate', 'SamplingFrequency', 'srate', 'sampling_rate'];
  for (const name of names) {
    for (const orientation of ['12xN', 'Nx12'] as const) {
      it(`reads ECG.${name} = 1000 with data ${orientation} at 1000 Hz, without a warning`, async () => {
        const bytes = matFile([struct('ECG', [['data', data(orientation)], [name, { uint16: 1000 }], ['sex', { char: 'Male' }]])], true);
        const record = await expectSignal(bytes, 1000);
        expect(record.warnings).toEqual([]);
        expect(record.sex).toBe('M');
      });
    }
  }

  it.each([
    ['a double', { double: [1000], dims: [1, 1] }],
    ['a single', { single: 1000 }],
    ['text "1000 Hz"', { char: '1000 Hz' }],
    ['one equal rate per lead (1 × 12)', { double: new Array(12).fill(1000), dims: [1, 12] }],
  ] as const)('reads the rate stored as %s', async (_what, value) => {
    const bytes = matFile([struct('ECG', [['data', data('12xN')], ['fs', value as Value]])], false);
    expect((await expectSignal(bytes, 1000)).warnings).toEqual([]);
  });

  it('reads a top-level variable fs next to a struct without a rate field', async () => {
    const bytes = matFile([struct('ECG', [['data', data('12xN')]]), valueElement('fs', { uint16: 1000 })], true);
    expect((await expectSignal(bytes, 1000)).warnings).toEqual([]);
  });

  it('prefers the rate of the file to a given one, and says so', async () => {
    const bytes = matFile([struct('ECG', [['data', data('12xN')], ['Fs', { uint16: 1000 }]])], true);
    const record = await expectSignal(bytes, 1000, { samplingRateHz: 500 });
    expect(record.warnings).toEqual([
      { code: 'sampling_rate_conflict', message: 'The file states 1000 Hz (the field "Fs" of struct "ECG"); the given 500 Hz was ignored.' },
    ]);
  });
});

describe('MATLAB struct ECG without a sampling-rate field', () => {
  const bytes = matFile([struct('ECG', [['sex', { char: 'Female' }], ['age', { uint16: 40 }], ['data', data('12xN')]])], true);

  it('assumes the CPSC 2018 rate of 500 Hz and says so', async () => {
    const raw = await cpscMatReader.read({ name: 'q.mat', bytes }, [], DEFAULT_READ_OPTIONS);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.warnings).toEqual([
      {
        code: 'sampling_rate_assumed',
        message: 'The MATLAB file states no sampling rate (no field such as "fs" or "samplingRate"); 500 Hz, the rate of CPSC 2018 files, was assumed. Give the rate if the ECG was recorded at another.',
      },
    ]);
  });

  it('uses a given rate without a warning', async () => {
    expect((await expectSignal(bytes, 1000, { samplingRateHz: 1000 })).warnings).toEqual([]);
  });
});

describe('MATLAB sampling-rate fields that are refused', () => {
  it.each([
    ['0', { uint16: 0 }, '0'],
    ['NaN', { double: [Number.NaN], dims: [1, 1] }, 'NaN'],
    ['text', { char: 'fast' }, '"fast"'],
    ['empty', { double: [], dims: [0, 0] }, '0 × 0 values'],
    ['unequal per lead', { double: [500, 1000], dims: [1, 2] }, '1 × 2 values'],
  ] as const)('refuses a rate field that is %s with sampling_rate_unsupported naming the field', async (_what, value, shown) => {
    const file = { name: 'q.mat', bytes: matFile([struct('ECG', [['data', data('12xN')], ['samplingRate', value as Value]])], false) };
    const outcome = await cpscMatReader.read(file, [], DEFAULT_READ_OPTIONS).then(() => 'no error', (e) => codeAndMessageOf(() => { throw e; }));
    expect(outcome).toBe(
      `sampling_rate_unsupported: The MATLAB file states its sampling rate in the field "samplingRate" of struct "ECG", but its value (${shown}) is not a positive number of Hz; save the rate as a number (e.g. fs = 500).`,
    );
  });
});
