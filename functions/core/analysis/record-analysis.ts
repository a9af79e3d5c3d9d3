/**
 * The per-record analyses of the result JSON (`analysis`), after Bender et al. 2023 and beyond:
 * (a)/(b) mean relevance and lead relevance on the model input (over its whole length, as the paper, with the
 *     relevance of the zero padding masked; every analysis here sees only the first `signalSamples` samples);
 * (c) beats — R-peaks fused over all 12 leads of the recording, heart rate, and the average beat of signal and
 *     relevance per lead on the model-input time base (the paper's centre window, and R-aligned);
 * waves — P/QRS/T boundaries per beat, relevance summed per wave and lead, and the comparison with the textbook
 *     criteria of the attributed class (clinical-criteria.md).
 */
import type { ModelInput } from '../model/preprocess.ts';
import type { EcgRecord, LeadName } from '../record.ts';
import { LEAD_ORDER } from '../record.ts';
import { findRPeaksMultiLead } from '../signal/rpeaks.ts';
import { delineateWaves, type WaveBoundaries } from '../signal/waves.ts';
import { averageBeats, heartRateBpm, type AverageBeats, type BeatAlignment } from './beats.ts';
import { compareWithCriteria, type WaveRelevance } from './criteria.ts';
import { summariseRelevance } from './relevance.ts';

/** Rounds for the JSON: 5 significant digits keep plots exact to the eye and the result small. */
function round(values: ArrayLike<number>, digits = 5): number[] {
  return Array.from(values, (v) => (v === 0 ? 0 : Number(v.toPrecision(digits))));
}

/** One column (lead) of a row-major [samples, leads] array, for the first `count` samples. */
function column(data: Float32Array, lead: number, leads: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let n = 0; n < count; n++) out[n] = data[n * leads + lead];
  return out;
}

function averageBeatJson(beats: AverageBeats, alignment: BeatAlignment) {
  return {
    timeS: round(beats.timeS, 6),
    signalMv: Object.fromEntries(LEAD_ORDER.map((lead, k) => [lead, round(beats.signalMv[k])])),
    relevance: Object.fromEntries(LEAD_ORDER.map((lead, k) => [lead, round(beats.relevance[k])])),
    beats: beats.beats,
    alignment,
    rIndex: beats.rIndex,
    windowS: beats.window,
  };
}

/** Sum of `values[from..to]` (inclusive, clipped to the array). */
function sumRange(values: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = Math.max(0, from); i <= Math.min(values.length - 1, to); i++) s += values[i];
  return s;
}

/** Net area of `values[from..to]` above the level at `baselineAt` (the polarity of a deflection). */
function netArea(values: ArrayLike<number>, from: number, to: number, baselineAt: number): number {
  const base = values[Math.max(0, Math.min(values.length - 1, baselineAt))];
  let s = 0;
  for (let i = Math.max(0, from); i <= Math.min(values.length - 1, to); i++) s += values[i] - base;
  return s;
}

/**
 * Relevance per wave and lead for each beat, on the model-input time base. Boundaries come from the recording's
 * rate and are mapped by time; beats outside the input window are left out.
 */
function waveRelevance(waves: WaveBoundaries[], fsRecord: number, input: ModelInput, signals: Float32Array[], relevance: Float32Array[]): WaveRelevance[] {
  const toInput = (sample: number | null) => (sample === null ? null : Math.round((sample / fsRecord) * input.samplingRateHz));
  const out: WaveRelevance[] = [];
  waves.forEach((w, beat) => {
    const [pOn, pOff, qOn, qOff, tOn, tOff] = [w.pOnset, w.pOffset, w.qrsOnset, w.qrsOffset, w.tOnset, w.tOffset].map(toInput);
    if (qOn === null || qOff === null || qOff >= input.signalSamples) return;
    LEAD_ORDER.forEach((lead, k) => {
      const r = relevance[k];
      const x = signals[k];
      const pPresent = pOn !== null && pOff !== null;
      const hasT = tOn !== null && tOff !== null && tOff < input.signalSamples;
      const hasSt = hasT && (tOn as number) - 1 >= qOff + 1;
      const qrsArea = netArea(x, qOn, qOff, qOn);
      const tArea = hasT ? netArea(x, tOn as number, tOff as number, qOn) : 0;
      out.push({
        lead,
        beat,
        pPresent,
        pRelevance: pPresent ? sumRange(r, pOn as number, pOff as number) : null,
        qrsRelevance: sumRange(r, qOn, qOff),
        tRelevance: hasT ? sumRange(r, tOn as number, tOff as number) : null,
        stRelevance: hasSt ? sumRange(r, qOff + 1, (tOn as number) - 1) : null,
        tConcordant: hasT && qrsArea !== 0 && tArea !== 0 ? Math.sign(qrsArea) === Math.sign(tArea) : null,
      });
    });
  });
  return out;
}

/** Sums of wave relevance per lead over all beats (`st`: the ST segments, issue 16's wave-level tests). */
function waveTotals(rows: WaveRelevance[]) {
  const totals = Object.fromEntries(LEAD_ORDER.map((lead) => [lead, { p: 0, qrs: 0, t: 0, st: 0 }])) as Record<LeadName, { p: number; qrs: number; t: number; st: number }>;
  for (const row of rows) {
    const t = totals[row.lead];
    t.p += row.pRelevance ?? 0;
    t.qrs += row.qrsRelevance ?? 0;
    t.t += row.tRelevance ?? 0;
    t.st += row.stRelevance ?? 0;
  }
  for (const lead of LEAD_ORDER) {
    const t = totals[lead];
    totals[lead] = { p: Number(t.p.toPrecision(6)), qrs: Number(t.qrs.toPrecision(6)), t: Number(t.t.toPrecision(6)), st: Number(t.st.toPrecision(6)) };
  }
  return totals;
}

/** Windows of each wave inside the model input, counted on lead I (the boundaries are shared by all leads). */
function waveWindows(rows: WaveRelevance[]) {
  const first = rows.filter((r) => r.lead === LEAD_ORDER[0]);
  const count = (pick: (r: WaveRelevance) => number | null | undefined) => first.filter((r) => pick(r) !== null && pick(r) !== undefined).length;
  return { p: count((r) => r.pRelevance), qrs: count((r) => r.qrsRelevance), st: count((r) => r.stRelevance), t: count((r) => r.tRelevance) };
}

/** Median of the finite values, or null. */
function median(values: number[]): number | null {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median PR interval, QRS duration and QT interval in ms over the delineated beats. */
function intervalsMs(waves: WaveBoundaries[], fsHz: number) {
  const ms = (a: number | null, b: number | null) => (a === null || b === null ? NaN : ((b - a) / fsHz) * 1000);
  const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    prMs: round1(median(waves.map((w) => ms(w.pOnset, w.qrsOnset)))),
    qrsMs: round1(median(waves.map((w) => ms(w.qrsOnset, w.qrsOffset)))),
    qtMs: round1(median(waves.map((w) => ms(w.qrsOnset, w.tOffset)))),
    beatsWithP: waves.filter((w) => w.pOnset !== null).length,
  };
}

/** What the analyses need from the signal alone: found once per record, reused for every relevance map. */
export interface SignalAnalysis {
  fsHz: number;
  rPeaks: Int32Array;
  waves: WaveBoundaries[];
  /** The input window's signal part per lead, and the R-peaks on the input time base. */
  inputSignals: Float32Array[];
  peaksInInput: Int32Array;
  heartRateBpm: number | null;
}

/** R-peaks fused over the 12 leads of the recording, P/QRS/T boundaries and the heart rate. */
export function analyseSignal(record: EcgRecord, input: ModelInput): SignalAnalysis {
  const fs = record.samplingRateHz;
  const rPeaks = findRPeaksMultiLead(record.signalsMv, fs);
  const count = input.signalSamples;
  return {
    fsHz: fs,
    rPeaks,
    waves: rPeaks.length >= 2 ? delineateWaves(record.signalsMv, fs, rPeaks) : [],
    inputSignals: LEAD_ORDER.map((_, k) => column(input.data, k, LEAD_ORDER.length, count)),
    peaksInInput: Int32Array.from(
      Array.from(rPeaks, (p) => Math.round((p / fs) * input.samplingRateHz)).filter((p) => p >= 0 && p < count),
    ),
    heartRateBpm: heartRateBpm(rPeaks, fs, record.samples),
  };
}

/** The analyses of one relevance map (`className` is the attributed class), given the signal analysis. */
export function analyseRelevance(signal: SignalAnalysis, input: ModelInput, relevance: Float32Array, className: string) {
  const { meanRelevance, leadRelevance } = summariseRelevance(relevance, input.samples, input.signalSamples);
  const fs = signal.fsHz;
  const inputRelevance = LEAD_ORDER.map((_, k) => column(relevance, k, LEAD_ORDER.length, input.signalSamples));
  const tryAverage = (alignment: BeatAlignment) => {
    if (signal.peaksInInput.length < 2) return null;
    return averageBeatJson(
      averageBeats({ signals: signal.inputSignals, relevance: inputRelevance, fsHz: input.samplingRateHz, rPeaks: signal.peaksInInput, alignment }),
      alignment,
    );
  };
  const rows = waveRelevance(signal.waves, fs, input, signal.inputSignals, inputRelevance);
  const criteria = compareWithCriteria({ className, waves: rows, leadRelevance });
  const toS = (s: number | null) => (s === null ? null : Number((s / fs).toFixed(4)));

  return {
    meanRelevance,
    leadRelevance,
    beats: {
      rPeaksS: Array.from(signal.rPeaks, (p) => Number((p / fs).toFixed(4))),
      heartRateBpm: signal.heartRateBpm,
      averageBeat: tryAverage('paper-centre'),
      averageBeatRAligned: tryAverage('r-peak'),
    },
    waves: {
      beats: signal.waves.map((w) => ({
        rPeakS: toS(w.rPeak),
        pOnsetS: toS(w.pOnset),
        pOffsetS: toS(w.pOffset),
        qrsOnsetS: toS(w.qrsOnset),
        qrsOffsetS: toS(w.qrsOffset),
        tOnsetS: toS(w.tOnset),
        tOffsetS: toS(w.tOffset),
      })),
      relevanceByLead: waveTotals(rows),
      windows: waveWindows(rows),
      intervals: intervalsMs(signal.waves, fs),
      beatsInWindow: new Set(rows.map((r) => r.beat)).size,
    },
    criteria,
  };
}
