// Per-record relevance summaries (analyses (a) and (b)) against numpy: test/fixtures/analysis/analysis-numpy.json
// was computed by analysis-numpy.py (numpy means in float64 over float32 relevance arrays, padding included).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/paths.ts';
import { decodeFloat32 } from '../../../functions/core/result.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { classifyOutcome, summariseRecord, summariseRelevance } from '../../../functions/core/analysis/relevance.ts';

const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/analysis/analysis-numpy.json'), 'utf8')) as {
  relevance: { name: string; samples: number; data: string; meanRelevance: number; leadRelevance: Record<string, number> }[];
};
const close = (actual: number, expected: number, tolerance = 1e-12) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(expected), 1e-12));

describe('mean and lead relevance of one record', () => {
  for (const c of fixture.relevance) {
    it(`averages "${c.name}" over every sample and lead as numpy does, zero padding included`, () => {
      const relevance = decodeFloat32({ shape: [c.samples, 12], dtype: 'float32', encoding: 'base64-le', data: c.data });
      const summary = summariseRelevance(relevance, c.samples);
      expect(summary.samples).toBe(c.samples);
      close(summary.meanRelevance, c.meanRelevance);
      for (const lead of LEAD_ORDER) close(summary.leadRelevance[lead], c.leadRelevance[lead]);
      expect(summariseRelevance(relevance).meanRelevance).toBe(summary.meanRelevance); // samples inferred from the length
    });
  }

  it('refuses an array that is not [samples, 12]', () => {
    expect(() => summariseRelevance(new Float32Array(25))).toThrowError(/shape \[samples, 12\]/);
    expect(() => summariseRelevance(new Float32Array(24), 3)).toThrowError(/got 24 values for 3 samples/);
    expect(() => summariseRelevance(new Float32Array(0))).toThrowError(/shape/);
  });

  it('refuses NaN or infinite relevance and names the sample and lead', () => {
    const relevance = new Float32Array(24);
    relevance[12 + 6] = NaN;
    expect(() => summariseRelevance(relevance)).toThrowError(/sample 1, lead V1/);
    relevance[12 + 6] = Infinity;
    expect(() => summariseRelevance(relevance)).toThrowError(/not a finite number/);
  });
});

describe('outcome of a record (probability ≥ threshold is positive)', () => {
  it('calls a positive record above or at the threshold a true positive and below it a false negative', () => {
    expect(classifyOutcome(0.39, 0.39, true)).toBe('TP');
    expect(classifyOutcome(0.9, 0.39, true)).toBe('TP');
    expect(classifyOutcome(0.3899, 0.39, true)).toBe('FN');
  });

  it('calls a control record at or above the threshold a false positive and below it a true negative', () => {
    expect(classifyOutcome(0.39, 0.39, false)).toBe('FP');
    expect(classifyOutcome(0.01, 0.39, false)).toBe('TN');
  });

  it('refuses a probability that is not a finite number', () => {
    expect(() => classifyOutcome(NaN, 0.39, true)).toThrowError(/finite/);
  });

  it('summarises a record into its cohort.json entry', () => {
    const c = fixture.relevance[1];
    const relevance = decodeFloat32({ shape: [c.samples, 12], dtype: 'float32', encoding: 'base64-le', data: c.data });
    const entry = summariseRecord({ path: 'A0003.hea', label: 'NORM', probability: 0.5, threshold: 0.39, positiveLabel: 'AF', relevance });
    expect(entry).toMatchObject({ path: 'A0003.hea', label: 'NORM', probability: 0.5, positive: true, outcome: 'FP' });
    close(entry.meanRelevance, c.meanRelevance);
    close(entry.leadRelevance.V6, c.leadRelevance.V6);
  });
});
