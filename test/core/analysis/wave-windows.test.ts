/**
 * The wave windows behind the cohort's wave-level tests (issue 16, item 5): a result sums the relevance over the P,
 * QRS, ST and T windows of each lead and counts the windows, so a cohort can leave out records without a wave.
 */
import { describe, expect, it } from 'vitest';
import { analyseRelevance, type SignalAnalysis } from '../../../functions/core/analysis/record-analysis.ts';
import type { ModelInput } from '../../../functions/core/model/preprocess.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';

const samples = 400;
const fs = 100;
const relevance = Float32Array.from({ length: samples * 12 }, (_, i) => ((i % 12) + 1) * 1e-3 * (Math.floor(i / 12) % 5 === 0 ? -1 : 1));
const input: ModelInput = { data: new Float32Array(samples * 12), samples, samplingRateHz: fs, startS: 0, signalSamples: samples, resampling: null };
const beat = (r: number, withP: boolean) => ({ rPeak: r, pOnset: withP ? r - 20 : null, pPeak: null, pOffset: withP ? r - 12 : null, qrsOnset: r - 5, qrsOffset: r + 5, tOnset: r + 15, tPeak: null, tOffset: r + 30 });
const signal: SignalAnalysis = {
  fsHz: fs,
  rPeaks: Int32Array.from([100, 250]),
  waves: [beat(100, true), beat(250, false)],
  inputSignals: LEAD_ORDER.map(() => new Float32Array(samples)),
  peaksInInput: Int32Array.from([100, 250]),
  heartRateBpm: 40,
};
const sum = (lead: number, from: number, to: number) => {
  let s = 0;
  for (let n = from; n <= to; n++) s += relevance[n * 12 + lead]!;
  return s;
};

describe('the wave windows of a result', () => {
  const waves = analyseRelevance(signal, input, relevance, 'AF').waves;
  it('sum the ST segment from after the QRS offset to before the T onset, per lead', () => {
    LEAD_ORDER.forEach((lead, k) => {
      expect(waves.relevanceByLead[lead].st).toBe(Number((sum(k, 106, 114) + sum(k, 256, 264)).toPrecision(6)));
      expect(waves.relevanceByLead[lead].qrs).toBe(Number((sum(k, 95, 105) + sum(k, 245, 255)).toPrecision(6)));
    });
  });
  it('count the windows of each wave inside the model input (one beat has no P-wave)', () => {
    expect(waves.windows).toEqual({ p: 1, qrs: 2, st: 2, t: 2 });
  });
});
