/**
 * Turns a record into a model's input, as the model's manifest says: resample to the model's rate with
 * `resample_poly` (Ribeiro: 500 → 400 Hz, as Bender et al. 2023 do), keep samples in mV in the fixed lead order,
 * then the paper's window rule — the first N samples, zero-padded at the end when the record is shorter.
 * Each of these is also listed as a step (`ModelInput.steps`; issue 16, item 7, "what the model saw").
 */
import type { EcgRecord, PreprocessingStep } from '../record.ts';
import { LEAD_ORDER, numberText } from '../record.ts';
import { planResamplePoly, polyphaseFilter, resamplePoly, resampleRatio } from '../signal/resample.ts';
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
  /** The steps from the record's 12 leads to this input, in order: resample, window, pad (when padded), layout. */
  steps?: PreprocessingStep[];
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
  const resampling = same ? null : { fromHz, toHz, up, down };
  return {
    data,
    samples: windowSamples,
    samplingRateHz: toHz,
    startS: 0,
    signalSamples,
    resampling,
    steps: modelInputSteps({ recordSamples: record.samples, fromHz, toHz, resampling, resampledLength, windowSamples, signalSamples, leads }),
  };
}

/**
 * The steps from a record's 12 leads to the model input, as `prepareModelInput` performs them: polyphase resampling
 * with SciPy's `resample_poly` anti-aliasing filter (Bender et al. 2023 resample with `resample_poly`), the paper's
 * window (the first N samples from 0 s), the zero padding at its end — whose relevance every summary masks — and
 * the tensor's layout.
 */
export function modelInputSteps(o: {
  recordSamples: number;
  fromHz: number;
  toHz: number;
  resampling: ModelInput['resampling'];
  resampledLength: number;
  windowSamples: number;
  signalSamples: number;
  leads: readonly string[];
}): PreprocessingStep[] {
  const steps: PreprocessingStep[] = [];
  const hz = (v: number) => `${numberText(v)} Hz`;
  const s = (samples: number, fs: number) => `${numberText(samples / fs)} s`;
  if (o.resampling) {
    const f = polyphaseFilter(o.resampling.up, o.resampling.down);
    // Cutoff at the upsampled rate fromHz·up: cutoff × its Nyquist (= the lower of the two Nyquist frequencies).
    const cutoffHz = f.cutoff * ((o.fromHz * f.up) / 2);
    steps.push({
      step: 'resample',
      description:
        `Resampled ${hz(o.fromHz)} → ${hz(o.toHz)} (× ${f.up}/${f.down}, polyphase, as scipy.signal.resample_poly): ` +
        `low-pass FIR of ${f.taps} taps, Kaiser window β = ${f.beta}, cutoff ${numberText(cutoffHz)} Hz; ` +
        `${o.recordSamples} → ${o.resampledLength} samples.`,
      fromHz: o.fromHz,
      toHz: o.toHz,
      up: f.up,
      down: f.down,
      filter: { design: 'firwin', window: 'kaiser', beta: f.beta, taps: f.taps, cutoffHz },
      samples: o.resampledLength,
    });
  } else {
    steps.push({ step: 'resample', description: `Already at the model's ${hz(o.toHz)}: not resampled.`, fromHz: o.fromHz, toHz: o.toHz, up: 1, down: 1, filter: null, samples: o.recordSamples });
  }
  const unseen = Math.max(0, o.resampledLength - o.windowSamples);
  steps.push({
    step: 'window',
    description:
      `Window: the first ${o.windowSamples} samples (${s(o.windowSamples, o.toHz)}) from 0 s, as the paper; ` +
      (unseen > 0 ? `the last ${s(unseen, o.toHz)} of the recording (${unseen} samples) are not seen by the model.` : `the whole recording (${s(o.signalSamples, o.toHz)}) is inside it.`),
    fromSample: 0,
    toSample: o.signalSamples,
    samples: o.windowSamples,
    startS: 0,
    endS: o.windowSamples / o.toHz,
    unseenS: unseen / o.toHz,
  });
  const padded = o.windowSamples - o.signalSamples;
  if (padded > 0) {
    steps.push({
      step: 'pad',
      description:
        `Zero padding: samples ${o.signalSamples}–${o.windowSamples - 1} (${s(o.signalSamples, o.toHz)}–${s(o.windowSamples, o.toHz)}, ${s(padded, o.toHz)}) set to 0 mV in every lead; ` +
        'their relevance is masked (counted as 0) in every summary, and the map greys them.',
      fromSample: o.signalSamples,
      toSample: o.windowSamples,
      samples: padded,
      startS: o.signalSamples / o.toHz,
      endS: o.windowSamples / o.toHz,
      masked: true,
    });
  }
  steps.push({
    step: 'layout',
    description: `Model input: float32 [${o.windowSamples}, ${o.leads.length}] in mV (no further scaling or filtering), leads ${o.leads.join(', ')}.`,
    shape: [o.windowSamples, o.leads.length],
    units: 'mV',
    leads: [...o.leads],
  });
  return steps;
}
