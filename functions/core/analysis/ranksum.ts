/**
 * Wilcoxon rank-sum test (Mann–Whitney U) exactly as R's `wilcox.test(x, y, alternative = ...)` with its
 * defaults (R 4.x, stats package: `exact = NULL`, `correct = TRUE`, `mu = 0`). Bender et al. 2023, analysis (b),
 * tests per lead whether the lead relevance of the abnormal cohort is greater than that of the normal cohort
 * (one-sided, lead marked when p < 1e-4); ../shared/docs/contract.md, "Cohorts", fixes R's defaults.
 *
 * What R does, and so what this module does:
 * - Missing values (NaN) are dropped from each group; ±Infinity is kept and ranked as the extreme value.
 * - W = (sum of the mid-ranks of x in the pooled sample) − m(m+1)/2, m = |x|.
 * - Exact p-value from the null distribution of W (counting recursion, as R's `pwilcox`) when both groups have
 *   fewer than 50 values and the pooled sample has no ties; otherwise the normal approximation with the tie-corrected
 *   variance and the continuity correction (two-sided: sign(z)·0.5, greater: 0.5, less: −0.5).
 * - An empty group (after dropping NaN) is an error, as in R ("not enough 'x' observations").
 * - When every value is equal the variance is 0: R returns p = 1 for one-sided tests and NaN for the two-sided test;
 *   so does this module (the cohort uses the one-sided test).
 */
import { LeadlightError } from '../errors.ts';

export type RankSumAlternative = 'two.sided' | 'greater' | 'less';

export interface RankSumOptions {
  /** R's `alternative`; default `two.sided` as in R. `greater` tests whether x tends to be larger than y. */
  alternative?: RankSumAlternative;
  /** R's `correct` (continuity correction of the normal approximation); default true. */
  correct?: boolean;
}

export interface RankSumResult {
  /** R's W: rank sum of x minus m(m+1)/2 (equals the Mann–Whitney U of x). */
  statistic: number;
  /** p-value; NaN only for a two-sided test on groups whose values are all equal (as R). */
  pValue: number;
  method: 'exact' | 'normal-approximation';
  alternative: RankSumAlternative;
  /** Group sizes after dropping missing values. */
  nX: number;
  nY: number;
  /** Whether the pooled sample has tied values (then R cannot use the exact distribution). */
  ties: boolean;
}

/** Groups smaller than this (both) and without ties get the exact distribution — R's `exact = NULL` rule. */
export const EXACT_LIMIT = 50;

/**
 * Wilcoxon rank-sum test of x against y, as R's `wilcox.test(x, y, alternative)` (two-sample, defaults).
 * Throws `request_invalid` when a group has no values after dropping NaN.
 */
export function rankSumTest(x: ArrayLike<number>, y: ArrayLike<number>, options: RankSumOptions = {}): RankSumResult {
  const alternative = options.alternative ?? 'two.sided';
  if (alternative !== 'two.sided' && alternative !== 'greater' && alternative !== 'less') {
    throw new LeadlightError('option_invalid', `The rank-sum alternative "${String(alternative)}" is unknown; use two.sided, greater or less.`);
  }
  const correct = options.correct ?? true;
  const xs = dropMissing(x);
  const ys = dropMissing(y);
  if (xs.length < 1) {
    throw new LeadlightError('request_invalid', "Not enough 'x' observations: the first group has no values (after dropping missing ones); a rank-sum test needs at least one value in each group.", { reason: 'not_enough_x' });
  }
  if (ys.length < 1) {
    throw new LeadlightError('request_invalid', "Not enough 'y' observations: the second group has no values (after dropping missing ones); a rank-sum test needs at least one value in each group.", { reason: 'not_enough_y' });
  }
  const m = xs.length;
  const n = ys.length;
  const { ranks, tieTerm, ties } = midRanks(xs.concat(ys));
  let rankSumX = 0;
  for (let i = 0; i < m; i++) rankSumX += ranks[i];
  const statistic = rankSumX - (m * (m + 1)) / 2;

  if (m < EXACT_LIMIT && n < EXACT_LIMIT && !ties) {
    let p: number;
    if (alternative === 'two.sided') {
      const half = statistic > (m * n) / 2 ? wilcoxonCdf(statistic - 1, m, n, false) : wilcoxonCdf(statistic, m, n, true);
      p = Math.min(2 * half, 1);
    } else if (alternative === 'greater') {
      p = wilcoxonCdf(statistic - 1, m, n, false);
    } else {
      p = wilcoxonCdf(statistic, m, n, true);
    }
    return { statistic, pValue: p, method: 'exact', alternative, nX: m, nY: n, ties };
  }

  let z = statistic - (m * n) / 2;
  const sigma = Math.sqrt(((m * n) / 12) * (m + n + 1 - tieTerm / ((m + n) * (m + n - 1))));
  let correction = 0;
  if (correct) correction = alternative === 'two.sided' ? Math.sign(z) * 0.5 : alternative === 'greater' ? 0.5 : -0.5;
  z = (z - correction) / sigma;
  let p: number;
  if (alternative === 'less') p = normalLowerTail(z);
  else if (alternative === 'greater') p = normalUpperTail(z);
  else p = 2 * Math.min(normalLowerTail(z), normalUpperTail(z));
  return { statistic, pValue: p, method: 'normal-approximation', alternative, nX: m, nY: n, ties };
}

function dropMissing(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isNaN(v)) out.push(v);
  }
  return out;
}

/** Mid-ranks (1-based, ties get the mean of their ranks, as R's `rank`), Σ(t³ − t) over tie groups, and whether any tie exists. */
export function midRanks(values: readonly number[]): { ranks: Float64Array; tieTerm: number; ties: boolean } {
  const order = Array.from(values.keys()).sort((a, b) => (values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : a - b));
  const ranks = new Float64Array(values.length);
  let tieTerm = 0;
  let ties = false;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    const t = end - start;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    if (t > 1) {
      ties = true;
      tieTerm += t * t * t - t;
    }
    start = end;
  }
  return { ranks, tieTerm, ties };
}

const countCache = new Map<string, Float64Array>();
const COUNT_CACHE_LIMIT = 16;

/**
 * Number of arrangements giving each value u = 0..mn of the Mann–Whitney statistic for group sizes m and n
 * (the coefficients of the Gaussian binomial [m+n choose m]_q), by dynamic programming over the pooled order:
 * the j-th chosen x placed at pooled position i adds i − j (the y values below it) to u. Only additions of
 * non-negative numbers, so float64 keeps about 15 significant digits for m, n < 50.
 */
export function wilcoxonCounts(m: number, n: number): Float64Array {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 0 || n < 0) {
    throw new LeadlightError('option_invalid', 'Group sizes of the exact rank-sum distribution must be whole numbers ≥ 0.');
  }
  if (m > n) return wilcoxonCounts(n, m); // the distribution is symmetric in (m, n)
  if (m * n > 250_000) {
    throw new LeadlightError('option_invalid', 'The exact rank-sum distribution is only computed for small groups; use the normal approximation for groups this large.');
  }
  const key = `${m},${n}`;
  const cached = countCache.get(key);
  if (cached) return cached;
  const maxU = m * n;
  const width = maxU + 1;
  // dp[j * width + u]: ways to choose j x-positions among the first i pooled positions with partial statistic u.
  const dp = new Float64Array((m + 1) * width);
  dp[0] = 1;
  const total = m + n;
  for (let i = 1; i <= total; i++) {
    for (let j = Math.min(i, m); j >= 1; j--) {
      const add = i - j;
      if (add > n) continue; // more than n y-values below: cannot end with exactly n y-values
      const to = j * width;
      const from = (j - 1) * width;
      for (let u = maxU; u >= add; u--) {
        const v = dp[from + u - add];
        if (v !== 0) dp[to + u] += v;
      }
    }
  }
  const counts = dp.slice(m * width, (m + 1) * width);
  if (countCache.size >= COUNT_CACHE_LIMIT) countCache.delete(countCache.keys().next().value as string);
  countCache.set(key, counts);
  return counts;
}

/**
 * Distribution function of the rank-sum statistic, as R's `pwilcox(q, m, n, lower.tail)`: P(W ≤ q) when
 * `lowerTail`, else P(W > q). Sums the shorter tail directly (the distribution is symmetric around mn/2), so small
 * tail probabilities keep their relative precision.
 */
export function wilcoxonCdf(q: number, m: number, n: number, lowerTail: boolean): number {
  if (Number.isNaN(q)) return NaN;
  const maxU = m * n;
  const k = Math.floor(q + 1e-7);
  if (k < 0) return lowerTail ? 0 : 1;
  if (k >= maxU) return lowerTail ? 1 : 0;
  const counts = wilcoxonCounts(m, n);
  let all = 0;
  for (let u = 0; u <= maxU; u++) all += counts[u];
  // lower = Σ_{u ≤ k} c[u]; upper = Σ_{u > k} c[u] = Σ_{u < mn − k} c[u] by symmetry.
  const shortSum = (last: number): number => {
    let s = 0;
    for (let u = 0; u <= last; u++) s += counts[u];
    return s / all;
  };
  if (k <= maxU / 2) {
    const lower = shortSum(k);
    return lowerTail ? lower : 1 - lower;
  }
  const upper = shortSum(maxU - k - 1);
  return lowerTail ? 1 - upper : upper;
}

const INV_SQRT_2PI = 0.3989422804014327;

/** Standard normal density. */
function normalDensity(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/**
 * Upper tail P(Z > z) of the standard normal, to about 1e-14 relative precision over the whole range (R's
 * `pnorm(z, lower.tail = FALSE)`). For 0 ≤ z < 3 it uses Φ(z) − ½ = φ(z)·Σ z^(2k+1)/(2k+1)!! (positive terms);
 * for z ≥ 3 Laplace's continued fraction Q(z) = φ(z)/(z + 1/(z + 2/(z + 3/(z + …)))) evaluated with Lentz's method,
 * so far tails such as 1e-20 keep full relative precision.
 */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z === Infinity) return 0;
  if (z === -Infinity) return 1;
  if (z < 0) return 1 - normalUpperTail(-z);
  if (z < 3) {
    const z2 = z * z;
    let term = z;
    let sum = z;
    for (let k = 1; k < 200; k++) {
      term *= z2 / (2 * k + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 0.5 - normalDensity(z) * sum;
  }
  if (z > 40) return 0; // below the smallest double
  // Lentz's method for f = z + 1/(z + 2/(z + 3/(z + ...))).
  const tiny = 1e-300;
  let f = z;
  let c = z;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    d = z + k * d;
    if (d === 0) d = tiny;
    c = z + k / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return normalDensity(z) / f;
}

/** Lower tail P(Z ≤ z) of the standard normal (R's `pnorm(z)`). */
export function normalLowerTail(z: number): number {
  return normalUpperTail(-z);
}

/** Spearman's ρ from two mid-rank vectors (Pearson correlation of the ranks); null when one is constant. */
export function spearmanOfRanks(x: Float64Array, y: Float64Array): number | null {
  const n = x.length;
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mean) * (y[i] - mean);
    sxx += (x[i] - mean) ** 2;
    syy += (y[i] - mean) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

/** One one-sided rank-sum contrast of two groups as cohort.json records it (a lead test or a wave test). */
export interface GroupContrast {
  groupA: string;
  groupB: string;
  alternative: 'greater';
  statistic: number;
  pValue: number;
  method: 'exact' | 'normal-approximation';
}
