/**
 * Attribution methods on a class LOGIT (Bender et al. 2023: the last sigmoid replaced by identity), each giving one
 * relevance value per input sample and lead:
 * - `ig`: integrated gradients (Sundararajan et al. 2017) with a zero baseline. With `steps` N given it is the
 *   paper's exact left Riemann sum over α = k/N, k = 0..N−1 (iNNvestigate's semantics); the default mode is the
 *   midpoint rule with the model's `defaultIgSteps`.
 * - `gradient`: ∂logit/∂x at the input; `gradient-x-input`: that gradient times the input.
 * - `lrp-epsilon` (ε = 1e-7, iNNvestigate's rule) and `lrp-alpha1-beta0`: layer-wise relevance propagation
 *   (Bach et al. 2015), computed by their own graphs.
 * Every result reports completeness: the sum of relevance against f(x) − f(baseline).
 * `--steps auto` (issue 16, item 4) refines the progressive IG on the 512-point midpoint grid until the completeness
 * error is at most 5 % of |f(x) − f(0)| (Sundararajan et al. 2017, §3: "check that the attributions add up to within
 * 5 % of the prediction score") or all 512 points are used.
 */
import { LeadlightError } from '../errors.ts';
import type { GraphKind } from '../model/manifest.ts';
import type { GraphSession } from '../model/runtime.ts';

export const METHODS = ['ig', 'gradient', 'gradient-x-input', 'lrp-epsilon', 'lrp-alpha1-beta0'] as const;
export type Method = (typeof METHODS)[number];

export const MAX_IG_STEPS = 1024;

/** `--steps auto`: the completeness target (relative to |f(x) − f(0)|), the grid, and the first checkpoint. */
export const IG_AUTO_TOLERANCE = 0.05;
export const IG_AUTO_MAX_POINTS = 512;
export const IG_AUTO_MIN_POINTS = 16;

export function parseMethod(name: string | undefined): Method {
  const method = (name ?? 'ig') as Method;
  if (!METHODS.includes(method)) {
    throw new LeadlightError('method_unknown', `There is no attribution method "${name}"; use one of ${METHODS.join(', ')}.`);
  }
  return method;
}

/** The graph a method runs on. */
export function graphOf(method: Method): GraphKind {
  return method === 'lrp-epsilon' || method === 'lrp-alpha1-beta0' ? method : 'gradient';
}

export type IgRule = 'left' | 'midpoint';

export interface AttributionOptions {
  method: Method;
  classIndex: number;
  numClasses: number;
  /** Input window, row-major [samples, leads]. */
  input: Float32Array;
  samples: number;
  leads: number;
  /** IG only. */
  steps?: number;
  rule?: IgRule;
  /**
   * IG only: stop early, at the first checkpoint (a power of two from IG_AUTO_MIN_POINTS points) where the estimate's
   * completeness error is at most this fraction of |f(x) − f(0)|. The points are the first n of the `steps`-point
   * grid in `progressiveOrder`: one point in each of n equal strata of [0, 1], at the same place in each.
   */
  autoTolerance?: number;
  /** Interpolation points per run (IG). */
  batchSize?: number;
  /** The class logit at the input and at the zero baseline, when already known. */
  logitAtInput?: number;
  logitAtBaseline?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * IG only: called after each run with the number of points done and a function computing the estimate so far
   * (x times the mean gradient over those points). The points are visited in `progressiveOrder`, so each estimate is
   * a coarser quadrature of the same integral; the final map does not depend on whether this is given.
   */
  onPartial?: (done: number, total: number, estimate: () => { relevance: Float32Array; completeness: Attribution['completeness'] }) => void | Promise<void>;
}

export interface Attribution {
  method: Method;
  relevance: Float32Array;
  steps: number;
  rule: IgRule | null;
  baseline: 'zeros';
  completeness: { sum: number; expected: number; logitAtInput: number; logitAtBaseline: number; relativeError: number };
  /** `--steps auto`: the target, the grid, and whether the target was reached before the grid was used up. */
  auto?: { tolerance: number; maxPoints: number; reached: boolean };
}

/**
 * The order in which the N interpolation points are visited: bit-reversed indices (van der Corput), so the first
 * 2^j points of a 2^m-step rule are its 2^j-step sub-rule, spread evenly over [0, 1]. Used for every IG run, so a
 * progressive run and a one-shot run sum the same values in the same order and give identical maps.
 */
export function progressiveOrder(steps: number): number[] {
  const bits = Math.max(1, Math.ceil(Math.log2(steps)));
  const order: number[] = [];
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < steps) order.push(r);
  }
  return order;
}

/** The interpolation points α of an N-step integrated-gradients rule. */
export function igAlphas(steps: number, rule: IgRule): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_IG_STEPS) {
    throw new LeadlightError('steps_invalid', `--steps must be a whole number from 1 to ${MAX_IG_STEPS}; got ${steps}.`);
  }
  return Array.from({ length: steps }, (_, k) => (rule === 'left' ? k / steps : (k + 0.5) / steps));
}

function seedFor(batch: number, numClasses: number, classIndex: number): Float32Array {
  const seed = new Float32Array(batch * numClasses);
  for (let b = 0; b < batch; b++) seed[b * numClasses + classIndex] = 1;
  return seed;
}

/** Evaluates the graph on inputs α·x for each α; calls `consume(alpha, values, logit)` per point, `afterRun` per run. */
async function evaluateScaled(
  session: GraphSession,
  opts: AttributionOptions,
  alphas: number[],
  output: 'grad' | 'relevance',
  consume: (alpha: number, values: Float32Array, logit: number) => void,
  afterRun?: () => unknown,
): Promise<void> {
  const size = opts.samples * opts.leads;
  const batchSize = Math.max(1, opts.batchSize ?? 4);
  // One input buffer for every run (each run is awaited before the next fills it): ~0.8 MB less garbage per run.
  const buffer = new Float32Array(Math.min(batchSize, alphas.length) * size);
  for (let start = 0; start < alphas.length; start += batchSize) {
    const chunk = alphas.slice(start, start + batchSize);
    const x = buffer.subarray(0, chunk.length * size);
    chunk.forEach((alpha, b) => {
      const row = x.subarray(b * size, (b + 1) * size);
      if (alpha === 1) row.set(opts.input);
      else if (alpha === 0) row.fill(0);
      else for (let i = 0; i < size; i++) row[i] = alpha * opts.input[i];
    });
    const result = await session.run(
      {
        x: { data: x, dims: [chunk.length, opts.samples, opts.leads] },
        seed: { data: seedFor(chunk.length, opts.numClasses, opts.classIndex), dims: [chunk.length, opts.numClasses] },
      },
      ['logits', output],
    );
    const values = result[output].data;
    const logits = result.logits.data;
    chunk.forEach((alpha, b) => consume(alpha, values.subarray(b * size, (b + 1) * size), logits[b * opts.numClasses + opts.classIndex]));
    opts.onProgress?.(Math.min(start + chunk.length, alphas.length), alphas.length);
    // An afterRun that answers true stops the evaluation (IG `--steps auto` reached its target).
    if ((await afterRun?.()) === true) return;
  }
}

/** Computes one attribution map on the graph of `opts.method` (see `graphOf`). */
export async function attribute(session: GraphSession, opts: AttributionOptions): Promise<Attribution> {
  const size = opts.samples * opts.leads;
  const relevance = new Float32Array(size);
  let logitAtInput = opts.logitAtInput;
  let logitAtBaseline = opts.logitAtBaseline;
  let steps = 0;
  let rule: IgRule | null = null;
  let auto: Attribution['auto'];

  if (opts.method === 'ig') {
    rule = opts.rule ?? 'left';
    steps = opts.steps ?? 64;
    const grid = igAlphas(steps, rule);
    const alphas = progressiveOrder(steps).map((k) => grid[k]);
    // The end points' logits (for completeness) come first, so every partial estimate can report completeness.
    const extra: number[] = [];
    if (logitAtBaseline === undefined && rule !== 'left') extra.push(0);
    if (logitAtInput === undefined) extra.push(1);
    const sum = new Float64Array(size);
    const total = alphas.length;
    let done = 0;
    if (extra.length) {
      // In a run of their own, so the integration points are batched the same way whatever is known beforehand.
      await evaluateScaled(session, { ...opts, onProgress: undefined, batchSize: extra.length }, extra, 'grad', (alpha, _grad, logit) => {
        if (alpha === 0) logitAtBaseline = logit;
        else logitAtInput = logit;
      });
    }
    const estimate = () => {
      const map = new Float32Array(size);
      for (let i = 0; i < size; i++) map[i] = (opts.input[i] * sum[i]) / done;
      return { relevance: map, completeness: completenessOf(map, logitAtInput as number, logitAtBaseline as number) };
    };
    const tolerance = opts.autoTolerance;
    if (tolerance !== undefined) auto = { tolerance, maxPoints: steps, reached: false };
    /** `--steps auto`: true once a checkpoint's estimate is complete enough. */
    const complete = () => {
      if (tolerance === undefined || done < IG_AUTO_MIN_POINTS || (done & (done - 1)) !== 0) return false;
      let mapSum = 0;
      for (let i = 0; i < size; i++) mapSum += Math.fround((opts.input[i] * sum[i]) / done); // as the float32 map sums
      const expected = (logitAtInput as number) - (logitAtBaseline as number);
      return Math.abs(mapSum - expected) <= tolerance * Math.abs(expected);
    };
    // Checkpoints must fall on run boundaries: with a target, runs of a power of two points (at most the first one).
    const batchSize = tolerance === undefined ? opts.batchSize : 2 ** Math.floor(Math.log2(Math.max(1, Math.min(opts.batchSize ?? 4, IG_AUTO_MIN_POINTS))));
    await evaluateScaled(
      session,
      { ...opts, onProgress: undefined, batchSize },
      alphas,
      'grad',
      (alpha, grad, logit) => {
        for (let i = 0; i < size; i++) sum[i] += grad[i];
        if (alpha === 0) logitAtBaseline = logit;
        done++;
        opts.onProgress?.(done, total);
      },
      opts.onPartial || tolerance !== undefined
        ? async () => {
            if (opts.onPartial) await opts.onPartial(done, total, estimate);
            return complete();
          }
        : undefined,
    );
    if (auto) auto.reached = complete();
    // With `--steps auto` the points used; otherwise all `steps` points.
    steps = done;
    for (let i = 0; i < size; i++) relevance[i] = (opts.input[i] * sum[i]) / steps;
  } else {
    const output = opts.method === 'gradient' || opts.method === 'gradient-x-input' ? 'grad' : 'relevance';
    const alphas = logitAtBaseline === undefined ? [1, 0] : [1];
    await evaluateScaled(session, { ...opts, batchSize: alphas.length }, alphas, output, (alpha, values, logit) => {
      if (alpha === 1) {
        logitAtInput = logit;
        if (opts.method === 'gradient-x-input') for (let i = 0; i < size; i++) relevance[i] = values[i] * opts.input[i];
        else relevance.set(values);
      } else logitAtBaseline = logit;
    });
  }

  return {
    method: opts.method,
    relevance,
    steps,
    rule,
    baseline: 'zeros',
    completeness: completenessOf(relevance, logitAtInput as number, logitAtBaseline as number),
    ...(auto ? { auto } : {}),
  };
}

/** The gradient × input map of a gradient already computed at the input (e.g. in the run that classified it). */
export function gradientTimesInput(grad: Float32Array, input: Float32Array, logitAtInput: number, logitAtBaseline: number): Attribution {
  const relevance = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) relevance[i] = grad[i] * input[i];
  return { method: 'gradient-x-input', relevance, steps: 0, rule: null, baseline: 'zeros', completeness: completenessOf(relevance, logitAtInput, logitAtBaseline) };
}

/** Completeness of a map: its sum against f(x) − f(baseline) of the class logit. */
function completenessOf(relevance: Float32Array, logitAtInput: number, logitAtBaseline: number): Attribution['completeness'] {
  let sum = 0;
  for (let i = 0; i < relevance.length; i++) sum += relevance[i];
  const expected = logitAtInput - logitAtBaseline;
  return { sum, expected, logitAtInput, logitAtBaseline, relativeError: Math.abs(sum - expected) / Math.max(Math.abs(expected), 1e-12) };
}
