/**
 * `leadlight sanity FILE... [--model ID] [--method METHOD] [--class NAME] [--steps N|auto] [--seed N] [--weights FILE]` (issue 16,
 * item 2): the model-parameter randomisation test of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency
 * maps", §3.1, cascading randomisation). The model's layers with weights are randomised from the output layer
 * downwards, one more at each step (a Conv1D/Dense layer together with the BatchNormalization layers that follow it
 * in the layer list); weights are redrawn from the layer's own Keras initialiser (its `*_initializer` config:
 * VarianceScaling/Glorot/He/Lecun, normal, uniform, constants), seeded. Each randomised Keras file is converted by the
 * install step's own converter, the record is explained again for the same class, and the map is compared with the
 * original: Spearman's ρ of |relevance| and SSIM (functions/core/analysis/sanity-metrics.ts). Prints JSON.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import { absRanks, normalisedAbs, spearmanOfRanks, ssim } from '../core/analysis/sanity-metrics.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { analyzeEcg, selectModel } from '../core/pipeline.ts';
import { seededRandom } from '../core/random.ts';
import { type Result, decodeFloat32 } from '../core/result.ts';
import { createNodeRuntime, loadInstalledModels, repoRoot } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { installModel, loadSourceManifest } from '../../models/install.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions, parseRuntime } from './args.ts';

interface Initialiser {
  class_name: string;
  config?: Record<string, unknown>;
}

interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Weight name (as in `weight_names`, e.g. `conv1d/kernel:0`) → shape and values. */
  weights: { name: string; shape: number[]; data: Float32Array }[];
}

interface KerasFile {
  attrs: Record<string, string>;
  layerNames: string[];
  layers: KerasLayer[];
}

/** Reads a Keras 2 HDF5 model file: root attributes, and per layer its config and weights in `weight_names` order. */
async function readKeras(path: string): Promise<KerasFile> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'r');
  try {
    const attrs: Record<string, string> = {};
    for (const key of ['keras_version', 'backend', 'model_config']) {
      const v = f.attrs[key]?.value;
      if (v !== undefined) attrs[key] = String(v);
    }
    if (!attrs.model_config) throw new LeadlightError('model_file_invalid', 'The HDF5 file has no model_config attribute; give a full Keras model file.');
    type LayerConfig = { class_name: string; config: Record<string, unknown>; name?: string };
    const config = JSON.parse(attrs.model_config) as { config: { layers: LayerConfig[] } | LayerConfig[] };
    const layerConfigs = Array.isArray(config.config) ? config.config : config.config.layers;
    const root = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
    const layerNames = (root.attrs['layer_names']?.value as string[] | undefined) ?? [];
    const layers = layerConfigs.map((l) => {
      const name = (l.config.name as string | undefined) ?? l.name ?? '';
      const group = root.get(name) as InstanceType<typeof h5wasm.Group> | null;
      const names = (group?.attrs['weight_names']?.value as string[] | undefined) ?? [];
      const weights = names.map((wname) => {
        const ds = group!.get(wname) as InstanceType<typeof h5wasm.Dataset>;
        return { name: wname, shape: [...(ds.shape ?? [])].map(Number), data: Float32Array.from(ds.value as ArrayLike<number>) };
      });
      return { name, className: l.class_name, config: l.config, weights };
    });
    return { attrs, layerNames, layers };
  } finally {
    f.close();
  }
}

/** Writes a Keras 2 HDF5 model file in the layout Keras' model.save() uses (and the converter reads). */
async function writeKeras(path: string, file: KerasFile): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  try {
    for (const [k, v] of Object.entries(file.attrs)) f.create_attribute(k, v);
    const root = f.create_group('model_weights');
    root.create_attribute('layer_names', file.layerNames.length ? file.layerNames : file.layers.map((l) => l.name));
    for (const layer of file.layers) {
      if (layer.weights.length === 0) continue; // as the converter reads it: no group, no weights
      const g = root.create_group(layer.name);
      g.create_attribute('weight_names', layer.weights.map((w) => w.name));
      for (const w of layer.weights) {
        // Intermediate groups of the weight name (e.g. `conv1d/` of `conv1d/kernel:0`).
        const parts = w.name.split('/');
        let parent = g;
        for (const part of parts.slice(0, -1)) parent = (parent.get(part) as typeof g | null) ?? parent.create_group(part);
        parent.create_dataset({ name: parts[parts.length - 1], data: w.data, shape: w.shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
}

/** Standard normal draws (Box–Muller) from the seeded uniform generator. */
function normal(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * New values for one weight from its Keras initialiser (Keras 2 `initializers.py`): fans of a kernel
 * [k…, in, out] are k·in and k·out; VarianceScaling draws with variance scale / n (n = fan_in, fan_out or their
 * mean), `normal`/`truncated_normal` as a normal truncated at 2 σ with σ = √(scale/n) / 0.8796 (Keras' correction),
 * `untruncated_normal` plainly, `uniform` from ±√(3 scale / n).
 */
export function drawFromInitialiser(init: Initialiser | undefined, shape: number[], rand: () => number, where: string): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const c = init?.config ?? {};
  const receptive = shape.length > 2 ? shape.slice(0, -2).reduce((a, b) => a * b, 1) : 1;
  const fanIn = shape.length >= 2 ? shape[shape.length - 2] * receptive : size;
  const fanOut = shape.length >= 2 ? shape[shape.length - 1] * receptive : size;
  const truncated = (sd: number, mean = 0) => {
    for (let i = 0; i < size; i++) {
      let z = normal(rand);
      while (Math.abs(z) > 2) z = normal(rand);
      out[i] = mean + sd * z;
    }
    return out;
  };
  const variance = (scale: number, mode: string, distribution: string) => {
    const n = mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2;
    if (distribution === 'uniform') {
      const limit = Math.sqrt((3 * scale) / n);
      for (let i = 0; i < size; i++) out[i] = (2 * rand() - 1) * limit;
      return out;
    }
    if (distribution === 'untruncated_normal') {
      const sd = Math.sqrt(scale / n);
      for (let i = 0; i < size; i++) out[i] = sd * normal(rand);
      return out;
    }
    return truncated(Math.sqrt(scale / n) / 0.87962566103423978);
  };
  switch (init?.class_name) {
    case 'Zeros':
      return out;
    case 'Ones':
      return out.fill(1);
    case 'Constant':
      return out.fill(Number(c.value ?? 0));
    case 'RandomNormal':
      for (let i = 0; i < size; i++) out[i] = Number(c.mean ?? 0) + Number(c.stddev ?? 0.05) * normal(rand);
      return out;
    case 'RandomUniform':
      for (let i = 0; i < size; i++) out[i] = Number(c.minval ?? -0.05) + (Number(c.maxval ?? 0.05) - Number(c.minval ?? -0.05)) * rand();
      return out;
    case 'TruncatedNormal':
      return truncated(Number(c.stddev ?? 0.05), Number(c.mean ?? 0));
    case 'VarianceScaling':
      return variance(Number(c.scale ?? 1), String(c.mode ?? 'fan_in'), String(c.distribution ?? 'normal'));
    case 'GlorotUniform':
      return variance(1, 'fan_avg', 'uniform');
    case 'GlorotNormal':
      return variance(1, 'fan_avg', 'truncated_normal');
    case 'HeNormal':
      return variance(2, 'fan_in', 'truncated_normal');
    case 'HeUniform':
      return variance(2, 'fan_in', 'uniform');
    case 'LecunNormal':
      return variance(1, 'fan_in', 'truncated_normal');
    case 'LecunUniform':
      return variance(1, 'fan_in', 'uniform');
    default:
      throw new LeadlightError('model_layer_unsupported', `Layer ${where} has the initialiser ${init?.class_name ?? '(none)'}, which the sanity check cannot redraw.`);
  }
}

/** The randomisation steps: Conv1D/Dense layers with the BatchNormalization layers after them, output layer first. */
function cascadeBlocks(layers: KerasLayer[]): number[][] {
  const blocks: number[][] = [];
  layers.forEach((l, i) => {
    if (l.weights.length === 0) return;
    if (l.className === 'BatchNormalization' && blocks.length > 0) blocks[blocks.length - 1].push(i);
    else blocks.push([i]);
  });
  return blocks.reverse();
}

function randomiseLayer(layer: KerasLayer, rand: () => number): KerasLayer {
  return {
    ...layer,
    weights: layer.weights.map((w) => {
      const key = w.name.split('/').pop()!.replace(/:\d+$/u, '');
      return { ...w, data: drawFromInitialiser(layer.config[`${key}_initializer`] as Initialiser | undefined, w.shape, rand, `"${layer.name}" (${key})`) };
    }),
  };
}

export interface SanityStep {
  /** Layers randomised so far (this step's first). */
  randomised: string[];
  spearmanAbs: number | null;
  ssim: number;
  completeness: { sum: number; expected: number };
  logit: number;
}

export async function runSanity(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    model: { type: 'string' },
    method: { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    weights: { type: 'string' },
    runtime: { type: 'string' },
    out: { type: 'string' },
  });
  const runtimeKind = parseRuntime(values.runtime, ['native', 'wasm']) as 'wasm' | 'native';
  const steps = values.steps === 'auto' ? ('auto' as const) : parseIntegerOption(values.steps, 'steps');
  const seed = parseIntegerOption(values.seed, 'seed') ?? 16;
  const files = gatherRecordFiles(positionals);
  const { models: installed, buildDir: originalBuildDir } = await modelsWithUserWeights(loadInstalledModels(), values.model, values.weights);
  const model = selectModel(installed, values.model);
  const manifest = loadSourceManifest(model.id);
  // The Keras file to randomise: --weights, else the shared copy the install step found.
  const kerasPath = values.weights ? resolve(values.weights) : join(process.env.LEADLIGHT_SHARED ? resolve(process.env.LEADLIGHT_SHARED) : resolve(repoRoot, '../shared'), 'models', model.id, manifest.source.sharedFileName);
  if (!existsSync(kerasPath)) throw new LeadlightError('model_unavailable', `The sanity check needs the Keras file of ${model.id}; give it with --weights FILE.`);
  const keras = await readKeras(kerasPath);
  const method = values.method ?? 'ig';
  const request = (className: string | undefined) => ({ model: model.id, method, class: className, ...(method === 'ig' && steps !== undefined ? { steps } : {}) });

  const original = await analyzeEcg(files, request(values.class), { runtime: createNodeRuntime(runtimeKind, originalBuildDir), models: installed, faithfulness: false });
  const className = original.attribution.class;
  const signalSamples = (original.input as { signalSamples?: number }).signalSamples ?? original.input.samples;
  const originalMap = decodeFloat32(original.attribution.relevance);
  const originalRanks = absRanks(originalMap, signalSamples);
  const originalImage = normalisedAbs(originalMap, signalSamples);

  const work = mkdtempSync(join(tmpdir(), 'leadlight-sanity-'));
  const rand = seededRandom(seed);
  const layers = [...keras.layers];
  const result: SanityStep[] = [];
  try {
    const randomised: string[] = [];
    for (const [k, block] of cascadeBlocks(keras.layers).entries()) {
      for (const i of block) {
        layers[i] = randomiseLayer(layers[i], rand);
        randomised.push(layers[i].name);
      }
      const path = join(work, `step-${k}.h5`);
      await writeKeras(path, { ...keras, layers });
      const buildDir = join(work, `build-${k}`);
      const converted: InstalledModel = await installModel(manifest, { buildDir, weights: { [model.id]: path } });
      if (converted.status !== 'available') throw new LeadlightError('model_layout_mismatch', converted.reason ?? 'The randomised model could not be converted.');
      const runtime = createNodeRuntime(runtimeKind, buildDir);
      const again: Result = await analyzeEcg(files, request(className), { runtime, models: [converted], faithfulness: false });
      await runtime.release();
      rmSync(buildDir, { recursive: true, force: true });
      const map = decodeFloat32(again.attribution.relevance);
      result.push({
        randomised: [...randomised],
        spearmanAbs: spearmanOfRanks(originalRanks, absRanks(map, signalSamples)),
        ssim: ssim(originalImage, normalisedAbs(map, signalSamples), signalSamples, 12),
        completeness: { sum: again.attribution.completeness.sum, expected: again.attribution.completeness.expected },
        logit: again.prediction.logits[className],
      });
      process.stderr.write(`[${k + 1}] randomised down to ${layers[block[0]].name}: ρ(|R|) ${result[result.length - 1].spearmanAbs?.toFixed(3)}, SSIM ${result[result.length - 1].ssim.toFixed(3)}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const report = {
    record: original.record.name,
    model: model.id,
    method,
    class: className,
    steps: original.attribution.steps,
    seed,
    cascade: 'output layer first; each step randomises one more Conv1D/Dense layer (with its BatchNormalization layers) from its Keras initialiser',
    metrics: 'spearmanAbs: Spearman ρ of |relevance| against the original map; ssim: SSIM of the maps as |relevance| / max (scikit-image defaults); signal samples × 12 leads, padding excluded',
    original: { logit: original.prediction.logits[className], completeness: original.attribution.completeness },
    cascadeSteps: result,
  };
  const json = `${JSON.stringify(report, null, 1)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else process.stdout.write(json);
  return 0;
}
