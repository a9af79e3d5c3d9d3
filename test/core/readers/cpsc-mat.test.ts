/**
 * The CPSC 2018 MATLAB reader and the MAT Level 5 parser: the five original CPSC 2018 files in
 * torch_ecg_sample-data/sample-data/cpsc2018 against values scipy.io.loadmat gives (test/fixtures/readers/
 * wfdb-expected.json, computed by compute-wfdb-expected.py), and MAT v5 files written here — uncompressed and
 * miCOMPRESSED — from the real samples of CPSC record A0001 (CinC 2020 copy: data = val / 1000 mV), which the
 * reader must return exactly.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { zlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { cpscMatReader } from '../../../functions/core/readers/cpsc-mat.ts';
import { parseMatV4, parseMatV5 } from '../../../functions/core/readers/matlab.ts';
import { readWfdbDigital, wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { ecgDir } from '../../helpers/paths.ts';
import expected from '../../fixtures/readers/wfdb-expected.json' with { type: 'json' };

const cpscDir = join(ecgDir, 'torch_ecg_sample-data/sample-data/cpsc2018');
const cincDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const load = (dir: string, name: string): InputFile => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) });
const limits = { maxElements: 1e7, maxDecodedBytes: 1e9 };

// ---- a small MAT Level 5 writer (little-endian), enough for struct ECG{sex, age, data} ----

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
/** A tagged data element padded to 8 bytes. */
function element(type: number, data: Uint8Array): Uint8Array {
  const head = new DataView(new ArrayBuffer(8));
  head.setUint32(0, type, true);
  head.setUint32(4, data.length, true);
  const pad = new Uint8Array((8 - (data.length % 8)) % 8);
  return concat([new Uint8Array(head.buffer), data, pad]);
}
/** A small data element (up to 4 bytes packed into the tag). */
function smallElement(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint16(0, type, true);
  v.setUint16(2, data.length, true);
  out.set(data, 4);
  return out;
}
const u32 = (...xs: number[]) => new Uint8Array(new Uint32Array(xs).buffer);
const i32 = (...xs: number[]) => new Uint8Array(new Int32Array(xs).buffer);
const ascii = (s: string) => new TextEncoder().encode(s);
function matrix(classId: number, dims: number[], name: string, body: Uint8Array[]): Uint8Array {
  return element(14, concat([element(6, u32(classId, 0)), element(5, i32(...dims)), element(1, ascii(name)), ...body]));
}
function charMatrix(text: string): Uint8Array {
  return matrix(4, [1, text.length], '', [element(4, new Uint8Array(new Uint16Array([...text].map((c) => c.charCodeAt(0))).buffer))]);
}
function writeCpscMat(sex: string, age: number, data: Float64Array, rows: number, compressed: boolean): Uint8Array {
  const header = new Uint8Array(128).fill(0x20);
  header.set(ascii('MATLAB 5.0 MAT-file, written by the Leadlight reader tests'));
  header.fill(0, 116, 124);
  header.set([0x00, 0x01, 0x49, 0x4d], 124);
  const fieldNames = new Uint8Array(3 * 32);
  ['sex', 'age', 'data'].forEach((f, k) => fieldNames.set(ascii(f), k * 32));
  const struct = matrix(2, [1, 1], 'ECG', [
    smallElement(5, i32(32)),
    element(1, fieldNames),
    charMatrix(sex),
    matrix(9, [1, 1], '', [smallElement(2, new Uint8Array([age]))]),
    matrix(6, [rows, data.length / rows], '', [element(9, new Uint8Array(data.buffer))]),
  ]);
  const body = compressed ? (() => {
    const z = zlibSync(struct);
    const tag = new DataView(new ArrayBuffer(8));
    tag.setUint32(0, 15, true);
    tag.setUint32(4, z.length, true);
    return concat([new Uint8Array(tag.buffer), z]);
  })() : struct;
  return concat([header, body]);
}

/** A0001's samples from its CinC copy (MAT v4, int16 `val`, 1000 adu/mV) as mV, column-major 12 × N. */
function a0001Mv(): Float64Array {
  const mat = parseMatV4(load(cincDir, 'A0001.mat').bytes, limits);
  const val = mat.variables.find((v) => v.name === 'val')!.value;
  if (val.kind !== 'numeric') throw new Error('val is not numeric');
  expect(val.dims).toEqual([12, 7500]);
  return val.data.map((d) => d / 1000);
}

describe('CPSC 2018 MATLAB v5 files written from real samples', () => {
  const data = a0001Mv();
  for (const compressed of [false, true]) {
    it(`returns exactly the samples of A0001 from an ${compressed ? 'miCOMPRESSED' : 'uncompressed'} struct ECG`, async () => {
      const file = { name: 'A0001.mat', bytes: writeCpscMat('Male', 74, data, 12, compressed) };
      expect(cpscMatReader.sniff(file)).toBe(true);
      const raw = await cpscMatReader.read(file, [file], DEFAULT_READ_OPTIONS);
      expect(raw).toMatchObject({ name: 'A0001', format: 'cpsc-mat', samplingRateHz: 500, sex: 'M', ageYears: 74 });
      expect(raw.channels.map((c) => c.label)).toEqual(['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
      raw.channels.forEach((ch, lead) => {
        const want = Float64Array.from({ length: 7500 }, (_, n) => data[n * 12 + lead]);
        expect(Array.from(ch.samplesMv)).toEqual(Array.from(want));
      });
    });
  }

  it('reads a transposed N × 12 "data" matrix the same way', async () => {
    const t = new Float64Array(data.length);
    for (let n = 0; n < 7500; n++) for (let l = 0; l < 12; l++) t[l * 7500 + n] = data[n * 12 + l];
    const file = { name: 'x.mat', bytes: writeCpscMat('Female', 30, t, 7500, true) };
    const raw = await cpscMatReader.read(file, [file], DEFAULT_READ_OPTIONS);
    expect(raw.sex).toBe('F');
    expect(raw.channels[6].samplesMv[100]).toBe(data[100 * 12 + 6]);
  });

  it('turns the written file into a 12-lead record through readEcg', async () => {
    const record = await readEcg([{ name: 'A0001.mat', bytes: writeCpscMat('Male', 74, data, 12, true) }]);
    expect(record.format).toBe('cpsc-mat');
    expect(record.samples).toBe(7500);
    expect(record.derivedLeads).toEqual([]);
  });
});

describe('original CPSC 2018 files against scipy.io.loadmat', () => {
  const names = readdirSync(cpscDir).filter((n) => n.endsWith('.mat')).sort();
  it('finds the five originals', () => expect(names).toEqual(Object.keys(expected.cpsc2018Original)));
  it.each(names)('reads %s (miCOMPRESSED struct ECG) as scipy does', async (name) => {
    const want = expected.cpsc2018Original[name as keyof typeof expected.cpsc2018Original];
    const file = load(cpscDir, name);
    const raw = await cpscMatReader.read(file, [file], DEFAULT_READ_OPTIONS);
    expect(raw.sex).toBe(want.sex === 'Male' ? 'M' : 'F');
    expect(raw.ageYears).toBe(want.age);
    expect(raw.channels).toHaveLength(want.rows);
    raw.channels.forEach((ch, lead) => {
      expect(ch.samplesMv.length).toBe(want.cols);
      expect(ch.samplesMv[0]).toBe(want.firstColumn[lead]);
      expect(ch.samplesMv[want.cols - 1]).toBe(want.lastColumn[lead]);
      let sum = 0;
      for (const v of ch.samplesMv) sum += v;
      expect(sum).toBeCloseTo(want.sumPerLead[lead], 8);
    });
    const record = await readEcg([file]);
    expect(record.format).toBe('cpsc-mat');
  });
});

describe('MAT files without what the reader needs', () => {
  const code = async (p: Promise<unknown>) => {
    try { await p; return 'ok'; } catch (e) { return isLeadlightError(e) ? e.code : `unexpected ${String(e)}`; }
  };
  it('asks for the .hea when a CinC .mat (MAT v4 "val") is uploaded alone', async () => {
    expect(await code(readEcg([load(cincDir, 'A0001.mat')]))).toBe('record_incomplete');
  });
  it('refuses a MAT v5 file with a wrong endian indicator (magic) as unsupported_format', async () => {
    const file = load(cpscDir, 'A1980.mat');
    const bytes = file.bytes.slice();
    bytes[126] = 0x58; // "XM" instead of "IM"
    expect(cpscMatReader.sniff({ name: file.name, bytes })).toBe(false);
    expect(await code(readEcg([{ name: file.name, bytes }]))).toBe('unsupported_format');
  });
  it('reads the CinC .mat when its .hea is uploaded too, in either order', async () => {
    const r1 = await readEcg([load(cincDir, 'A0001.mat'), load(cincDir, 'A0001.hea')]);
    const r2 = await readEcg([load(cincDir, 'A0001.hea'), load(cincDir, 'A0001.mat')]);
    expect(r1.format).toBe('wfdb');
    expect(Array.from(r1.signalsMv[0])).toEqual(Array.from(r2.signalsMv[0]));
  });
  it('refuses a MAT v5 file that declares a matrix larger than the limits before allocating', async () => {
    const data = new Float64Array(12 * 10);
    const bytes = writeCpscMat('Male', 50, data, 12, false);
    // Patch the data matrix's second dimension (last miINT32 dims element before "data") to 10^9.
    const view = new DataView(bytes.buffer);
    let patched = false;
    for (let p = 128; p + 16 <= bytes.length; p += 8) {
      if (view.getUint32(p, true) === 5 && view.getUint32(p + 4, true) === 8 && view.getInt32(p + 8, true) === 12 && view.getInt32(p + 12, true) === 10) {
        view.setInt32(p + 12, 1e9, true);
        patched = true;
      }
    }
    expect(patched).toBe(true);
    expect(await code(cpscMatReader.read({ name: 'big.mat', bytes }, [], DEFAULT_READ_OPTIONS))).toBe('record_too_long');
  });
  it('refuses a compressed element that inflates beyond the byte limit', async () => {
    const bytes = writeCpscMat('Male', 50, new Float64Array(12 * 20000), 12, true);
    expect(bytes.length).toBeLessThan(10_000);
    const p = cpscMatReader.read({ name: 'bomb.mat', bytes }, [], { ...DEFAULT_READ_OPTIONS, maxDecodedBytes: 100_000 });
    expect(await code(p)).toBe('archive_too_large');
  });
});

describe('MAT Level 4 variants of the CinC signal file', () => {
  const hea = load(cincDir, 'A0001.hea');
  const original = readWfdbDigital(hea.bytes, [load(cincDir, 'A0001.mat')], DEFAULT_READ_OPTIONS);
  const val = parseMatV4(load(cincDir, 'A0001.mat').bytes, limits).variables[0].value;

  /** A MAT v4 file with one variable `val` (12 × 7500, column-major) of the given MOPT type. */
  function writeV4(mopt: number, littleEndian: boolean): Uint8Array {
    if (val.kind !== 'numeric') throw new Error('val is not numeric');
    const precision = Math.floor(mopt / 10) % 10;
    const size = [8, 4, 4, 2, 2, 1][precision];
    const out = new Uint8Array(24 + val.data.length * size);
    const v = new DataView(out.buffer);
    [mopt, 12, 7500, 0, 4].forEach((x, k) => v.setInt32(k * 4, x, littleEndian));
    out.set([0x76, 0x61, 0x6c, 0], 20);
    val.data.forEach((d, i) => {
      if (precision === 0) v.setFloat64(24 + i * 8, d, littleEndian);
      else if (precision === 3) v.setInt16(24 + i * 2, d, littleEndian);
      else v.setInt32(24 + i * 4, d, littleEndian);
    });
    return out;
  }

  it.each([
    ['big-endian int16 (MOPT 1030)', 1030, false],
    ['little-endian double (MOPT 0)', 0, true],
    ['big-endian int32 (MOPT 1020)', 1020, false],
  ] as const)('reads %s with the same samples as the original', (_what, mopt, le) => {
    const rec = readWfdbDigital(hea.bytes, [{ name: 'A0001.mat', bytes: writeV4(mopt, le) }], DEFAULT_READ_OPTIONS);
    rec.signals.forEach((s, k) => expect(Array.from(s.digital)).toEqual(Array.from(original.signals[k].digital)));
    expect(rec.warnings).toEqual([]);
  });

  it('turns NaN samples of a double-precision val into 0 mV with a warning naming the lead and count', async () => {
    const bytes = writeV4(0, true);
    const view = new DataView(bytes.buffer);
    for (const n of [10, 11]) view.setFloat64(24 + (n * 12 + 1) * 8, NaN, true); // lead II, samples 10 and 11
    const raw = await wfdbReader.read(hea, [hea, { name: 'A0001.mat', bytes }], DEFAULT_READ_OPTIONS);
    expect(raw.channels[1].samplesMv[10]).toBe(0);
    expect(raw.warnings.find((w) => w.code === 'samples_missing')?.message).toMatch(/^Lead II has 2 missing samples/u);
  });

  it('refuses a MAT v4 header declaring 12 × 2^31−1 values before allocating', () => {
    const bytes = writeV4(30, true).slice(0, 4096);
    new DataView(bytes.buffer).setInt32(8, 2 ** 31 - 1, true);
    const t0 = performance.now();
    expect(() => readWfdbDigital(hea.bytes, [{ name: 'A0001.mat', bytes }], DEFAULT_READ_OPTIONS)).toThrow(expect.objectContaining({ code: 'record_too_long' }));
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('refuses non-finite CPSC samples through readEcg as signal_invalid', async () => {
    const data = a0001Mv().slice();
    data[5] = NaN;
    const file = { name: 'nan.mat', bytes: writeCpscMat('Male', 74, data, 12, true) };
    await expect(readEcg([file])).rejects.toMatchObject({ code: 'signal_invalid' });
  });

  it('refuses a compressed element nested inside another as header_syntax', () => {
    const inner = writeCpscMat('Male', 1, new Float64Array(12 * 2), 12, true).subarray(128);
    const z = zlibSync(inner);
    const tag = new Uint8Array(8);
    new DataView(tag.buffer).setUint32(0, 15, true);
    new DataView(tag.buffer).setUint32(4, z.length, true);
    const file = concat([writeCpscMat('Male', 1, new Float64Array(0), 12, false).subarray(0, 128), tag, z]);
    expect(() => parseMatV5(file, limits)).toThrow(expect.objectContaining({ code: 'header_syntax' }));
  });
});
