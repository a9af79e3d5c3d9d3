/**
 * Similarity of a relevance map to the map of a randomised model (issue 16, item 2; Adebayo et al., NeurIPS 2018,
 * "Sanity checks for saliency maps", §3, who compare with Spearman rank correlation of absolute values and SSIM):
 * - Spearman's ρ of |relevance| over the samples of the recording (12 leads, zero padding excluded);
 * - SSIM (Wang et al., IEEE TIP 13:600, 2004) of the two maps as [samples × 12] images of |relevance| divided by the
 *   map's largest |value| (so data range 1), computed as scikit-image's `structural_similarity(a, b, data_range=1)`
 *   with its defaults: 7 × 7 uniform windows, sample covariances, K1 = 0.01, K2 = 0.03, mean over the windows that
 *   lie fully inside the image.
 * A method that passes the check gives maps that change with the weights: both numbers fall far below 1.
 */
import { seededRandom } from '../random.ts';
import { midRanks, spearmanOfRanks } from './ranksum.ts';

/** |relevance| of the first `signalSamples` rows, scaled by the largest |value| (all zeros stay zeros). */
export function normalisedAbs(relevance: Float32Array, signalSamples: number, leads = 12): Float64Array {
  const n = signalSamples * leads;
  const out = new Float64Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(relevance[i]));
  if (max > 0) for (let i = 0; i < n; i++) out[i] = Math.abs(relevance[i]) / max;
  return out;
}

/** Mid-ranks of |relevance| over the first `signalSamples` rows (computed once for the original map). */
export function absRanks(relevance: Float32Array, signalSamples: number, leads = 12): Float64Array {
  return midRanks(Array.from(relevance.subarray(0, signalSamples * leads), Math.abs)).ranks;
}

export const SSIM_WINDOW = 7;

/**
 * Mean SSIM of two row-major images [rows × cols] with data range 1 (scikit-image's defaults, see the module
 * comment). Needs rows and cols of at least 7.
 */
export function ssim(a: Float64Array, b: Float64Array, rows: number, cols: number, win = SSIM_WINDOW): number {
  if (rows < win || cols < win) return Number.NaN;
  // 2-D prefix sums of a, b, a², b², ab: each window's sums in O(1).
  const w = cols + 1;
  const sums = Array.from({ length: 5 }, () => new Float64Array((rows + 1) * w));
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const x = a[r * cols + c];
      const y = b[r * cols + c];
      const vals = [x, y, x * x, y * y, x * y];
      for (let k = 0; k < 5; k++) {
        const s = sums[k];
        s[(r + 1) * w + c + 1] = vals[k] + s[r * w + c + 1] + s[(r + 1) * w + c] - s[r * w + c];
      }
    }
  const np = win * win;
  const covNorm = np / (np - 1);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  let total = 0;
  let count = 0;
  for (let r = 0; r + win <= rows; r++)
    for (let c = 0; c + win <= cols; c++) {
      const box = (s: Float64Array) => s[(r + win) * w + c + win] - s[r * w + c + win] - s[(r + win) * w + c] + s[r * w + c];
      const [ux, uy, uxx, uyy, uxy] = sums.map((s) => box(s) / np);
      const vx = covNorm * (uxx - ux * ux);
      const vy = covNorm * (uyy - uy * uy);
      const vxy = covNorm * (uxy - ux * uy);
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  return total / count;
}

/** Mean and median of the defined values (null/NaN left out); both null when none is defined. */
export function meanAndMedian(values: readonly (number | null)[]): { mean: number | null; median: number | null; n: number } {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { mean: null, median: null, n: 0 };
  const mid = v.length >> 1;
  return { mean: v.reduce((a, b) => a + b, 0) / v.length, median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, n: v.length };
}

/** What the cascade compares every randomised map with: the original map's |relevance| ranks and image. */
export interface SanityReference {
  signalSamples: number;
  ranks: Float64Array;
  image: Float64Array;
}

/** The reference of an original map (Adebayo et al. 2018, §3: the map of the trained model). */
export function sanityReference(relevance: Float32Array, signalSamples: number): SanityReference {
  return { signalSamples, ranks: absRanks(relevance, signalSamples), image: normalisedAbs(relevance, signalSamples) };
}

/**
 * Similarity of a randomised model's map to the original one (Adebayo et al., NeurIPS 2018, §3.1): Spearman's ρ of
 * |relevance| and SSIM, as the `sanity` command reports them per cascade step.
 */
export function compareWithReference(reference: SanityReference, relevance: Float32Array): { spearmanAbs: number | null; ssim: number } {
  const { signalSamples } = reference;
  return {
    spearmanAbs: spearmanOfRanks(reference.ranks, absRanks(relevance, signalSamples)),
    ssim: ssim(reference.image, normalisedAbs(relevance, signalSamples), signalSamples, 12),
  };
}

/** One cascade step of a cohort's sanity summary: the similarity's mean and median over the checked records. */
export interface SanityStepSummary {
  /** The layer this step randomised first (its BatchNormalization layers go with it). */
  layer: string;
  /** Layers randomised so far, this step's included. */
  layersRandomised: number;
  n: number;
  spearmanAbs: { mean: number | null; median: number | null };
  ssim: { mean: number | null; median: number | null };
}

/**
 * Per cascade step, the mean and median over records of Spearman's ρ of |relevance| and of SSIM (Adebayo et al.,
 * NeurIPS 2018, §3.1, cascading randomisation summarised over a set of inputs). `perRecord[r][k]` is record r's
 * similarity at step k; every record has the same steps.
 */
export function summariseSanitySteps(steps: readonly { layer: string; layersRandomised: number }[], perRecord: readonly (readonly { spearmanAbs: number | null; ssim: number }[])[]): SanityStepSummary[] {
  return steps.map((step, k) => {
    const rho = meanAndMedian(perRecord.map((r) => r[k]?.spearmanAbs ?? null));
    const s = meanAndMedian(perRecord.map((r) => r[k]?.ssim ?? null));
    return { ...step, n: rho.n, spearmanAbs: { mean: rho.mean, median: rho.median }, ssim: { mean: s.mean, median: s.median } };
  });
}

/**
 * The records a cohort's sanity check runs on: `size` of `count` indices (all when size ≥ count), drawn by a forward
 * Fisher–Yates shuffle on one mulberry32 stream seeded with `seed`, returned in ascending order (repeatable).
 */
export function sanitySubset(count: number, size: number, seed: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  if (size >= count) return order;
  const rand = seededRandom(seed);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(rand() * (count - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, size).sort((a, b) => a - b);
}
