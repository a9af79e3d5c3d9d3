/**
 * Consistency of a result the server did not compute (private mode's shared results, `POST /api/results`): beyond
 * the one schema (./result.ts `checkResult`), the parts must agree with each other and with the installed model —
 * the classes, thresholds and input window of the model, probabilities = sigmoid(logits), the positive classes, the
 * relevance and signal arrays' shapes and values, completeness and the relevance means recomputed from the map.
 * It cannot tell a forged map from a computed one (only recomputing could); it refuses results that contradict
 * themselves. Pure and one pass over the relevance (it runs inside a share request's CPU budget).
 */
import { LeadlightError } from './errors.ts';
import type { InstalledModel } from './model/manifest.ts';
import { LEAD_ORDER } from './record.ts';
import { base64Bytes, checkResult, decodeFloat32, encodedArraySchema, type EncodedArray, type Result } from './result.ts';

/** Relative tolerance of values recomputed from the float32 map (they are recomputed in the same order). */
const SUM_TOLERANCE = 1e-9;

function close(a: number, b: number, relative: number, absolute = 1e-12): boolean {
  return Math.abs(a - b) <= Math.max(absolute, relative * Math.max(Math.abs(a), Math.abs(b)));
}

/** The float32 values of a `base64-le` string of exactly `count` values, or null when it is not one. */
export function decodeFloat32Strict(data: string, count: number): Float32Array | null {
  if (data.length !== Math.ceil((count * 4) / 3) * 4) return null;
  try {
    return decodeFloat32({ shape: [count], dtype: 'float32', encoding: 'base64-le', data });
  } catch {
    return null;
  }
}

/** Whether `data` is base64 of exactly `bytes` bytes (validated by the engine's native decoder). */
function isBase64Of(data: string, bytes: number): boolean {
  if (data.length !== Math.ceil(bytes / 3) * 4) return false;
  try {
    return base64Bytes(data).length === bytes;
  } catch {
    return false;
  }
}

/**
 * The sum and absolute sum of the whole map and each lead's sum over its first `signalSamples` rows (the padding
 * masked), in the pipeline's order. Its own small function so the engine optimises the loop on the first call.
 */
function sumsOf(relevance: Float32Array, leads: number, signalSamples: number): { sum: number; sumAbs: number; sums: Float64Array } {
  let sum = 0;
  let sumAbs = 0;
  const sums = new Float64Array(leads);
  const signalEnd = signalSamples * leads;
  for (let i = 0; i < signalEnd; i += leads) {
    for (let k = 0; k < leads; k++) {
      const v = relevance[i + k];
      sum += v;
      sumAbs += Math.abs(v);
      sums[k] += v;
    }
  }
  for (let i = signalEnd; i < relevance.length; i++) {
    const v = relevance[i];
    sum += v;
    sumAbs += Math.abs(v);
  }
  return { sum, sumAbs, sums };
}

function shapeOk(encoded: EncodedArray, samples: number, what: string, problems: string[]): boolean {
  if (encoded.shape.length !== 2 || encoded.shape[0] !== samples || encoded.shape[1] !== LEAD_ORDER.length) {
    problems.push(`${what} has shape [${encoded.shape.join(', ')}], the model input is [${samples}, ${LEAD_ORDER.length}]`);
    return false;
  }
  return true;
}

/**
 * The ways `result` contradicts itself or `model` (empty when consistent). `model` is the installed model the
 * result names (the caller refuses unknown models).
 */
export function resultInconsistencies(result: Result, model: InstalledModel): string[] {
  const problems: string[] = [];
  const classes = result.model.classes;
  if (result.model.id !== model.id) problems.push(`the result names model ${result.model.id}, not ${model.id}`);
  if (classes.length !== model.classes.length || classes.some((c, i) => c !== model.classes[i])) problems.push('the classes are not those of the model');
  if (result.model.thresholds.length !== model.thresholds.length || result.model.thresholds.some((t, i) => t !== model.thresholds[i])) problems.push('the thresholds are not those of the model');
  if (result.input.samples !== model.input.samples || result.input.samplingRateHz !== model.input.samplingRateHz) {
    problems.push(`the input window is ${result.input.samples} samples at ${result.input.samplingRateHz} Hz; the model takes ${model.input.samples} at ${model.input.samplingRateHz} Hz`);
  }
  if (result.record.leads.some((l, i) => l !== LEAD_ORDER[i])) problems.push('the leads are not in the order I, II, III, aVR, aVL, aVF, V1–V6');

  // Prediction: one probability and logit per class, probability = sigmoid(logit), positive = p ≥ threshold.
  const { probabilities, logits, positive } = result.prediction;
  const keys = (o: Record<string, number>) => Object.keys(o).sort().join('\u0000');
  if (keys(probabilities) !== [...classes].sort().join('\u0000') || keys(logits) !== [...classes].sort().join('\u0000')) {
    problems.push('the probabilities and logits are not one per class');
  } else {
    for (const c of classes) {
      const p = probabilities[c];
      if (!(p >= 0 && p <= 1) || !close(p, 1 / (1 + Math.exp(-logits[c])), 1e-6, 1e-9)) problems.push(`the probability of ${c} is not the sigmoid of its logit`);
    }
    const expected = classes.filter((c, i) => probabilities[c] >= result.model.thresholds[i]);
    if (expected.join('\u0000') !== positive.join('\u0000')) problems.push('the positive classes are not those whose probability reaches the threshold');
  }
  if (!classes.includes(result.attribution.class)) problems.push(`the explained class ${result.attribution.class} is not a class of the model`);
  if (result.attribution.progress !== undefined) problems.push('the result is a partial result (attribution.progress)');
  if (result.analysis.faithfulnessStatus !== undefined) problems.push('the result waits for curves only the server adds (analysis.faithfulnessStatus)');

  // The maps: shape and encoding; completeness and the relevance means recomputed from the map, in the order the
  // pipeline sums them (functions/core/attribution/attribute.ts, analysis/relevance.ts), so they agree exactly.
  const samples = result.input.samples;
  const leads = LEAD_ORDER.length;
  const stated = (result.input as Record<string, unknown>).signalMv;
  const signal = stated === undefined ? undefined : encodedArraySchema.safeParse(stated).data;
  if (stated !== undefined && !signal) problems.push('the model-input signal is not a float32 array in base64-le');
  if (signal !== undefined && shapeOk(signal, samples, 'the model-input signal', problems)) {
    // Drawn only: its encoding and length are checked, not every value (a share request's CPU is short).
    if (!isBase64Of(signal.data, samples * leads * 4)) problems.push('the model-input signal is not base64 of its float32 values');
  }
  const encoded = result.attribution.relevance;
  const relevance = shapeOk(encoded, samples, 'the relevance', problems) ? decodeFloat32Strict(encoded.data, samples * leads) : null;
  if (encoded.shape[0] === samples && !relevance) problems.push(`the relevance is not base64 of ${samples * leads} float32 values`);
  if (relevance) {
    // The relevance means mask the zero padding (rows from `input.signalSamples` on; issue 16, item 7).
    const stated = (result.input as Record<string, unknown>).signalSamples;
    const signalSamples = typeof stated === 'number' && Number.isInteger(stated) && stated >= 0 && stated <= samples ? stated : samples;
    const { sum, sumAbs, sums } = sumsOf(relevance, leads, signalSamples);
    if (!Number.isFinite(sumAbs)) problems.push('the relevance holds a value that is not a finite number');
    else {
      const slack = SUM_TOLERANCE * sumAbs;
      if (!close(sum, result.attribution.completeness.sum, 0, slack + 1e-300)) problems.push('completeness.sum is not the sum of the relevance');
      let total = 0;
      for (let k = 0; k < leads; k++) {
        total += sums[k];
        if (!close(sums[k] / samples, result.analysis.leadRelevance[LEAD_ORDER[k]], 0, slack / samples + 1e-300)) {
          problems.push(`the relevance of lead ${LEAD_ORDER[k]} is not the mean of its relevance`);
          break;
        }
      }
      if (!close(total / (samples * leads), result.analysis.meanRelevance, 0, slack / (samples * leads) + 1e-300)) problems.push('meanRelevance is not the mean of the relevance');
    }
  }
  return problems;
}

function invalid(message: string): LeadlightError {
  return new LeadlightError('result_invalid', message);
}


/**
 * The whole check of a shared result's body (issue 15's `POST /api/results`), as one pure step so the Worker and
 * the share bench (functions/worker/bench-entry.ts `/share`) run the same code: strict UTF-8, JSON, the one schema,
 * `provenance.computedIn: "browser"`, no live cohort, an installed model, and no contradiction
 * (`resultInconsistencies`). Returns the text as received (stored as is) and the parsed result. Throws
 * `request_invalid` (no JSON) or `result_invalid` with what is wrong.
 */
export function parseSharedResult(body: Uint8Array, models: readonly InstalledModel[]): { json: string; result: Result } {
  let json: string;
  let value: unknown;
  try {
    // An ASCII body (non-ASCII characters written as \u escapes, as the share client sends it: ./json-ascii.ts) decodes
    // ~50× faster in workerd than one holding a few non-ASCII characters: 0.1 vs 5.2 ms of CPU for a 3.8 MiB result.
    json = new TextDecoder('utf-8', { fatal: true }).decode(body);
    value = JSON.parse(json);
  } catch {
    throw new LeadlightError('request_invalid', 'The body is not JSON; send the result JSON of an analysis (Content-Type: application/json).');
  }
  let result: Result;
  try {
    result = checkResult(value);
  } catch (e) {
    throw invalid(`The result does not match the result schema: ${(e instanceof Error ? e.message : '').replace(/^result does not match schema \d+: /u, '').slice(0, 300)}`);
  }
  if (result.provenance?.computedIn !== 'browser') {
    throw invalid('A shared result must say where it was computed (provenance.computedIn: "browser"); results computed by Leadlight are stored by their analysis.');
  }
  if ((result as Record<string, unknown>).cohort !== undefined) throw invalid('A shared result cannot join a live cohort; remove the field "cohort".');
  const model = models.find((m) => m.id === result.model.id && m.status === 'available');
  if (!model) throw invalid(`The result names the model "${result.model.id.slice(0, 80)}", which this deployment does not have.`);
  const problems = resultInconsistencies(result, model);
  if (problems.length) throw invalid(`The result contradicts itself or its model: ${problems.slice(0, 3).join('; ')}.`);
  return { json, result };
}
