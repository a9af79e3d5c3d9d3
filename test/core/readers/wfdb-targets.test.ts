/**
 * The WFDB reader against wfdb-python's own reader targets (MIT-LCP/wfdb-python @ 6850ad1, tests/test_record.py;
 * targets copied to ../shared/data/ecg/wfdb-python_sample-data/tests/target-output/): test_1a (format 16),
 * test_1f (every binary format 8, 16, 61, 80, 160, 212, 310, 311, 24, 32, whole and sliced) and test_3b
 * (multi-file record s0010_re, physical values rounded to 8 decimals).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { InputFile } from '../../../functions/core/record.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { digitalToMv, readWfdbDigital, wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { ecgDir } from '../../helpers/paths.ts';

const sampleDir = join(ecgDir, 'wfdb-python_sample-data/sample-data');
const targetDir = join(ecgDir, 'wfdb-python_sample-data/tests/target-output');
const files: InputFile[] = readdirSync(sampleDir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(sampleDir, name))) }));
const headerOf = (record: string) => files.find((f) => f.name === `${record}.hea`)!;

/** rdsamp-style text table: one row per sample, whitespace-separated columns. */
function table(text: string): number[][] {
  return text.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/u).map(Number));
}
const column = (rows: number[][], c: number) => rows.map((r) => r[c]);

describe('wfdb-python target test_1a', () => {
  it('reads test01_00s (format 16, 4 signals) digitally exactly as record-1a', () => {
    const expected = table(readFileSync(join(targetDir, 'record-1a'), 'utf8'));
    const rec = readWfdbDigital(headerOf('test01_00s').bytes, files, DEFAULT_READ_OPTIONS);
    expect(rec.frames).toBe(expected.length);
    expect(rec.signals).toHaveLength(4);
    rec.signals.forEach((s, c) => expect(Array.from(s.digital)).toEqual(column(expected, c)));
    expect(rec.warnings).toEqual([]);
  });
});

describe('wfdb-python target test_1f (binformats)', () => {
  const expected = table(new TextDecoder().decode(gunzipSync(new Uint8Array(readFileSync(join(targetDir, 'record-1f.gz'))))));
  const header = new TextDecoder().decode(headerOf('binformats').bytes);
  const formats = [8, 16, 61, 80, 160, 212, 310, 311, 24, 32];

  it('reads every format 8, 16, 61, 80, 160, 212, 310, 311, 24 and 32 as wfdb-python does', () => {
    const rec = readWfdbDigital(headerOf('binformats').bytes, files, DEFAULT_READ_OPTIONS);
    expect(rec.signals.map((s) => s.spec.format)).toEqual(formats);
    expect(rec.frames).toBe(499);
    rec.signals.forEach((s, c) => expect(Array.from(s.digital), `format ${formats[c]}`).toEqual(column(expected, c)));
    expect(rec.warnings).toEqual([]);
  });

  /** Rewrites the header: every signal's format gets `:skew` (= sampfrom) and the record `nsamp` (= sampto − sampfrom). */
  function sliced(sampFrom: number, sampTo: number): Uint8Array {
    const lines = header.split('\n');
    const out = lines.map((line, i) => {
      if (i === 0) return line.replace(/ 499(\s*)$/u, ` ${sampTo - sampFrom}$1`);
      const f = line.split(' ');
      if (f.length > 2 && /^\d+$/u.test(f[1])) f[1] = `${f[1]}${sampFrom ? `:${sampFrom}` : ''}`;
      return f.join(' ');
    });
    return new TextEncoder().encode(out.join('\n'));
  }

  for (const sampFrom of [0, 1, 2]) {
    for (const sampTo of [496, 497, 498, 499]) {
      it(`reads samples ${sampFrom}..${sampTo} of every format (skew and shortened length) as the slice of record-1f`, () => {
        const rec = readWfdbDigital(sliced(sampFrom, sampTo), files, DEFAULT_READ_OPTIONS);
        rec.signals.forEach((s, c) => {
          expect(Array.from(s.digital), `format ${formats[c]}`).toEqual(column(expected, c).slice(sampFrom, sampTo));
        });
      });
    }
  }
});

describe('wfdb-python target test_3b (multi-file record s0010_re)', () => {
  const expected = table(readFileSync(join(targetDir, 'record-3b'), 'utf8'));
  const channels = [13, 0, 4, 8, 3];

  it('reads channels 13, 0, 4, 8, 3 (vy from the .xyz file) over samples 5000..38000 in mV as record-3b', () => {
    const rec = readWfdbDigital(headerOf('s0010_re').bytes, files, DEFAULT_READ_OPTIONS);
    expect(rec.signals).toHaveLength(15);
    expect(rec.signals[13].spec.fileName).toBe('s0010_re.xyz');
    expect(expected).toHaveLength(33000);
    channels.forEach((ch, c) => {
      const mv = digitalToMv(rec.signals[ch].digital, rec.signals[ch].spec).subarray(5000, 38000);
      const rounded = Array.from(mv, (v) => Math.round(v * 1e8) / 1e8);
      expect(rounded, `channel ${ch}`).toEqual(column(expected, c));
    });
  });

  it('gives the same millivolts (to float32 precision) through wfdbReader.read with all 15 labelled channels', async () => {
    const raw = await wfdbReader.read(headerOf('s0010_re'), files, DEFAULT_READ_OPTIONS);
    expect(raw.channels.map((c) => c.label)).toEqual(['i', 'ii', 'iii', 'avr', 'avl', 'avf', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'vx', 'vy', 'vz']);
    expect(raw.samplingRateHz).toBe(1000);
    expect(raw.ageYears).toBe(81);
    expect(raw.sex).toBe('F');
    channels.forEach((ch, c) => {
      const got = raw.channels[ch].samplesMv;
      const want = column(expected, c);
      let maxErr = 0;
      for (let n = 0; n < want.length; n++) maxErr = Math.max(maxErr, Math.abs(got[5000 + n] - want[n]));
      expect(maxErr).toBeLessThan(1e-6);
    });
  });
});
