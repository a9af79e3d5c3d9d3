/**
 * Beat analysis of one ECG (Bender et al. 2023, analysis (c)): heart rate, RR intervals, the paper's beat window and
 * the average beat of the signal and of the relevance per lead.
 *
 * - Window ('paper-centre', NeuroKit2 `ecg_segment` / `_ecg_segment_window`): from −0.35·RR to +0.5·RR around each
 *   R-peak with RR = 60/mean HR, widened by 0.1 s on each side when HR ≥ 80 bpm (HR 60 → −350/+500 ms). The mean HR
 *   is NeuroKit2's `signal_rate` averaged over the record: the RR period of each beat (the first takes the mean of
 *   the others) interpolated monotonically (PCHIP) over every sample, constant beyond the first/last peak.
 *   Sample offsets follow `epochs_create`: ⌊start·fs⌋ … ⌊end·fs⌋ − 1 around each R-peak.
 * - Window ('r-peak'): a fixed window [−beforeS, +afterS] (default −0.4/+0.6 s), so averages of different ECGs
 *   share the R-peak at t = 0 regardless of their heart rate.
 * - Per lead, signal and relevance are averaged over all beats; window samples outside the record count as zeros.
 *   The normalised copies divide each by its maximum |value| over all leads (signal and relevance separately).
 */
import { LeadlightError } from '../errors.ts';

/** Beat window of the paper in seconds relative to the R-peak. */
export interface BeatWindow {
  startS: number;
  endS: number;
}

/**
 * The paper's beat window for a mean heart rate (NeuroKit2 `_ecg_segment_window`): [−0.35, +0.5]·60/HR s, each
 * side widened by 0.1 s when HR ≥ 80 bpm.
 */
export function paperBeatWindowS(heartRateBpm: number): BeatWindow {
  if (!(heartRateBpm > 0) || !Number.isFinite(heartRateBpm)) {
    throw new LeadlightError('option_invalid', `The heart rate ${heartRateBpm} bpm is not a positive number; at least two R-peaks are needed.`);
  }
  const rrS = 60 / heartRateBpm;
  let startS = -0.35 * rrS;
  let endS = 0.5 * rrS;
  if (heartRateBpm >= 80) {
    startS -= 0.1;
    endS += 0.1;
  }
  return { startS, endS };
}

/** RR intervals in seconds between consecutive R-peaks. */
export function rrIntervalsS(rPeaks: ArrayLike<number>, fsHz: number): Float64Array {
  const out = new Float64Array(Math.max(0, rPeaks.length - 1));
  for (let k = 1; k < rPeaks.length; k++) out[k - 1] = (rPeaks[k] - rPeaks[k - 1]) / fsHz;
  return out;
}

/** PCHIP (Fritsch–Carlson, as scipy PchipInterpolator) slopes at the knots. */
function pchipSlopes(x: number[], y: number[]): number[] {
  const n = x.length;
  const h = x.slice(1).map((v, k) => v - x[k]);
  const delta = h.map((hk, k) => (y[k + 1] - y[k]) / hk);
  const d = new Array<number>(n).fill(0);
  if (n === 2) return [delta[0], delta[0]];
  for (let k = 1; k < n - 1; k++) {
    if (delta[k - 1] * delta[k] <= 0) d[k] = 0;
    else {
      const w1 = 2 * h[k] + h[k - 1];
      const w2 = h[k] + 2 * h[k - 1];
      d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k]);
    }
  }
  const edge = (h0: number, h1: number, m0: number, m1: number): number => {
    let dd = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if (Math.sign(dd) !== Math.sign(m0)) dd = 0;
    else if (Math.sign(m0) !== Math.sign(m1) && Math.abs(dd) > Math.abs(3 * m0)) dd = 3 * m0;
    return dd;
  };
  d[0] = edge(h[0], h[1], delta[0], delta[1]);
  d[n - 1] = edge(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
  return d;
}

/**
 * Mean heart rate in bpm. With `lengthSamples`, NeuroKit2's value (mean of `signal_rate(rpeaks, fs,
 * desired_length)`: per-beat period, first = mean of the rest, PCHIP-interpolated over all samples, constant
 * outside the peaks) — what `ecg_segment` uses for the paper's window. Without it, 60 / mean RR.
 * Returns null when there are fewer than two R-peaks.
 */
export function heartRateBpm(rPeaks: ArrayLike<number>, fsHz: number, lengthSamples?: number): number | null {
  if (rPeaks.length < 2 || !(fsHz > 0)) return null;
  const rr = rrIntervalsS(rPeaks, fsHz);
  if (lengthSamples === undefined) {
    const mean = rr.reduce((s, v) => s + v, 0) / rr.length;
    return mean > 0 ? 60 / mean : null;
  }
  const x = Array.from(rPeaks);
  const period = [rr.reduce((s, v) => s + v, 0) / rr.length, ...rr];
  if (x.some((v, k) => k > 0 && v <= x[k - 1])) {
    throw new LeadlightError('option_invalid', 'The R-peaks must be strictly increasing sample indices.');
  }
  const d = pchipSlopes(x, period);
  let sum = 0;
  let seg = 0;
  for (let t = 0; t < lengthSamples; t++) {
    let p: number;
    if (t <= x[0]) p = period[0];
    else if (t >= x[x.length - 1]) p = period[period.length - 1];
    else {
      while (x[seg + 1] < t) seg++;
      const h = x[seg + 1] - x[seg];
      const s = (t - x[seg]) / h;
      const h00 = 2 * s ** 3 - 3 * s ** 2 + 1;
      const h10 = s ** 3 - 2 * s ** 2 + s;
      const h01 = -2 * s ** 3 + 3 * s ** 2;
      const h11 = s ** 3 - s ** 2;
      p = h00 * period[seg] + h10 * h * d[seg] + h01 * period[seg + 1] + h11 * h * d[seg + 1];
    }
    sum += 60 / p;
  }
  return sum / lengthSamples;
}

export type BeatAlignment = 'paper-centre' | 'r-peak';

export interface AverageBeatsInput {
  /** One array per lead (e.g. 12, in LEAD_ORDER), all the same length, in mV. */
  signals: readonly ArrayLike<number>[];
  /** Relevance on the same time base and lead order as `signals`; omit to average the signal only. */
  relevance?: readonly ArrayLike<number>[] | null;
  fsHz: number;
  /** R-peak sample indices on the same time base. */
  rPeaks: ArrayLike<number>;
  /** 'paper-centre' (default): the paper's HR-dependent window; 'r-peak': a fixed window around the R-peak. */
  alignment?: BeatAlignment;
  /** Fixed window for 'r-peak' (defaults 0.4 s before, 0.6 s after). */
  beforeS?: number;
  afterS?: number;
}

export interface AverageBeats {
  /** Seconds relative to the R-peak, one per window sample (exactly 0 at the R-peak sample). */
  timeS: Float64Array;
  /** Index of t = 0 in the window. */
  rIndex: number;
  /** Average signal per lead (mV). */
  signalMv: Float64Array[];
  /** Average relevance per lead (zeros when no relevance was given). */
  relevance: Float64Array[];
  /** `signalMv` divided by its max |value| over all leads (the paper's per-ECG normalisation). */
  signalNormalised: Float64Array[];
  /** `relevance` divided by its max |value| over all leads. */
  relevanceNormalised: Float64Array[];
  /** Number of beats averaged. */
  beats: number;
  /** Mean heart rate used for the window (NeuroKit2 definition), bpm. */
  heartRateBpm: number | null;
  window: BeatWindow;
}

function normalised(leads: Float64Array[]): Float64Array[] {
  let max = 0;
  for (const lead of leads) for (const v of lead) max = Math.max(max, Math.abs(v));
  return leads.map((lead) => (max > 0 ? lead.map((v) => v / max) : Float64Array.from(lead)));
}

/** Window sample offsets of NeuroKit2 `epochs_create`: ⌊start·fs⌋ … ⌊end·fs⌋ − 1. */
export function windowOffsets(window: BeatWindow, fsHz: number): { first: number; length: number } {
  const first = Math.floor(window.startS * fsHz + 1e-9);
  const last = Math.floor(window.endS * fsHz + 1e-9);
  return { first, length: Math.max(0, last - first) };
}

/**
 * Average beat per lead of signal and relevance (Bender et al. 2023, analysis (c)); see the module comment.
 * 'paper-centre' needs at least two R-peaks (to define the heart rate); 'r-peak' works with one.
 */
export function averageBeats(input: AverageBeatsInput): AverageBeats {
  const { signals, fsHz } = input;
  const alignment = input.alignment ?? 'paper-centre';
  if (alignment !== 'paper-centre' && alignment !== 'r-peak') {
    throw new LeadlightError('option_invalid', `The beat alignment "${String(alignment)}" is unknown; use paper-centre or r-peak.`);
  }
  if (!signals.length) throw new LeadlightError('lead_missing', 'No leads were given to average; pass the 12 leads.');
  if (!(fsHz > 0) || !Number.isFinite(fsHz)) {
    throw new LeadlightError('sampling_rate_unsupported', `The sampling rate ${fsHz} Hz is not a positive number; give the record's rate.`);
  }
  const n = signals[0].length;
  if (signals.some((s) => s.length !== n)) throw new LeadlightError('signal_invalid', 'The leads have different lengths; cut them to a common length first.');
  const relevance = input.relevance ?? null;
  if (relevance && (relevance.length !== signals.length || relevance.some((r) => r.length !== n))) {
    throw new LeadlightError('signal_invalid', 'The relevance must have the same leads and samples as the signal.');
  }
  const peaks = Array.from(input.rPeaks).filter((p) => Number.isInteger(p) && p >= 0 && p < n);
  const hr = heartRateBpm(peaks, fsHz, n);
  let window: BeatWindow;
  if (alignment === 'paper-centre') {
    if (hr === null) {
      throw new LeadlightError('record_too_short', 'At least two R-peaks are needed for the average beat; the record has fewer detectable beats.');
    }
    window = paperBeatWindowS(hr);
  } else {
    const beforeS = input.beforeS ?? 0.4;
    const afterS = input.afterS ?? 0.6;
    if (!(beforeS >= 0) || !(afterS > 0) || beforeS + afterS > 10) {
      throw new LeadlightError('option_invalid', 'The r-peak window must lie within 10 s and have a positive length.');
    }
    window = { startS: -beforeS, endS: afterS };
  }
  const { first, length } = windowOffsets(window, fsHz);
  const sumLeads = (source: readonly ArrayLike<number>[] | null): Float64Array[] =>
    signals.map((_, lead) => {
      const acc = new Float64Array(length);
      if (!source || !peaks.length) return acc;
      const x = source[lead];
      for (const p of peaks) {
        const lo = Math.max(0, -(p + first));
        const hi = Math.min(length, n - (p + first));
        for (let i = lo; i < hi; i++) acc[i] += x[p + first + i];
      }
      for (let i = 0; i < length; i++) acc[i] /= peaks.length;
      return acc;
    });
  const signalMv = sumLeads(signals);
  const rel = sumLeads(relevance);
  const timeS = new Float64Array(length);
  for (let i = 0; i < length; i++) timeS[i] = (first + i) / fsHz;
  return {
    timeS,
    rIndex: -first,
    signalMv,
    relevance: rel,
    signalNormalised: normalised(signalMv),
    relevanceNormalised: normalised(rel),
    beats: peaks.length,
    heartRateBpm: hr,
    window,
  };
}
