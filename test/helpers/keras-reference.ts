/**
 * A shared Keras 2 `Sequential` model (e.g. ../shared/models/cinc2020-ai-strollers/ECGCNNX_V4.h5) read with h5wasm
 * straight from its HDF5 file — `model_config` and `model_weights/<layer>/<layer>/<name>:0` — into the layer list
 * of the float64 reference forward pass (test/core/convert/helpers/reference.ts). Nothing of the project's converter
 * is used, so the reference stays independent of the graphs it checks.
 */
import h5wasm from 'h5wasm/node';
import type { TinyLayer, TinyModel } from '../core/convert/helpers/tiny-keras.ts';

export async function loadKerasSequential(path: string): Promise<TinyModel> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'r');
  try {
    const config = JSON.parse(String(f.attrs['model_config']!.value)) as { class_name: string; config: { layers: { class_name: string; config: Record<string, unknown> }[] } | { class_name: string; config: Record<string, unknown> }[] };
    if (config.class_name !== 'Sequential') throw new Error(`${path}: not a Sequential model`);
    const layers = Array.isArray(config.config) ? config.config : config.config.layers;
    const first = layers[0]!.config.batch_input_shape as [null, number, number];
    const model: TinyModel = { kind: 'Sequential', inputShape: [first[1], first[2]], layers: [] };
    for (const layer of layers) {
      const name = layer.config.name as string;
      const entry: TinyLayer = { name, className: layer.class_name, config: layer.config };
      const group = f.get(`model_weights/${name}`) as { attrs: Record<string, { value: unknown }> } | null;
      const names = group?.attrs['weight_names']?.value as string[] | undefined;
      if (names?.length) {
        entry.weights = {};
        for (const weightName of names) {
          const dataset = f.get(`model_weights/${name}/${weightName}`) as { shape: number[]; value: Float32Array };
          const key = weightName.split('/').pop()!.replace(/:0$/u, '');
          entry.weights[key] = { shape: dataset.shape, data: Float32Array.from(dataset.value) };
        }
      }
      model.layers.push(entry);
    }
    return model;
  } finally {
    f.close();
  }
}
