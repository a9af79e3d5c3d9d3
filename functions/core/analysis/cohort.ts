/**
 * Cohort aggregation of Bender et al. 2023 (../shared/docs/bender2023-methods.md, analyses (a), (b), (c)) into the
 * `cohort.json` shape of ../shared/docs/contract.md ("Cohorts"):
 * - records[]: per ECG the probability, outcome (TP/FP/FN/TN), M_n and M_n,k;
 * - leadTests[]: per lead the one-sided Wilcoxon rank-sum test "positive cohort > control cohort" as R's
 *   `wilcox.test(a, b, alternative = "greater")`, marked significant when p < 1e-4 as in the paper;
 * - averageBeats: per label and lead the average beat across ECGs (centre-aligned, averaged per sample, both groups
 *   normalised jointly to [−1, 1]) with its variance band;
 * - scatter (mean relevance vs probability with outcome, analysis (a)) and per-label lead box-plot statistics
 *   (analysis (b); quartiles by linear interpolation = R type 7 / numpy default, whiskers at 1.5 IQR as matplotlib).
 * Everything here is pure computation on per-record summaries; reading files and running the model happen elsewhere.
 */
import { LeadlightError } from '../errors.ts';
import { LEAD_ORDER, type LeadName } from '../record.ts';
import { type GroupContrast, rankSumTest } from './ranksum.ts';
import { type RelevanceVsProbability, type TestEffect, type WaveRelevanceByLead, type WaveTest, benjaminiHochberg, effectOf, relevanceVsProbability, waveLevelTests } from './cohort-stats.ts';
import { classifyOutcome, type Outcome, type RecordSummary } from './relevance.ts';
import { canonicalClass } from './criteria.ts';

export const COHORT_SCHEMA_VERSION = 1;
/** Bender et al. 2023 mark a lead when its one-sided rank-sum p-value is below 1e-4. */
export const SIGNIFICANCE_LEVEL = 1e-4;

/** Per lead either a map by lead name or an array in LEAD_ORDER. */
export type BeatLeads = Readonly<Record<string, ArrayLike<number>>> | readonly ArrayLike<number>[];

/**
 * One record's average beat as the beat analysis returns it: a time axis (seconds relative to the R-peak) and, per
 * lead, the mean signal (mV) and mean relevance over the record's beats. All arrays have the length of `timeS`.
 * Beats of different lengths are allowed (they are aligned by centring); all beats of a cohort must share one
 * sampling interval.
 */
export interface AverageBeatInput {
  timeS: ArrayLike<number>;
  signalMv: BeatLeads;
  relevance: BeatLeads;
}

/** One ECG of the cohort: where it came from, its ground truth, its prediction and its relevance summary. */
export interface CohortRecordInput {
  path: string;
  label: string;
  /** Probability of the analysed class. */
  probability: number;
  /** M_n (see relevance.ts `summariseRelevance`). */
  meanRelevance: number;
  /** M_n,k for all 12 leads. */
  leadRelevance: Readonly<Record<string, number>>;
  averageBeat?: BeatSource | null;
  /** Per lead the relevance summed over the P, QRS, ST and T windows (wave-level tests, cohort-stats.ts). */
  waveRelevance?: WaveRelevanceByLead | null;
}

export interface CohortModelInfo {
  id: string;
  classes: readonly string[];
  thresholds: readonly number[];
  [key: string]: unknown;
}

export type BeatAlignment = 'centre' | 'r-peak';

export interface CohortInput {
  model: CohortModelInfo;
  method: string;
  /** The analysed class, a class name of the model (e.g. `AF`). */
  className: string;
  records: readonly CohortRecordInput[];
  /** Label of the positive group (group A); default: the label matching the class (AF ↔ AFIB, LBBB ↔ CLBBB, …). */
  positiveLabel?: string;
  /** Label of the control group (group B); default: the normal label (NORM, Normal, …) or the only other label. */
  controlLabel?: string;
  /** Decision threshold; default: the model's threshold of the class. */
  threshold?: number;
  /** `centre` (default, the paper: middle samples aligned) or `r-peak` (the samples at timeS = 0 aligned). */
  beatAlignment?: BeatAlignment;
}

export interface LeadTest extends GroupContrast {
  lead: LeadName;
  /** p < 1e-4 (the paper's marker). */
  significant: boolean;
  nA: number;
  nB: number;
  /** Benjamini–Hochberg over the 12 leads of the contrast (issue 16). */
  pAdjusted?: number;
  /** AUC = U / (nA nB) with its seeded bootstrap percentile 95 % interval (issue 16). */
  effect?: TestEffect;
}

export interface AverageBeatAggregate {
  /** Mean signal across ECGs, normalised jointly over all labels and leads to [−1, 1]. */
  signal: number[];
  /** Mean relevance across ECGs, normalised jointly over all labels and leads to [−1, 1]. */
  relevance: number[];
  /** Variance of the signal across ECGs per sample (population variance, on the normalised scale). */
  variance: number[];
  /** Variance of the relevance across ECGs per sample (on the normalised scale). */
  relevanceVariance: number[];
  /** ECGs contributing to each sample (shorter beats do not cover the edges). */
  count: number[];
  /** Seconds of each sample relative to the aligned R-peak (`r-peak`) or on the longest beat's axis (`centre`). */
  timeS: number[];
  records: number;
}

export interface BoxStats {
  n: number;
  mean: number;
  q1: number;
  median: number;
  q3: number;
  whiskerLow: number;
  whiskerHigh: number;
  outliers: number[];
}

export interface ScatterPoint {
  path: string;
  label: string;
  probability: number;
  meanRelevance: number;
  outcome: Outcome;
}

export interface CohortJson {
  schema: number;
  model: CohortModelInfo;
  method: string;
  class: string;
  threshold: number;
  groups: { positive: string; control: string };
  records: RecordSummary[];
  leadTests: LeadTest[];
  /** Wave-level rank-sum tests (P, QRS, ST, T per lead; issue 16), when the records carry wave relevance. */
  waveTests?: WaveTest[];
  /** Analysis (a) as numbers: Spearman's ρ of M_n vs probability with its interval, and the outcome groups. */
  relevanceVsProbability?: RelevanceVsProbability;
  averageBeats: Record<string, Record<string, AverageBeatAggregate>>;
  scatter: { threshold: number; points: ScatterPoint[] };
  leadBoxPlots: Record<string, Record<string, BoxStats | null>>;
  outcomes: Record<Outcome, number>;
  significanceLevel: number;
  beatAlignment: BeatAlignment;
  warnings: { code: string; message: string }[];
}

const CONTROL_CLASS = 'NORM';

/**
 * Picks the positive and control labels of a cohort: the label naming the analysed class (aliases such as AFIB for
 * AF are accepted) and the normal label; with exactly two labels, the other one is the control.
 * Throws `option_invalid` when a group cannot be determined.
 */
export function chooseGroups(labels: readonly string[], className: string, explicit: { positiveLabel?: string; controlLabel?: string } = {}): { positive: string; control: string } {
  const distinct = [...new Set(labels)];
  const wanted = canonicalClass(className);
  const positive = explicit.positiveLabel ?? distinct.find((l) => l === className) ?? distinct.find((l) => wanted !== null && canonicalClass(l) === wanted);
  if (positive === undefined) {
    throw new LeadlightError('option_invalid', `No label of the cohort names the class ${className} (labels: ${distinct.join(', ') || 'none'}); give the positive label explicitly.`);
  }
  let control = explicit.controlLabel ?? distinct.find((l) => l !== positive && canonicalClass(l) === CONTROL_CLASS);
  if (control === undefined) {
    const others = distinct.filter((l) => l !== positive);
    if (others.length === 1) control = others[0];
  }
  if (control === undefined) {
    throw new LeadlightError('option_invalid', `The cohort has no normal control label (labels: ${distinct.join(', ')}); give the control label explicitly.`);
  }
  if (control === positive) {
    throw new LeadlightError('option_invalid', 'The positive and the control label must differ.');
  }
  return { positive, control };
}

/**
 * Builds cohort.json (contract.md, "Cohorts") from per-record summaries: outcomes, per-lead one-sided rank-sum tests
 * (positive > control, R defaults), average beats across ECGs, the analysis (a) scatter and lead box plots.
 * Records with non-finite numbers are left out with a warning; an empty group leaves `leadTests` empty with a warning.
 */
export function buildCohort(input: CohortInput): CohortJson {
  const warnings: { code: string; message: string }[] = [];
  const classIndex = input.model.classes.indexOf(input.className);
  const threshold = input.threshold ?? (classIndex >= 0 ? input.model.thresholds[classIndex] : undefined);
  if (threshold === undefined || !Number.isFinite(threshold)) {
    throw new LeadlightError('class_unknown', `The model ${input.model.id} has no class ${input.className} with a threshold; use one of: ${input.model.classes.join(', ')}.`);
  }
  const usable: CohortRecordInput[] = [];
  for (const r of input.records) {
    const problem = recordProblem(r);
    if (problem) warnings.push({ code: 'record_skipped', message: `${r.path}: ${problem}; the record is left out of the cohort.` });
    else usable.push(r);
  }
  const groups = chooseGroups(usable.map((r) => r.label), input.className, input);

  const records: RecordSummary[] = usable.map((r) => {
    const leadRelevance = {} as Record<LeadName, number>;
    for (const lead of LEAD_ORDER) leadRelevance[lead] = r.leadRelevance[lead];
    return {
      path: r.path,
      label: r.label,
      probability: r.probability,
      positive: r.probability >= threshold,
      outcome: classifyOutcome(r.probability, threshold, r.label === groups.positive),
      meanRelevance: r.meanRelevance,
      leadRelevance,
    };
  });

  const groupA = records.filter((r) => r.label === groups.positive);
  const groupB = records.filter((r) => r.label === groups.control);
  const leadTests: LeadTest[] = [];
  if (groupA.length === 0 || groupB.length === 0) {
    const missing = groupA.length === 0 ? groups.positive : groups.control;
    warnings.push({ code: 'group_empty', message: `The cohort has no usable record labelled ${missing}, so the per-lead rank-sum tests are left out; add records with that label.` });
  } else {
    for (const lead of LEAD_ORDER) {
      const [a, b] = [groupA.map((r) => r.leadRelevance[lead]), groupB.map((r) => r.leadRelevance[lead])];
      const test = rankSumTest(a, b, { alternative: 'greater' });
      leadTests.push({
        lead,
        groupA: groups.positive,
        groupB: groups.control,
        alternative: 'greater',
        statistic: test.statistic,
        pValue: test.pValue,
        method: test.method,
        significant: test.pValue < SIGNIFICANCE_LEVEL,
        nA: test.nX,
        nB: test.nY,
        effect: effectOf(a, b),
      });
    }
    // Issue 16: Benjamini–Hochberg over the leads of this one contrast.
    const adjusted = benjaminiHochberg(leadTests.map((t) => t.pValue));
    leadTests.forEach((t, i) => (t.pAdjusted = adjusted[i]));
  }
  const waves = leadTests.length > 0 && usable.some((r) => r.waveRelevance) ? waveLevelTests(usable, groups) : null;
  if (waves) warnings.push(...waves.warnings);

  const labels = [...new Set(records.map((r) => r.label))];
  const leadBoxPlots: Record<string, Record<string, BoxStats | null>> = {};
  for (const label of labels) {
    const perLead: Record<string, BoxStats | null> = {};
    const members = records.filter((r) => r.label === label);
    for (const lead of LEAD_ORDER) perLead[lead] = boxStats(members.map((r) => r.leadRelevance[lead]));
    leadBoxPlots[label] = perLead;
  }

  const outcomes: Record<Outcome, number> = { TP: 0, FP: 0, FN: 0, TN: 0 };
  for (const r of records) outcomes[r.outcome]++;

  const alignment = input.beatAlignment ?? 'centre';
  const beatsByLabel: Record<string, { path: string; beat: BeatSource }[]> = {};
  for (const r of usable) {
    if (!r.averageBeat) continue;
    (beatsByLabel[r.label] ??= []).push({ path: r.path, beat: r.averageBeat });
  }
  const beats = averageBeatsAcrossRecords(beatsByLabel, alignment);
  warnings.push(...beats.warnings);

  return {
    schema: COHORT_SCHEMA_VERSION,
    model: input.model,
    method: input.method,
    class: input.className,
    threshold,
    groups,
    records,
    leadTests,
    ...(waves ? { waveTests: waves.tests } : {}),
    relevanceVsProbability: relevanceVsProbability(records),
    averageBeats: beats.averageBeats,
    scatter: {
      threshold,
      points: records.map((r) => ({ path: r.path, label: r.label, probability: r.probability, meanRelevance: r.meanRelevance, outcome: r.outcome })),
    },
    leadBoxPlots,
    outcomes,
    significanceLevel: SIGNIFICANCE_LEVEL,
    beatAlignment: alignment,
    warnings,
  };
}

function recordProblem(r: CohortRecordInput): string | null {
  if (typeof r.label !== 'string' || r.label.length === 0) return 'it has no label';
  if (!Number.isFinite(r.probability)) return 'its probability is not a finite number';
  if (!Number.isFinite(r.meanRelevance)) return 'its mean relevance is not a finite number';
  for (const lead of LEAD_ORDER) {
    if (!Number.isFinite(r.leadRelevance?.[lead])) return `its relevance of lead ${lead} is missing or not a finite number`;
  }
  return null;
}

/**
 * Box-plot statistics of one group: quartiles by linear interpolation between order statistics (R `quantile`
 * type 7, numpy's default, as matplotlib's boxplot uses), whiskers at the most extreme values within 1.5 IQR of the
 * box, and the values beyond them as outliers. NaN values are ignored; an empty group gives null.
 */
export function boxStats(values: ArrayLike<number>): BoxStats | null {
  const xs: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) xs.push(values[i]);
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  const q1 = quantileSorted(xs, 0.25);
  const median = quantileSorted(xs, 0.5);
  const q3 = quantileSorted(xs, 0.75);
  const iqr = q3 - q1;
  const lowFence = q1 - 1.5 * iqr;
  const highFence = q3 + 1.5 * iqr;
  let whiskerLow = q1;
  let whiskerHigh = q3;
  for (const v of xs) if (v >= lowFence) { whiskerLow = v; break; }
  for (let i = xs.length - 1; i >= 0; i--) if (xs[i] <= highFence) { whiskerHigh = xs[i]; break; }
  let sum = 0;
  for (const v of xs) sum += v;
  return { n: xs.length, mean: sum / xs.length, q1, median, q3, whiskerLow, whiskerHigh, outliers: xs.filter((v) => v < whiskerLow || v > whiskerHigh) };
}

/** Quantile of sorted values, R type 7: index h = (n − 1)p, value (1 − f)·x[⌊h⌋] + f·x[⌈h⌉]. */
export function quantileSorted(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const f = h - lo;
  if (f === 0 || sorted[hi] === sorted[lo]) return sorted[lo];
  return (1 - f) * sorted[lo] + f * sorted[hi];
}

interface PreparedBeat {
  path: string;
  length: number;
  /** Index of the sample closest to timeS = 0. */
  rIndex: number;
  timeS: number[];
  dtS: number | null;
  /** Per lead in LEAD_ORDER, normalised per ECG by the maximum |value| over the 12 leads. */
  signal: Float64Array[];
  relevance: Float64Array[];
}

/**
 * A record's average beat, or a function that loads it: a cohort too large to hold every beat in memory (a cohort's
 * Durable Object reads them from its storage) hands loaders, and each beat is loaded once per pass and let go.
 */
export type BeatSource = AverageBeatInput | (() => AverageBeatInput);

/**
 * Average beats across ECGs (Bender et al. 2023, analysis (c)): each ECG's average beat is first divided by its
 * maximum |value| over the 12 leads (signal and relevance separately; a no-op when the beat analysis already did it),
 * then the beats of a label are aligned (`centre`: middle samples, as the paper; `r-peak`: the samples at t = 0),
 * averaged per sample over the ECGs covering it, and finally all labels are divided jointly by the largest |mean|
 * over labels, leads and samples so both groups share one [−1, 1] scale (signal and relevance separately).
 * The variance is the population variance across ECGs on that same scale (two passes: the mean, then the squared
 * deviations from it). Beats with missing leads, non-finite values or a sampling interval different from the first
 * beat are left out with a warning. Memory is one label's sums plus one beat at a time when beats are loaders; the
 * sums are added in the order of the list, so inline beats and loaders give the same numbers to the last bit.
 */
export function averageBeatsAcrossRecords(
  beatsByLabel: Record<string, readonly { path: string; beat: BeatSource }[]>,
  alignment: BeatAlignment = 'centre',
): { averageBeats: Record<string, Record<string, AverageBeatAggregate>>; warnings: { code: string; message: string }[] } {
  if (alignment !== 'centre' && alignment !== 'r-peak') {
    throw new LeadlightError('option_invalid', `The beat alignment "${String(alignment)}" is unknown; use centre or r-peak.`);
  }
  const warnings: { code: string; message: string }[] = [];
  let referenceDt: number | null = null;
  /** Per label the usable beats: where they are in the list, their geometry, and the prepared beat when inline. */
  interface Usable { index: number; length: number; rIndex: number; timeS: number[]; prepared: PreparedBeat | null }
  const usable: Record<string, Usable[]> = {};
  for (const label of Object.keys(beatsByLabel)) {
    beatsByLabel[label].forEach(({ path, beat }, index) => {
      const p = prepareBeat(path, typeof beat === 'function' ? beat() : beat);
      if (typeof p === 'string') {
        warnings.push({ code: 'beat_skipped', message: `${path}: ${p}; its average beat is left out of the cohort average.` });
        return;
      }
      if (p.dtS !== null) {
        if (referenceDt === null) referenceDt = p.dtS;
        else if (Math.abs(p.dtS - referenceDt) > 1e-6 * referenceDt) {
          warnings.push({ code: 'beat_skipped', message: `${path}: its beat has a sampling interval of ${p.dtS} s, the cohort uses ${referenceDt} s; its average beat is left out of the cohort average.` });
          return;
        }
      }
      (usable[label] ??= []).push({ index, length: p.length, rIndex: p.rIndex, timeS: p.timeS, prepared: typeof beat === 'function' ? null : p });
    });
  }

  interface Raw { mean: Float64Array[]; meanRel: Float64Array[]; varSig: Float64Array[]; varRel: Float64Array[]; count: Float64Array; timeS: number[]; records: number }
  const raw: Record<string, Raw> = {};
  let maxSignal = 0;
  let maxRelevance = 0;
  for (const label of Object.keys(usable)) {
    const beats = usable[label];
    const list = beatsByLabel[label];
    /** The prepared beat of a usable entry: kept when inline, loaded again when a loader. */
    const preparedOf = (u: Usable): PreparedBeat => {
      if (u.prepared) return u.prepared;
      const { path, beat } = list[u.index];
      return prepareBeat(path, (beat as () => AverageBeatInput)()) as PreparedBeat;
    };
    let length: number;
    const offsets: number[] = [];
    let timeS: number[];
    if (alignment === 'centre') {
      length = beats.reduce((m, b) => Math.max(m, b.length), 0);
      for (const b of beats) offsets.push(Math.floor((length - b.length) / 2));
      const longest = beats.find((b) => b.length === length) as Usable;
      timeS = longest.timeS.slice();
    } else {
      const before = beats.reduce((m, b) => Math.max(m, b.rIndex), 0);
      const after = beats.reduce((m, b) => Math.max(m, b.length - 1 - b.rIndex), 0);
      length = before + after + 1;
      for (const b of beats) offsets.push(before - b.rIndex);
      const dt = referenceDt ?? 0;
      timeS = Array.from({ length }, (_, k) => (k - before) * dt);
    }
    // Only the geometry of each beat stays from here on (the loaders' time axes are let go).
    for (const b of beats) if (!b.prepared) b.timeS = [];
    const count = new Float64Array(length);
    beats.forEach((b, i) => { for (let k = 0; k < b.length; k++) count[offsets[i] + k]++; });
    const leads = LEAD_ORDER.length;
    const zeros = () => Array.from({ length: leads }, () => new Float64Array(length));
    // Pass 1: per lead and sample the sums over the beats, in list order; then the means.
    const sumSig = zeros();
    const sumRel = zeros();
    beats.forEach((b, i) => {
      const p = preparedOf(b);
      for (let lead = 0; lead < leads; lead++) {
        const vs = p.signal[lead];
        const vr = p.relevance[lead];
        const s = sumSig[lead];
        const r = sumRel[lead];
        for (let k = 0; k < b.length; k++) {
          s[offsets[i] + k] += vs[k];
          r[offsets[i] + k] += vr[k];
        }
      }
    });
    const meanSig = sumSig.map((sum) => sum.map((v, k) => v / count[k]));
    const meanRel = sumRel.map((sum) => sum.map((v, k) => v / count[k]));
    // Pass 2: the squared deviations from those means, in the same order.
    const sqSig = zeros();
    const sqRel = zeros();
    beats.forEach((b, i) => {
      const p = preparedOf(b);
      for (let lead = 0; lead < leads; lead++) {
        const vs = p.signal[lead];
        const vr = p.relevance[lead];
        const ms = meanSig[lead];
        const mr = meanRel[lead];
        for (let k = 0; k < b.length; k++) {
          const at = offsets[i] + k;
          const ds = vs[k] - ms[at];
          sqSig[lead][at] += ds * ds;
          const dr = vr[k] - mr[at];
          sqRel[lead][at] += dr * dr;
        }
      }
    });
    for (const m of meanSig) for (const v of m) maxSignal = Math.max(maxSignal, Math.abs(v));
    for (const m of meanRel) for (const v of m) maxRelevance = Math.max(maxRelevance, Math.abs(v));
    raw[label] = {
      mean: meanSig,
      meanRel,
      varSig: sqSig.map((sq) => sq.map((v, k) => v / count[k])),
      varRel: sqRel.map((sq) => sq.map((v, k) => v / count[k])),
      count,
      timeS,
      records: beats.length,
    };
  }

  const fs = maxSignal > 0 ? maxSignal : 1;
  const fr = maxRelevance > 0 ? maxRelevance : 1;
  const averageBeats: Record<string, Record<string, AverageBeatAggregate>> = {};
  for (const label of Object.keys(raw)) {
    const r = raw[label];
    const perLead: Record<string, AverageBeatAggregate> = {};
    LEAD_ORDER.forEach((lead, k) => {
      perLead[lead] = {
        signal: Array.from(r.mean[k], (v) => v / fs),
        relevance: Array.from(r.meanRel[k], (v) => v / fr),
        variance: Array.from(r.varSig[k], (v) => v / (fs * fs)),
        relevanceVariance: Array.from(r.varRel[k], (v) => v / (fr * fr)),
        count: Array.from(r.count),
        timeS: r.timeS,
        records: r.records,
      };
    });
    averageBeats[label] = perLead;
  }
  return { averageBeats, warnings };
}

function leadArrays(leads: BeatLeads): (ArrayLike<number> | undefined)[] {
  if (Array.isArray(leads)) return LEAD_ORDER.map((_, k) => (leads as readonly ArrayLike<number>[])[k]);
  const map = leads as Readonly<Record<string, ArrayLike<number>>>;
  return LEAD_ORDER.map((lead) => map[lead]);
}

function prepareBeat(path: string, beat: AverageBeatInput): PreparedBeat | string {
  const length = beat?.timeS?.length ?? 0;
  if (length < 1) return 'its average beat is empty';
  const timeS = Array.from(beat.timeS, Number);
  if (!timeS.every(Number.isFinite)) return 'its beat time axis has values that are not finite numbers';
  const out: { signal: Float64Array[]; relevance: Float64Array[] } = { signal: [], relevance: [] };
  for (const kind of ['signal', 'relevance'] as const) {
    const arrays = leadArrays(kind === 'signal' ? beat.signalMv : beat.relevance);
    let max = 0;
    const leads: Float64Array[] = [];
    for (let k = 0; k < arrays.length; k++) {
      const a = arrays[k];
      if (!a || a.length !== length) return `its average beat has no ${kind} of ${length} samples for lead ${LEAD_ORDER[k]}`;
      const v = Float64Array.from(a as ArrayLike<number>);
      for (const x of v) {
        if (!Number.isFinite(x)) return `its average beat has a ${kind} value that is not a finite number in lead ${LEAD_ORDER[k]}`;
        max = Math.max(max, Math.abs(x));
      }
      leads.push(v);
    }
    if (max > 0) for (const v of leads) for (let i = 0; i < v.length; i++) v[i] /= max;
    out[kind] = leads;
  }
  let rIndex = 0;
  for (let i = 1; i < length; i++) if (Math.abs(timeS[i]) < Math.abs(timeS[rIndex])) rIndex = i;
  const dtS = length > 1 ? (timeS[length - 1] - timeS[0]) / (length - 1) : null;
  if (dtS !== null && !(dtS > 0)) return 'its beat time axis does not increase';
  return { path, length, rIndex, timeS, dtS, signal: out.signal, relevance: out.relevance };
}
