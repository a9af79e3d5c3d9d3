/**
 * Filters against scipy: expected values in test/fixtures/signal/scipy-filters.json were computed with scipy 1.17.1
 * (butter / sosfiltfilt / filtfilt) and numpy (convolve) on LUDB record 1, lead ii — see make-scipy-filters.py there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { butterworthFilter, cleanEcgNeurokit, designButterworth, filtFilt, movingAverage, powerlineFilter, sosFiltFilt } from '../../../functions/core/signal/filters.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { repoRoot } from '../../helpers/paths.ts';
import { LUDB_DIR, readWfdbRecord } from './load.ts';

interface Excerpt { head: number[]; middle: number[]; tail: number[] }
const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/signal/scipy-filters.json'), 'utf8')) as {
  input: Excerpt;
  sos: Record<string, number[][]>;
  outputs: Record<string, Excerpt>;
};

async function leadIi(): Promise<Float32Array | Float64Array> {
  const record = await readWfdbRecord(LUDB_DIR, '1');
  return record.channels.find((c) => c.label === 'ii')!.samplesMv;
}

function expectExcerpt(actual: Float64Array, expected: Excerpt, tol: number) {
  const n = actual.length;
  const parts: [number, number[]][] = [[0, expected.head], [2500, expected.middle], [n - expected.tail.length, expected.tail]];
  for (const [start, values] of parts) {
    values.forEach((v, i) => expect(Math.abs(actual[start + i] - v)).toBeLessThan(tol));
  }
}

/** Product of the section polynomials (the filter's transfer function), for comparing factorisations. */
function transferFunction(sos: number[][]): { b: number[]; a: number[] } {
  const mulPoly = (p: number[], q: number[]) => {
    const r = new Array(p.length + q.length - 1).fill(0);
    p.forEach((pv, i) => q.forEach((qv, j) => (r[i + j] += pv * qv)));
    return r;
  };
  return sos.reduce((acc, s) => ({ b: mulPoly(acc.b, s.slice(0, 3)), a: mulPoly(acc.a, s.slice(3)) }), { b: [1], a: [1] });
}

describe('Butterworth filters match scipy', () => {
  it('reads the same input samples scipy filtered', async () => {
    const x = await leadIi();
    expect(x.length).toBe(5000);
    expectExcerpt(Float64Array.from(x), fixture.input, 1e-7);
  });

  it('designs the same transfer function as scipy.signal.butter(output="sos")', () => {
    const cases: [string, number[][]][] = [
      ['highpass_5_0.5Hz_fs400', designButterworth(5, 0.5, 'highpass', 400)],
      ['bandpass_4_5-15Hz_fs500', designButterworth(4, [5, 15], 'bandpass', 500)],
    ];
    for (const [name, sos] of cases) {
      const mine = transferFunction(sos);
      const ref = transferFunction(fixture.sos[name]);
      mine.b.forEach((v, i) => expect(Math.abs(v - ref.b[i])).toBeLessThan(1e-12));
      mine.a.forEach((v, i) => expect(Math.abs(v - ref.a[i])).toBeLessThan(1e-12));
      // Same section count and trailing-zero pattern, so sosfiltfilt picks the same pad length.
      expect(sos.length).toBe(fixture.sos[name].length);
      expect(sos.filter((s) => s[2] === 0).length).toBe(fixture.sos[name].filter((s) => s[2] === 0).length);
    }
  });

  it('filters a real lead like sosfiltfilt/filtfilt to 1e-9, including the padded edges', async () => {
    const x = await leadIi();
    const outputs: Record<string, Float64Array> = {
      'highpass_5_0.5Hz_fs500': sosFiltFilt(designButterworth(5, 0.5, 'highpass', 500), x),
      'lowpass_4_40Hz_fs500': butterworthFilter(x, 500, { highHz: 40, order: 4 }),
      'bandpass_3_5-15Hz_fs500': butterworthFilter(x, 500, { lowHz: 5, highHz: 15, order: 3 }),
      'bandstop_2_45-55Hz_fs500': sosFiltFilt(designButterworth(2, [45, 55], 'bandstop', 500), x),
      ecg_clean_fs500: cleanEcgNeurokit(x, 500),
      ecg_clean_fs400: cleanEcgNeurokit(x, 400),
      boxcar_50: movingAverage(x, 50),
      boxcar_7: movingAverage(x, 7),
    };
    for (const [name, y] of Object.entries(outputs)) expectExcerpt(y, fixture.outputs[name], 1e-9);
  });

  it('removes 50 Hz powerline interference and keeps a constant unchanged', () => {
    const fs = 500;
    const n = 2000;
    const hum = Float64Array.from({ length: n }, (_, i) => 1 + 0.5 * Math.sin((2 * Math.PI * 50 * i) / fs));
    const y = powerlineFilter(hum, fs);
    for (let i = 100; i < n - 100; i++) expect(Math.abs(y[i] - 1)).toBeLessThan(1e-9);
    const flat = filtFilt([1, 1, 1, 1], [4], new Float64Array(100).fill(3));
    flat.forEach((v) => expect(v).toBeCloseTo(3, 12));
  });

  it('handles tiny and empty signals without throwing and refuses bad designs and NaN', () => {
    expect(cleanEcgNeurokit([], 500).length).toBe(0);
    expect(Array.from(cleanEcgNeurokit([2], 500))).toEqual([2]);
    expect(cleanEcgNeurokit([1, 2, 3], 500).length).toBe(3);
    const bad: (() => unknown)[] = [
      () => designButterworth(0, 1, 'lowpass', 500),
      () => designButterworth(4, 300, 'lowpass', 500),
      () => designButterworth(4, [15, 5], 'bandpass', 500),
      () => designButterworth(4, 1, 'lowpass', Number.NaN),
      () => cleanEcgNeurokit([1, Number.NaN, 3], 500),
    ];
    for (const f of bad) {
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(isLeadlightError(error)).toBe(true);
    }
  });
});
