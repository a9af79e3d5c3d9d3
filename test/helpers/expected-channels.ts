/** Compares a reader's channels with expected values computed by an independent decoder (expected.json). */
import { expect } from 'vitest';
import type { RawRecord } from '../../functions/core/record.ts';
import { sumOf } from './outcomes.ts';

export interface ExpectedLead {
  samples: number;
  first5Mv: number[];
  sumMv: number;
  minMv: number;
  maxMv: number;
}

/** Same rate, same leads in order (an `(empty)` marker aside) and, per lead, length, first samples, sum, min, max. */
export function expectChannelsAsDecoded(raw: RawRecord, exp: { samplingRateHz: number; leads: Record<string, ExpectedLead> }, sumDigits: number): void {
  const label = (l: string) => l.replace(' (empty)', '');
  expect(raw.samplingRateHz).toBe(exp.samplingRateHz);
  expect(raw.channels.map((c) => label(c.label))).toEqual(Object.keys(exp.leads));
  for (const channel of raw.channels) {
    const e = exp.leads[label(channel.label)];
    const s = channel.samplesMv;
    expect(s.length).toBe(e.samples);
    Array.from(s.slice(0, 5)).forEach((x, n) => expect(x).toBeCloseTo(e.first5Mv[n], 8));
    expect(sumOf(s)).toBeCloseTo(e.sumMv, sumDigits);
    expect(Math.min(...s)).toBeCloseTo(e.minMv, 8);
    expect(Math.max(...s)).toBeCloseTo(e.maxMv, 8);
  }
}
