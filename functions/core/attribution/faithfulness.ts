/**
 * Deletion and insertion curves of a relevance map (issue 16, item 1; the "deletion"/"insertion" metrics of
 * Petsiuk et al., BMVC 2018, RISE, and Samek et al., IEEE TNNLS 2017, "Evaluating the visualization of what a deep
 * neural network has learned"): the model-input samples of the recording — all leads, zero padding excluded — are
 * ranked by relevance, highest first; for each fraction the top samples are set to the attribution baseline
 * (deletion) or, starting from the baseline, restored (insertion), and the explained class's logit is recorded. The
 * same is done for seeded random orders as the reference. All forward passes run batched on the session of the
 * attribution, with an all-zero seed (graph contract: a forward pass only).
 */
import type { GraphSession } from '../model/runtime.ts';
import { seededRandom } from '../random.ts';

/** Fractions of the ranked samples removed (deletion) or restored (insertion), as issue 16 states them. */
export const FAITHFULNESS_FRACTIONS: readonly number[] = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
/** Random orders averaged for the reference curve. */
export const FAITHFULNESS_RANDOM_ORDERS = 8;
/** Seed of the random orders (fixed, so every result is repeatable). */
export const FAITHFULNESS_SEED = 16;

export type FaithfulnessCurve = {
  fractions: number[];
  /** Class logit with the top `fraction` of the ranked samples deleted (or inserted). */
  logit: number[];
  /** Mean class logit over the random orders at each fraction. */
  randomLogit: number[];
  /** Lowest and highest class logit over the random orders (the random band). */
  randomMin: number[];
  randomMax: number[];
  /**
   * Area between the curve and the random mean over the fractions (trapezoidal rule, logit × fraction), signed so
   * that positive is better than random: ∫(random − curve) for deletion, ∫(curve − random) for insertion.
   */
  areaVsRandom: number;
};

export type Faithfulness = {
  deletion: FaithfulnessCurve;
  insertion: FaithfulnessCurve;
  seed: number;
  randomOrders: number;
  /** Samples ranked (signal samples × leads; padding excluded) and what deleted samples are set to. */
  rankedSamples: number;
  baseline: 'zeros';
};

/** Number of samples a fraction of `n` ranked samples stands for (rounded to the nearest whole sample). */
export function samplesOfFraction(fraction: number, n: number): number {
  return Math.round(fraction * n);
}

/**
 * Indices (row-major [samples, leads]) of the first `signalSamples` rows, ordered by relevance, highest first; equal
 * values keep index order (a stable sort), so the ranking is defined for every map.
 */
export function rankByRelevance(relevance: Float32Array, signalSamples: number, leads: number): Uint32Array {
  const n = signalSamples * leads;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => relevance[b] - relevance[a] || a - b);
}

/**
 * `count` random orders of the indices 0..n−1, of which only the first `prefix` positions are drawn: a forward
 * Fisher–Yates shuffle (position i swaps with i + ⌊u·(n − i)⌋, u from one mulberry32 stream seeded with `seed`,
 * functions/core/random.ts), orders drawn one after another. The prefix of such a shuffle is a uniform random
 * selection in random order, which is all the curves use.
 */
export function randomOrders(count: number, seed: number, n: number, prefix: number): Uint32Array[] {
  const rand = seededRandom(seed);
  const orders: Uint32Array[] = [];
  for (let o = 0; o < count; o++) {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = 0; i < Math.min(prefix, n - 1); i++) {
      const j = i + Math.floor(rand() * (n - i));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    orders.push(order.subarray(0, prefix));
  }
  return orders;
}

export interface FaithfulnessOptions {
  /** Model input, row-major [samples, leads]. */
  input: Float32Array;
  samples: number;
  leads: number;
  /** Rows of the input that hold signal; the rest is zero padding and never ranked. */
  signalSamples: number;
  relevance: Float32Array;
  classIndex: number;
  numClasses: number;
  /** The class logit at the input and at the baseline (fraction 0 of deletion and insertion). */
  logitAtInput: number;
  logitAtBaseline: number;
  /** Inputs per forward run. */
  batchSize?: number;
  seed?: number;
}

interface Perturbation {
  curve: 'deletion' | 'insertion';
  /** -1 for the relevance ranking, else the random order. */
  order: number;
  fractionIndex: number;
}

/** Trapezoidal area of `y` over `x`. */
function trapezoid(x: readonly number[], y: readonly number[]): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

/**
 * The deletion and insertion curves of one relevance map (issue 16, item 1), with the random reference. Costs
 * 2 × (fractions − 1) × (1 + random orders) forward passes (108 with the defaults), run `batchSize` at a time.
 */
export async function faithfulnessCurves(session: GraphSession, opts: FaithfulnessOptions): Promise<Faithfulness> {
  const { input, samples, leads, classIndex, numClasses } = opts;
  const seed = opts.seed ?? FAITHFULNESS_SEED;
  const size = samples * leads;
  const n = opts.signalSamples * leads;
  const fractions = [...FAITHFULNESS_FRACTIONS];
  const counts = fractions.map((f) => samplesOfFraction(f, n));
  const maxCount = Math.max(...counts);
  const ranked = rankByRelevance(opts.relevance, opts.signalSamples, leads);
  const randoms = randomOrders(FAITHFULNESS_RANDOM_ORDERS, seed, n, maxCount);
  const orderOf = (o: number) => (o < 0 ? ranked : randoms[o]);

  const jobs: Perturbation[] = [];
  for (const curve of ['deletion', 'insertion'] as const)
    for (let o = -1; o < FAITHFULNESS_RANDOM_ORDERS; o++)
      for (let f = 0; f < fractions.length; f++) if (counts[f] > 0) jobs.push({ curve, order: o, fractionIndex: f });

  // logits[curve][order + 1][fraction]; a fraction of 0 samples is the input (deletion) or the baseline (insertion).
  const table = {
    deletion: Array.from({ length: FAITHFULNESS_RANDOM_ORDERS + 1 }, () => counts.map((c) => (c === 0 ? opts.logitAtInput : Number.NaN))),
    insertion: Array.from({ length: FAITHFULNESS_RANDOM_ORDERS + 1 }, () => counts.map((c) => (c === 0 ? opts.logitAtBaseline : Number.NaN))),
  };
  const batchSize = Math.max(1, opts.batchSize ?? 4);
  const buffer = new Float32Array(Math.min(batchSize, jobs.length) * size);
  for (let start = 0; start < jobs.length; start += batchSize) {
    const chunk = jobs.slice(start, start + batchSize);
    const x = buffer.subarray(0, chunk.length * size);
    chunk.forEach((job, b) => {
      const row = x.subarray(b * size, (b + 1) * size);
      const order = orderOf(job.order);
      const k = counts[job.fractionIndex];
      if (job.curve === 'deletion') {
        row.set(input);
        for (let i = 0; i < k; i++) row[order[i]] = 0;
      } else {
        row.fill(0);
        for (let i = 0; i < k; i++) row[order[i]] = input[order[i]];
      }
    });
    const out = await session.run(
      { x: { data: x, dims: [chunk.length, samples, leads] }, seed: { data: new Float32Array(chunk.length * numClasses), dims: [chunk.length, numClasses] } },
      ['logits'],
    );
    chunk.forEach((job, b) => {
      table[job.curve][job.order + 1][job.fractionIndex] = out.logits.data[b * numClasses + classIndex];
    });
  }

  const curveOf = (curve: 'deletion' | 'insertion'): FaithfulnessCurve => {
    const rows = table[curve];
    const random = rows.slice(1);
    const randomLogit = fractions.map((_, f) => random.reduce((s, r) => s + r[f], 0) / random.length);
    const logit = rows[0];
    const gap = fractions.map((_, f) => (curve === 'deletion' ? randomLogit[f] - logit[f] : logit[f] - randomLogit[f]));
    return {
      fractions,
      logit,
      randomLogit,
      randomMin: fractions.map((_, f) => Math.min(...random.map((r) => r[f]))),
      randomMax: fractions.map((_, f) => Math.max(...random.map((r) => r[f]))),
      areaVsRandom: trapezoid(fractions, gap),
    };
  };
  return { deletion: curveOf('deletion'), insertion: curveOf('insertion'), seed, randomOrders: FAITHFULNESS_RANDOM_ORDERS, rankedSamples: n, baseline: 'zeros' };
}
