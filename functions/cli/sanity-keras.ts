/**
 * The Keras side of the sanity check (issue 16, item 2; Adebayo et al., NeurIPS 2018, "Sanity checks for saliency
 * maps", §3.1, cascading randomisation): reading and writing a Keras 2 HDF5 file (h5wasm) and the randomised files
 * of the cascade. Used by `leadlight sanity` / `cohort --sanity` (./sanity.ts) and by the install step
 * (models/install.ts), which writes the server-side check's randomised weights from the same draws. It imports
 * nothing of the install step, so the install step can load it while it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { type KerasLayer, cascadeBlocks, randomiseLayer } from '../core/analysis/sanity-cascade.ts';
import { LeadlightError } from '../core/errors.ts';
import { seededRandom } from '../core/random.ts';

export interface KerasFile {
  attrs: Record<string, string>;
  layerNames: string[];
  layers: KerasLayer[];
}

/** Reads a Keras 2 HDF5 model file: root attributes, and per layer its config and weights in `weight_names` order. */
export async function readKeras(path: string): Promise<KerasFile> {
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
export async function writeKeras(path: string, file: KerasFile): Promise<void> {
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

/** One randomised Keras file of the cascade: written to `path` (in `workDir`), removed when the next is asked for. */
export interface RandomisedKerasFile {
  index: number;
  /** The layer this step randomised first (its BatchNormalization layers go with it). */
  layer: string;
  /** Layers randomised so far, this step's included. */
  randomised: string[];
  path: string;
  workDir: string;
}

/**
 * The Keras files of the cascading randomisation of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency maps",
 * §3.1): one more Conv1D/Dense layer (with its BatchNormalization layers) redrawn per step, output layer first, from
 * one stream seeded with `seed`. `leadlight sanity` converts and explains each; the install step (models/install.ts)
 * converts each into the weights files the server-side check loads — the same draws, so the same randomised models.
 */
export async function* randomisedKerasFiles(kerasPath: string, seed: number): AsyncGenerator<RandomisedKerasFile> {
  const keras = await readKeras(kerasPath);
  const work = mkdtempSync(join(tmpdir(), 'leadlight-sanity-'));
  const rand = seededRandom(seed);
  const layers = [...keras.layers];
  const randomised: string[] = [];
  try {
    for (const [k, block] of cascadeBlocks(keras.layers).entries()) {
      for (const i of block) {
        layers[i] = randomiseLayer(layers[i], rand);
        randomised.push(layers[i].name);
      }
      const path = join(work, `step-${k}.h5`);
      await writeKeras(path, { ...keras, layers });
      try {
        yield { index: k, layer: layers[block[0]].name, randomised: [...randomised], path, workDir: work };
      } finally {
        rmSync(path, { force: true });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

