/**
 * Cohort members (../shared/docs/contract.md, "Cohorts"): what a cohort keeps of one analysed record (its summary —
 * probability, M_n, M_n,k, average beats and criteria findings, never the full relevance), how the class of a
 * cohort is chosen from its labels, how the wave-level criteria findings are counted per label, and how members
 * become cohort.json with `buildCohort` (Bender et al. 2023, analyses (a), (b), (c)). Shared by `leadlight cohort`
 * (members from a labels CSV) and the Worker's live cohorts (members from uploads in KV), so both give one shape.
 */
import { LeadlightError } from '../errors.ts';
import type { Result } from '../result.ts';
import type { InstalledModel } from '../model/manifest.ts';
import { packBeats } from './beat-codec.ts';
import { averageBeatsAcrossRecords, buildCohort, chooseGroups, type AverageBeatInput, type BeatSource, type CohortJson, type CohortModelInfo } from './cohort.ts';
import { canonicalClass } from './criteria.ts';
import type { WaveRelevanceByLead } from './cohort-stats.ts';
import { summariseAgreement, type MethodPair, type MethodPairSummary } from './method-agreement.ts';
import type { SanityStepSummary } from './sanity-metrics.ts';

/**
 * The model class a cohort is attributed to when no class is given: every label that is not the normal
 * control (NORM, Normal, …) must name the same model class (directly or by alias, e.g. AFIB → AF, CLBBB → LBBB).
 * One class for the whole cohort is required (the lead tests compare relevance for one output), so anything
 * ambiguous asks for the class explicitly (`--class`, or the upload's `class` field).
 */
export function chooseCohortClass(labels: readonly string[], classes: readonly string[]): string {
  const distinct = [...new Set(labels)];
  const positives = distinct.filter((l) => canonicalClass(l) !== 'NORM');
  const match = (label: string) => classes.find((c) => c === label) ?? classes.find((c) => canonicalClass(c) !== null && canonicalClass(c) === canonicalClass(label));
  const found = new Set<string>();
  for (const label of positives) {
    const c = match(label);
    if (c !== undefined) found.add(c);
  }
  if (positives.length >= 1 && found.size === 1 && positives.every((l) => match(l) !== undefined)) return [...found][0];
  const why = positives.length === 0
    ? 'the cohort has only normal labels'
    : found.size === 0
      ? `no label (${positives.join(', ')}) names a class of the model`
      : `the labels ${positives.join(', ')} name more than one class or labels without a class`;
  throw new LeadlightError('option_invalid', `Give --class: ${why}, and a cohort is attributed to one class for all records; use one of ${classes.join(', ')}.`);
}

export interface CriterionSummary {
  id: string;
  criterion: string;
  agrees: boolean | 'not-applicable';
  /** Waves the finding judged (from its evidence), when it is wave-level. */
  waves: number | null;
  relevanceSum: number | null;
  negativeFraction: number | null;
}

/** What the cohort keeps of one analysed record (the CLI cache entry's `summary`, the value of a live member). */
export interface RecordSummaryCache {
  recordName: string;
  probability: number;
  probabilities: Record<string, number>;
  predictedPositive: string[];
  meanRelevance: number;
  leadRelevance: Record<string, number>;
  heartRateBpm: number | null;
  beatsInWindow: number;
  averageBeat: AverageBeatInput | null;
  averageBeatRAligned: AverageBeatInput | null;
  criteria: { criteriaClass: string | null; findings: CriterionSummary[] };
  completeness: { sum: number; expected: number };
  steps: number;
  warnings: { code: string; message: string }[];
  timingsMs: Record<string, number>;
  /** Per lead the relevance summed over the P, QRS, ST and T windows, null without such a window (issue 16). */
  waveRelevance?: WaveRelevanceByLead | null;
}

function beatOf(beat: unknown): AverageBeatInput | null {
  const b = beat as { timeS?: number[]; signalMv?: Record<string, number[]>; relevance?: Record<string, number[]> } | null;
  if (!b || !b.timeS || !b.signalMv || !b.relevance) return null;
  return { timeS: b.timeS, signalMv: b.signalMv, relevance: b.relevance };
}

/** Per lead the relevance summed over each wave's windows, null for a wave without windows (results with `windows`). */
function waveRelevanceOf(waves: { relevanceByLead?: Record<string, Record<string, number>>; windows?: Record<string, number> } | undefined): WaveRelevanceByLead | null {
  if (!waves?.relevanceByLead || !waves.windows) return null;
  const windows = waves.windows;
  const of = (sums: Record<string, number>, wave: string) => (windows[wave] > 0 && typeof sums[wave] === 'number' ? sums[wave] : null);
  return Object.fromEntries(Object.entries(waves.relevanceByLead).map(([lead, sums]) => [lead, { p: of(sums, 'p'), qrs: of(sums, 'qrs'), st: of(sums, 'st'), t: of(sums, 't') }]));
}

/**
 * Keeps from a result JSON what the cohort aggregates: the probability of `className`, M_n and M_n,k
 * (Bender et al. 2023, analyses (a), (b)), the average beats (analysis (c)) and the criteria findings.
 */
export function summariseResult(result: Result, className: string): RecordSummaryCache {
  const analysis = result.analysis as Result['analysis'] & {
    beats: { averageBeatRAligned?: unknown };
    waves?: { beatsInWindow?: number; relevanceByLead?: Record<string, Record<string, number>>; windows?: Record<string, number> };
    criteria?: { criteriaClass: string | null; findings: { id: string; criterion: string; agrees: boolean | 'not-applicable'; evidence: Record<string, unknown> }[] };
  };
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    recordName: result.record.name,
    probability: result.prediction.probabilities[className],
    probabilities: result.prediction.probabilities,
    predictedPositive: result.prediction.positive,
    meanRelevance: analysis.meanRelevance,
    leadRelevance: analysis.leadRelevance,
    heartRateBpm: analysis.beats.heartRateBpm,
    beatsInWindow: analysis.waves?.beatsInWindow ?? 0,
    averageBeat: beatOf(analysis.beats.averageBeat),
    averageBeatRAligned: beatOf(analysis.beats.averageBeatRAligned),
    criteria: {
      criteriaClass: analysis.criteria?.criteriaClass ?? null,
      findings: (analysis.criteria?.findings ?? []).map((f) => ({
        id: f.id,
        criterion: f.criterion,
        agrees: f.agrees,
        waves: num(f.evidence.waves),
        relevanceSum: num(f.evidence.relevanceSum),
        negativeFraction: num(f.evidence.negativeFraction),
      })),
    },
    completeness: { sum: result.attribution.completeness.sum, expected: result.attribution.completeness.expected },
    steps: result.attribution.steps,
    warnings: result.record.warnings,
    timingsMs: result.timingsMs,
    waveRelevance: waveRelevanceOf(analysis.waves),
  };
}

export interface CriteriaAggregate {
  class: string;
  criteriaClass: string | null;
  findings: {
    id: string;
    criterion: string;
    /** Per label: records agreeing, disagreeing, not applicable, and the summed wave relevance of the judged waves. */
    byLabel: Record<string, { agrees: number; disagrees: number; notApplicable: number; waves: number; relevanceSum: number }>;
  }[];
}

/** Counts per criterion and label how many records' relevance agrees with the textbook criterion (criteria.ts). */
export function aggregateCriteria(className: string, records: readonly { label: string; summary: Pick<RecordSummaryCache, 'criteria'> }[]): CriteriaAggregate {
  const findings: CriteriaAggregate['findings'] = [];
  let criteriaClass: string | null = null;
  for (const { label, summary } of records) {
    criteriaClass ??= summary.criteria.criteriaClass;
    for (const f of summary.criteria.findings) {
      let entry = findings.find((x) => x.id === f.id);
      if (!entry) findings.push((entry = { id: f.id, criterion: f.criterion, byLabel: {} }));
      const counts = (entry.byLabel[label] ??= { agrees: 0, disagrees: 0, notApplicable: 0, waves: 0, relevanceSum: 0 });
      if (f.agrees === true) counts.agrees++;
      else if (f.agrees === false) counts.disagrees++;
      else counts.notApplicable++;
      counts.waves += f.waves ?? 0;
      counts.relevanceSum += f.relevanceSum ?? 0;
    }
  }
  return { class: className, criteriaClass, findings };
}

export interface CohortError {
  path: string;
  label: string;
  code: string;
  message: string;
}

export interface CohortDetail {
  path: string;
  recordName: string;
  heartRateBpm: number | null;
  beatsInWindow: number;
  probabilities: Record<string, number>;
  predictedPositive: string[];
  criteria: Record<string, boolean | 'not-applicable'>;
  completeness: { sum: number; expected: number };
}

/**
 * Issue 16, item 3: the cohort-level method agreement (`leadlight cohort --methods`): per method pair the mean and
 * median over records of the pairwise Spearman correlations each record keeps as `records[i].methodAgreement`.
 */
export interface CohortMethodAgreement {
  methods: string[];
  over: string;
  pairs: MethodPairSummary[];
}

/**
 * Issue 16, item 2: the cascading-randomisation sanity check over a seeded subset of the cohort's records
 * (`leadlight cohort --sanity`; Adebayo et al., NeurIPS 2018, §3.1), summarised per method and cascade step.
 */
export interface CohortSanity {
  seed: number;
  /** The records checked (cohort paths), a seeded sample of the analysed ones. */
  records: string[];
  cascade: string;
  metrics: string;
  methods: { method: string; steps: number | null; cascadeSteps: SanityStepSummary[] }[];
}

/** cohort.json: the contract's fields (buildCohort) plus the run's extras. */
export type CohortOutput = CohortJson & {
  methodAgreement?: CohortMethodAgreement;
  sanity?: CohortSanity;
  steps: number | null;
  labelsFile: string;
  errors: CohortError[];
  criteria: CriteriaAggregate;
  averageBeatsRAligned: CohortJson['averageBeats'];
  details: CohortDetail[];
};

/** A member's summary as the aggregation takes it: the average beats inline, or loaders of them (see BeatSource). */
export type MemberSummary = Omit<RecordSummaryCache, 'averageBeat' | 'averageBeatRAligned'> & {
  averageBeat: BeatSource | null;
  averageBeatRAligned: BeatSource | null;
};

export interface CohortMember {
  /** How the record is named in cohort.json (the CSV's path, or the uploaded record's name). */
  path: string;
  label: string;
  summary: MemberSummary;
  /** `leadlight cohort --methods`: the record's pairwise method agreement (method-agreement.ts). */
  methodAgreement?: MethodPair[];
}

/** The summary a cohort's Durable Object keeps of a member: no beats (packed apart), no warnings or timings. */
export type StoredSummary = Omit<RecordSummaryCache, 'averageBeat' | 'averageBeatRAligned'> & { beats: boolean[] };

/**
 * What a cohort member reports of its result: the record's name, its summary for the cohort's class as JSON without
 * the beats, warnings and timings (cohort.json uses none of them; they differ run by run or are long), and the two
 * average beats packed (beat-codec.ts).
 */
export function memberReportOf(result: Result, className: string): { recordName: string; summaryJson: string; beats: Uint8Array } {
  const { averageBeat, averageBeatRAligned, ...rest } = summariseResult(result, className);
  const summary: StoredSummary = { ...rest, warnings: [], timingsMs: {}, beats: [averageBeat !== null, averageBeatRAligned !== null] };
  return { recordName: result.record.name, summaryJson: JSON.stringify(summary), beats: packBeats([averageBeat, averageBeatRAligned]) };
}

/** What cohort.json says of the model: id, title, classes, thresholds and the weights' hash (the CLI and the Worker alike). */
export function cohortModelInfoOf(model: Pick<InstalledModel, 'id' | 'title' | 'classes' | 'thresholds' | 'converted'>): CohortModelInfo {
  return {
    id: model.id,
    title: model.title,
    classes: model.classes,
    thresholds: model.thresholds,
    weights: model.converted ? { sha256: model.converted.sha256, published: model.converted.published } : null,
  };
}

export interface AssembleCohortInput {
  model: CohortModelInfo;
  method: string;
  className: string;
  steps: number | null;
  /** The labels CSV (`leadlight cohort`) or a description of where the members came from (live cohorts). */
  labelsFile: string;
  members: readonly CohortMember[];
  errors?: CohortError[];
  /** The groups; default `chooseGroups` on the members' labels. */
  groups?: { positive: string; control: string };
  /** The methods of the members' `methodAgreement` (`leadlight cohort --methods`). */
  agreementMethods?: string[];
  sanity?: CohortSanity;
}

/** Significant digits the average-beat arrays keep in cohort.json: exact to the eye, a third of the JSON's size. */
export const BEAT_DIGITS = 6;

function roundBeats(beats: CohortJson['averageBeats']): CohortJson['averageBeats'] {
  const round = (values: number[]) => values.map((v) => (v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(BEAT_DIGITS))));
  return Object.fromEntries(Object.entries(beats).map(([label, leads]) => [label, Object.fromEntries(Object.entries(leads).map(([lead, b]) => [lead, {
    ...b,
    signal: round(b.signal),
    relevance: round(b.relevance),
    variance: round(b.variance),
    relevanceVariance: round(b.relevanceVariance),
    timeS: round(b.timeS),
  }]))]));
}

/**
 * cohort.json from member summaries: `buildCohort` (records, lead tests, centre-aligned average beats, scatter,
 * box plots) plus the R-aligned average beats, the per-label criteria counts and per-record details. The average
 * beats are rounded to BEAT_DIGITS significant digits; everything else keeps full precision.
 */
export function assembleCohort(input: AssembleCohortInput): CohortOutput {
  const { members, className } = input;
  const groups = input.groups ?? chooseGroups(members.map((m) => m.label), className);
  const cohort = buildCohort({
    model: input.model,
    method: input.method,
    className,
    positiveLabel: groups.positive,
    controlLabel: groups.control,
    records: members.map(({ path, label, summary }) => ({
      path,
      label,
      probability: summary.probability,
      meanRelevance: summary.meanRelevance,
      leadRelevance: summary.leadRelevance,
      averageBeat: summary.averageBeat,
      waveRelevance: summary.waveRelevance,
    })),
  });
  const labels = [...new Set(members.map((m) => m.label))];
  const rAligned = averageBeatsAcrossRecords(
    Object.fromEntries(labels.map((label) => [label, members.filter((m) => m.label === label && m.summary.averageBeatRAligned).map((m) => ({ path: m.path, beat: m.summary.averageBeatRAligned as BeatSource }))])),
    'r-peak',
  );
  // Issue 16: each record's method agreement beside its entry, and their summary per method pair.
  const agreementByPath = new Map(members.flatMap((m) => (m.methodAgreement ? [[m.path, m.methodAgreement] as const] : [])));
  const trust: Pick<CohortOutput, 'methodAgreement' | 'sanity'> = {
    ...(input.agreementMethods ? {
      methodAgreement: {
        methods: input.agreementMethods,
        over: 'per record: Spearman ρ of the signed maps (map), of |relevance| (absMap) over the samples × 12 leads of the model input (zero padding excluded), and of the 12 lead relevances (leads); here their mean and median over the records',
        pairs: summariseAgreement(cohort.records.flatMap((r) => (agreementByPath.has(r.path) ? [agreementByPath.get(r.path)!] : []))),
      },
    } : {}),
    ...(input.sanity ? { sanity: input.sanity } : {}),
  };
  return {
    ...cohort,
    records: agreementByPath.size > 0 ? cohort.records.map((r) => (agreementByPath.has(r.path) ? { ...r, methodAgreement: agreementByPath.get(r.path) } : r)) : cohort.records,
    ...trust,
    averageBeats: roundBeats(cohort.averageBeats),
    steps: input.steps,
    labelsFile: input.labelsFile,
    errors: input.errors ?? [],
    criteria: aggregateCriteria(className, members),
    averageBeatsRAligned: roundBeats(rAligned.averageBeats),
    details: members.map(({ path, summary }) => ({
      path,
      recordName: summary.recordName,
      heartRateBpm: summary.heartRateBpm,
      beatsInWindow: summary.beatsInWindow,
      probabilities: summary.probabilities,
      predictedPositive: summary.predictedPositive,
      criteria: Object.fromEntries(summary.criteria.findings.map((f) => [f.id, f.agrees])),
      completeness: summary.completeness,
    })),
  };
}
