/**
 * Anti-aliased polyphase resampling, numerically the same as SciPy's `scipy.signal.resample_poly(x, up, down)`
 * with its defaults (window ('kaiser', 5.0), padtype 'constant'): an FIR low-pass from `firwin(2·10·max(up,down)+1,
 * 1/max(up,down))` scaled by `up`, applied by `upfirdn` and aligned so the filter delay is removed.
 * Bender et al. 2023 resample CPSC 2018 with `resample_poly(x, 4, 5)` (500 → 400 Hz).
 */

/** Zeroth-order modified Bessel function of the first kind (power series; converges fast for the β used here). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Symmetric Kaiser window of `length` points (scipy.signal.windows.kaiser(length, beta, sym=True)). */
export function kaiserWindow(length: number, beta: number): Float64Array {
  const w = new Float64Array(length);
  if (length === 1) {
    w[0] = 1;
    return w;
  }
  const denom = besselI0(beta);
  for (let n = 0; n < length; n++) {
    const r = (2 * n) / (length - 1) - 1;
    w[n] = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / denom;
  }
  return w;
}

/** Low-pass FIR by the window method, unit gain at DC (scipy.signal.firwin with a single cutoff, nyq = 1). */
export function firwinLowpass(taps: number, cutoff: number, beta: number): Float64Array {
  const window = kaiserWindow(taps, beta);
  const h = new Float64Array(taps);
  const alpha = (taps - 1) / 2;
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const m = n - alpha;
    const arg = cutoff * m;
    const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
    h[n] = cutoff * sinc * window[n];
    sum += h[n];
  }
  for (let n = 0; n < taps; n++) h[n] /= sum;
  return h;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The filter and alignment of one up/down pair, reusable for every lead. */
export interface PolyphasePlan {
  up: number;
  down: number;
  /** Filter with scipy's zero padding before and after, times `up`. */
  h: Float64Array;
  preRemove: number;
}

/**
 * The anti-aliasing filter `resample_poly(·, up, down)` uses (SciPy defaults): `firwin(2·10·max(up,down)+1,
 * 1/max(up,down), window=('kaiser', 5.0))` at the upsampled rate; `cutoff` is the fraction of that rate's Nyquist.
 */
export function polyphaseFilter(up: number, down: number): { taps: number; cutoff: number; window: 'kaiser'; beta: number; up: number; down: number } {
  if (!Number.isInteger(up) || !Number.isInteger(down) || up < 1 || down < 1) throw new RangeError('up and down must be positive integers');
  const g = gcd(up, down);
  const maxRate = Math.max(up / g, down / g);
  return { taps: 2 * 10 * maxRate + 1, cutoff: 1 / maxRate, window: 'kaiser', beta: 5.0, up: up / g, down: down / g };
}

/** Prepares `resample_poly(·, up, down)` for inputs of `inputLength` samples. */
export function planResamplePoly(inputLength: number, up: number, down: number): PolyphasePlan {
  const filter = polyphaseFilter(up, down);
  ({ up, down } = filter);
  const halfLen = (filter.taps - 1) / 2;
  const core = firwinLowpass(filter.taps, filter.cutoff, filter.beta);
  const nOut = Math.ceil((inputLength * up) / down);
  const nPrePad = down - (halfLen % down);
  const preRemove = Math.floor((halfLen + nPrePad) / down);
  const outputLen = (hLen: number) => Math.floor(((inputLength - 1) * up + hLen - 1) / down) + 1;
  let nPostPad = 0;
  while (outputLen(core.length + nPrePad + nPostPad) < nOut + preRemove) nPostPad++;
  const h = new Float64Array(nPrePad + core.length + nPostPad);
  for (let i = 0; i < core.length; i++) h[nPrePad + i] = core[i] * up;
  return { up, down, h, preRemove };
}

/**
 * Resamples `x` by up/down exactly as `scipy.signal.resample_poly(x, up, down)` and returns the first
 * `outputSamples` samples (default: all ⌈n·up/down⌉). Computing only a prefix gives the same values as cropping.
 */
export function resamplePoly(x: ArrayLike<number>, up: number, down: number, outputSamples?: number, plan?: PolyphasePlan): Float64Array {
  const p = plan ?? planResamplePoly(x.length, up, down);
  const n = x.length;
  const nOut = Math.ceil((n * p.up) / p.down);
  const count = Math.min(outputSamples ?? nOut, nOut);
  const y = new Float64Array(count);
  const { h, up: U, down: D, preRemove } = p;
  const hLen = h.length;
  for (let k = 0; k < count; k++) {
    // Position in the zero-stuffed, fully convolved signal: t = (k + preRemove)·D; y = Σ_i h[t − i·U]·x[i].
    const t = (k + preRemove) * D;
    let iMin = Math.ceil((t - (hLen - 1)) / U);
    if (iMin < 0) iMin = 0;
    let iMax = Math.floor(t / U);
    if (iMax > n - 1) iMax = n - 1;
    let acc = 0;
    for (let i = iMin; i <= iMax; i++) acc += h[t - i * U] * x[i];
    y[k] = acc;
  }
  return y;
}

/**
 * The integer ratio up/down = toHz/fromHz used to resample, with the smallest terms (e.g. 500 → 400 Hz: 4/5,
 * 360 → 400 Hz: 10/9). Rates that are not whole numbers are approximated by a continued fraction with a
 * denominator of at most 1000.
 */
export function resampleRatio(fromHz: number, toHz: number): { up: number; down: number } {
  const a = Math.round(fromHz * 1000);
  const b = Math.round(toHz * 1000);
  if (Math.abs(a / 1000 - fromHz) < 1e-9 && Math.abs(b / 1000 - toHz) < 1e-9) {
    const g = gcd(a, b);
    const up = b / g;
    const down = a / g;
    if (up <= 1000 && down <= 1000) return { up, down };
  }
  // Best rational approximation of toHz/fromHz with bounded terms.
  const target = toHz / fromHz;
  let [h0, h1, k0, k1] = [0, 1, 1, 0];
  let value = target;
  for (let i = 0; i < 32; i++) {
    const a0 = Math.floor(value);
    const [h2, k2] = [a0 * h1 + h0, a0 * k1 + k0];
    if (k2 > 1000 || h2 > 1000) break;
    [h0, h1, k0, k1] = [h1, h2, k1, k2];
    if (Math.abs(value - a0) < 1e-12) break;
    value = 1 / (value - a0);
  }
  return { up: h1, down: k1 };
}
