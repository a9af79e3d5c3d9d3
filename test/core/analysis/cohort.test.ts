// Cohort aggregation (cohort.json) against independent references: lead tests, outcomes and box plots from R
// (test/fixtures/analysis/cohort-r.R → cohort-r.json), box statistics from R quantile type 7 (wilcox-r.R → boxplot),
// average beats from numpy (analysis-numpy.py → analysis-numpy.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/paths.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { averageBeatsAcrossRecords, boxStats, buildCohort, chooseGroups, type AverageBeatInput, type CohortRecordInput } from '../../../functions/core/analysis/cohort.ts';

const read = (name: string) => JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/analysis', name), 'utf8'));
interface RRecord extends CohortRecordInput { outcome: string }
interface RCohort {
  name: string; threshold: number; records: RRecord[];
  leadTests: { lead: string; statistic: number; pValue: number; method: string }[];
  boxPlots: Record<string, Record<string, { q1: number; median: number; q3: number; whiskerLow: number; whiskerHigh: number; outliers: number }>>;
}
const cohortFixture = read('cohort-r.json') as { cohorts: RCohort[] };
const wilcoxFixture = read('wilcox-r.json') as { boxplot: { name: string; values: number[]; q1: number; median: number; q3: number; whiskerLow: number; whiskerHigh: number; outliers: number[]; mean: number }[] };
const numpyFixture = read('analysis-numpy.json') as {
  beatInputs: Record<string, AverageBeatInput[]>;
  averageBeats: Record<'centre' | 'r-peak', Record<string, Record<string, Record<string, number[] | number>>>>;
};
const ribeiro = { id: 'ribeiro2020', classes: ['1dAVb', 'RBBB', 'LBBB', 'SB', 'AF', 'ST'], thresholds: [0.124, 0.07, 0.05, 0.278, 0.39, 0.174] };
const relClose = (actual: number, expected: number, tolerance: number) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(expected), 1e-300));
const records = (c: RCohort): CohortRecordInput[] => c.records.map(({ outcome: _outcome, ...r }) => r);

describe('cohort.json from per-record summaries', () => {
  for (const c of cohortFixture.cohorts) {
    describe(c.name, () => {
      const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: records(c) });

      it('keeps the contract fields and every record in order', () => {
        expect(cohort).toMatchObject({ schema: 1, method: 'ig', class: 'AF', threshold: 0.39, groups: { positive: 'AF', control: 'NORM' } });
        expect(cohort.model.id).toBe('ribeiro2020');
        expect(cohort.records.map((r) => r.path)).toEqual(c.records.map((r) => r.path));
        expect(Object.keys(cohort.records[0].leadRelevance)).toEqual([...LEAD_ORDER]);
        expect(cohort.warnings).toEqual([]);
      });

      it('classifies every record as R did (TP/FP/FN/TN at the AF threshold 0.39)', () => {
        expect(cohort.records.map((r) => r.outcome)).toEqual(c.records.map((r) => r.outcome));
        expect(cohort.records.every((r) => r.positive === r.probability >= 0.39)).toBe(true);
        const counted = { TP: 0, FP: 0, FN: 0, TN: 0 } as Record<string, number>;
        for (const r of c.records) counted[r.outcome]++;
        expect(cohort.outcomes).toEqual(counted);
      });

      it("tests every lead AF > NORM with R's wilcox.test(alternative = 'greater') results", () => {
        expect(cohort.leadTests.map((t) => t.lead)).toEqual([...LEAD_ORDER]);
        c.leadTests.forEach((expected, k) => {
          const test = cohort.leadTests[k];
          expect(test).toMatchObject({ lead: expected.lead, groupA: 'AF', groupB: 'NORM', alternative: 'greater', method: expected.method, statistic: expected.statistic });
          relClose(test.pValue, expected.pValue, 1e-12);
          expect(test.significant).toBe(expected.pValue < 1e-4);
        });
        expect(cohort.significanceLevel).toBe(1e-4);
      });

      it('gives per-label lead box plots with R type-7 quartiles and 1.5-IQR whiskers', () => {
        for (const [label, perLead] of Object.entries(c.boxPlots)) {
          for (const [lead, e] of Object.entries(perLead)) {
            const box = cohort.leadBoxPlots[label][lead]!;
            for (const key of ['q1', 'median', 'q3', 'whiskerLow', 'whiskerHigh'] as const) relClose(box[key], e[key], 1e-12);
            expect(box.outliers.length).toBe(e.outliers);
          }
        }
      });

      it('plots mean relevance against probability with the outcome of each record', () => {
        expect(cohort.scatter.threshold).toBe(0.39);
        expect(cohort.scatter.points.map((p) => [p.meanRelevance, p.probability, p.outcome])).toEqual(c.records.map((r) => [r.meanRelevance, r.probability, r.outcome]));
      });
    });
  }

  it('uses the threshold of the analysed class and the labels the caller names', () => {
    const c = cohortFixture.cohorts[0];
    const renamed = records(c).map((r) => ({ ...r, label: r.label === 'AF' ? 'AFIB' : r.label }));
    const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: renamed, threshold: 0.5 });
    expect(cohort.groups).toEqual({ positive: 'AFIB', control: 'NORM' });
    expect(cohort.records.filter((r) => r.label === 'AFIB').every((r) => r.outcome === (r.probability >= 0.5 ? 'TP' : 'FN'))).toBe(true);
  });
});

describe('choosing the groups', () => {
  it('finds the positive label by class alias and the normal label as control', () => {
    expect(chooseGroups(['CLBBB', 'NORM', 'AFIB'], 'LBBB')).toEqual({ positive: 'CLBBB', control: 'NORM' });
    expect(chooseGroups(['I-AVB', 'Normal'], '1dAVb')).toEqual({ positive: 'I-AVB', control: 'Normal' });
    expect(chooseGroups(['AF', 'OTHER'], 'AF')).toEqual({ positive: 'AF', control: 'OTHER' });
  });

  it('says what to do when no label names the class or no control exists', () => {
    expect(() => chooseGroups(['NORM'], 'AF')).toThrowError(/No label of the cohort names the class AF .* give the positive label explicitly/);
    expect(() => chooseGroups(['AF', 'LBBB', 'RBBB'], 'AF')).toThrowError(/no normal control label .* give the control label explicitly/);
    expect(() => buildCohort({ model: ribeiro, method: 'ig', className: 'PVC', records: [] })).toThrowError(/has no class PVC/);
  });
});

describe('hostile cohorts', () => {
  const base = records(cohortFixture.cohorts[0]);

  it('leaves the lead tests out with a warning when the control group is empty', () => {
    const onlyAf = base.filter((r) => r.label === 'AF');
    const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: onlyAf, controlLabel: 'NORM' });
    expect(cohort.leadTests).toEqual([]);
    expect(cohort.warnings.map((w) => w.code)).toEqual(['group_empty']);
    expect(cohort.warnings[0].message).toMatch(/no usable record labelled NORM/);
  });

  it('leaves out records with NaN relevance or probability, with a warning naming them', () => {
    const broken = [...base, { ...base[0], path: 'nan.hea', meanRelevance: NaN }, { ...base[1], path: 'noprob.hea', probability: NaN },
      { ...base[2], path: 'nolead.hea', leadRelevance: { ...base[2].leadRelevance, V6: NaN } }];
    const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: broken });
    expect(cohort.records.length).toBe(base.length);
    expect(cohort.warnings.map((w) => w.message.split(':')[0])).toEqual(['nan.hea', 'noprob.hea', 'nolead.hea']);
    expect(cohort.warnings[2].message).toMatch(/lead V6/);
    const clean = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: base });
    expect(cohort.leadTests).toEqual(clean.leadTests);
  });

  it('gives a lead whose values all tie a p-value of 1 (R) and no significance', () => {
    const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: base });
    expect(cohort.leadTests.find((t) => t.lead === 'III')).toMatchObject({ pValue: 1, method: 'normal-approximation', significant: false });
  });
});

describe('box-plot statistics', () => {
  for (const e of wilcoxFixture.boxplot) {
    it(`matches R quantile(type = 7) and 1.5-IQR whiskers for "${e.name}"`, () => {
      const box = boxStats(e.values)!;
      for (const key of ['q1', 'median', 'q3', 'whiskerLow', 'whiskerHigh', 'mean'] as const) relClose(box[key], e[key], 1e-12);
      expect(box.outliers).toEqual(e.outliers);
      expect(box.n).toBe(e.values.length);
    });
  }

  it('gives null for an empty group and ignores NaN', () => {
    expect(boxStats([])).toBeNull();
    expect(boxStats([NaN, NaN])).toBeNull();
    expect(boxStats([NaN, 3, -1])).toEqual(boxStats([3, -1]));
  });
});

describe('average beats across ECGs', () => {
  const byLabel = Object.fromEntries(Object.entries(numpyFixture.beatInputs).map(([label, beats]) => [label, beats.map((beat, i) => ({ path: `${label}-${i}`, beat }))]));

  for (const alignment of ['centre', 'r-peak'] as const) {
    it(`normalises, aligns (${alignment}) and averages the beats of both groups as numpy does`, () => {
      const { averageBeats, warnings } = averageBeatsAcrossRecords(byLabel, alignment);
      expect(warnings).toEqual([]);
      const expected = numpyFixture.averageBeats[alignment];
      expect(Object.keys(averageBeats).sort()).toEqual(Object.keys(expected).sort());
      for (const label of Object.keys(expected)) {
        for (const lead of LEAD_ORDER) {
          const got = averageBeats[label][lead] as unknown as Record<string, number[] | number>;
          const want = expected[label][lead];
          expect(got.records).toBe(want.records);
          expect(got.count).toEqual(want.count);
          for (const key of ['signal', 'relevance', 'variance', 'relevanceVariance', 'timeS']) {
            const g = got[key] as number[];
            const w = want[key] as number[];
            expect(g.length).toBe(w.length);
            g.forEach((v, i) => expect(Math.abs(v - w[i])).toBeLessThan(1e-12));
          }
        }
      }
      const peak = Math.max(...Object.values(averageBeats).flatMap((perLead) => Object.values(perLead).flatMap((b) => b.signal.map(Math.abs))));
      expect(peak).toBeCloseTo(1, 14);
    });
  }

  it('accepts leads as an array in LEAD_ORDER as well as a map by lead name', () => {
    const asArrays = Object.fromEntries(Object.entries(byLabel).map(([label, beats]) => [label, beats.map(({ path, beat }) => ({
      path,
      beat: { timeS: beat.timeS, signalMv: LEAD_ORDER.map((l) => (beat.signalMv as Record<string, number[]>)[l]), relevance: LEAD_ORDER.map((l) => Float32Array.from((beat.relevance as Record<string, number[]>)[l])) },
    }))]));
    const fromArrays = averageBeatsAcrossRecords(asArrays).averageBeats;
    const fromMaps = averageBeatsAcrossRecords(byLabel).averageBeats;
    expect(fromArrays.AF.V1.signal).toEqual(fromMaps.AF.V1.signal);
    fromArrays.NORM.II.relevance.forEach((v, i) => expect(Math.abs(v - fromMaps.NORM.II.relevance[i])).toBeLessThan(1e-6));
  });

  it('leaves out beats that are empty, miss a lead, hold NaN or have another sampling interval, and says why', () => {
    const good = byLabel.AF[0];
    const missingLead = { ...good.beat, signalMv: { ...(good.beat.signalMv as Record<string, number[]>), V4: undefined as unknown as number[] } };
    const withNaN = { ...good.beat, relevance: { ...(good.beat.relevance as Record<string, number[]>), aVF: (good.beat.relevance as Record<string, number[]>).aVF.map(() => NaN) } };
    const otherRate = { ...good.beat, timeS: Array.from(good.beat.timeS, (t) => t * 2) };
    const { averageBeats, warnings } = averageBeatsAcrossRecords({
      AF: [good, { path: 'empty', beat: { timeS: [], signalMv: {}, relevance: {} } }, { path: 'missing', beat: missingLead }, { path: 'nan', beat: withNaN }, { path: 'rate', beat: otherRate }],
    });
    expect(averageBeats.AF.I.records).toBe(1);
    expect(warnings.map((w) => w.message.split(':')[0])).toEqual(['empty', 'missing', 'nan', 'rate']);
    expect(warnings[1].message).toMatch(/lead V4/);
    expect(warnings[3].message).toMatch(/sampling interval/);
  });

  it('puts the average beats of the records into cohort.json per label and lead', () => {
    const c = cohortFixture.cohorts[0];
    const withBeats = records(c).map((r, i) => ({ ...r, averageBeat: r.label === 'AF' ? numpyFixture.beatInputs.AF[i % 3] : r.label === 'NORM' ? numpyFixture.beatInputs.NORM[i % 2] : null }));
    const cohort = buildCohort({ model: ribeiro, method: 'ig', className: 'AF', records: withBeats, beatAlignment: 'r-peak' });
    expect(Object.keys(cohort.averageBeats).sort()).toEqual(['AF', 'NORM']);
    expect(cohort.averageBeats.AF.V6.records).toBe(14);
    expect(cohort.averageBeats.NORM.V6.records).toBe(16);
    expect(cohort.beatAlignment).toBe('r-peak');
    for (const label of ['AF', 'NORM']) for (const lead of LEAD_ORDER) {
      const b = cohort.averageBeats[label][lead];
      expect(b.signal.length).toBe(b.timeS.length);
      expect([...b.signal, ...b.relevance].every((v) => Math.abs(v) <= 1)).toBe(true);
      expect(b.variance.every((v) => v >= 0)).toBe(true);
    }
    expect(JSON.stringify(cohort)).not.toMatch(/null/); // no NaN or Infinity turned into null
  });

  it('keeps an all-zero relevance beat at zero instead of dividing by zero', () => {
    const beat = byLabel.NORM[0].beat;
    const zero = { ...beat, relevance: LEAD_ORDER.map(() => new Array(beat.timeS.length).fill(0)) };
    const { averageBeats } = averageBeatsAcrossRecords({ NORM: [{ path: 'z', beat: zero }] });
    expect(averageBeats.NORM.V2.relevance.every((v) => v === 0)).toBe(true);
    expect(averageBeats.NORM.V2.signal.every(Number.isFinite)).toBe(true);
  });
});
