/**
 * Cohort statistics a reviewer accepts (issue 16, item 5), pure and deterministic:
 * - Benjamini–Hochberg adjusted p-values over the tests of one contrast;
 * - the effect size AUC = U / (n_A n_B) of a rank-sum contrast, with a seeded stratified bootstrap percentile
 *   95 % interval;
 * - Spearman's ρ with a seeded pairs-bootstrap percentile 95 % interval (analysis (a): mean relevance vs probability);
 * - wave-level tests (relevance summed over the P, QRS, ST and T windows per lead, the one-sided rank-sum of the lead
 *   tests, BH over the 12 leads of each wave) and the TP/FP/FN/TN groups of analysis (a).
 * Resamples come from one mulberry32 stream (functions/core/random.ts) seeded with `seed`; the draw order is fixed
 * (see `bootstrapResampleIndices`) so an independent implementation of the same generator reproduces every resample.
 */
import { LEAD_ORDER, type LeadName } from '../record.ts';
import { seededRandom } from '../random.ts';
import { type GroupContrast, midRanks, rankSumTest, spearmanOfRanks } from './ranksum.ts';
import type { Outcome } from './relevance.ts';

/** Bootstrap resamples and seed of every interval in cohort.json. */
export const BOOTSTRAP_RESAMPLES = 2000;
export const BOOTSTRAP_SEED = 16;
/** The waves of the wave-level tests. */
export const WAVES = ['p', 'qrs', 'st', 't'] as const;
export type Wave = (typeof WAVES)[number];

/**
 * Benjamini–Hochberg adjusted p-values (Benjamini & Hochberg, J R Stat Soc B 57:289, 1995), as R's
 * `p.adjust(p, "BH")` and scipy's `false_discovery_control(p, method="bh")`: with the m p-values in ascending order,
 * p̃_(i) = min_{j ≥ i} min(1, m · p_(j) / j), returned in the input order.
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = Array.from(pValues.keys()).sort((a, b) => pValues[a] - pValues[b] || a - b);
  const adjusted = new Array<number>(m);
  let running = 1;
  for (let rank = m; rank >= 1; rank--) {
    const i = order[rank - 1];
    running = Math.min(running, (m * pValues[i]) / rank);
    adjusted[i] = Math.min(1, running);
  }
  return adjusted;
}

/**
 * AUC = U / (n_A n_B), U the Mann–Whitney statistic of A over B (pairs with a > b count 1, ties ½; Mann & Whitney
 * 1947; Hanley & McNeil, Radiology 143:29, 1982): the probability that a random A value exceeds a random B value.
 */
export function aucOf(a: readonly number[], b: readonly number[]): number {
  if (a.length * b.length <= 4096) {
    // Small groups (every bootstrap replicate of a usual cohort): count the pairs, no allocation. U is a multiple
    // of ½ far below 2^53, so both ways give the same float.
    let u = 0;
    for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
    return u / (a.length * b.length);
  }
  const { ranks } = midRanks(a.concat(b));
  let rankSumA = 0;
  for (let i = 0; i < a.length; i++) rankSumA += ranks[i];
  return (rankSumA - (a.length * (a.length + 1)) / 2) / (a.length * b.length);
}

/** Spearman's ρ: Pearson's correlation of the mid-ranks (as scipy.stats.spearmanr); NaN for n < 2 or a constant variable. */
export function spearmanRho(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2 || y.length !== n) return Number.NaN;
  return spearmanOfRanks(midRanks(x).ranks, midRanks(y).ranks) ?? Number.NaN;
}

/** Percentile of sorted values with linear interpolation (numpy's default, R type 7), p in [0, 1]. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  const f = h - lo;
  return f === 0 ? sorted[lo] : sorted[lo] + f * (sorted[hi] - sorted[lo]);
}

/**
 * The resample indices of a seeded bootstrap: for each of `resamples` replicates and each stratum of size n_s in
 * order, n_s draws ⌊u · n_s⌋ (with replacement) from one mulberry32 stream seeded with `seed`. One stratum (all
 * pairs) resamples a correlation; two strata (A, B) resample a two-group contrast within its groups (stratified, as
 * pROC's default for an AUC). Returned per replicate and stratum.
 */
export function bootstrapResampleIndices(sizes: readonly number[], resamples: number, seed: number): Uint32Array[][] {
  // The lead and wave tests of one contrast share group sizes, hence resamples: drawn once (read-only to callers).
  const key = `${sizes.join(',')}|${resamples}|${seed}`;
  if (lastResamples?.key === key) return lastResamples.indices;
  const rand = seededRandom(seed);
  const out: Uint32Array[][] = [];
  for (let b = 0; b < resamples; b++) {
    out.push(
      sizes.map((n) => {
        const idx = new Uint32Array(n);
        for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
        return idx;
      }),
    );
  }
  lastResamples = { key, indices: out };
  return out;
}

let lastResamples: { key: string; indices: Uint32Array[][] } | null = null;

/** Tie groups of `values` in ascending order: each value's group and, per group, how many values lie below it. */
function tieGroups(values: readonly number[]): { groupOf: Int32Array; groups: number } {
  const order = Array.from(values.keys()).sort((i, j) => values[i] - values[j]);
  const groupOf = new Int32Array(values.length);
  let groups = 0;
  order.forEach((i, k) => {
    if (k > 0 && values[i] !== values[order[k - 1]]) groups++;
    groupOf[i] = groups;
  });
  return { groupOf, groups: values.length ? groups + 1 : 0 };
}

/**
 * Spearman's ρ of every pairs resample in O(n) each: the resample's mid-ranks follow from the tie groups of the
 * original values and how often each value was drawn (mid-rank of a group = values below + (values in it + 1) / 2).
 */
function resampledRhos(x: readonly number[], y: readonly number[], resamples: number, seed: number): number[] {
  const n = x.length;
  const gx = tieGroups(x);
  const gy = tieGroups(y);
  const cx = new Float64Array(gx.groups);
  const cy = new Float64Array(gy.groups);
  const rx = new Float64Array(gx.groups);
  const ry = new Float64Array(gy.groups);
  const midRanksOf = (counts: Float64Array, ranks: Float64Array) => {
    let below = 0;
    for (let g = 0; g < counts.length; g++) {
      ranks[g] = below + (counts[g] + 1) / 2;
      below += counts[g];
    }
  };
  return bootstrapResampleIndices([n], resamples, seed).map(([idx]) => {
    cx.fill(0);
    cy.fill(0);
    for (const i of idx) {
      cx[gx.groupOf[i]]++;
      cy[gy.groupOf[i]]++;
    }
    midRanksOf(cx, rx);
    midRanksOf(cy, ry);
    const mean = (n + 1) / 2;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (const i of idx) {
      const dx = rx[gx.groupOf[i]] - mean;
      const dy = ry[gy.groupOf[i]] - mean;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
  });
}

export interface BootstrapInterval {
  /** The 2.5th and 97.5th percentiles of the replicates (percentile interval, Efron & Tibshirani 1993, §13.3). */
  ci95: [number, number];
  resamples: number;
  seed: number;
  /** Replicates left out because the statistic was undefined there (e.g. a constant resample for ρ). */
  undefinedResamples: number;
}

function percentileInterval(replicates: number[], resamples: number, seed: number): BootstrapInterval {
  const defined = replicates.filter(Number.isFinite).sort((a, b) => a - b);
  return { ci95: [percentileSorted(defined, 0.025), percentileSorted(defined, 0.975)], resamples, seed, undefinedResamples: resamples - defined.length };
}

/**
 * The AUC of every resample, in O(n_A + n_B) each: the pooled values are sorted once into groups of equal values,
 * and a resample only changes how often each value counts. U = Σ over the tie groups of (A count · B count below +
 * ½ A count · B count within), the same multiple of ½ as `aucOf` of the resampled values, so the same float.
 */
function resampledAucs(a: readonly number[], b: readonly number[], resamples: number, seed: number): number[] {
  const { groupOf, groups } = tieGroups(a.concat(b));
  const countA = new Float64Array(groups);
  const countB = new Float64Array(groups);
  return bootstrapResampleIndices([a.length, b.length], resamples, seed).map(([ia, ib]) => {
    countA.fill(0);
    countB.fill(0);
    for (const i of ia) countA[groupOf[i]]++;
    for (const j of ib) countB[groupOf[a.length + j]]++;
    let u = 0;
    let belowB = 0;
    for (let g = 0; g < groups; g++) {
      u += countA[g] * belowB + 0.5 * countA[g] * countB[g];
      belowB += countB[g];
    }
    return u / (a.length * b.length);
  });
}

/** AUC of A over B with its stratified bootstrap percentile 95 % interval (issue 16: 2000 seeded resamples). */
export function aucWithInterval(a: readonly number[], b: readonly number[], resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): { auc: number } & BootstrapInterval {
  return { auc: aucOf(a, b), ...percentileInterval(resampledAucs(a, b, resamples, seed), resamples, seed) };
}

/** Spearman's ρ of paired values with its pairs-bootstrap percentile 95 % interval. */
export function spearmanWithInterval(x: readonly number[], y: readonly number[], resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): { rho: number } & BootstrapInterval {
  const replicates = x.length >= 2 ? resampledRhos(x, y, resamples, seed) : new Array<number>(resamples).fill(Number.NaN);
  return { rho: spearmanRho(x, y), ...percentileInterval(replicates, resamples, seed) };
}

/** `effect` of a lead or wave test in cohort.json. */
export interface TestEffect {
  auc: number;
  ci95: [number, number];
}

/** The effect of a two-group contrast: AUC and its interval, as cohort.json stores it. */
export function effectOf(a: readonly number[], b: readonly number[]): TestEffect {
  const { auc, ci95 } = aucWithInterval(a, b);
  return { auc, ci95 };
}

/** Per-lead relevance summed over each wave's windows; null when the record has no window of that wave. */
export type WaveRelevanceByLead = Readonly<Record<string, Readonly<Partial<Record<Wave, number | null>>>>>;

export interface WaveTest extends GroupContrast {
  wave: Wave;
  lead: LeadName;
  /** Benjamini–Hochberg over the 12 leads of this wave. */
  pAdjusted: number;
  nA: number;
  nB: number;
  effect: TestEffect;
}

/**
 * Wave-level tests (issue 16, item 5): for each wave and lead, the one-sided rank-sum test "A > B" (R's
 * `wilcox.test(a, b, alternative = "greater")`, as the lead tests) of the relevance summed over that wave's windows,
 * BH-adjusted over the 12 leads of the wave, with the AUC effect. Records without such a window (e.g. no P-wave found
 * in AF) are left out of that wave's tests; a wave with an empty group is skipped with a warning.
 */
export function waveLevelTests(
  records: readonly { label: string; waveRelevance?: WaveRelevanceByLead | null }[],
  groups: { positive: string; control: string },
): { tests: WaveTest[]; warnings: { code: string; message: string }[] } {
  const tests: WaveTest[] = [];
  const warnings: { code: string; message: string }[] = [];
  for (const wave of WAVES) {
    const valuesOf = (label: string, lead: LeadName) =>
      records.flatMap((r) => {
        const v = r.label === label ? r.waveRelevance?.[lead]?.[wave] : undefined;
        return typeof v === 'number' && Number.isFinite(v) ? [v] : [];
      });
    const perLead = LEAD_ORDER.map((lead) => ({ lead, a: valuesOf(groups.positive, lead), b: valuesOf(groups.control, lead) }));
    if (perLead.some((x) => x.a.length === 0 || x.b.length === 0)) {
      warnings.push({ code: 'wave_group_empty', message: `No ${wave.toUpperCase()} windows in the records of one group (${groups.positive} or ${groups.control}), so the ${wave.toUpperCase()} wave tests are left out.` });
      continue;
    }
    const raw = perLead.map(({ lead, a, b }) => ({ lead, a, b, test: rankSumTest(a, b, { alternative: 'greater' }) }));
    const adjusted = benjaminiHochberg(raw.map((r) => r.test.pValue));
    raw.forEach(({ lead, a, b, test }, i) =>
      tests.push({
        wave,
        lead,
        groupA: groups.positive,
        groupB: groups.control,
        alternative: 'greater',
        statistic: test.statistic,
        pValue: test.pValue,
        pAdjusted: adjusted[i],
        method: test.method,
        nA: test.nX,
        nB: test.nY,
        effect: effectOf(a, b),
      }),
    );
  }
  return { tests, warnings };
}

export interface RelevanceVsProbability {
  /** Spearman's ρ of M_n against the probability over all records, with its bootstrap interval. */
  rho: number | null;
  ci95: [number, number] | null;
  n: number;
  resamples: number;
  seed: number;
  /** Per outcome: records, and the median, lowest and highest M_n. */
  outcomes: Record<Outcome, { n: number; medianMeanRelevance: number | null; minMeanRelevance: number | null; maxMeanRelevance: number | null }>;
}

/** Analysis (a) of Bender et al. 2023 as numbers: ρ(M_n, probability) with its interval, and the outcome groups. */
export function relevanceVsProbability(records: readonly { probability: number; meanRelevance: number; outcome: Outcome }[]): RelevanceVsProbability {
  const x = records.map((r) => r.meanRelevance);
  const y = records.map((r) => r.probability);
  const s = spearmanWithInterval(x, y);
  const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);
  const outcomes = {} as RelevanceVsProbability['outcomes'];
  for (const o of ['TP', 'FP', 'FN', 'TN'] as const) {
    const v = records.filter((r) => r.outcome === o).map((r) => r.meanRelevance).sort((a, b) => a - b);
    outcomes[o] = { n: v.length, medianMeanRelevance: v.length ? percentileSorted(v, 0.5) : null, minMeanRelevance: v.length ? v[0] : null, maxMeanRelevance: v.length ? v[v.length - 1] : null };
  }
  const ci = s.ci95.every(Number.isFinite) ? s.ci95 : null;
  return { rho: finiteOrNull(s.rho), ci95: ci, n: records.length, resamples: s.resamples, seed: s.seed, outcomes };
}
