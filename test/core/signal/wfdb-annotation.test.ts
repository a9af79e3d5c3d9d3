/**
 * MIT-format annotation reader. Expected values: MIT-BIH record 100 holds 2273 beats (2239 N, 33 A, 1 V) and one
 * rhythm annotation (INDEX.md, wfdb-python tests/test_annotation.py uses the same file); LUDB 1.ii as listed by
 * wfdb-python `rdann('1', 'ii')` (first waves: `(` 644, N 662, `)` 682, `(` 776, t 843, `)` 878).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { beatSamples, readWfdbAnnotations } from '../../../functions/core/readers/wfdb-annotation.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { LUDB_DIR, MIT_DIR, readAnnotations } from './load.ts';

describe('WFDB annotation reader', () => {
  it('reads MIT-BIH 100.atr: 2273 beats (2239 N, 33 A, 1 V) after one rhythm annotation "(N"', () => {
    const ann = readAnnotations(join(MIT_DIR, '100.atr'));
    expect(ann.length).toBe(2274);
    expect(ann[0]).toMatchObject({ sample: 18, symbol: '+', aux: '(N' });
    expect(ann[1]).toMatchObject({ sample: 77, symbol: 'N', aux: '', chan: 0, num: 0, subtype: 0 });
    const counts: Record<string, number> = {};
    for (const a of ann) counts[a.symbol] = (counts[a.symbol] ?? 0) + 1;
    expect(counts).toEqual({ '+': 1, N: 2239, A: 33, V: 1 });
    expect(beatSamples(ann).length).toBe(2273);
    const samples = ann.map((a) => a.sample);
    expect(samples.every((s, i) => i === 0 || s >= samples[i - 1])).toBe(true);
    expect(samples[samples.length - 1]).toBeLessThan(650000);
  });

  it('reads the gqrs output 100.qrs as QRS annotations inside the record', () => {
    const ann = readAnnotations(join(MIT_DIR, '100.qrs'));
    expect(ann.length).toBeGreaterThan(2200);
    expect(ann.every((a) => a.sample >= 0 && a.sample < 650000)).toBe(true);
  });

  it("reads LUDB per-lead wave annotations (1.ii) with onset, peak and offset", () => {
    const ann = readAnnotations(join(LUDB_DIR, '1.ii'));
    expect(ann.slice(0, 6).map((a) => `${a.symbol}${a.sample}`)).toEqual(['(644', 'N662', ')682', '(776', 't843', ')878']);
    expect(new Set(ann.map((a) => a.symbol))).toEqual(new Set(['(', ')', 'N', 'p', 't']));
  });

  it('applies SKIP, NUM, SUB, CHN and AUX fields to the right annotation', () => {
    const words: number[] = [];
    const word = (code: number, value: number) => words.push(value & 0xff, (code << 2) | ((value >> 8) & 3));
    word(59, 0); // SKIP 100000 samples (PDP-11 order: high word, low word)
    words.push(0x01, 0x00, 0xa0, 0x86);
    word(1, 5); // N at 100005
    word(62, 3); // chan 3
    word(60, 2); // num 2
    word(61, 7); // subtype 7
    word(5, 10); // V at 100015 (inherits chan 3, num 2; subtype back to 0)
    word(63, 3); // aux "(AB" padded
    words.push(0x28, 0x41, 0x42, 0x00);
    word(0, 0);
    const ann = readWfdbAnnotations(Uint8Array.from(words));
    expect(ann).toEqual([
      { sample: 100005, symbol: 'N', code: 1, subtype: 7, chan: 3, num: 2, aux: '' },
      { sample: 100015, symbol: 'V', code: 5, subtype: 0, chan: 3, num: 2, aux: '(AB' },
    ]);
  });

  it('refuses truncated AUX and SKIP fields and tolerates empty or odd-length input', () => {
    expect(readWfdbAnnotations(new Uint8Array(0))).toEqual([]);
    expect(readWfdbAnnotations(Uint8Array.from([5]))).toEqual([]);
    for (const bytes of [Uint8Array.from([5, 4, 10, 0xfc, 0x41]), Uint8Array.from([0, 0xec, 1])]) {
      let error: unknown;
      try {
        readWfdbAnnotations(bytes);
      } catch (e) {
        error = e;
      }
      expect(isLeadlightError(error)).toBe(true);
    }
    // Random bytes never hang or throw anything but a LeadlightError.
    let seed = 7;
    for (let trial = 0; trial < 50; trial++) {
      const bytes = Uint8Array.from({ length: 400 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
      try {
        const ann = readWfdbAnnotations(bytes);
        expect(Array.isArray(ann)).toBe(true);
      } catch (e) {
        expect(isLeadlightError(e)).toBe(true);
      }
    }
    expect(readFileSync(join(LUDB_DIR, '1.ii')).length).toBeGreaterThan(0);
  });
});
