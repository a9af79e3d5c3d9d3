// The rank-sum test of analysis (b) against R itself: every case of test/fixtures/analysis/wilcox-r.json was
// computed by R's wilcox.test (see wilcox-r.R for the exact code and R version); pnorm tails likewise.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/paths.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { normalLowerTail, normalUpperTail, rankSumTest, wilcoxonCdf, wilcoxonCounts, type RankSumAlternative } from '../../../functions/core/analysis/ranksum.ts';

type Num = number | string;
interface RCase { name: string; alternative: RankSumAlternative; x: Num[]; y: Num[]; statistic?: number; pValue?: Num; method?: string; error?: string }
const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/analysis/wilcox-r.json'), 'utf8')) as {
  provenance: string; cases: RCase[]; pnorm: { z: number[]; upper: number[]; lower: number[] };
};
const toNumber = (v: Num): number => (typeof v === 'number' ? v : ({ NaN: NaN, NA: NaN, Inf: Infinity, '-Inf': -Infinity } as Record<string, number>)[v]);
const relativeError = (actual: number, expected: number) => (expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected));

describe("the Wilcoxon rank-sum test agrees with R's wilcox.test", () => {
  const computed = fixture.cases.filter((c) => c.error === undefined);
  it('has reference cases from R for every alternative, both methods, p-values from 1 down to 1e-20', () => {
    expect(fixture.provenance).toMatch(/R version 4/);
    for (const alt of ['two.sided', 'greater', 'less']) expect(computed.some((c) => c.alternative === alt)).toBe(true);
    expect(computed.some((c) => c.method === 'exact' && toNumber(c.pValue!) < 1e-11)).toBe(true);
    expect(computed.some((c) => c.method === 'normal-approximation' && toNumber(c.pValue!) < 1e-12)).toBe(true);
  });

  for (const c of computed) {
    it(`gives R's W, method and p-value for "${c.name}" (${c.alternative})`, () => {
      const result = rankSumTest(c.x.map(toNumber), c.y.map(toNumber), { alternative: c.alternative });
      expect(result.statistic).toBe(c.statistic);
      expect(result.method).toBe(c.method);
      expect(result.alternative).toBe(c.alternative);
      const expected = toNumber(c.pValue!);
      if (Number.isNaN(expected)) expect(result.pValue).toBeNaN();
      else expect(relativeError(result.pValue, expected)).toBeLessThan(1e-12);
    });
  }

  for (const c of fixture.cases.filter((k) => k.error !== undefined)) {
    it(`refuses "${c.name}" (${c.alternative}) as R does ("${c.error}")`, () => {
      let thrown: unknown;
      try { rankSumTest(c.x.map(toNumber), c.y.map(toNumber), { alternative: c.alternative }); } catch (e) { thrown = e; }
      expect(isLeadlightError(thrown)).toBe(true);
      const error = thrown as { code: string; message: string };
      expect(error.code).toBe('request_invalid');
      expect(error.message).toContain(c.error!.includes("'x'") ? "'x' observations" : "'y' observations");
      expect(error.message).toMatch(/needs at least one value in each group/);
    });
  }
});

describe('the exact distribution and the normal tails', () => {
  it('counts C(m+n, m) arrangements in total, symmetric around mn/2', () => {
    const counts = wilcoxonCounts(10, 12);
    let total = 0;
    for (const c of counts) total += c;
    expect(total).toBe(646646); // C(22, 10)
    for (let u = 0; u <= 120; u++) expect(counts[u]).toBe(counts[120 - u]);
    expect(wilcoxonCounts(12, 10)).toEqual(counts);
  });

  it('puts the smallest exact tail of 49 against 49 at 1 / C(98, 49) without cancellation', () => {
    // P(W ≥ 49·49) = 1/C(98,49) = 1/25477612258980856902730428600 (C(98,49) by exact integer arithmetic).
    const p = wilcoxonCdf(49 * 49 - 1, 49, 49, false);
    expect(relativeError(p, 1 / 25477612258980856902730428600)).toBeLessThan(1e-12);
  });

  it('matches R pnorm in both tails from z = -40 to 37.5', () => {
    fixture.pnorm.z.forEach((z, i) => {
      expect(relativeError(normalUpperTail(z), fixture.pnorm.upper[i])).toBeLessThan(1e-13);
      expect(relativeError(normalLowerTail(z), fixture.pnorm.lower[i])).toBeLessThan(1e-13);
    });
  });
});

describe('hostile inputs', () => {
  it('drops NaN values instead of ranking them, as R drops NA', () => {
    const withNaN = rankSumTest([NaN, 3, 1, NaN], [2, NaN], { alternative: 'greater' });
    const clean = rankSumTest([3, 1], [2], { alternative: 'greater' });
    expect(withNaN).toEqual(clean);
    expect(withNaN.nX).toBe(2);
  });

  it('accepts Float32Array groups', () => {
    const result = rankSumTest(new Float32Array([0.5, 0.25, 2]), new Float32Array([0.125]), { alternative: 'greater' });
    expect(result.statistic).toBe(3);
    expect(result.pValue).toBe(0.25); // one of C(4,1) = 4 equally likely arrangements puts y lowest
  });

  it('refuses an unknown alternative with option_invalid', () => {
    expect(() => rankSumTest([1], [2], { alternative: 'bigger' as RankSumAlternative })).toThrowError(/unknown; use two.sided, greater or less/);
  });

  it('gives p = 1 for a one-sided test and NaN for a two-sided test when every value ties, as R', () => {
    expect(rankSumTest([7, 7, 7], [7, 7], { alternative: 'greater' }).pValue).toBe(1);
    expect(rankSumTest([7, 7, 7], [7, 7], { alternative: 'less' }).pValue).toBe(1);
    expect(rankSumTest([7, 7, 7], [7, 7]).pValue).toBeNaN();
  });

  it('tests 200 against 200 values quickly with the normal approximation', () => {
    const a = Array.from({ length: 200 }, (_, i) => Math.sin(i) + 0.3);
    const b = Array.from({ length: 200 }, (_, i) => Math.cos(i * 1.7));
    const start = performance.now();
    const result = rankSumTest(a, b, { alternative: 'greater' });
    expect(result.method).toBe('normal-approximation');
    expect(performance.now() - start).toBeLessThan(500);
  });
});
