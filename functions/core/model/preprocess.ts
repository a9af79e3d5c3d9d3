/**
 * Turns a record into a model's input, as the model's manifest says: resample to the model's rate with
 * `resample_poly` (Ribeiro: 500 → 400 Hz, as Bender et al. 2023 do), keep samples in mV in the fixed lead order,
 * then the paper's window rule — the first N samples, zero-padded at the end when the record is shorter.
 */
import type { EcgRecord } from '../record.ts';
import { LEAD_ORDER } from '../record.ts';
import { planResamplePoly, resamplePoly, resampleRatio } from '../signal/resample.ts';
import type { ModelManifest } from './manifest.ts';

export interface ModelInput {
  /** Row-major [samples, 12] float32, mV, LEAD_ORDER. */
  data: Float32Array;
  samples: number;
  samplingRateHz: number;
  /** Start of the window in seconds from the start of the recording (the paper's rule: always 0). */
  startS: number;
  /** Samples of the window that hold signal; the rest (`samples − signalSamples`) are zero padding. */
  signalSamples: number;
  resampling: { fromHz: number; toHz: number; up: number; down: number } | null;
}

/** Prepares the model input from a record (Bender et al. 2023, "Model and input"). */
export function prepareModelInput(record: EcgRecord, manifest: Pick<ModelManifest, 'input'>): ModelInput {
  const { samplingRateHz: toHz, samples: windowSamples, leads } = manifest.input;
  const fromHz = record.samplingRateHz;
  const same = Math.abs(fromHz - toHz) < 1e-9;
  const { up, down } = same ? { up: 1, down: 1 } : resampleRatio(fromHz, toHz);
  const resampledLength = Math.ceil((record.samples * up) / down);
  const signalSamples = Math.min(windowSamples, resampledLength);
  // Only the first input samples that reach the window matter; a prefix of the output equals cropping.
  const neededInput = same ? signalSamples : record.samples;
  const plan = same ? undefined : planResamplePoly(neededInput, up, down);
  const data = new Float32Array(windowSamples * leads.length);
  leads.forEach((lead, j) => {
    const index = LEAD_ORDER.indexOf(lead);
    const source = record.signalsMv[index];
    const values = same ? source.subarray(0, signalSamples) : resamplePoly(source, up, down, signalSamples, plan);
    for (let n = 0; n < signalSamples; n++) data[n * leads.length + j] = values[n];
  });
  return {
    data,
    samples: windowSamples,
    samplingRateHz: toHz,
    startS: 0,
    signalSamples,
    resampling: same ? null : { fromHz, toHz, up, down },
  };
}
