/**
 * The weight randomisation of the sanity check (issue 16, item 2; Adebayo et al., NeurIPS 2018, "Sanity checks for
 * saliency maps", §3.1, cascading randomisation), platform-free: a layer's weights redrawn from its own Keras
 * initialiser (seeded), and the cascade's steps (Conv1D/Dense layers with their BatchNormalization layers, output
 * layer first). `leadlight sanity` and `leadlight cohort --sanity` read and write the Keras file around it
 * (functions/cli/sanity-keras.ts); the install step writes the same draws as the server-side check's weights
 * (models/install.ts `installSanitySteps`, ./sanity-of-result.ts).
 */
import { LeadlightError } from '../errors.ts';

/** A Keras initialiser as the layer config names it (`kernel_initializer`, …). */
export interface Initialiser {
  class_name: string;
  config?: Record<string, unknown>;
}

/** One layer of a Keras model: its class, config and weights in `weight_names` order. */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Weight name (as in `weight_names`, e.g. `conv1d/kernel:0`) → shape and values. */
  weights: { name: string; shape: number[]; data: Float32Array }[];
}

/** Standard normal draws (Box–Muller) from the seeded uniform generator. */
function normal(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * New values for one weight from its Keras initialiser, as Adebayo et al. (NeurIPS 2018, §3.1) re-initialise a
 * layer's weights (Keras 2 `initializers.py`): fans of a kernel
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
export function cascadeBlocks(layers: KerasLayer[]): number[][] {
  const blocks: number[][] = [];
  layers.forEach((l, i) => {
    if (l.weights.length === 0) return;
    if (l.className === 'BatchNormalization' && blocks.length > 0) blocks[blocks.length - 1].push(i);
    else blocks.push([i]);
  });
  return blocks.reverse();
}

/** The layer with every weight redrawn from its initialiser (Adebayo et al. 2018, §3.1), from the one seeded stream. */
export function randomiseLayer(layer: KerasLayer, rand: () => number): KerasLayer {
  return {
    ...layer,
    weights: layer.weights.map((w) => {
      const key = w.name.split('/').pop()!.replace(/:\d+$/u, '');
      return { ...w, data: drawFromInitialiser(layer.config[`${key}_initializer`] as Initialiser | undefined, w.shape, rand, `"${layer.name}" (${key})`) };
    }),
  };
}

