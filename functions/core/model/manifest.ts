/**
 * Model manifests: everything preprocessing, inference and reporting need to know about a model, so no code
 * hard-codes a model. Source manifests live in models/manifests/<id>.json (committed); the install step writes
 * models/build/<id>/manifest.json with the graphs it generated and the model's availability.
 *
 * Graph contract (all float32, batch dimension N dynamic):
 * - `classifier`: input `x` [N, samples, 12] (mV, LEAD_ORDER) → outputs `logits` [N, C], `probabilities` [N, C].
 * - `gradient`:   inputs `x` [N, samples, 12], `seed` [N, C] → outputs `logits` [N, C] and
 *                 `grad` [N, samples, 12] = ∂(Σ_c seed[n,c]·logits[n,c]) / ∂x[n]. A seed row with a NaN means the
 *                 one-hot seed of that row's largest logit (classify and explain the top class in one
 *                 run); an all-zero seed skips the backward pass (classify only, at the cost of a forward pass).
 * - `gradient-lowmem`: the same contract as `gradient`, built to derive each backward kernel just before use; the
 *                 lean WASM runtime (Worker, browser) uses it instead of `gradient` (no constant folding there, and a
 *                 128 MB isolate).
 * - `gradient-wasm`: the `gradient` contract with the long stride-1 convolutions' input gradients in spectral form
 *                 (faster in onnxruntime-web, slower natively); WASM in Node uses it instead of `gradient`.
 * - `lrp-epsilon`, `lrp-alpha1-beta0`: inputs `x`, `seed` [N, C] (relevance put on the output: seed·logit) →
 *                 outputs `logits` [N, C] and `relevance` [N, samples, 12].
 * Weights are ONNX external data: `weightsFile` for the classifier and gradient graphs (BatchNormalization folded
 * into the kernels), and the file named in `weightsFiles` for graphs that need other weights (the LRP graphs).
 */
import type { LeadName } from '../record.ts';

/**
 * Version of the graphs the converter writes (models/install.ts converts again when it changes). The pipeline
 * refuses graphs of another version: the graph contract above changes with it (e.g. the NaN seed of version 9).
 */
export const CONVERTER_VERSION = '13';

export type GraphKind = 'classifier' | 'gradient' | 'gradient-wasm' | 'gradient-lowmem' | 'lrp-epsilon' | 'lrp-alpha1-beta0';

export interface ModelSource {
  /** Where the published file comes from (landing page or DOI). */
  url: string;
  /** Direct download URLs tried in order by the install step. */
  downloadUrls: string[];
  /** File name inside the download (a zip member, e.g. `model/model.hdf5`) or the file itself. */
  file: string;
  sizeBytes: number;
  sha256?: string;
  /** Git blob id: sha1 of "blob <size>\0" + bytes. */
  gitBlobSha1?: string;
  /** Environment variable that may point at a local copy of the file. */
  envVar: string;
  /** File name looked for under ../shared/models/<id>/ (or a user-given directory). */
  sharedFileName: string;
}

export interface ModelManifest {
  id: string;
  title: string;
  description: string;
  citation: string;
  licence: string;
  source: ModelSource;
  input: {
    samplingRateHz: number;
    samples: number;
    leads: LeadName[];
    units: 'mV';
    /** The window rule: the first `samples` samples after resampling, zero-padded at the end when shorter. */
    window: 'first-samples-zero-pad-end';
  };
  classes: string[];
  thresholds: number[];
  /** Activation after the logits; attribution targets the logit (pre-activation). */
  outputActivation: 'sigmoid';
  /** Mode of `ig` without --steps for this model (see the performance issue). */
  defaultIgSteps: number;
}

/** The manifest the install step writes beside the generated graphs. */
export interface InstalledModel extends ModelManifest {
  status: 'available' | 'unavailable';
  /** Why the model is unavailable and how to provide it (when status is 'unavailable'). */
  reason?: string;
  /** Graph files relative to the model's build folder, by kind. */
  graphs: Partial<Record<GraphKind, string>>;
  weightsFile?: string;
  /** The external-data file of each graph, when graphs use different files; `weightsFile` otherwise. */
  weightsFiles?: Partial<Record<GraphKind, string>>;
  weightsBytes?: number;
  /** Hash of the Keras file actually converted, and whether it is the published one. */
  converted?: { fromFile: string; sha256: string; sizeBytes: number; published: boolean; at: string };
  parameters?: number;
  /** Version of the converter that wrote the graphs (a newer converter rebuilds them). */
  converterVersion?: string;
  /** Notes of the install step, e.g. that the converted file is not the published one. */
  warnings?: string[];
}
