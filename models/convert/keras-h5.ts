/**
 * Reads a Keras 2.x HDF5 model file (the `model.save()` layout of Keras 2.2–2.x): the `model_config` attribute of
 * the root group (JSON of a functional `Model` or a `Sequential`) and the weights of every layer under
 * `model_weights/<layer>/`, in the order of that group's `weight_names` attribute.
 * Layout reference: keras/engine/saving.py (Keras 2.2.4) `save_model` / `load_weights_from_hdf5_group`.
 * Runs in Node (h5wasm's Node build reads the file through the real file system).
 */
import h5wasm from 'h5wasm/node';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { LeadlightError } from '../../functions/core/errors.ts';

/** One weight array of a layer, row-major, with its HDF5 name (e.g. `conv1d_1/kernel:0`). */
export interface KerasWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A layer of the model config, with the names of the layers it takes its inputs from. */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inbound: string[];
}

export interface KerasModelFile {
  kerasVersion: string;
  backend: string;
  /** 'Model' (functional) or 'Sequential'. */
  modelClass: string;
  /** Layers in a topological order (functional models: the order of the config, checked). */
  layers: KerasLayer[];
  /** Name of the model input layer and output layer. */
  inputLayer: string;
  outputLayer: string;
  /** Input shape without the batch dimension, e.g. [4096, 12] (null entries mean "any"). */
  inputShape: (number | null)[];
  /** Weights by layer name, in `weight_names` order. */
  weights: Map<string, KerasWeight[]>;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

let h5Ready: Promise<unknown> | undefined;

/**
 * Reads the start of the file: whether it has the HDF5 signature at offset 0 and the end-of-file address the
 * superblock declares (HDF5 File Format Specification, section II.A, superblock versions 0–3), or undefined.
 */
function probeHdf5(path: string): { signature: boolean; declaredEof: number | undefined } {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(128);
    const n = readSync(fd, head, 0, head.length, 0);
    const signature = n >= 8 && HDF5_SIGNATURE.every((b, i) => head[i] === b);
    if (!signature || n < 12) return { signature, declaredEof: undefined };
    const view = new DataView(head.buffer);
    const version = head[8]!;
    let sizeOfOffsets: number;
    let baseAt: number;
    if (version === 0 || version === 1) {
      sizeOfOffsets = head[13]!;
      baseAt = version === 0 ? 24 : 28;
    } else if (version === 2 || version === 3) {
      sizeOfOffsets = head[9]!;
      baseAt = 12;
    } else return { signature, declaredEof: undefined };
    const eofAt = baseAt + 2 * sizeOfOffsets;
    if (sizeOfOffsets !== 8 || eofAt + 8 > n) return { signature, declaredEof: undefined };
    const base = Number(view.getBigUint64(baseAt, true));
    const eof = Number(view.getBigUint64(eofAt, true));
    return { signature, declaredEof: base + eof };
  } finally {
    closeSync(fd);
  }
}

function attrText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return undefined;
}

function attrStrings(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v) => String(v));
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 0) return [];
  return [];
}

function inputShapeOf(config: Record<string, unknown>): (number | null)[] | undefined {
  const bis = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(bis)) return bis.slice(1) as (number | null)[];
  return undefined;
}

/** Parses the `model_config` JSON into layers with inbound layer names, for `Model` and `Sequential`. */
export function parseModelConfig(json: string): Omit<KerasModelFile, 'weights' | 'kerasVersion' | 'backend'> {
  let parsed: { class_name?: unknown; config?: unknown };
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new LeadlightError('model_file_invalid', 'The model_config attribute of the Keras file is not valid JSON; give a file saved by Keras 2 model.save().');
  }
  const modelClass = String(parsed.class_name ?? '');
  const config = parsed.config as Record<string, unknown> | unknown[] | undefined;
  if (modelClass === 'Sequential') {
    const rawLayers = (Array.isArray(config) ? config : (config as Record<string, unknown> | undefined)?.layers) as
      | { class_name: string; config: Record<string, unknown> }[]
      | undefined;
    if (!Array.isArray(rawLayers) || rawLayers.length === 0) {
      throw new LeadlightError('model_file_invalid', 'The Sequential model_config has no layers; give a file saved by Keras 2 model.save().');
    }
    const layers: KerasLayer[] = [];
    let inputShape: (number | null)[] | undefined;
    let prev: string | undefined;
    for (const raw of rawLayers) {
      const name = String(raw.config?.name ?? '');
      if (!name) throw new LeadlightError('model_file_invalid', 'A layer of the model_config has no name; give a file saved by Keras 2 model.save().');
      inputShape ??= inputShapeOf(raw.config);
      if (raw.class_name === 'InputLayer') {
        layers.push({ name, className: 'InputLayer', config: raw.config, inbound: [] });
        prev = name;
        continue;
      }
      if (prev === undefined) {
        // Keras 2 Sequential without an explicit InputLayer: the first layer carries batch_input_shape.
        const inputName = `${name}_input`;
        layers.push({ name: inputName, className: 'InputLayer', config: { batch_input_shape: raw.config.batch_input_shape }, inbound: [] });
        prev = inputName;
      }
      layers.push({ name, className: raw.class_name, config: raw.config, inbound: [prev] });
      prev = name;
    }
    if (!inputShape) throw new LeadlightError('model_layer_unsupported', 'The Sequential model does not declare its input shape (batch_input_shape); the converter needs a fixed input length.');
    return { modelClass, layers, inputLayer: layers[0]!.name, outputLayer: prev!, inputShape };
  }
  if (modelClass === 'Model' || modelClass === 'Functional') {
    const c = config as Record<string, unknown>;
    const rawLayers = c?.layers as { name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[] }[] | undefined;
    if (!Array.isArray(rawLayers) || rawLayers.length === 0) {
      throw new LeadlightError('model_file_invalid', 'The functional model_config has no layers; give a file saved by Keras 2 model.save().');
    }
    const inputs = c.input_layers as unknown[][];
    const outputs = c.output_layers as unknown[][];
    if (!Array.isArray(inputs) || inputs.length !== 1 || !Array.isArray(outputs) || outputs.length !== 1) {
      throw new LeadlightError('model_layer_unsupported', 'The model must have exactly one input and one output.');
    }
    const layers: KerasLayer[] = [];
    const seen = new Set<string>();
    for (const raw of rawLayers) {
      const nodes = raw.inbound_nodes ?? [];
      if (nodes.length > 1) {
        throw new LeadlightError('model_layer_unsupported', `Layer "${raw.name}" is called more than once (shared layer); the converter supports each layer used once.`);
      }
      const inbound = nodes.length === 0 ? [] : (nodes[0] as unknown[][]).map((entry) => String(entry[0]));
      for (const src of inbound) {
        if (!seen.has(src)) throw new LeadlightError('model_file_invalid', `Layer "${raw.name}" takes its input from "${src}", which is not defined before it in the model_config.`);
      }
      seen.add(raw.name);
      layers.push({ name: raw.name, className: raw.class_name, config: raw.config, inbound });
    }
    const inputLayer = String(inputs[0]![0]);
    const outputLayer = String(outputs[0]![0]);
    const inputCfg = layers.find((l) => l.name === inputLayer)?.config;
    const inputShape = inputCfg ? inputShapeOf(inputCfg) : undefined;
    if (!inputShape) throw new LeadlightError('model_file_invalid', `The input layer "${inputLayer}" has no batch_input_shape.`);
    if (!seen.has(outputLayer)) throw new LeadlightError('model_file_invalid', `The output layer "${outputLayer}" is not in the model_config.`);
    return { modelClass, layers, inputLayer, outputLayer, inputShape };
  }
  throw new LeadlightError('model_layer_unsupported', `The model class "${modelClass}" is not supported; the converter reads Keras 2 "Model" and "Sequential" files.`);
}

/**
 * Reads a Keras 2 HDF5 file: config and all layer weights as float32.
 * Errors: `model_file_invalid` (not HDF5, truncated, no model_config), `model_layout_mismatch` (weights missing).
 */
export async function readKerasH5(path: string): Promise<KerasModelFile> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new LeadlightError('model_file_invalid', 'The model file could not be opened; check that it exists and is readable.');
  }
  const probe = size >= 8 ? probeHdf5(path) : { signature: false, declaredEof: undefined };
  if (!probe.signature) {
    throw new LeadlightError('model_file_invalid', 'The model file is not an HDF5 file; give the Keras .h5/.hdf5 file saved by model.save().');
  }
  if (probe.declaredEof !== undefined && probe.declaredEof > size) {
    throw new LeadlightError('model_file_invalid', `The HDF5 model file is truncated (${size} of ${probe.declaredEof} bytes); download it again.`);
  }
  h5Ready ??= h5wasm.ready;
  await h5Ready;
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(path, 'r');
  } catch {
    throw new LeadlightError('model_file_invalid', 'The HDF5 model file could not be opened (it is probably truncated or damaged); download it again.');
  }
  try {
    const configText = attrText(file.attrs['model_config']?.value);
    if (!configText) {
      throw new LeadlightError('model_file_invalid', 'The HDF5 file has no model_config attribute; give a full Keras model file (model.save()), not a weights-only file.');
    }
    const parsed = parseModelConfig(configText);
    const root = file.get('model_weights');
    if (!root || !(root instanceof h5wasm.Group)) {
      throw new LeadlightError('model_layout_mismatch', 'The HDF5 file has no model_weights group; give a full Keras model file (model.save()).');
    }
    const weights = new Map<string, KerasWeight[]>();
    for (const layer of parsed.layers) {
      const group = root.get(layer.name);
      if (!group || !(group instanceof h5wasm.Group)) {
        weights.set(layer.name, []);
        continue;
      }
      const names = attrStrings(group.attrs['weight_names']?.value);
      const list: KerasWeight[] = [];
      for (const wname of names) {
        const ds = group.get(wname);
        if (!ds || !(ds instanceof h5wasm.Dataset)) {
          throw new LeadlightError('model_layout_mismatch', `The weights of layer "${layer.name}" lack "${wname}"; the file does not have the model's layout.`);
        }
        let value: unknown;
        try {
          value = ds.value;
        } catch {
          throw new LeadlightError('model_file_invalid', `The weights "${wname}" of layer "${layer.name}" could not be read (the file is probably damaged); download it again.`);
        }
        if (!ArrayBuffer.isView(value) || value instanceof DataView || typeof (value as Float32Array)[0] !== 'number') {
          throw new LeadlightError('model_layout_mismatch', `The weights "${wname}" of layer "${layer.name}" are not floating-point numbers.`);
        }
        const data = value instanceof Float32Array ? value : Float32Array.from(value as unknown as ArrayLike<number>);
        list.push({ name: wname, shape: [...(ds.shape ?? [])].map(Number), data });
      }
      weights.set(layer.name, list);
    }
    return {
      kerasVersion: attrText(file.attrs['keras_version']?.value) ?? 'unknown',
      backend: attrText(file.attrs['backend']?.value) ?? 'unknown',
      ...parsed,
      weights,
    };
  } catch (e) {
    if (e instanceof LeadlightError) throw e;
    throw new LeadlightError('model_file_invalid', 'The HDF5 model file could not be read (it is probably damaged); download it again.');
  } finally {
    try {
      file.close();
    } catch {
      /* closing a damaged file may fail; nothing to release then */
    }
  }
}
