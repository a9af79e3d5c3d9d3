/**
 * The WFDB reader on damaged and hostile uploads, and on header variants the shared data does not cover: each
 * case ends in a record or in its stable LeadlightError code, quickly and without allocating what a header claims.
 * Inputs are real files (test01_00s, A0001) edited byte by byte or line by line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { readWfdbDigital, wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { ecgDir } from '../../helpers/paths.ts';

const sampleDir = join(ecgDir, 'wfdb-python_sample-data/sample-data');
const cincDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const bytesOf = (dir: string, name: string) => new Uint8Array(readFileSync(join(dir, name)));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const test01Dat = bytesOf(sampleDir, 'test01_00s.dat');
const test01Hea = new TextDecoder().decode(bytesOf(sampleDir, 'test01_00s.hea'));
const a0001 = { hea: new TextDecoder().decode(bytesOf(cincDir, 'A0001.hea')), mat: bytesOf(cincDir, 'A0001.mat') };

async function outcome(main: InputFile, files: InputFile[]): Promise<string> {
  try {
    await wfdbReader.read(main, files, DEFAULT_READ_OPTIONS);
    return 'ok';
  } catch (e) {
    return isLeadlightError(e) ? e.code : `unexpected: ${String(e)}`;
  }
}
async function readEcgOutcome(files: InputFile[]): Promise<string> {
  try {
    await readEcg(files);
    return 'ok';
  } catch (e) {
    return isLeadlightError(e) ? e.code : `unexpected: ${String(e)}`;
  }
}
const hea = (s: string, name = 'r.hea'): InputFile => ({ name, bytes: text(s) });

describe('hostile WFDB uploads', () => {
  it('refuses a truncated .dat with truncated_signal', async () => {
    const dat = { name: 'test01_00s.dat', bytes: test01Dat.subarray(0, 1000) };
    const h = hea(test01Hea, 'test01_00s.hea');
    expect(await outcome(h, [h, dat])).toBe('truncated_signal');
  });

  it('refuses a header claiming 10^12 samples quickly, before allocating', async () => {
    const h = hea(test01Hea.replace('test01_00s 4 500 4000', 'test01_00s 4 500 1000000000000'), 'test01_00s.hea');
    const dat = { name: 'test01_00s.dat', bytes: test01Dat };
    const t0 = performance.now();
    expect(await outcome(h, [h, dat])).toBe('record_too_long');
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('names the line of a header syntax error', () => {
    const bad = test01Hea.replace('test01_00s.dat 16 100/mV', 'test01_00s.dat 16 abc/mV');
    try {
      readWfdbDigital(text(bad), [], DEFAULT_READ_OPTIONS);
      expect.unreachable();
    } catch (e) {
      expect(isLeadlightError(e) && e.code).toBe('header_syntax');
      expect((e as Error).message).toMatch(/^Line 2 of the WFDB header/u);
    }
  });

  it.each([
    ['a non-numeric sampling frequency', 'r 1 fast 100\nr.dat 16 200 16 0 0 0 0 I\n'],
    ['fewer signal lines than declared', 'r 3 500 100\nr.dat 16 200 16 0 0 0 0 I\n'],
    ['more signal lines than declared', 'r 1 500 100\nr.dat 16 200 16 0 0 0 0 I\nr.dat 16 200 16 0 0 0 0 II\n'],
    ['an unknown format', 'r 1 500 100\nr.dat 17 200 16 0 0 0 0 I\n'],
    ['a non-integer ADC zero', 'r 1 500 100\nr.dat 16 200 16 zero 0 0 0 I\n'],
    ['100000 signals', 'r 100000 500 100\n'],
    ['different formats in one file', 'r 2 500 100\nr.dat 16 200 16 0 0 0 0 I\nr.dat 212 200 12 0 0 0 0 II\n'],
    ['no record line at all', '# only a comment\n\n'],
  ])('refuses a header with %s as header_syntax', async (_what, header) => {
    const h = hea(header);
    expect(await outcome(h, [h, { name: 'r.dat', bytes: new Uint8Array(400) }])).toBe('header_syntax');
  });

  it('refuses FLAC formats and multi-segment records as encoding_unsupported', async () => {
    const flac = hea('r 1 500 100\nr.dat 516 200 16 0 0 0 0 I\n');
    const multi = hea('r/2 1 500 100\nr_1 50\nr_2 50\n');
    expect(await outcome(flac, [flac])).toBe('encoding_unsupported');
    expect(await outcome(multi, [multi])).toBe('encoding_unsupported');
  });

  it('asks for a missing signal file with record_incomplete', async () => {
    const h = hea(test01Hea, 'test01_00s.hea');
    expect(await outcome(h, [h])).toBe('record_incomplete');
    expect(await readEcgOutcome([h])).toBe('record_incomplete');
  });

  it('refuses a record with zero signals, and a one-lead record through readEcg, as lead_missing', async () => {
    const zero = hea('r 0 500 100\n');
    expect(await outcome(zero, [zero])).toBe('lead_missing');
    const one = hea('r 1 500 4000\nr.dat 16 100/mV 16 0 10 0 0 II\n');
    const dat = { name: 'r.dat', bytes: test01Dat.subarray(0, 8000) };
    expect(await readEcgOutcome([one, dat])).toBe('lead_missing');
  });

  it('sets samples at the invalid value −32768 to 0 mV and warns with the lead and count', async () => {
    const dat = test01Dat.slice();
    const view = new DataView(dat.buffer);
    for (const frame of [5, 6, 100]) view.setInt16((frame * 4 + 2) * 2, -32768, true); // signal 3 ("ECG 3")
    const h = hea(test01Hea, 'test01_00s.hea');
    const raw = await wfdbReader.read(h, [h, { name: 'test01_00s.dat', bytes: dat }], DEFAULT_READ_OPTIONS);
    expect(raw.channels[2].samplesMv[5]).toBe(0);
    expect(raw.channels[2].samplesMv[100]).toBe(0);
    const w = raw.warnings.find((x) => x.code === 'samples_missing');
    expect(w?.message).toMatch(/ECG 3 has 3 missing samples/u);
    expect(raw.warnings.some((x) => x.code === 'checksum_mismatch')).toBe(true);
  });

  it('reads MIT-style "# <age>: 25  <sex>: M" comments', async () => {
    const h = hea(test01Hea, 'test01_00s.hea');
    const raw = await wfdbReader.read(h, [h, { name: 'test01_00s.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(raw).toMatchObject({ ageYears: 25, sex: 'M' });
    expect(raw.labels).toBeUndefined();
  });

  it('warns (does not fail) when a checksum disagrees, and accepts unsigned checksums', async () => {
    const wrong = hea(test01Hea.replace(' 10 114 0 ECG 1', ' 10 115 0 ECG 1'), 'test01_00s.hea');
    const unsigned = hea(test01Hea.replace(' -57 -119 0 ECG 3', ` -57 ${65536 - 119} 0 ECG 3`), 'test01_00s.hea');
    const dat = { name: 'test01_00s.dat', bytes: test01Dat };
    const r1 = await wfdbReader.read(wrong, [wrong, dat], DEFAULT_READ_OPTIONS);
    expect(r1.warnings.map((w) => w.code)).toEqual(['checksum_mismatch']);
    const r2 = await wfdbReader.read(unsigned, [unsigned, dat], DEFAULT_READ_OPTIONS);
    expect(r2.warnings).toEqual([]);
  });

  it('reads a CinC .mat whose MAT header is damaged as raw format 16 after the 24-byte offset, with checksum warnings only if samples changed', async () => {
    const mat = a0001.mat.slice();
    mat[0] = 0xff; // MAT v4 type word now invalid: the file is read as the header says, raw int16 after 24 bytes
    const h = hea(a0001.hea, 'A0001.hea');
    const raw = await wfdbReader.read(h, [h, { name: 'A0001.mat', bytes: mat }], DEFAULT_READ_OPTIONS);
    expect(raw.channels[0].samplesMv[0]).toBeCloseTo(0.028, 6);
    expect(raw.warnings).toEqual([]);
  });

  it('refuses a CinC .mat whose matrix does not fit the header, and one cut short', async () => {
    const h = hea(a0001.hea.replace('A0001 12 500 7500', 'A0001 12 500 9000'), 'A0001.hea');
    expect(await outcome(h, [h, { name: 'A0001.mat', bytes: a0001.mat }])).toBe('truncated_signal');
    const cut = { name: 'A0001.mat', bytes: a0001.mat.subarray(0, 5000) };
    const h2 = hea(a0001.hea, 'A0001.hea');
    expect(await outcome(h2, [h2, cut])).toBe('truncated_signal');
  });

  it('refuses random bytes as unsupported_format through readEcg', async () => {
    const junk = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    expect(await readEcgOutcome([{ name: 'x.dat', bytes: junk }])).toBe('unsupported_format');
  });
});

describe('WFDB header variants', () => {
  it('derives the number of samples from the file when the header leaves it out', () => {
    const h = test01Hea.replace('test01_00s 4 500 4000', 'test01_00s 4 500');
    const rec = readWfdbDigital(text(h), [{ name: 'test01_00s.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(rec.frames).toBe(4000);
  });

  it('finds signal files by base name when the header gives a directory', () => {
    const h = test01Hea.replaceAll('test01_00s.dat', 'data/test01_00s.dat');
    const rec = readWfdbDigital(text(h), [{ name: 'test01_00s.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(rec.signals[0].digital[0]).toBe(10);
  });

  it('keeps several samples per frame at the higher rate when all signals share it', async () => {
    // test01_00s.dat read as 2 signals with 2 samples per frame: signal 0 = ECG 1, ECG 2 interleaved.
    const h = hea('t 2 250 4000\nt.dat 16x2 100/mV 16 0 10 0 0 A\nt.dat 16x2 100/mV 16 0 -57 0 0 B\n');
    const raw = await wfdbReader.read(h, [h, { name: 't.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.channels[0].samplesMv.length).toBe(8000);
    expect(Array.from(raw.channels[0].samplesMv.subarray(0, 4), (v) => Math.round(v * 100))).toEqual([10, -8, 11, -6]);
    expect(Array.from(raw.channels[1].samplesMv.subarray(0, 2), (v) => Math.round(v * 100))).toEqual([-57, -66]);
  });

  it('averages signals with more samples per frame to the frame rate, with a warning', async () => {
    const h = hea('t 2 500 4000\nt.dat 16 100/mV 16 0 10 0 0 A\nt.dat 16x3 100/mV 16 0 -8 0 0 B\n');
    const raw = await wfdbReader.read(h, [h, { name: 't.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.channels[1].samplesMv.length).toBe(4000);
    expect(raw.channels[1].samplesMv[0]).toBeCloseTo((-8 - 57 - 66) / 3 / 100, 5);
    expect(raw.warnings.map((w) => w.code)).toContain('samples_per_frame_averaged');
  });

  it('scales µV, uV and V units to mV and treats gain 0 as 200', async () => {
    const mk = (gain: string) => hea(`t 1 500 4000\nt.dat 16 ${gain} 16 0 10 0 0 I\n`);
    const dat = { name: 't.dat', bytes: test01Dat.subarray(0, 8000) };
    const first = async (gain: string) => (await wfdbReader.read(mk(gain), [dat], DEFAULT_READ_OPTIONS)).channels[0].samplesMv[0];
    expect(await first('100/uV')).toBeCloseTo(0.1 / 1000, 9);
    expect(await first('100/µV')).toBeCloseTo(0.1 / 1000, 9);
    expect(await first('100/V')).toBeCloseTo(100, 4);
    expect(await first('100/mv')).toBeCloseTo(0.1, 6);
    expect(await first('0')).toBeCloseTo(10 / 200, 6);
    expect(await first('100(4)/mV')).toBeCloseTo(0.06, 6);
  });

  it('keeps only age, sex and Dx from the comments (no free text)', async () => {
    const plain = test01Hea.split(/\r?\n/u).slice(0, 5).join('\n');
    const h = hea(`${plain}\n#Age: 61\n#Sex: Female\n#Dx: 164889003,59118001\n#Name: John Doe\n`, 'test01_00s.hea');
    const raw = await wfdbReader.read(h, [h, { name: 'test01_00s.dat', bytes: test01Dat }], DEFAULT_READ_OPTIONS);
    expect(raw).toMatchObject({ ageYears: 61, sex: 'F', labels: ['164889003', '59118001'] });
    expect(JSON.stringify(raw)).not.toContain('John');
  });
});
