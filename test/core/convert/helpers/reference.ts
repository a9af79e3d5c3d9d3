/**
 * A straightforward float64 reference of the Keras 2 forward pass for the tiny test models, written directly from
 * the Keras / TensorFlow semantics with plain loops (independent of the converter's IR):
 * - Conv1D: y[t, o] = b[o] + Σ_k Σ_i W[k, i, o] · x[t·s + k − left, i], zero outside the input;
 *   left = total // 2 with total = max((⌈n/s⌉ − 1)·s + k − n, 0) for "same", k − 1 for "causal", 0 for "valid";
 * - MaxPooling1D: the maximum over the window positions that lie inside the input (padding never wins);
 * - BatchNormalization: γ (x − μ) / √(σ² + ε) + β; Dropout: identity; Flatten: row-major over (time, channel);
 * - Dense: y[j] = b[j] + Σ_i x[i] · W[i, j].
 * Returns the logits: the output layer's value before its sigmoid.
 */
import type { TinyLayer, TinyModel } from './tiny-keras.ts';

export interface Value {
  /** Row-major (time, channel) for sequences; length × channels values. */
  data: Float64Array;
  length: number;
  channels: number;
  flat: boolean;
  /** Conv1D and Dense: the value before the activation (bias included). */
  z?: Float64Array;
}

function act(name: unknown, v: number): number {
  if (name === 'relu') return v > 0 ? v : 0;
  if (name === 'sigmoid') return 1 / (1 + Math.exp(-v));
  if (name === 'linear' || name === undefined) return v;
  throw new Error(`reference: activation ${String(name)}`);
}

export function pads(mode: string, n: number, k: number, s: number): { left: number; out: number } {
  if (mode === 'valid') return { left: 0, out: Math.floor((n - k) / s) + 1 };
  if (mode === 'causal') return { left: k - 1, out: Math.floor((n - 1) / s) + 1 };
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return { left: Math.floor(total / 2), out };
}

function w(layer: TinyLayer, key: string): Float32Array {
  const x = layer.weights?.[key];
  if (!x) throw new Error(`reference: ${layer.name} lacks ${key}`);
  return x.data;
}

function apply(layer: TinyLayer, inputs: Value[], isOutput: boolean): Value {
  const c = layer.config;
  const x = inputs[0]!;
  switch (layer.className) {
    case 'Dropout':
      return x;
    case 'ReLU':
      return { ...x, data: x.data.map((v) => act('relu', v)) };
    case 'Activation': {
      const data = x.data.map((v) => act(c.activation, v));
      return { ...x, data };
    }
    case 'Conv1D': {
      const k = (c.kernel_size as number[])[0]!;
      const s = (c.strides as number[])[0]!;
      const cout = c.filters as number;
      const { left, out } = pads(String(c.padding), x.length, k, s);
      const W = w(layer, 'kernel');
      const b = c.use_bias === false ? undefined : w(layer, 'bias');
      const data = new Float64Array(out * cout);
      const z = new Float64Array(out * cout);
      for (let t = 0; t < out; t++)
        for (let o = 0; o < cout; o++) {
          let acc = b ? b[o]! : 0;
          for (let kk = 0; kk < k; kk++) {
            const src = t * s + kk - left;
            if (src < 0 || src >= x.length) continue;
            for (let i = 0; i < x.channels; i++) acc += W[(kk * x.channels + i) * cout + o]! * x.data[src * x.channels + i]!;
          }
          z[t * cout + o] = acc;
          data[t * cout + o] = isOutput ? acc : act(c.activation, acc);
        }
      return { data, length: out, channels: cout, flat: false, z };
    }
    case 'BatchNormalization': {
      const ch = x.flat ? x.data.length : x.channels;
      const g = w(layer, 'gamma');
      const be = w(layer, 'beta');
      const mu = w(layer, 'moving_mean');
      const va = w(layer, 'moving_variance');
      const eps = c.epsilon as number;
      const data = x.data.map((v, idx) => {
        const ci = idx % ch;
        return ((v - mu[ci]!) / Math.sqrt(va[ci]! + eps)) * g[ci]! + be[ci]!;
      });
      return { ...x, data };
    }
    case 'MaxPooling1D': {
      const k = (c.pool_size as number[])[0]!;
      const s = ((c.strides as number[] | undefined) ?? [k])[0]!;
      const { left, out } = pads(String(c.padding), x.length, k, s);
      const data = new Float64Array(out * x.channels);
      for (let t = 0; t < out; t++)
        for (let i = 0; i < x.channels; i++) {
          let m = -Infinity;
          for (let kk = 0; kk < k; kk++) {
            const src = t * s + kk - left;
            if (src >= 0 && src < x.length) m = Math.max(m, x.data[src * x.channels + i]!);
          }
          data[t * x.channels + i] = m;
        }
      return { data, length: out, channels: x.channels, flat: false };
    }
    case 'Add': {
      const data = x.data.slice();
      for (const other of inputs.slice(1)) for (let i = 0; i < data.length; i++) data[i]! += other.data[i]!;
      return { ...x, data };
    }
    case 'Flatten':
      return { data: x.data, length: 1, channels: x.data.length, flat: true };
    case 'Dense': {
      const units = c.units as number;
      const W = w(layer, 'kernel');
      const b = w(layer, 'bias');
      const fin = x.data.length;
      const data = new Float64Array(units);
      const z = new Float64Array(units);
      for (let j = 0; j < units; j++) {
        let acc = b[j]!;
        for (let i = 0; i < fin; i++) acc += x.data[i]! * W[i * units + j]!;
        z[j] = acc;
        data[j] = isOutput ? acc : act(c.activation, acc);
      }
      return { data, length: 1, channels: units, flat: true, z };
    }
    default:
      throw new Error(`reference: layer ${layer.className}`);
  }
}

/** Logits of the tiny model for one input (row-major [samples, channels]). */
export function referenceLogits(model: TinyModel, x: ArrayLike<number>): Float64Array {
  const { values, outName } = referenceTrace(model, x);
  return values.get(outName)!.data;
}

/** Every layer's value (by layer name; the input is `signal`), and each layer's input names. */
export function referenceTrace(model: TinyModel, x: ArrayLike<number>): { values: Map<string, Value>; inputsOf: Map<string, string[]>; outName: string } {
  const values = new Map<string, Value>();
  const inputsOf = new Map<string, string[]>();
  values.set('signal', { data: Float64Array.from(x), length: model.inputShape[0], channels: model.inputShape[1], flat: false });
  let prev = 'signal';
  const outName = model.output ?? model.layers[model.layers.length - 1]!.name;
  for (const layer of model.layers) {
    const ins = model.kind === 'Sequential' ? [prev] : layer.inbound!;
    inputsOf.set(layer.name, ins);
    values.set(layer.name, apply(layer, ins.map((n) => values.get(n)!), layer.name === outName));
    prev = layer.name;
  }
  return { values, inputsOf, outName };
}
