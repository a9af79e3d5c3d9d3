/**
 * The one schema of cohort.json (../shared/docs/contract.md, "Cohorts"): what `leadlight cohort` writes, what
 * `GET /api/cohorts/{name}` returns and what the site's cohort pages render. Checked by the writer, by the Worker
 * before answering and by the site when it builds a cohort page. Extend freely, never break: extra fields pass.
 */
import { z } from 'zod';
import { COHORT_SCHEMA_VERSION } from './analysis/cohort.ts';
import type { CohortOutput } from './analysis/cohort-members.ts';
import { LeadlightError } from './errors.ts';
import { LEAD_ORDER } from './record.ts';

const finite = z.number().finite();
const leadMap = z.object(Object.fromEntries(LEAD_ORDER.map((l) => [l, finite])) as Record<(typeof LEAD_ORDER)[number], typeof finite>);
const outcome = z.enum(['TP', 'FP', 'FN', 'TN']);
const warning = z.object({ code: z.string(), message: z.string() });

const beatAggregate = z.object({
  signal: z.array(finite),
  relevance: z.array(finite),
  variance: z.array(finite),
  relevanceVariance: z.array(finite),
  count: z.array(finite),
  timeS: z.array(finite),
  records: z.number().int().nonnegative(),
}).passthrough();
const beatsByLabel = z.record(z.string(), z.record(z.string(), beatAggregate));

const boxStats = z.object({
  n: z.number().int().positive(),
  mean: finite,
  q1: finite,
  median: finite,
  q3: finite,
  whiskerLow: finite,
  whiskerHigh: finite,
  outliers: z.array(finite),
});

/** Issue 16: the AUC effect of a rank-sum contrast with its seeded bootstrap percentile 95 % interval. */
const effect = z.object({ auc: finite.min(0).max(1), ci95: z.tuple([finite, finite]) }).passthrough();
/** The fields of one one-sided rank-sum contrast (functions/core/analysis/ranksum.ts `GroupContrast`). */
const groupContrast = {
  groupA: z.string(),
  groupB: z.string(),
  alternative: z.literal('greater'),
  statistic: finite,
  pValue: finite.min(0).max(1),
  method: z.enum(['exact', 'normal-approximation']),
};
const outcomeGroup = z.object({ n: z.number().int().nonnegative(), medianMeanRelevance: finite.nullable(), minMeanRelevance: finite.nullable(), maxMeanRelevance: finite.nullable() });

/** Issue 16: pairwise Spearman correlations of two methods' maps (method-agreement.ts), per record. */
const rhoOrNull = finite.min(-1 - 1e-9).max(1 + 1e-9).nullable();
const methodPair = z.object({ a: z.string(), b: z.string(), map: rhoOrNull, absMap: rhoOrNull, leads: rhoOrNull }).passthrough();
const centre = z.object({ mean: finite.nullable(), median: finite.nullable() });
const methodAgreement = z.object({
  methods: z.array(z.string()).min(2),
  over: z.string(),
  pairs: z.array(z.object({ a: z.string(), b: z.string(), n: z.number().int().nonnegative(), map: centre, absMap: centre, leads: centre }).passthrough()),
}).passthrough();
/** Issue 16: the cascading-randomisation sanity check over a seeded subset of records (Adebayo et al. 2018). */
const sanity = z.object({
  seed: z.number().int(),
  records: z.array(z.string()),
  cascade: z.string(),
  metrics: z.string(),
  methods: z.array(z.object({
    method: z.string(),
    steps: z.number().int().positive().nullable(),
    cascadeSteps: z.array(z.object({ layer: z.string(), layersRandomised: z.number().int().positive(), n: z.number().int().nonnegative(), spearmanAbs: centre, ssim: centre }).passthrough()),
  }).passthrough()),
}).passthrough();

const byLabelCounts = z.object({ agrees: z.number().int(), disagrees: z.number().int(), notApplicable: z.number().int(), waves: finite, relevanceSum: finite });

export const cohortSchema = z.object({
  schema: z.literal(COHORT_SCHEMA_VERSION),
  model: z.object({ id: z.string(), classes: z.array(z.string()).min(1), thresholds: z.array(finite) }).passthrough(),
  method: z.string(),
  class: z.string(),
  threshold: finite,
  groups: z.object({ positive: z.string(), control: z.string() }),
  records: z.array(z.object({
    path: z.string(),
    label: z.string(),
    probability: finite,
    positive: z.boolean(),
    outcome,
    meanRelevance: finite,
    leadRelevance: leadMap,
    methodAgreement: z.array(methodPair).optional(),
  }).passthrough()),
  methodAgreement: methodAgreement.optional(),
  sanity: sanity.optional(),
  leadTests: z.array(z.object({
    lead: z.enum(LEAD_ORDER),
    ...groupContrast,
    significant: z.boolean(),
    nA: z.number().int().positive(),
    nB: z.number().int().positive(),
    pAdjusted: finite.min(0).max(1).optional(),
    effect: effect.optional(),
  }).passthrough()),
  waveTests: z.array(z.object({
    wave: z.enum(['p', 'qrs', 'st', 't']),
    lead: z.enum(LEAD_ORDER),
    ...groupContrast,
    pAdjusted: finite.min(0).max(1),
    nA: z.number().int().positive(),
    nB: z.number().int().positive(),
    effect,
  }).passthrough()).optional(),
  relevanceVsProbability: z.object({
    rho: finite.nullable(),
    ci95: z.tuple([finite, finite]).nullable(),
    n: z.number().int().nonnegative(),
    resamples: z.number().int().positive(),
    seed: z.number().int(),
    outcomes: z.object({ TP: outcomeGroup, FP: outcomeGroup, FN: outcomeGroup, TN: outcomeGroup }),
  }).passthrough().optional(),
  averageBeats: beatsByLabel,
  scatter: z.object({
    threshold: finite,
    points: z.array(z.object({ path: z.string(), label: z.string(), probability: finite, meanRelevance: finite, outcome })),
  }),
  leadBoxPlots: z.record(z.string(), z.record(z.string(), boxStats.nullable())),
  outcomes: z.object({ TP: z.number().int(), FP: z.number().int(), FN: z.number().int(), TN: z.number().int() }),
  significanceLevel: finite,
  beatAlignment: z.enum(['centre', 'r-peak']),
  warnings: z.array(warning),
  steps: z.number().int().positive().nullable(),
  labelsFile: z.string(),
  errors: z.array(z.object({ path: z.string(), label: z.string(), code: z.string(), message: z.string() })),
  criteria: z.object({
    class: z.string(),
    criteriaClass: z.string().nullable(),
    findings: z.array(z.object({ id: z.string(), criterion: z.string(), byLabel: z.record(z.string(), byLabelCounts) })),
  }),
  averageBeatsRAligned: beatsByLabel,
  details: z.array(z.object({
    path: z.string(),
    recordName: z.string(),
    heartRateBpm: finite.nullable(),
    beatsInWindow: z.number().int().nonnegative(),
    probabilities: z.record(z.string(), finite),
    predictedPositive: z.array(z.string()),
    criteria: z.record(z.string(), z.union([z.boolean(), z.literal('not-applicable')])),
    completeness: z.object({ sum: finite, expected: finite }),
  }).passthrough()),
}).passthrough();

/**
 * Validates a cohort.json; throws `request_invalid` listing the first problems (a file that is not a cohort.json of
 * this Leadlight, e.g. hand-edited or from another version).
 */
export function checkCohort(value: unknown, what = 'The cohort'): CohortOutput {
  const parsed = cohortSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new LeadlightError('request_invalid', `${what} does not match cohort.json schema ${COHORT_SCHEMA_VERSION} (${issues.join('; ')}); recreate it with leadlight cohort.`);
  }
  return parsed.data as unknown as CohortOutput;
}
