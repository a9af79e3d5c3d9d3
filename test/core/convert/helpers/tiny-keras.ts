/**
 * Tiny Keras-2-layout HDF5 models for the converter tests, written with h5wasm the way Keras 2.2.4's
 * `model.save()` lays them out: root attributes `keras_version`, `backend`, `model_config` (JSON), and
 * `model_weights/<layer>/` with a `weight_names` attribute and datasets `<layer>/<kernel|bias|...>:0`.
 * Weights are seeded pseudo-random numbers so every run builds the same files.
 */
import { seededRandom } from '../../../helpers/random.ts';
import h5wasm from 'h5wasm/node';

export interface TinyLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the input layers (functional models); Sequential models chain layers in order. */
  inbound?: string[];
  /** Weights in Keras layout, keyed by short name (kernel, bias, gamma, beta, moving_mean, moving_variance). */
  weights?: Record<string, { shape: number[]; data: Float32Array }>;
}

export interface TinyModel {
  kind: 'Sequential' | 'Model';
  inputShape: [number, number];
  layers: TinyLayer[];
  /** The output layer (functional models). */
  output?: string;
}

export { seededRandom };

function uniform(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/** Helpers that build layers with seeded random weights of the right Keras shapes. */
export class TinyBuilder {
  readonly layers: TinyLayer[] = [];
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = seededRandom(seed);
  }
  conv(name: string, cin: number, filters: number, kernel: number, opts: { strides?: number; padding?: string; useBias?: boolean; activation?: string; inbound?: string[] } = {}): string {
    const useBias = opts.useBias ?? true;
    const weights: TinyLayer['weights'] = { kernel: { shape: [kernel, cin, filters], data: uniform(this.rand, kernel * cin * filters, -0.6, 0.6) } };
    if (useBias) weights.bias = { shape: [filters], data: uniform(this.rand, filters, -0.3, 0.3) };
    this.layers.push({
      name,
      className: 'Conv1D',
      config: { name, filters, kernel_size: [kernel], strides: [opts.strides ?? 1], padding: opts.padding ?? 'valid', data_format: 'channels_last', dilation_rate: [1], activation: opts.activation ?? 'linear', use_bias: useBias },
      weights,
      ...(opts.inbound ? { inbound: opts.inbound } : {}),
    });
    return name;
  }
  batchNorm(name: string, channels: number, inbound?: string[]): string {
    this.layers.push({
      name,
      className: 'BatchNormalization',
      config: { name, axis: -1, epsilon: 0.001, center: true, scale: true },
      weights: {
        gamma: { shape: [channels], data: uniform(this.rand, channels, 0.5, 1.5) },
        beta: { shape: [channels], data: uniform(this.rand, channels, -0.3, 0.3) },
        moving_mean: { shape: [channels], data: uniform(this.rand, channels, -0.3, 0.3) },
        moving_variance: { shape: [channels], data: uniform(this.rand, channels, 0.5, 1.5) },
      },
      ...(inbound ? { inbound } : {}),
    });
    return name;
  }
  dense(name: string, fin: number, units: number, activation: string, inbound?: string[]): string {
    this.layers.push({
      name,
      className: 'Dense',
      config: { name, units, activation, use_bias: true },
      weights: { kernel: { shape: [fin, units], data: uniform(this.rand, fin * units, -0.4, 0.4) }, bias: { shape: [units], data: uniform(this.rand, units, -0.2, 0.2) } },
      ...(inbound ? { inbound } : {}),
    });
    return name;
  }
  plain(name: string, className: string, config: Record<string, unknown> = {}, inbound?: string[]): string {
    this.layers.push({ name, className, config: { name, ...config }, ...(inbound ? { inbound } : {}) });
    return name;
  }
}

/** The `model_config` JSON Keras 2.2.4 writes for the tiny model. */
export function modelConfigOf(model: TinyModel): Record<string, unknown> {
  const batchInputShape = [null, ...model.inputShape];
  if (model.kind === 'Sequential') {
    return {
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        layers: model.layers.map((l, i) => ({ class_name: l.className, config: i === 0 ? { ...l.config, batch_input_shape: batchInputShape } : l.config })),
      },
    };
  }
  const layers = [
    { name: 'signal', class_name: 'InputLayer', config: { batch_input_shape: batchInputShape, dtype: 'float32', name: 'signal' }, inbound_nodes: [] },
    ...model.layers.map((l) => ({ name: l.name, class_name: l.className, config: l.config, inbound_nodes: [(l.inbound ?? []).map((s) => [s, 0, 0, {}])] })),
  ];
  return { class_name: 'Model', config: { name: 'model', layers, input_layers: [['signal', 0, 0]], output_layers: [[model.output ?? model.layers[model.layers.length - 1]!.name, 0, 0]] } };
}

/** Writes the tiny model as a Keras 2 HDF5 file; `omit` leaves out the named weights (e.g. `conv1/bias`). */
export async function writeTinyKeras(path: string, model: TinyModel, options: { omit?: string[]; configOverride?: Record<string, unknown> } = {}): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  try {
    f.create_attribute('keras_version', '2.2.4');
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('model_config', JSON.stringify(options.configOverride ?? modelConfigOf(model)));
    const root = f.create_group('model_weights');
    root.create_attribute('layer_names', model.layers.map((l) => l.name));
    for (const layer of model.layers) {
      const entries = Object.entries(layer.weights ?? {});
      if (entries.length === 0) continue;
      const g = root.create_group(layer.name);
      g.create_attribute('weight_names', entries.map(([k]) => `${layer.name}/${k}:0`));
      g.create_group(layer.name);
      for (const [k, w] of entries) {
        if (options.omit?.includes(`${layer.name}/${k}`)) continue;
        g.create_dataset({ name: `${layer.name}/${k}:0`, data: w.data, shape: w.shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
}
