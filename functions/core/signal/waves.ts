/**
 * Multi-lead P/QRS/T delineation per beat (slope/threshold method on the spatial velocity of all leads, in the
 * spirit of Laguna et al. 1994 and Martínez et al. 2004: boundaries are where the summed absolute slope of the
 * leads falls to a fraction of the wave's own peak slope).
 *
 * Pipeline: every lead is cleaned (0.5 Hz high-pass) and low-passed (40 Hz for the QRS, 15 Hz for P and T); each
 * lead is scaled by a robust amplitude so that no lead dominates. For each R-peak:
 * - QRS: the spatial velocity (sum of |slope|) peaks inside ±80 ms of the R-peak; onset/offset are the first
 *   samples, walking outwards, where it stays below 10 % (onset) / 15 % (offset) of that peak for 8 ms.
 * - T: in the window from QRS offset + 60 ms to the earlier of R + 0.7·RR and the next QRS onset − 60 ms, the
 *   peak is the maximum spatial deviation from the isoelectric level (the PR level of the beat); onset and offset
 *   are where the 15 Hz spatial velocity falls below 45 % (onset) / 40 % (offset) of the largest slope on that side.
 * - P: in the window from max(previous T offset + 10 ms, QRS onset − 330 ms) to QRS onset − 30 ms, the same way
 *   but measured from a baseline line running from the window's start level to the PR level (so a T-wave tail is
 *   not taken for a P-wave), and only interior peaks count; boundaries at 35 % / 50 %. A P-wave is reported only
 *   when it rises clearly above the window's activity (peak ≥ 1.7 × the window's median deviation, ≥ 20 ms wide)
 *   and its PR interval is within 40 ms of the median PR, and only when at least 60 % of the beats have a P-wave
 *   within 30 ms of that median (AF has no consistent P-waves, so none are reported there).
 * Returns global (multi-lead) boundaries in samples; fields are null when a wave is not found.
 */
import { LeadlightError } from '../errors.ts';
import { butterworthFilter, cleanEcgNeurokit } from './filters.ts';

/**
 * Thresholds (fractions of the wave's peak slope; P salience and width; share of beats with a consistent PR),
 * chosen on LUDB records 1–150 (see test/core/signal/waves.test.ts for the scores they give).
 */
const PARAMS = { qOn: 0.1, qOff: 0.15, tOn: 0.45, tOff: 0.4, pOn: 0.35, pOff: 0.5, pSalience: 1.7, pMinWidthMs: 20, pConsistentShare: 0.6, prConsistentMs: 30, prAcceptMs: 40, pWindowMs: 330 };

export interface WaveBoundaries {
  rPeak: number;
  pOnset: number | null;
  pPeak: number | null;
  pOffset: number | null;
  qrsOnset: number | null;
  qrsOffset: number | null;
  tOnset: number | null;
  tPeak: number | null;
  tOffset: number | null;
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Robust amplitude of a lead: median over 1-s blocks of the block's peak-to-peak. */
function robustAmplitude(x: Float64Array, fsHz: number): number {
  const block = Math.max(1, Math.round(fsHz));
  const ptp: number[] = [];
  for (let s = 0; s < x.length; s += block) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = s; i < Math.min(x.length, s + block); i++) {
      if (x[i] < lo) lo = x[i];
      if (x[i] > hi) hi = x[i];
    }
    ptp.push(hi - lo);
  }
  return median(ptp);
}

/** Sum over leads of |central difference| (per sample), leads scaled by their weights. */
function spatialVelocity(leads: Float64Array[], weights: number[]): Float64Array {
  const n = leads.length ? leads[0].length : 0;
  const v = new Float64Array(n);
  leads.forEach((x, k) => {
    const w = weights[k];
    if (!w) return;
    for (let i = 1; i < n - 1; i++) v[i] += (Math.abs(x[i + 1] - x[i - 1]) / 2) * w;
  });
  if (n > 1) {
    v[0] = v[1];
    v[n - 1] = v[n - 2];
  }
  return v;
}

function argMax(x: ArrayLike<number>, from: number, to: number): number {
  let best = from;
  for (let i = from + 1; i <= to; i++) if (x[i] > x[best]) best = i;
  return best;
}

interface WaveFound {
  onset: number;
  peak: number;
  offset: number;
  /** Peak spatial deviation divided by the median deviation in the window (a salience measure). */
  salience: number;
  /** Peak spatial deviation (scaled units). */
  height: number;
}

/**
 * Finds one low-frequency wave (P or T) in [from, to]: the peak of the spatial deviation from the isoelectric
 * level, and onset/offset where the spatial velocity falls below `fraction` of its maximum on each side.
 */
function findWave(
  lowLeads: Float64Array[],
  weights: number[],
  velocity: Float64Array,
  iso: number[],
  from: number,
  to: number,
  onsetFraction: number,
  offsetFraction: number,
  detrend: boolean,
  edge: number,
): WaveFound | null {
  if (to - from < 4 + 2 * edge) return null;
  const len = to - from + 1;
  const dev = new Float64Array(len);
  // Baseline per lead: the isoelectric level, or (detrend) a line from the window's start level to it, so the
  // tail of a preceding T-wave does not pass for a P-wave.
  const startLevel = lowLeads.map((x) => {
    let s = 0;
    const m = Math.max(1, edge);
    for (let i = from; i < from + m; i++) s += x[i];
    return s / m;
  });
  for (let i = from; i <= to; i++) {
    let s = 0;
    const t = (i - from) / (len - 1);
    lowLeads.forEach((x, k) => {
      if (!weights[k]) return;
      const base = detrend ? startLevel[k] + (iso[k] - startLevel[k]) * t : iso[k];
      s += ((x[i] - base) * weights[k]) ** 2;
    });
    dev[i - from] = Math.sqrt(s);
  }
  // The highest interior local maximum, at least `edge` samples from both ends.
  let peakRel = -1;
  for (let i = Math.max(1, edge); i < len - Math.max(1, edge); i++) {
    if (dev[i] >= dev[i - 1] && dev[i] >= dev[i + 1] && (peakRel < 0 || dev[i] > dev[peakRel])) peakRel = i;
  }
  if (peakRel < 0) return null;
  const peak = from + peakRel;
  const sorted = Float64Array.from(dev).sort();
  const med = sorted[sorted.length >> 1];
  // Onset: the largest slope before the peak, then back until the slope falls below `fraction` of it.
  const leftMax = argMax(velocity, from, peak);
  let onset = leftMax;
  while (onset > from && velocity[onset] > onsetFraction * velocity[leftMax]) onset--;
  const rightMax = argMax(velocity, peak, to);
  let offset = rightMax;
  while (offset < to && velocity[offset] > offsetFraction * velocity[rightMax]) offset++;
  return { onset, peak, offset, salience: med > 0 ? dev[peakRel] / med : Infinity, height: dev[peakRel] };
}

/**
 * Delineates P, QRS and T of every beat from all leads (equal lengths, one sampling rate) and the beat's R-peaks
 * (e.g. from `findRPeaksMultiLead`). Returns one `WaveBoundaries` per R-peak, in samples.
 */
export function delineateWaves(leads: ArrayLike<number>[], fsHz: number, rPeaks: ArrayLike<number>): WaveBoundaries[] {
  if (!leads.length) throw new LeadlightError('lead_missing', 'No leads were given to delineate; pass the leads of the record.');
  if (!Number.isFinite(fsHz) || fsHz < 50 || fsHz > 20_000) {
    throw new LeadlightError('sampling_rate_unsupported', `The sampling rate ${fsHz} Hz is outside 50–20000 Hz; give the record's real rate.`);
  }
  const n = leads[0].length;
  for (const lead of leads) {
    if (lead.length !== n) throw new LeadlightError('signal_invalid', 'The leads have different lengths; cut them to a common length first.');
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(lead[i])) throw new LeadlightError('signal_invalid', `A lead has a value that is not a finite number at sample ${i}; repair the record first.`);
    }
  }
  const peaks = Array.from(rPeaks).filter((p) => Number.isInteger(p) && p >= 0 && p < n).sort((a, b) => a - b);
  const empty = (r: number): WaveBoundaries => ({ rPeak: r, pOnset: null, pPeak: null, pOffset: null, qrsOnset: null, qrsOffset: null, tOnset: null, tPeak: null, tOffset: null });
  if (n < Math.round(0.5 * fsHz)) return peaks.map(empty);

  const ms = (v: number) => Math.round((v * fsHz) / 1000);
  const cleaned = leads.map((x) => cleanEcgNeurokit(x, fsHz));
  const qrsLeads = cleaned.map((x) => (fsHz > 100 ? butterworthFilter(x, fsHz, { highHz: Math.min(40, 0.45 * fsHz), order: 2 }) : x));
  const lowLeads = cleaned.map((x) => butterworthFilter(x, fsHz, { highHz: Math.min(15, 0.45 * fsHz), order: 2 }));
  const amplitudes = qrsLeads.map((x) => robustAmplitude(x, fsHz));
  const weights = amplitudes.map((a) => (a > 1e-6 ? 1 / a : 0));
  const vQrs = spatialVelocity(qrsLeads, weights);
  const vLow = spatialVelocity(lowLeads, weights);

  const out: WaveBoundaries[] = peaks.map(empty);
  // QRS boundaries.
  peaks.forEach((r, b) => {
    const lo = Math.max(1, r - ms(80));
    const hi = Math.min(n - 2, r + ms(80));
    const top = argMax(vQrs, lo, hi);
    if (!(vQrs[top] > 0)) return;
    const limitOn = Math.max(0, top - ms(150));
    const limitOff = Math.min(n - 1, top + ms(180));
    // Walk outwards from the R-peak's slope maximum; skip short dips inside the QRS (notches) by requiring the
    // velocity to stay low for 8 ms.
    const hold = Math.max(1, ms(8));
    const thrOn = PARAMS.qOn * vQrs[top];
    const thrOff = PARAMS.qOff * vQrs[top];
    let on = top;
    while (on > limitOn) {
      let low = true;
      for (let j = 0; j < hold && on - j > limitOn; j++) if (vQrs[on - j] > thrOn) low = false;
      if (low) break;
      on--;
    }
    let off = top;
    while (off < limitOff) {
      let low = true;
      for (let j = 0; j < hold && off + j < limitOff; j++) if (vQrs[off + j] > thrOff) low = false;
      if (low) break;
      off++;
    }
    if (on > limitOn) out[b].qrsOnset = on;
    if (off < limitOff) out[b].qrsOffset = off;
  });

  const rr = peaks.slice(1).map((p, k) => p - peaks[k]);
  const medianRr = rr.length ? median(rr) : Math.round(fsHz);
  // Isoelectric level per lead and beat: the mean of the 20 ms before QRS onset (PR segment).
  const isoOf = (b: number): number[] => {
    const end = out[b].qrsOnset ?? peaks[b] - ms(60);
    const start = Math.max(0, end - ms(20));
    return lowLeads.map((x) => {
      let s = 0;
      let c = 0;
      for (let i = start; i <= Math.max(start, end); i++) {
        if (i >= 0 && i < n) {
          s += x[i];
          c++;
        }
      }
      return c ? s / c : 0;
    });
  };

  // T-waves.
  peaks.forEach((r, b) => {
    const qOff = out[b].qrsOffset ?? r + ms(60);
    const nextR = b + 1 < peaks.length ? peaks[b + 1] : null;
    const rrHere = nextR !== null ? nextR - r : b > 0 ? r - peaks[b - 1] : medianRr;
    let to = r + Math.round(0.7 * rrHere);
    if (nextR !== null) to = Math.min(to, (out[b + 1].qrsOnset ?? nextR - ms(60)) - ms(60));
    to = Math.min(to, r + ms(650), n - 2);
    const from = qOff + ms(60);
    const w = findWave(lowLeads, weights, vLow, isoOf(b), from, to, PARAMS.tOn, PARAMS.tOff, false, 1);
    if (!w) return;
    out[b].tOnset = w.onset;
    out[b].tPeak = w.peak;
    out[b].tOffset = w.offset;
  });

  // P-waves.
  const pCandidates: (WaveFound | null)[] = peaks.map((r, b) => {
    const qOn = out[b].qrsOnset ?? r - ms(50);
    const prevLimit = b > 0 ? (out[b - 1].tOffset ?? peaks[b - 1] + ms(400)) : 0;
    const from = Math.max(1, prevLimit + ms(10), qOn - ms(PARAMS.pWindowMs));
    const to = qOn - ms(30);
    const w = findWave(lowLeads, weights, vLow, isoOf(b), from, to, PARAMS.pOn, PARAMS.pOff, true, ms(10));
    if (!w) return null;
    if (w.salience < PARAMS.pSalience || w.offset - w.onset < ms(PARAMS.pMinWidthMs)) return null;
    return w;
  });
  const prIntervals = pCandidates.map((w, b) => (w ? (out[b].qrsOnset ?? peaks[b]) - w.onset : null));
  const known = prIntervals.filter((v): v is number => v !== null);
  const prMedian = median(known);
  const consistent = known.filter((v) => Math.abs(v - prMedian) <= ms(PARAMS.prConsistentMs)).length;
  // A rhythm with P-waves shows them before most beats at a stable PR interval.
  if (known.length && consistent >= PARAMS.pConsistentShare * peaks.length) {
    pCandidates.forEach((w, b) => {
      const pr = prIntervals[b];
      if (!w || pr === null || Math.abs(pr - prMedian) > ms(PARAMS.prAcceptMs)) return;
      out[b].pOnset = w.onset;
      out[b].pPeak = w.peak;
      out[b].pOffset = w.offset;
    });
  }
  return out;
}
