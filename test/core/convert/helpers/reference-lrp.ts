/**
 * A float64 plain-loop reference of iNNvestigate's LRP rules (iNNvestigate 1.0.x, relevance_based analyzers) on
 * the tiny test models, written from the rule definitions (not from the converter):
 * - kernel layers (Conv1D, Dense, without their activation, bias kept):
 *   epsilon: R_i = x_i Σ_j w_ij R_j / (z_j + ε sgn z_j), sgn(0) = +1;
 *   alpha1-beta0: R_i = Σ_j (x⁺_i w⁺_ij + x⁻_i w⁻_ij) R_j / Z_j, Z_j = Σ_i (x⁺_i w⁺_ij + x⁻_i w⁻_ij) + b⁺_j + b⁻_j;
 * - Activation and Dropout pass relevance through; Flatten reshapes; MaxPooling1D routes to the (first) argmax;
 * - BatchNormalization: R_in = x (y − β) R / ((x − μ) y + 1e-7 sgn);  Add: R_i = x_i R / z.
 * Divisions by an exact zero use iNNvestigate's safe_divide (a / (b + 1e-7)).
 */
import { pads, referenceTrace } from './reference.ts';
import type { TinyModel } from './tiny-keras.ts';

const KERAS_EPS = 1e-7;
const safe = (a: number, b: number) => a / (b === 0 ? KERAS_EPS : b);
const stab = (z: number, eps: number) => z + (z >= 0 ? eps : -eps);

export type LrpRule = 'epsilon' | 'alpha1-beta0';

/** Relevance at the input (row-major [samples, channels]) for output relevance seed ⊙ logits. */
export function referenceLrp(model: TinyModel, x: ArrayLike<number>, seed: number[], rule: LrpRule, epsilon = 1e-7): Float64Array {
  const { values, inputsOf, outName } = referenceTrace(model, x);
  const rel = new Map<string, Float64Array>();
  const add = (name: string, r: Float64Array) => {
    const have = rel.get(name);
    if (!have) rel.set(name, r);
    else for (let i = 0; i < r.length; i++) have[i]! += r[i]!;
  };
  const logits = values.get(outName)!.data;
  rel.set(outName, Float64Array.from(logits, (v, c) => v * seed[c]!));
  // A kernel rule over explicit (input index, output index, weight) connections plus per-output bias.
  const kernelRule = (xin: Float64Array, z: Float64Array, r: Float64Array, conns: (visit: (i: number, j: number, w: number) => void) => void, bias: (j: number) => number): Float64Array => {
    const out = new Float64Array(xin.length);
    if (rule === 'epsilon') {
      const s = z.map((zj, j) => r[j]! / stab(zj, epsilon));
      conns((i, j, w) => (out[i]! += xin[i]! * w * s[j]!));
      return out;
    }
    const zz = new Float64Array(z.length);
    for (let j = 0; j < z.length; j++) zz[j] = Math.max(bias(j), 0) + Math.min(bias(j), 0);
    const part = (i: number, w: number) => (xin[i]! > 0 && w > 0 ? xin[i]! * w : 0) + (xin[i]! < 0 && w < 0 ? xin[i]! * w : 0);
    conns((i, j, w) => (zz[j]! += part(i, w)));
    conns((i, j, w) => (out[i]! += (part(i, w) * safe(r[j]!, zz[j]!))));
    return out;
  };
  for (let li = model.layers.length - 1; li >= 0; li--) {
    const layer = model.layers[li]!;
    const r = rel.get(layer.name);
    if (!r) continue;
    const ins = inputsOf.get(layer.name)!;
    const xv = values.get(ins[0]!)!;
    const y = values.get(layer.name)!;
    const c = layer.config;
    switch (layer.className) {
      case 'Activation':
      case 'ReLU':
      case 'Dropout':
      case 'Flatten':
        add(ins[0]!, r.slice());
        break;
      case 'Conv1D': {
        const k = (c.kernel_size as number[])[0]!;
        const s = (c.strides as number[])[0]!;
        const cout = c.filters as number;
        const cin = xv.channels;
        const W = layer.weights!.kernel!.data;
        const b = layer.weights!.bias?.data;
        const { left, out } = pads(String(c.padding), xv.length, k, s);
        const conns = (visit: (i: number, j: number, w: number) => void) => {
          for (let t = 0; t < out; t++)
            for (let kk = 0; kk < k; kk++) {
              const src = t * s + kk - left;
              if (src < 0 || src >= xv.length) continue;
              for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) visit(src * cin + i, t * cout + o, W[(kk * cin + i) * cout + o]!);
            }
        };
        add(ins[0]!, kernelRule(xv.data, y.z!, r, conns, (j) => (b ? b[j % cout]! : 0)));
        break;
      }
      case 'Dense': {
        const units = c.units as number;
        const W = layer.weights!.kernel!.data;
        const b = layer.weights!.bias!.data;
        const conns = (visit: (i: number, j: number, w: number) => void) => {
          for (let i = 0; i < xv.data.length; i++) for (let j = 0; j < units; j++) visit(i, j, W[i * units + j]!);
        };
        add(ins[0]!, kernelRule(xv.data, y.z!, r, conns, (j) => b[j]!));
        break;
      }
      case 'BatchNormalization': {
        const ch = xv.flat ? xv.data.length : xv.channels;
        const mu = layer.weights!.moving_mean!.data;
        const beta = layer.weights!.beta!.data;
        add(ins[0]!, xv.data.map((xi, idx) => {
          const ci = idx % ch;
          const yi = y.data[idx]!;
          return safe(xi * (yi - beta[ci]!) * r[idx]!, stab((xi - mu[ci]!) * yi, KERAS_EPS));
        }));
        break;
      }
      case 'Add':
        for (const name of ins) {
          const xi = values.get(name)!.data;
          add(name, xi.map((v, idx) => v * safe(r[idx]!, y.data[idx]!)));
        }
        break;
      case 'MaxPooling1D': {
        const k = (c.pool_size as number[])[0]!;
        const s = ((c.strides as number[] | undefined) ?? [k])[0]!;
        const { left, out } = pads(String(c.padding), xv.length, k, s);
        const rin = new Float64Array(xv.data.length);
        for (let t = 0; t < out; t++)
          for (let i = 0; i < xv.channels; i++) {
            let best = -1;
            for (let kk = 0; kk < k; kk++) {
              const src = t * s + kk - left;
              if (src < 0 || src >= xv.length) continue;
              if (best < 0 || xv.data[src * xv.channels + i]! > xv.data[best * xv.channels + i]!) best = src;
            }
            rin[best * xv.channels + i]! += r[t * xv.channels + i]!;
          }
        add(ins[0]!, rin);
        break;
      }
      default:
        throw new Error(`reference LRP: layer ${layer.className}`);
    }
  }
  return rel.get('signal') ?? new Float64Array(model.inputShape[0] * model.inputShape[1]);
}
