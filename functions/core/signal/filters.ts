/**
 * Digital filters for ECG analysis, pure ECMAScript.
 *
 * - `designButterworth`: Butterworth design (analogue prototype → frequency transform → bilinear transform with
 *   pre-warping) returned as second-order sections, as `scipy.signal.butter(order, Wn, btype, output='sos', fs=fs)`.
 * - `sosFiltFilt` / `filtFilt`: zero-phase forward-backward filtering with scipy's defaults (odd extension of
 *   `3·ntaps` samples, steady-state initial conditions scaled by the first sample), as `scipy.signal.sosfiltfilt`
 *   and `scipy.signal.filtfilt(method='pad')`.
 * - `cleanEcgNeurokit`: NeuroKit2 `ecg_clean(method='neurokit')` — 0.5 Hz 5th-order Butterworth high-pass then the
 *   powerline moving-average filter (`signal_filter(method='powerline')`), as used by Bender et al. 2023 (analysis c).
 * - `movingAverage`: NeuroKit2 `signal_smooth(kernel='boxcar')` (edge-replicated, centred as numpy's `'same'`).
 *
 * The overall transfer function equals scipy's; the split into sections may differ, which changes results only at
 * rounding level (~1e-12).
 */
import { LeadlightError } from '../errors.ts';

/** Second-order sections: each row [b0, b1, b2, a0, a1, a2] with a0 = 1. */
export type Sos = number[][];

export type ButterworthType = 'lowpass' | 'highpass' | 'bandpass' | 'bandstop';

interface Complex {
  re: number;
  im: number;
}

const cx = (re: number, im = 0): Complex => ({ re, im });
const add = (a: Complex, b: Complex): Complex => cx(a.re + b.re, a.im + b.im);
const sub = (a: Complex, b: Complex): Complex => cx(a.re - b.re, a.im - b.im);
const mul = (a: Complex, b: Complex): Complex => cx(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
const scale = (a: Complex, s: number): Complex => cx(a.re * s, a.im * s);
function div(a: Complex, b: Complex): Complex {
  const d = b.re * b.re + b.im * b.im;
  return cx((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);
}
function csqrt(a: Complex): Complex {
  const r = Math.hypot(a.re, a.im);
  const re = Math.sqrt(Math.max(0, (r + a.re) / 2));
  const im = Math.sqrt(Math.max(0, (r - a.re) / 2));
  return cx(re, a.im < 0 ? -im : im);
}

/**
 * Designs a digital Butterworth filter as second-order sections (scipy.signal.butter with output='sos', fs=fsHz).
 * `cutoffHz` is one frequency for low/high-pass, [low, high] for band-pass/stop; all must lie in (0, fsHz/2).
 */
export function designButterworth(order: number, cutoffHz: number | [number, number], type: ButterworthType, fsHz: number): Sos {
  if (!Number.isInteger(order) || order < 1 || order > 20) {
    throw new LeadlightError('option_invalid', `The filter order ${order} is not a whole number from 1 to 20; choose e.g. 4 or 5.`);
  }
  if (!(fsHz > 0) || !Number.isFinite(fsHz)) {
    throw new LeadlightError('sampling_rate_unsupported', `The sampling rate ${fsHz} Hz is not a positive number; give the record's rate.`);
  }
  const band = type === 'bandpass' || type === 'bandstop';
  const freqs = typeof cutoffHz === 'number' ? [cutoffHz] : cutoffHz;
  if (freqs.length !== (band ? 2 : 1) || freqs.some((f) => !(f > 0 && f < fsHz / 2)) || (band && !(freqs[0] < freqs[1]))) {
    throw new LeadlightError(
      'option_invalid',
      `The cut-off ${JSON.stringify(cutoffHz)} Hz does not fit a ${type} filter at ${fsHz} Hz; use ${band ? 'two increasing frequencies' : 'one frequency'} between 0 and ${fsHz / 2} Hz.`,
    );
  }
  // Analogue prototype (scipy buttap): poles -exp(iπm/2N), m = -N+1, -N+3, ..., N-1; no zeros; gain 1.
  let poles: Complex[] = [];
  for (let m = -order + 1; m < order; m += 2) {
    const angle = (Math.PI * m) / (2 * order);
    poles.push(cx(-Math.cos(angle), -Math.sin(angle)));
  }
  let zeros: Complex[] = [];
  let gain = 1;
  // Pre-warp the cut-offs for the bilinear transform with fs.
  const warped = freqs.map((f) => 2 * fsHz * Math.tan((Math.PI * f) / fsHz));
  const prodNeg = (list: Complex[]): Complex => list.reduce((acc, z) => mul(acc, scale(z, -1)), cx(1));
  if (type === 'lowpass') {
    const wo = warped[0];
    poles = poles.map((p) => scale(p, wo));
    gain *= wo ** order;
  } else if (type === 'highpass') {
    const wo = warped[0];
    gain *= div(prodNeg(zeros), prodNeg(poles)).re;
    poles = poles.map((p) => div(cx(wo), p));
    zeros = Array.from({ length: order }, () => cx(0));
  } else {
    const wo = Math.sqrt(warped[0] * warped[1]);
    const bw = warped[1] - warped[0];
    if (type === 'bandpass') {
      const out: Complex[] = [];
      for (const p of poles) {
        const half = scale(p, bw / 2);
        const root = csqrt(sub(mul(half, half), cx(wo * wo)));
        out.push(add(half, root), sub(half, root));
      }
      poles = out;
      zeros = Array.from({ length: order }, () => cx(0));
      gain *= bw ** order;
    } else {
      gain *= div(prodNeg(zeros), prodNeg(poles)).re;
      const out: Complex[] = [];
      for (const p of poles) {
        const half = div(cx(bw / 2), p);
        const root = csqrt(sub(mul(half, half), cx(wo * wo)));
        out.push(add(half, root), sub(half, root));
      }
      poles = out;
      zeros = [];
      for (let k = 0; k < order; k++) zeros.push(cx(0, wo), cx(0, -wo));
    }
  }
  // Bilinear transform (scipy bilinear_zpk).
  const fs2 = 2 * fsHz;
  const num = zeros.reduce((acc, z) => mul(acc, sub(cx(fs2), z)), cx(1));
  const den = poles.reduce((acc, p) => mul(acc, sub(cx(fs2), p)), cx(1));
  gain *= div(num, den).re;
  const zd = zeros.map((z) => div(add(cx(fs2), z), sub(cx(fs2), z)));
  const pd = poles.map((p) => div(add(cx(fs2), p), sub(cx(fs2), p)));
  while (zd.length < pd.length) zd.push(cx(-1));
  return zpkToSos(zd, pd, gain);
}

/** Groups roots into conjugate pairs (and the leftover real roots), most-imaginary first. */
function pairRoots(roots: Complex[]): Complex[][] {
  const tol = 1e-9;
  const complex = roots.filter((r) => r.im > tol).sort((a, b) => b.im - a.im);
  const real = roots.filter((r) => Math.abs(r.im) <= tol).map((r) => cx(r.re)).sort((a, b) => a.re - b.re);
  const groups: Complex[][] = complex.map((r) => [r, cx(r.re, -r.im)]);
  for (let i = 0; i < real.length; i += 2) groups.push(real.slice(i, i + 2));
  return groups;
}

function polyOf(group: Complex[]): [number, number, number] {
  if (group.length === 0) return [1, 0, 0];
  if (group.length === 1) return [1, -group[0].re, 0];
  const [a, b] = group;
  return [1, -(a.re + b.re), mul(a, b).re];
}

function zpkToSos(zeros: Complex[], poles: Complex[], gain: number): Sos {
  const pg = pairRoots(poles);
  const zg = pairRoots(zeros);
  const sections = Math.max(pg.length, zg.length);
  // Put the (possibly single) real pole/zero group last, as scipy does for odd orders.
  const byLength = (g: Complex[][]) => [...g.filter((x) => x.length === 2), ...g.filter((x) => x.length < 2)];
  const ps = byLength(pg);
  const zs = byLength(zg);
  const sos: Sos = [];
  for (let s = 0; s < sections; s++) {
    const b = polyOf(zs[s] ?? []);
    const a = polyOf(ps[s] ?? []);
    sos.push([b[0], b[1], b[2], a[0], a[1], a[2]]);
  }
  sos[0][0] *= gain;
  sos[0][1] *= gain;
  sos[0][2] *= gain;
  return sos;
}

/** Steady-state initial conditions of a direct-form-II-transposed filter for a unit step (scipy lfilter_zi). */
function lfilterZi(b: number[], a: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const bb = [...b, ...Array(n - b.length).fill(0)];
  const aa = [...a, ...Array(n - a.length).fill(0)];
  const y = bb.reduce((s, v) => s + v, 0) / aa.reduce((s, v) => s + v, 0);
  const zi = new Array<number>(Math.max(0, n - 1)).fill(0);
  let acc = 0;
  for (let i = n - 2; i >= 0; i--) {
    acc += bb[i + 1] - aa[i + 1] * y;
    zi[i] = acc;
  }
  return zi;
}

/** Direct-form-II-transposed IIR filter in place over `x` (a[0] = 1), starting from state `zi` (modified). */
function lfilterInPlace(b: number[], a: number[], x: Float64Array, zi: number[]): void {
  const n = Math.max(a.length, b.length);
  const bb = [...b, ...Array(n - b.length).fill(0)];
  const aa = [...a, ...Array(n - a.length).fill(0)];
  const order = n - 1;
  if (order === 0) {
    for (let i = 0; i < x.length; i++) x[i] *= bb[0];
    return;
  }
  if (order === 2) {
    const [b0, b1, b2] = bb;
    const [, a1, a2] = aa;
    let z0 = zi[0];
    let z1 = zi[1];
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      const yi = b0 * xi + z0;
      z0 = b1 * xi - a1 * yi + z1;
      z1 = b2 * xi - a2 * yi;
      x[i] = yi;
    }
    zi[0] = z0;
    zi[1] = z1;
    return;
  }
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    const yi = bb[0] * xi + zi[0];
    for (let k = 0; k < order - 1; k++) zi[k] = bb[k + 1] * xi - aa[k + 1] * yi + zi[k + 1];
    zi[order - 1] = bb[order] * xi - aa[order] * yi;
    x[i] = yi;
  }
}

/** Odd extension by `pad` samples on each side (scipy odd_ext). */
function oddExtend(x: ArrayLike<number>, pad: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n + 2 * pad);
  for (let i = 0; i < pad; i++) out[i] = 2 * x[0] - x[pad - i];
  for (let i = 0; i < n; i++) out[pad + i] = x[i];
  for (let i = 0; i < pad; i++) out[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i];
  return out;
}

function checkSignal(x: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new LeadlightError('signal_invalid', `The signal has a value that is not a finite number at sample ${i}; remove or repair it before filtering.`);
    }
  }
}

function runFiltFilt(x: ArrayLike<number>, padDefault: number, pass: (y: Float64Array, x0: number) => void): Float64Array {
  checkSignal(x);
  const n = x.length;
  if (n === 0) return new Float64Array(0);
  if (n === 1) return Float64Array.from([x[0]]);
  // scipy refuses signals not longer than the pad; we shorten the pad instead so short excerpts still filter.
  const pad = Math.min(padDefault, n - 1);
  const ext = oddExtend(x, pad);
  pass(ext, ext[0]);
  ext.reverse();
  pass(ext, ext[0]);
  ext.reverse();
  return ext.slice(pad, pad + n);
}

/** Zero-phase filtering with second-order sections, as scipy.signal.sosfiltfilt (padtype 'odd', default padlen). */
export function sosFiltFilt(sos: Sos, x: ArrayLike<number>): Float64Array {
  let ntaps = 2 * sos.length + 1;
  ntaps -= Math.min(sos.filter((s) => s[2] === 0).length, sos.filter((s) => s[5] === 0).length);
  const sections = sos.map((s) => ({ b: [s[0] / s[3], s[1] / s[3], s[2] / s[3]], a: [1, s[4] / s[3], s[5] / s[3]] }));
  const zis: number[][] = [];
  let gain = 1;
  for (const { b, a } of sections) {
    zis.push(lfilterZi(b, a).map((v) => v * gain));
    gain *= (b[0] + b[1] + b[2]) / (a[0] + a[1] + a[2]);
  }
  return runFiltFilt(x, 3 * ntaps, (y, x0) => {
    sections.forEach(({ b, a }, k) => lfilterInPlace(b, a, y, zis[k].map((v) => v * x0)));
  });
}

/** Zero-phase filtering with a transfer function b/a, as scipy.signal.filtfilt(b, a, x, method='pad'). */
export function filtFilt(b: number[], a: number[], x: ArrayLike<number>): Float64Array {
  if (!a.length || a[0] === 0 || !b.length) {
    throw new LeadlightError('option_invalid', 'The filter needs non-empty coefficients with a non-zero a[0].');
  }
  const bn = b.map((v) => v / a[0]);
  const an = a.map((v) => v / a[0]);
  const zi = lfilterZi(bn, an);
  return runFiltFilt(x, 3 * Math.max(a.length, b.length), (y, x0) => lfilterInPlace(bn, an, y, zi.map((v) => v * x0)));
}

/** Zero-phase Butterworth filtering in one call (NeuroKit2 signal_filter(method='butterworth')). */
export function butterworthFilter(
  x: ArrayLike<number>,
  fsHz: number,
  options: { lowHz?: number; highHz?: number; order?: number },
): Float64Array {
  const order = options.order ?? 5;
  const { lowHz, highHz } = options;
  let sos: Sos;
  if (lowHz !== undefined && highHz !== undefined) sos = designButterworth(order, [lowHz, highHz], 'bandpass', fsHz);
  else if (lowHz !== undefined) sos = designButterworth(order, lowHz, 'highpass', fsHz);
  else if (highHz !== undefined) sos = designButterworth(order, highHz, 'lowpass', fsHz);
  else throw new LeadlightError('option_invalid', 'Give a low and/or a high cut-off frequency for the Butterworth filter.');
  return sosFiltFilt(sos, x);
}

/**
 * NeuroKit2 powerline filter (`signal_filter(method='powerline')`): a moving average of int(fs/powerline) samples
 * (2 below 100 Hz), applied forward and backward with filtfilt. It nulls the powerline frequency and its harmonics.
 */
export function powerlineFilter(x: ArrayLike<number>, fsHz: number, powerlineHz = 50): Float64Array {
  const taps = fsHz >= 100 ? Math.max(1, Math.trunc(fsHz / powerlineHz)) : 2;
  return filtFilt(new Array<number>(taps).fill(1), [taps], x);
}

/**
 * NeuroKit2 `ecg_clean(signal, sampling_rate, method='neurokit')`: 0.5 Hz 5th-order Butterworth high-pass
 * (zero-phase) followed by the powerline filter. Bender et al. 2023 find beats on this cleaned V6.
 */
export function cleanEcgNeurokit(x: ArrayLike<number>, fsHz: number, powerlineHz = 50): Float64Array {
  const highPassed = sosFiltFilt(designButterworth(5, 0.5, 'highpass', fsHz), x);
  return powerlineFilter(highPassed, fsHz, powerlineHz);
}

/**
 * Moving average of `size` samples with the ends padded by the edge values, centred as numpy's
 * convolve(mode='same'): output[i] = mean(x[i − ⌊size/2⌋ … i − ⌊size/2⌋ + size − 1]) (NeuroKit2 signal_smooth boxcar).
 */
export function movingAverage(x: ArrayLike<number>, size: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const m = Math.max(1, Math.round(size));
  const start = -Math.floor(m / 2);
  const at = (i: number) => x[i < 0 ? 0 : i >= n ? n - 1 : i];
  let sum = 0;
  for (let k = 0; k < m; k++) sum += at(start + k);
  for (let i = 0; i < n; i++) {
    out[i] = sum / m;
    sum += at(i + start + m) - at(i + start);
  }
  return out;
}
