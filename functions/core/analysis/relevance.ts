/**
 * Per-record relevance summaries of Bender et al. 2023 (../shared/docs/bender2023-methods.md):
 * analysis (a) — the mean relevance M_n over all samples and leads of the model input and the outcome TP/FP/FN/TN
 * from the probability, the class threshold and the ground truth; analysis (b) — the lead relevance M_n,k, the mean
 * over samples of one lead. Given the signal length, the zero padding is masked (its relevance counts as 0, issue 16
 * item 7) while the mean stays over the whole input as in the paper: for integrated gradients from a zero baseline
 * the padding's relevance is exactly 0, so the paper's numbers are unchanged, and no method's padding can move them.
 *
 * Relevance arrives as the attribution produces it: a Float32Array of shape [samples, 12], row-major
 * (sample, lead), leads in LEAD_ORDER (functions/core/record.ts). Sums run in float64.
 */
import { LeadlightError } from '../errors.ts';
import { LEAD_ORDER, type LeadName } from '../record.ts';

export type Outcome = 'TP' | 'FP' | 'FN' | 'TN';

export interface RelevanceSummary {
  /** M_n: mean relevance over all samples and all 12 leads (paper, analysis (a)). */
  meanRelevance: number;
  /** M_n,k: mean relevance over the samples of each lead (paper, analysis (b)). */
  leadRelevance: Record<LeadName, number>;
  /** Samples per lead the means were taken over (the model-input length, padding included). */
  samples: number;
  /** Rows whose relevance was summed; the rest (zero padding) were masked. */
  signalSamples: number;
}

const LEADS = LEAD_ORDER.length;

/**
 * M_n and M_n,k of one record (Bender et al. 2023, analyses (a) and (b)): means over every sample of the model
 * input as the paper averages the whole relevance array, with the relevance of the zero padding — rows from
 * `signalSamples` on (default: none) — masked to 0, so that nothing on the padding changes a summary.
 * Throws `request_invalid` when the array is not [samples, 12] and `signal_invalid` when it holds non-finite values.
 */
export function summariseRelevance(relevance: ArrayLike<number>, samples?: number, signalSamples?: number): RelevanceSummary {
  const length = relevance.length;
  const rows = samples ?? length / LEADS;
  if (!Number.isInteger(rows) || rows < 1 || rows * LEADS !== length) {
    throw new LeadlightError('request_invalid', `The relevance must have shape [samples, 12] (row-major, one value per sample and lead); got ${length} values${samples === undefined ? '' : ` for ${samples} samples`}.`);
  }
  const kept = signalSamples ?? rows;
  if (!Number.isInteger(kept) || kept < 0 || kept > rows) {
    throw new LeadlightError('request_invalid', `The signal length must be a whole number from 0 to ${rows} samples; got ${signalSamples}.`);
  }
  const sums = new Float64Array(LEADS);
  for (let j = 0; j < kept; j++) {
    const base = j * LEADS;
    for (let k = 0; k < LEADS; k++) {
      const v = relevance[base + k];
      if (!Number.isFinite(v)) {
        throw new LeadlightError('signal_invalid', `The relevance has a value that is not a finite number (sample ${j}, lead ${LEAD_ORDER[k]}); check the model input for extreme values and recompute the attribution.`);
      }
      sums[k] += v;
    }
  }
  let total = 0;
  const leadRelevance = {} as Record<LeadName, number>;
  for (let k = 0; k < LEADS; k++) {
    total += sums[k];
    leadRelevance[LEAD_ORDER[k]] = sums[k] / rows;
  }
  return { meanRelevance: total / (rows * LEADS), leadRelevance, samples: rows, signalSamples: kept };
}

/**
 * Outcome of one record for analysis (a): the record is predicted positive when `probability ≥ threshold` (the
 * paper's and the model's rule), and truly positive when its ground-truth label is the positive class.
 * TP = positive label, predicted positive; FP = other label, predicted positive; FN = positive label, predicted
 * negative; TN = other label, predicted negative.
 */
export function classifyOutcome(probability: number, threshold: number, truthPositive: boolean): Outcome {
  if (!Number.isFinite(probability) || !Number.isFinite(threshold)) {
    throw new LeadlightError('request_invalid', 'The probability and the threshold must be finite numbers to classify an outcome.');
  }
  const predicted = probability >= threshold;
  if (truthPositive) return predicted ? 'TP' : 'FN';
  return predicted ? 'FP' : 'TN';
}

export interface RecordRelevanceInput {
  path: string;
  /** Ground-truth label (e.g. `AF`, `NORM`). */
  label: string;
  /** Sigmoid probability C_n of the analysed class. */
  probability: number;
  /** Decision threshold of the analysed class. */
  threshold: number;
  /** The label that counts as the positive class (e.g. `AF`, or `AFIB` for PTB-XL). */
  positiveLabel: string;
  /** Relevance [samples, 12] row-major in LEAD_ORDER. */
  relevance: ArrayLike<number>;
  samples?: number;
  /** Rows that hold signal; the relevance of the rest (zero padding) is masked. */
  signalSamples?: number;
}

export interface RecordSummary {
  path: string;
  label: string;
  probability: number;
  positive: boolean;
  outcome: Outcome;
  meanRelevance: number;
  leadRelevance: Record<LeadName, number>;
}

/** One cohort.json record entry (contract.md, "Cohorts") from the record's relevance and prediction. */
export function summariseRecord(input: RecordRelevanceInput): RecordSummary {
  const { meanRelevance, leadRelevance } = summariseRelevance(input.relevance, input.samples, input.signalSamples);
  const outcome = classifyOutcome(input.probability, input.threshold, input.label === input.positiveLabel);
  return {
    path: input.path,
    label: input.label,
    probability: input.probability,
    positive: input.probability >= input.threshold,
    outcome,
    meanRelevance,
    leadRelevance,
  };
}
