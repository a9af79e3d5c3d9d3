/**
 * Cohort statistics (issue 16, item 5) against scipy/numpy: Benjamini–Hochberg adjusted p-values, AUC = U/(nA nB)
 * and Spearman's ρ with their seeded bootstrap percentile intervals, and buildCohort's lead tests. The expected
 * numbers come from test/fixtures/cohort-stats/cohort-stats-scipy.py, which implements the same mulberry32
 * generator and draw order, so the intervals are compared on the same 2000 resamples (their first three are
 * compared index for index).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCohort } from '../../../functions/core/analysis/cohort.ts';
import { assembleCohort, cohortModelInfoOf, summariseResult } from '../../../functions/core/analysis/cohort-members.ts';
import { checkCohort } from '../../../functions/core/cohort-schema.ts';
import { leadTestTable, renderCohortSummary, waveTestSection } from '../../../functions/core/render/cohort-html.ts';
import { analyzeEcg } from '../../../functions/core/pipeline.ts';
import { testModel, testRuntime } from '../../helpers/models.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';
import {
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  WAVES,
  aucOf,
  aucWithInterval,
  benjaminiHochberg,
  bootstrapResampleIndices,
  percentileSorted,
  relevanceVsProbability,
  spearmanRho,
  spearmanWithInterval,
  waveLevelTests,
} from '../../../functions/core/analysis/cohort-stats.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';

interface Fixture {
  seed: number;
  resamples: number;
  benjaminiHochberg: { name: string; p: number[]; adjusted: number[] }[];
  auc: { name: string; a: number[]; b: number[]; auc: number; ci95: [number, number]; firstResamples: number[][][] }[];
  spearman: { name: string; x: number[]; y: number[]; rho: number; ci95: [number, number]; undefinedResamples: number; firstResamples: number[][][] }[];
  cohort: { groupA: number[][]; groupB: number[][]; leadTests: { lead: string; pValue: number; pAdjusted: number; auc: number; ci95: [number, number] }[] };
}
const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/cohort-stats/cohort-stats-scipy.json'), 'utf8')) as Fixture;
const close = (got: number, expected: number, what: string) => expect(Math.abs(got - expected), `${what}: ${got} vs ${expected}`).toBeLessThanOrEqual(1e-12);

describe('the bootstrap', () => {
  it('uses the seed and resample count the fixture was made with', () => {
    expect([BOOTSTRAP_SEED, BOOTSTRAP_RESAMPLES]).toEqual([fixture.seed, fixture.resamples]);
  });
  it('draws the same resample indices as the independent generator', () => {
    for (const c of fixture.auc) expect(bootstrapResampleIndices([c.a.length, c.b.length], 3, fixture.seed).map((r) => r.map((s) => [...s]))).toEqual(c.firstResamples);
    for (const c of fixture.spearman) expect(bootstrapResampleIndices([c.x.length], 3, fixture.seed).map((r) => r.map((s) => [...s]))).toEqual(c.firstResamples);
  });
});

describe('Benjamini–Hochberg adjusted p-values', () => {
  for (const c of fixture.benjaminiHochberg) {
    it(`equal scipy's false_discovery_control within 1e-12 (${c.name})`, () => {
      benjaminiHochberg(c.p).forEach((v, i) => close(v, c.adjusted[i]!, `p̃[${i}]`));
    });
  }
});

describe('the AUC and its bootstrap interval', () => {
  for (const c of fixture.auc) {
    it(`equal U/(nA nB) from scipy's mannwhitneyu and numpy's percentile interval within 1e-12 (${c.name})`, () => {
      const got = aucWithInterval(c.a, c.b);
      close(got.auc, c.auc, 'auc');
      close(got.ci95[0], c.ci95[0], 'lower');
      close(got.ci95[1], c.ci95[1], 'upper');
      expect(got).toMatchObject({ resamples: fixture.resamples, seed: fixture.seed, undefinedResamples: 0 });
    });
  }
  it('gives each resample the AUC of its resampled values, to the bit', () => {
    const c = fixture.auc[1]!;
    const first = bootstrapResampleIndices([c.a.length, c.b.length], 50, fixture.seed);
    const direct = first.map(([ia, ib]) => aucOf(Array.from(ia!, (i) => c.a[i]!), Array.from(ib!, (i) => c.b[i]!))).sort((x, y) => x - y);
    const interval = aucWithInterval(c.a, c.b, 50, fixture.seed);
    expect(interval.ci95).toEqual([percentileSorted(direct, 0.025), percentileSorted(direct, 0.975)]);
  });
  it('counts pairs and ranks alike on large groups', () => {
    const a = Array.from({ length: 80 }, (_, i) => Math.sin(i) * 3);
    const b = Array.from({ length: 70 }, (_, i) => Math.round(Math.cos(i) * 4) / 2);
    let u = 0;
    for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
    expect(aucOf(a, b)).toBe(u / (80 * 70));
  });
});

describe("Spearman's rho and its bootstrap interval", () => {
  it("gives each resample the rho of its resampled pairs (ties included)", () => {
    const c = fixture.spearman[1]!;
    const direct = bootstrapResampleIndices([c.x.length], 50, fixture.seed)
      .map(([idx]) => spearmanRho(Array.from(idx!, (i) => c.x[i]!), Array.from(idx!, (i) => c.y[i]!)))
      .filter(Number.isFinite)
      .sort((x, y) => x - y);
    const interval = spearmanWithInterval(c.x, c.y, 50, fixture.seed);
    close(interval.ci95[0], percentileSorted(direct, 0.025), 'lower');
    close(interval.ci95[1], percentileSorted(direct, 0.975), 'upper');
  });
  for (const c of fixture.spearman) {
    it(`equal scipy's spearmanr and numpy's percentile interval within 1e-12 (${c.name})`, () => {
      const got = spearmanWithInterval(c.x, c.y);
      close(got.rho, c.rho, 'rho');
      close(got.ci95[0], c.ci95[0], 'lower');
      close(got.ci95[1], c.ci95[1], 'upper');
      expect(got.undefinedResamples).toBe(c.undefinedResamples);
    });
  }
});

describe('a cohort', () => {
  const model = { id: 'm', classes: ['AF'], thresholds: [0.5] };
  const recordsOf = (rows: number[][], label: string) =>
    rows.map((values, i) => ({
      path: `${label}${i}`,
      label,
      probability: label === 'AF' ? 0.6 + i / 100 : 0.2 + i / 100,
      meanRelevance: values.reduce((s, v) => s + v, 0) / 12,
      leadRelevance: Object.fromEntries(LEAD_ORDER.map((l, k) => [l, values[k]!])),
      waveRelevance: Object.fromEntries(LEAD_ORDER.map((l, k) => [l, { p: label === 'AF' ? null : values[k]! / 3, qrs: values[k]! / 2, st: -values[k]!, t: values[k]! / 4 }])),
    }));
  const cohort = buildCohort({ model, method: 'ig', className: 'AF', records: [...recordsOf(fixture.cohort.groupA, 'AF'), ...recordsOf(fixture.cohort.groupB, 'NORM')] });

  it("gives every lead test scipy's p-value, its BH-adjusted p-value and the AUC with its interval", () => {
    cohort.leadTests.forEach((t, k) => {
      const e = fixture.cohort.leadTests[k]!;
      expect(t.lead).toBe(e.lead);
      close(t.pValue, e.pValue, `${t.lead} p`);
      close(t.pAdjusted!, e.pAdjusted, `${t.lead} p̃`);
      close(t.effect!.auc, e.auc, `${t.lead} auc`);
      close(t.effect!.ci95[0], e.ci95[0], `${t.lead} lower`);
      close(t.effect!.ci95[1], e.ci95[1], `${t.lead} upper`);
    });
  });

  it('tests the QRS, ST and T windows of every lead, and leaves out a wave one group never has, with a warning', () => {
    const waves = cohort.waveTests!;
    expect([...new Set(waves.map((t) => t.wave))]).toEqual(['qrs', 'st', 't']);
    expect(waves).toHaveLength(36);
    expect(cohort.warnings.map((w) => w.code)).toContain('wave_group_empty');
    // A positive scaling keeps the ranks (same test as the lead's); a negative one reverses them (AUC 1 − AUC).
    const lead = cohort.leadTests.find((t) => t.lead === 'V1')!;
    const qrs = waves.find((t) => t.wave === 'qrs' && t.lead === 'V1')!;
    const st = waves.find((t) => t.wave === 'st' && t.lead === 'V1')!;
    expect([qrs.statistic, qrs.pValue, qrs.effect.auc]).toEqual([lead.statistic, lead.pValue, lead.effect!.auc]);
    close(st.effect.auc, 1 - lead.effect!.auc, 'reversed auc');
    const direct = waveLevelTests(recordsOf(fixture.cohort.groupA, 'AF').concat(recordsOf(fixture.cohort.groupB, 'NORM')), { positive: 'AF', control: 'NORM' });
    expect(direct.tests).toEqual(waves);
  });

  it("reports analysis (a): Spearman's rho of mean relevance vs probability with its interval, and the outcome groups", () => {
    const a = cohort.relevanceVsProbability!;
    const expected = spearmanWithInterval(cohort.records.map((r) => r.meanRelevance), cohort.records.map((r) => r.probability));
    expect([a.rho, a.ci95, a.n]).toEqual([expected.rho, expected.ci95, 20]);
    expect(a.outcomes.TP.n + a.outcomes.FN.n).toBe(9);
    expect(a.outcomes.TN.n + a.outcomes.FP.n).toBe(11);
    expect(relevanceVsProbability([]).rho).toBeNull();
  });
});

describe('cohort.json of analysed CPSC records', () => {
  it('carries adjusted p-values, effects, wave-level tests and analysis (a), and passes the cohort schema', async () => {
    const model = await testModel('cinc2020-ai-strollers');
    const runtime = testRuntime('native');
    const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
    const rows = [['A0003', 'AF'], ['A0004', 'AF'], ['A0009', 'AF'], ['A0002', 'NORM'], ['A0016', 'NORM'], ['A0020', 'NORM']] as const;
    const members = [];
    for (const [record, label] of rows) {
      const files = [`${record}.hea`, `${record}.mat`].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(cpsc, name))) }));
      const result = await analyzeEcg(files, { model: model.id, method: 'gradient-x-input', class: 'AF' }, { runtime, models: [model], faithfulness: false });
      members.push({ path: record, label, summary: summariseResult(result, 'AF') });
    }
    const cohort = checkCohort(JSON.parse(JSON.stringify(assembleCohort({ model: cohortModelInfoOf(model), method: 'gradient-x-input', className: 'AF', steps: null, labelsFile: 'test', members }))));
    expect(members.every((m) => m.summary.waveRelevance && Object.keys(m.summary.waveRelevance).length === 12)).toBe(true);
    for (const t of cohort.leadTests) {
      expect(t.pAdjusted).toBeGreaterThanOrEqual(t.pValue);
      expect(t.effect!.ci95[0]).toBeLessThanOrEqual(t.effect!.auc);
      expect(t.effect!.ci95[1]).toBeGreaterThanOrEqual(t.effect!.auc);
    }
    const tested = new Set(cohort.waveTests!.map((t) => t.wave));
    for (const wave of WAVES) expect(tested.has(wave) || cohort.warnings.some((w) => w.code === 'wave_group_empty' && w.message.includes(wave.toUpperCase()))).toBe(true);
    expect(cohort.relevanceVsProbability!.n).toBe(6);
    // The cohort pages show them: adjusted p and AUC per lead, the wave tests, ρ with its interval.
    expect(leadTestTable(cohort)).toContain('p adjusted (BH over the 12 leads)');
    expect(waveTestSection(cohort)).toContain(`${cohort.waveTests!.length} tests`);
    expect(renderCohortSummary(cohort)).toContain('95 % CI');
  }, 120_000);
});
