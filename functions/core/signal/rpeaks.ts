/**
 * R-peak (QRS) detection.
 *
 * - `findRPeaks`: NeuroKit2's default `neurokit` detector (`ecg_peaks(ecg_clean(x))`, Makowski et al. 2021,
 *   NeuroKit2 documentation of `_ecg_findpeaks_neurokit`), re-implemented from its published description:
 *   absolute gradient smoothed over 0.1 s, compared against 1.5 × its 0.75 s moving average; each run above the
 *   threshold that is at least 0.4 × the mean run length is a QRS candidate; its R-peak is the local maximum with
 *   the largest prominence (scipy find_peaks semantics); peaks closer than 0.3 s to the previous one are dropped.
 *   This is what Bender et al. 2023 (analysis c) run on lead V6 at 400 Hz.
 * - `findRPeaksMultiLead`: a detector fused over all leads for robustness (AF, bundle branch blocks, paced beats,
 *   baseline wander, noisy or flat leads): each lead is band-passed (5–30 Hz), its absolute derivative is scaled by
 *   a robust per-lead level and clipped, the leads are summed into one energy envelope, the envelope is integrated
 *   over ~100 ms and its median (noise floor) removed, and peaks are picked with an adaptive threshold (two tiers:
 *   clear peaks, and weaker ones that fit the rhythm), a refractory period (250 ms), a pruning of small peaks that
 *   split an ordinary RR interval (T-waves, artefacts) and a search-back for missed beats. Pacemaker spikes are
 *   removed first with a ~12 ms running median. Each beat is finally placed on the largest absolute deflection of
 *   the band-passed leads within the QRS (weighted across leads).
 */
import { LeadlightError } from '../errors.ts';
import { butterworthFilter, cleanEcgNeurokit, movingAverage } from './filters.ts';

export interface FindRPeaksOptions {
  /** Clean with NeuroKit2 `ecg_clean` first (default true). Set false when the signal is already cleaned. */
  clean?: boolean;
  /** Powerline frequency for the cleaning step (default 50 Hz). */
  powerlineHz?: number;
}

function checkInput(signal: ArrayLike<number>, fsHz: number): void {
  if (!Number.isFinite(fsHz) || fsHz < 20 || fsHz > 20_000) {
    throw new LeadlightError('sampling_rate_unsupported', `The sampling rate ${fsHz} Hz is outside 20–20000 Hz; give the record's real rate.`);
  }
  for (let i = 0; i < signal.length; i++) {
    if (!Number.isFinite(signal[i])) {
      throw new LeadlightError('signal_invalid', `The signal has a value that is not a finite number at sample ${i}; repair the record before finding beats.`);
    }
  }
}

/** numpy.gradient with unit spacing (central differences inside, one-sided at the ends). */
function gradient(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const g = new Float64Array(n);
  if (n < 2) return g;
  g[0] = x[1] - x[0];
  g[n - 1] = x[n - 1] - x[n - 2];
  for (let i = 1; i < n - 1; i++) g[i] = (x[i + 1] - x[i - 1]) / 2;
  return g;
}

/**
 * Local maxima with their prominences, as scipy.signal.find_peaks(x, prominence=(None, None)) on x[from..to):
 * flat tops count once at their middle sample (rounded down); prominence = height above the higher of the two
 * lowest points reached before meeting a higher sample on either side (or the segment end).
 */
function peaksWithProminence(x: ArrayLike<number>, from: number, to: number): { index: number; prominence: number }[] {
  const result: { index: number; prominence: number }[] = [];
  let i = from + 1;
  const last = to - 1;
  while (i < last) {
    if (x[i - 1] < x[i]) {
      let ahead = i + 1;
      while (ahead < last && x[ahead] === x[i]) ahead++;
      if (x[ahead] < x[i]) {
        const peak = Math.floor((i + ahead - 1) / 2);
        const height = x[peak];
        let leftMin = height;
        for (let k = peak; k >= from && x[k] <= height; k--) if (x[k] < leftMin) leftMin = x[k];
        let rightMin = height;
        for (let k = peak; k < to && x[k] <= height; k++) if (x[k] < rightMin) rightMin = x[k];
        result.push({ index: peak, prominence: height - Math.max(leftMin, rightMin) });
        i = ahead;
        continue;
      }
      i = ahead;
      continue;
    }
    i++;
  }
  return result;
}

/**
 * NeuroKit2 `_ecg_findpeaks_neurokit` on an already cleaned signal (default parameters: smoothwindow 0.1 s,
 * avgwindow 0.75 s, gradthreshweight 1.5, minlenweight 0.4, mindelay 0.3 s). Returns sample indices.
 */
export function findRPeaksNeurokitCleaned(cleaned: ArrayLike<number>, fsHz: number): Int32Array {
  const n = cleaned.length;
  if (n < 3) return new Int32Array(0);
  const absGrad = gradient(cleaned).map(Math.abs);
  const smoothKernel = Math.round(0.1 * fsHz);
  const avgKernel = Math.round(0.75 * fsHz);
  const smoothGrad = movingAverage(absGrad, smoothKernel);
  const avgGrad = movingAverage(smoothGrad, avgKernel);
  const minDelay = Math.round(0.3 * fsHz);
  const begins: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < n - 1; i++) {
    const a = smoothGrad[i] > 1.5 * avgGrad[i];
    const b = smoothGrad[i + 1] > 1.5 * avgGrad[i + 1];
    if (!a && b) begins.push(i);
    if (a && !b) ends.push(i);
  }
  if (!begins.length) return new Int32Array(0);
  const endsAfter = ends.filter((e) => e > begins[0]);
  const count = Math.min(begins.length, endsAfter.length);
  if (!count) return new Int32Array(0);
  let lenSum = 0;
  for (let k = 0; k < count; k++) lenSum += endsAfter[k] - begins[k];
  const minLen = (lenSum / count) * 0.4;
  const peaks: number[] = [0];
  for (let k = 0; k < count; k++) {
    const beg = begins[k];
    const end = endsAfter[k];
    if (end - beg < minLen) continue;
    const candidates = peaksWithProminence(cleaned, beg, end);
    if (!candidates.length) continue;
    let best = candidates[0];
    for (const c of candidates) if (c.prominence > best.prominence) best = c;
    if (best.index - peaks[peaks.length - 1] > minDelay) peaks.push(best.index);
  }
  return Int32Array.from(peaks.slice(1));
}

/**
 * R-peaks of one lead with NeuroKit2's defaults (`ecg_clean` method 'neurokit' then `ecg_peaks` method
 * 'neurokit'), as Bender et al. 2023 use on V6. Returns sample indices (ascending).
 */
export function findRPeaks(signal: Float32Array | Float64Array | ArrayLike<number>, fsHz: number, options: FindRPeaksOptions = {}): Int32Array {
  checkInput(signal, fsHz);
  if (signal.length < 3) return new Int32Array(0);
  const cleaned = options.clean === false ? signal : cleanEcgNeurokit(signal, fsHz, options.powerlineHz ?? 50);
  return findRPeaksNeurokitCleaned(cleaned, fsHz);
}

function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (!sorted.length) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface MultiLeadOptions {
  /** Shortest allowed RR interval in seconds (default 0.25 s, i.e. up to 240 bpm). */
  refractoryS?: number;
}

/** Band-passed leads and the fused QRS energy envelope used by the multi-lead detector and the delineator. */
export interface QrsEnvelope {
  /** Each lead band-passed 5–30 Hz (or up to 0.45·fs when the rate is low), stored as float32 to save memory. */
  bandPassed: Float32Array[];
  /** Per-lead weight (0 for flat or unusable leads). */
  weights: number[];
  /** Sum over leads of the clipped, scaled absolute derivative. */
  energy: Float64Array;
  /** `energy` integrated over ~100 ms (centred). */
  integrated: Float64Array;
}

/** Running median over `width` (odd) samples, edges shrink the window: removes pacemaker spikes (a few ms wide). */
export function medianFilter(x: ArrayLike<number>, width: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  const half = Math.floor(width / 2);
  const buf = new Float64Array(width);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - half);
    const hi = Math.min(n - 1, i + half);
    const m = hi - lo + 1;
    // Insertion sort: the window is short (a few to ~15 samples).
    for (let k = 0; k < m; k++) {
      const v = x[lo + k];
      let j = k - 1;
      while (j >= 0 && buf[j] > v) {
        buf[j + 1] = buf[j];
        j--;
      }
      buf[j + 1] = v;
    }
    out[i] = m % 2 ? buf[(m - 1) / 2] : (buf[m / 2 - 1] + buf[m / 2]) / 2;
  }
  return out;
}

/** Builds the fused QRS energy envelope of several simultaneously recorded leads. */
export function qrsEnvelope(leads: ArrayLike<number>[], fsHz: number): QrsEnvelope {
  const n = leads.length ? leads[0].length : 0;
  const highHz = Math.min(30, 0.45 * fsHz);
  const lowHz = Math.min(5, highHz / 3);
  const bandPassed: Float32Array[] = [];
  const weights: number[] = [];
  const energy = new Float64Array(n);
  const secondBlock = Math.max(1, Math.round(fsHz));
  const medianWidth = Math.max(3, 2 * Math.round(0.006 * fsHz) + 1);
  for (const lead of leads) {
    const despiked = medianFilter(lead, medianWidth);
    const bp = n >= 8 ? butterworthFilter(despiked, fsHz, { lowHz, highHz, order: 2 }) : despiked;
    bandPassed.push(Float32Array.from(bp));
    const d = new Float64Array(n);
    for (let i = 1; i < n - 1; i++) d[i] = Math.abs(bp[i + 1] - bp[i - 1]);
    // Robust level: median over 1-s blocks of the block maximum (a QRS is in almost every block).
    const blockMax: number[] = [];
    for (let s = 0; s < n; s += secondBlock) {
      let m = 0;
      for (let i = s; i < Math.min(n, s + secondBlock); i++) if (d[i] > m) m = d[i];
      blockMax.push(m);
    }
    const level = quantile(blockMax, 0.5);
    if (!(level > 1e-9)) {
      weights.push(0);
      continue;
    }
    weights.push(1);
    for (let i = 0; i < n; i++) {
      energy[i] += Math.min(d[i] / level, 2);
    }
  }
  const integrated = movingAverage(energy, Math.max(1, Math.round(0.1 * fsHz)));
  return { bandPassed, weights, energy, integrated };
}

/** Local maxima of `x` at least `distance` samples apart, largest first wins (scipy find_peaks `distance`). */
function localMaxima(x: Float64Array, distance: number): number[] {
  const candidates: number[] = [];
  for (let i = 1; i < x.length - 1; i++) {
    if (x[i] > x[i - 1] && x[i] >= x[i + 1]) candidates.push(i);
  }
  const order = [...candidates].sort((a, b) => x[b] - x[a]);
  const taken = new Uint8Array(x.length);
  const kept: number[] = [];
  for (const c of order) {
    let ok = true;
    for (let k = Math.max(0, c - distance + 1); k < Math.min(x.length, c + distance); k++) {
      if (taken[k]) {
        ok = false;
        break;
      }
    }
    if (ok) {
      taken[c] = 1;
      kept.push(c);
    }
  }
  return kept.sort((a, b) => a - b);
}

/**
 * R-peaks from all leads of one recording (12-lead or fewer; equal lengths, one sampling rate). Robust to AF,
 * bundle branch blocks, paced beats, baseline wander, noise and flat leads; works at any rate ≥ 50 Hz.
 * Returns ascending sample indices, each on the QRS's dominant deflection.
 */
export function findRPeaksMultiLead(leads: ArrayLike<number>[], fsHz: number, options: MultiLeadOptions = {}): Int32Array {
  if (!leads.length) throw new LeadlightError('lead_missing', 'No leads were given to find beats in; pass at least one lead.');
  const n = leads[0].length;
  for (const lead of leads) {
    if (lead.length !== n) throw new LeadlightError('signal_invalid', 'The leads have different lengths; cut them to a common length first.');
    checkInput(lead, fsHz);
  }
  if (n < Math.round(0.5 * fsHz)) return new Int32Array(0);
  const env = qrsEnvelope(leads, fsHz);
  if (!env.weights.some((w) => w > 0)) return new Int32Array(0);
  // Remove the envelope's floor (its median: broadband noise adds a constant level to every lead's |slope|), so
  // thresholds are relative to the height above the typical between-beat level.
  const floor = quantile(env.integrated, 0.5);
  const x = env.integrated.map((v) => Math.max(0, v - floor));
  const refractory = Math.max(1, Math.round((options.refractoryS ?? 0.25) * fsHz));
  const maxima = localMaxima(x, refractory);
  if (!maxima.length) return new Int32Array(0);
  // Adaptive threshold: a fraction of the local peak level (80th percentile of maxima within ±5 s).
  const halfWindow = Math.round(5 * fsHz);
  const levels: number[] = [];
  let lo = 0;
  let hi = 0;
  for (const i of maxima) {
    while (maxima[lo] < i - halfWindow) lo++;
    while (hi < maxima.length && maxima[hi] <= i + halfWindow) hi++;
    levels.push(quantile(maxima.slice(lo, hi).map((m) => x[m]), 0.8));
  }
  // Two tiers: clear peaks (≥ 0.5 × level) are beats; weaker ones (≥ 0.25 × level) only when they fit the rhythm,
  // i.e. do not create an RR interval much shorter than the median of the clear beats (T waves, noise).
  const strong = maxima.filter((m, k) => x[m] >= 0.5 * levels[k]);
  let beats = strong;
  if (strong.length >= 3) {
    const rrStrong = strong.slice(1).map((b, k) => b - strong[k]);
    const medianStrong = quantile(rrStrong, 0.5);
    const weak = maxima.filter((m, k) => x[m] >= 0.25 * levels[k] && x[m] < 0.5 * levels[k]);
    const accepted: number[] = [];
    for (const m of weak) {
      let prev = -Infinity;
      let next = Infinity;
      for (const b of strong) {
        if (b < m) prev = b;
        else if (b > m) {
          next = b;
          break;
        }
      }
      if (m - prev >= 0.7 * medianStrong && next - m >= 0.7 * medianStrong) accepted.push(m);
    }
    beats = [...strong, ...accepted].sort((a, b) => a - b);
  }
  // Prune: a beat that splits an ordinary RR interval in two and is clearly smaller than both neighbours is a
  // T wave or noise burst, not a beat (true early beats in AF or ectopy are as large as their neighbours).
  for (let pass = 0; pass < 3 && beats.length >= 4; pass++) {
    const rr = beats.slice(1).map((b, k) => b - beats[k]);
    const medianRr = quantile(rr, 0.5);
    const keep = beats.map(() => true);
    for (let k = 1; k + 1 < beats.length; k++) {
      if (!keep[k - 1]) continue;
      const span = beats[k + 1] - beats[k - 1];
      const small = x[beats[k]] < 0.6 * Math.min(x[beats[k - 1]], x[beats[k + 1]]);
      if (span < 1.3 * medianRr && small) keep[k] = false;
    }
    if (keep.every(Boolean)) break;
    beats = beats.filter((_, k) => keep[k]);
  }
  // Search back: in gaps much longer than the running RR, accept the largest maximum above a lower threshold.
  for (let pass = 0; pass < 3 && beats.length >= 2; pass++) {
    const rr = beats.slice(1).map((b, k) => b - beats[k]);
    const medianRr = quantile(rr, 0.5);
    const added: number[] = [];
    for (let k = 0; k + 1 < beats.length; k++) {
      if (rr[k] < 1.6 * medianRr) continue;
      let best = -1;
      for (let j = 0; j < maxima.length; j++) {
        const m = maxima[j];
        if (m - beats[k] < Math.max(refractory, 0.4 * medianRr) || beats[k + 1] - m < Math.max(refractory, 0.4 * medianRr)) continue;
        if (x[m] < 0.18 * levels[j]) continue;
        if (best < 0 || x[m] > x[best]) best = m;
      }
      if (best >= 0) added.push(best);
    }
    if (!added.length) break;
    beats = [...beats, ...added].sort((a, b) => a - b);
  }
  // Place each beat on the dominant deflection: the sample with the largest weighted |band-passed| sum near the
  // envelope peak (±60 ms), using each lead's sign at its own extreme so opposite polarities add up.
  const half = Math.max(1, Math.round(0.06 * fsHz));
  const out: number[] = [];
  for (const b of beats) {
    const lo = Math.max(0, b - half);
    const hi = Math.min(n - 1, b + half);
    const score = new Float64Array(hi - lo + 1);
    env.bandPassed.forEach((bp, k) => {
      if (!env.weights[k]) return;
      let peak = 0;
      for (let i = lo; i <= hi; i++) if (Math.abs(bp[i]) > Math.abs(peak)) peak = bp[i];
      if (peak === 0) return;
      for (let i = lo; i <= hi; i++) score[i - lo] += Math.max(0, bp[i] / peak);
    });
    let best = 0;
    for (let i = 1; i < score.length; i++) if (score[i] > score[best]) best = i;
    const pos = lo + best;
    if (!out.length || pos - out[out.length - 1] >= Math.round(0.15 * fsHz)) out.push(pos);
  }
  return Int32Array.from(out);
}

