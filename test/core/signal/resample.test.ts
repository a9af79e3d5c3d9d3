/**
 * The polyphase resampler against SciPy's resample_poly (reference values: test/fixtures/signal-resample/,
 * computed by make-scipy-reference.py there).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resamplePoly, resampleRatio } from '../../../functions/core/signal/resample.ts';
import { repoRoot } from '../../helpers/paths.ts';

const reference = JSON.parse(readFileSync(`${repoRoot}/test/fixtures/signal-resample/scipy-resample-poly.json`, 'utf8'));

function signal(n: number, fsHz: number): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / fsHz;
    x[i] = Math.sin(2 * Math.PI * 1.3 * t) + 0.5 * Math.sin(2 * Math.PI * 17 * t) + 0.25 * Math.sin((2 * Math.PI * 0.07 * t * t * fsHz) / 10) + 0.1 * ((i % 7) - 3);
  }
  return x;
}

describe('resamplePoly', () => {
  for (const c of reference.cases) {
    it(`matches scipy's resample_poly for ${c.n} samples at ${c.fsHz} Hz by ${c.up}/${c.down}`, () => {
      const y = resamplePoly(signal(c.n, c.fsHz), c.up, c.down);
      expect(y.length).toBe(c.outLength);
      const head = Array.from(y.subarray(0, c.head.length));
      const tail = Array.from(y.subarray(y.length - c.tail.length));
      head.forEach((v, i) => expect(v).toBeCloseTo(c.head[i], 10));
      tail.forEach((v, i) => expect(v).toBeCloseTo(c.tail[i], 10));
      expect(y.reduce((a, b) => a + b, 0)).toBeCloseTo(c.sum, 8);
      expect(y.reduce((a, b) => a + b * b, 0)).toBeCloseTo(c.sumSquares, 7);
    });
  }

  it('computes a prefix equal to cropping the full output', () => {
    const x = signal(5000, 500);
    const full = resamplePoly(x, 4, 5);
    const prefix = resamplePoly(x, 4, 5, 1000);
    expect(Array.from(prefix)).toEqual(Array.from(full.subarray(0, 1000)));
  });
});

describe('resampleRatio', () => {
  it.each([
    [500, 400, 4, 5],
    [360, 400, 10, 9],
    [1000, 400, 2, 5],
    [257, 400, 400, 257],
    [400, 400, 1, 1],
    [500, 500, 1, 1],
  ])('reduces %d → %d Hz to %d/%d', (from, to, up, down) => {
    expect(resampleRatio(from, to)).toEqual({ up, down });
  });
  it('approximates a non-integer rate with bounded terms', () => {
    const { up, down } = resampleRatio(499.87, 400);
    expect(up).toBeLessThanOrEqual(1000);
    expect(down).toBeLessThanOrEqual(1000);
    expect(Math.abs(up / down - 400 / 499.87)).toBeLessThan(1e-5);
  });
});
