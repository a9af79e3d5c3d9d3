// The result JSON's `base64-le` arrays (functions/core/result.ts) against independent encoders: the strings Python's
// base64 wrote for test/fixtures/analysis/analysis-numpy.json, and Node's Buffer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/paths.ts';
import { asciiJsonText } from '../../../functions/core/json-ascii.ts';
import { decodeFloat32, encodeFloat32 } from '../../../functions/core/result.ts';

const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/analysis/analysis-numpy.json'), 'utf8')) as {
  relevance: { name: string; samples: number; data: string }[];
};

describe('float32 arrays in the result JSON', () => {
  for (const c of fixture.relevance) {
    it(`re-encodes "${c.name}" to the very string Python's base64 wrote`, () => {
      const values = decodeFloat32({ shape: [c.samples, 12], dtype: 'float32', encoding: 'base64-le', data: c.data });
      expect(encodeFloat32(values, [c.samples, 12])).toEqual({ shape: [c.samples, 12], dtype: 'float32', encoding: 'base64-le', data: c.data });
    });
  }

  it('pads every length as RFC 4648 does (0, 1 and 2 bytes left over), like Node\'s Buffer', () => {
    for (let n = 0; n <= 7; n++) {
      const values = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (i + 0.1) * 1e-3);
      const expected = Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
      expect(encodeFloat32(values, [n]).data).toBe(expected);
      expect(decodeFloat32(encodeFloat32(values, [n]))).toEqual(values);
    }
  });

  it('encodes only the values of a view into a larger buffer', () => {
    const whole = Float32Array.from([1, 2, 3, 4, 5, Number.NaN, -0, Infinity]);
    const view = whole.subarray(3, 8);
    const decoded = decodeFloat32(encodeFloat32(view, [5]));
    expect(Array.from(decoded)).toEqual([4, 5, Number.NaN, -0, Infinity]);
    expect(Object.is(decoded[3], -0)).toBe(true);
  });
});

describe('the ASCII form of a result JSON the share client sends', () => {
  it('writes every character beyond ASCII as a \\u escape and parses back to the same value, as Python writes it', () => {
    const value = { name: 'Ruhe-EKG – Ärztin Ø 12 µV ÷ → 🫀', plain: 'A0001', n: [1.5, -0] };
    const text = asciiJsonText(JSON.stringify(value));
    expect(/^[\x20-\x7e]*$/u.test(text)).toBe(true);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
    // Python's json.dumps(value, ensure_ascii=True, separators=(',', ':')) of the same value, for the name:
    expect(text).toContain('"Ruhe-EKG \\u2013 \\u00c4rztin \\u00d8 12 \\u00b5V \\u00f7 \\u2192 \\ud83e\\udec0"');
  });
});
