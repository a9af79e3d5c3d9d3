// Relevance on zero padding is masked in every summary (issue 16, item 7): a real LUDB record cut to 6 s is padded
// to the Ribeiro window (2400 of 4096 samples hold signal); planting arbitrary relevance on the 1696 padded rows
// must change none of the summaries — mean and lead relevance, average beats, waves and criteria, the faithfulness
// ranking, the method-agreement and sanity metrics, the cohort member summary and the shared-result check.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ecgDir } from '../../helpers/paths.ts';
import { analyseRelevance, analyseSignal } from '../../../functions/core/analysis/record-analysis.ts';
import { summariseResult } from '../../../functions/core/analysis/cohort-members.ts';
import { methodAgreement } from '../../../functions/core/analysis/method-agreement.ts';
import { summariseRelevance } from '../../../functions/core/analysis/relevance.ts';
import { compareWithReference, sanityReference } from '../../../functions/core/analysis/sanity-metrics.ts';
import { rankByRelevance } from '../../../functions/core/attribution/faithfulness.ts';
import type { InstalledModel } from '../../../functions/core/model/manifest.ts';
import { prepareModelInput } from '../../../functions/core/model/preprocess.ts';
import { seededRandom } from '../../../functions/core/random.ts';
import { LEAD_ORDER, type EcgRecord } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { resultInconsistencies } from '../../../functions/core/result-consistency.ts';
import { type Result, RESULT_SCHEMA_VERSION, encodeFloat32 } from '../../../functions/core/result.ts';

const LUDB = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
const file = (path: string) => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const LEADS = LEAD_ORDER.length;
const MODEL = {
  id: 'ribeiro2020',
  classes: ['1dAVb', 'RBBB', 'LBBB', 'SB', 'AF', 'ST'],
  thresholds: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
  input: { samplingRateHz: 400, samples: 4096, leads: [...LEAD_ORDER], units: 'mV' as const, window: 'first-samples-zero-pad-end' as const },
};

/** LUDB record 1 (500 Hz, 10 s) cut to its first 6 s: 3000 samples → 2400 at 400 Hz, 1696 padded. */
async function shortRecord(): Promise<EcgRecord> {
  const full = await readEcg([file(`${LUDB}/1.hea`), file(`${LUDB}/1.dat`)]);
  const samples = 6 * full.samplingRateHz;
  return { ...full, samples, signalsMv: full.signalsMv.map((s) => s.slice(0, samples)) };
}

/** A map shaped like an explanation on the signal (x · noise, seeded), zero on the padding, and a copy with junk planted there. */
function maps(data: Float32Array, signalSamples: number, seed: number): { clean: Float32Array; planted: Float32Array } {
  const random = seededRandom(seed);
  const clean = new Float32Array(data.length);
  for (let i = 0; i < signalSamples * LEADS; i++) clean[i] = data[i] * (random() - 0.3);
  const planted = clean.slice();
  for (let i = signalSamples * LEADS; i < planted.length; i++) planted[i] = (random() - 0.5) * 1e3 + (i % 7 === 0 ? 5e4 : 0);
  return { clean, planted };
}

function resultOf(record: EcgRecord, input: ReturnType<typeof prepareModelInput>, relevance: Float32Array, analysis: ReturnType<typeof analyseRelevance>): Result {
  let sum = 0;
  for (const v of relevance) sum += v;
  return {
    schema: RESULT_SCHEMA_VERSION,
    record: { name: 'LUDB 1, first 6 s', format: record.format, samplingRateHz: record.samplingRateHz, durationS: 6, leads: [...LEAD_ORDER], warnings: [] },
    model: { id: MODEL.id, classes: MODEL.classes, thresholds: MODEL.thresholds },
    input: { samplingRateHz: input.samplingRateHz, samples: input.samples, startS: 0, signalSamples: input.signalSamples, paddedSamples: input.samples - input.signalSamples },
    prediction: { probabilities: Object.fromEntries(MODEL.classes.map((c) => [c, 0.3])), logits: Object.fromEntries(MODEL.classes.map((c) => [c, -0.8])), positive: [] },
    attribution: { method: 'gradient', class: 'AF', target: 'logit', baseline: 'zeros', steps: 0, relevance: encodeFloat32(relevance, [input.samples, LEADS]), completeness: { sum, expected: sum } },
    analysis,
    timingsMs: {},
    provenance: { computedIn: 'browser' },
  } as Result;
}

describe('relevance on zero padding is masked in every summary', () => {
  it('plants arbitrary relevance on the padding of a short LUDB record and changes no summary', async () => {
    const record = await shortRecord();
    const input = prepareModelInput(record, MODEL);
    expect(input.signalSamples).toBe(2400);
    expect(input.steps?.find((s) => s.step === 'pad')).toMatchObject({ fromSample: 2400, toSample: 4096, samples: 1696, masked: true });
    const signal = analyseSignal(record, input);
    const { clean, planted } = maps(input.data, input.signalSamples, 16);

    // The per-record analyses: M_n, M_n,k, average beats (both alignments), waves, criteria.
    const a = analyseRelevance(signal, input, clean, 'AF');
    const b = analyseRelevance(signal, input, planted, 'AF');
    expect(b).toEqual(a);
    // Not vacuous: the record has beats and waves in the window, and an unmasked mean would have moved.
    expect(a.beats.averageBeat?.beats).toBeGreaterThanOrEqual(3);
    expect(a.waves.beatsInWindow).toBeGreaterThanOrEqual(3);
    expect(summariseRelevance(planted, input.samples).meanRelevance).not.toBeCloseTo(a.meanRelevance, 6);
    // The paper's M_n keeps its denominator (the whole input): with zero padding the masked mean is the plain one.
    expect(summariseRelevance(clean, input.samples)).toEqual({ ...summariseRelevance(clean, input.samples, input.signalSamples), signalSamples: input.samples });

    // Faithfulness ranks only the recording's samples.
    expect(Array.from(rankByRelevance(planted, input.signalSamples, LEADS))).toEqual(Array.from(rankByRelevance(clean, input.signalSamples, LEADS)));

    // Method agreement and the sanity metrics compare the recording's samples only.
    const other = maps(input.data, input.signalSamples, 17);
    const withMap = (relevance: Float32Array, method: string, leadRelevance: Record<string, number>) => ({ method, relevance, leadRelevance });
    const otherLeads = summariseRelevance(other.clean, input.samples, input.signalSamples).leadRelevance;
    expect(methodAgreement([withMap(planted, 'x', b.leadRelevance), withMap(other.planted, 'y', otherLeads)], input.signalSamples)).toEqual(
      methodAgreement([withMap(clean, 'x', a.leadRelevance), withMap(other.clean, 'y', otherLeads)], input.signalSamples),
    );
    expect(compareWithReference(sanityReference(planted, input.signalSamples), other.planted)).toEqual(
      compareWithReference(sanityReference(clean, input.signalSamples), other.clean),
    );

    // The cohort member summary (cohort.json records, live cohorts) and the check of a shared browser result.
    const cleanResult = resultOf(record, input, clean, a);
    const plantedResult = resultOf(record, input, planted, b);
    // (Completeness is the attribution's own check over the whole input, Σ relevance vs f(x) − f(0), not a summary.)
    const { timingsMs: _t1, completeness: _c1, ...cleanSummary } = summariseResult(cleanResult, 'AF');
    const { timingsMs: _t2, completeness: _c2, ...plantedSummary } = summariseResult(plantedResult, 'AF');
    expect(plantedSummary).toEqual(cleanSummary);
    const model = { ...MODEL, status: 'available' } as unknown as InstalledModel;
    expect(resultInconsistencies(plantedResult, model).filter((p) => /relevance/u.test(p))).toEqual([]);
    expect(resultInconsistencies(resultOf(record, input, planted, a), model).filter((p) => /relevance/u.test(p))).toEqual([]);
  });
});
