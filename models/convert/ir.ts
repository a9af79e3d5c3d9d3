/**
 * A small graph IR of a 1-D convolutional Keras model with static shapes, in channels-first layout (per example:
 * sequences are [C, T], flat vectors are [F]). Built from a Keras 2 model file with Keras/TensorFlow semantics:
 * "same" padding per TensorFlow (total = max((ceil(n/s)-1)·s + k - n, 0), left = total // 2), "causal" padding
 * (k-1)·d on the left, BatchNormalization y = γ(x-μ)/√(σ²+ε) + β folded into a preceding convolution when that
 * convolution feeds only it (unless disabled, as LRP's BatchNormalization rule needs the layer), Dropout as identity, Flatten row-major over (time, channel).
 * Specs: Keras 2.2.4 layer docs; TensorFlow `tf.nn.convolution` / `tf.nn.max_pool` padding rules.
 */
import { LeadlightError } from '../../functions/core/errors.ts';
import type { KerasLayer, KerasModelFile, KerasWeight } from './keras-h5.ts';

export type IrShape = { kind: 'seq'; channels: number; length: number } | { kind: 'flat'; features: number };

export type IrOp =
  | {
      op: 'conv';
      input: string;
      output: string;
      layer: string;
      /** Kernel [Cout, Cin, K] and bias as in the file. */
      weight: Float32Array;
      bias?: Float32Array;
      /** A BatchNormalization folded into this convolution: W·scale[o], b·scale[o] + shift[o] (applied in-graph). */
      fold?: { layer: string; scale: Float32Array; shift: Float32Array };
      cin: number;
      cout: number;
      kernel: number;
      stride: number;
      padLeft: number;
      padRight: number;
    }
  | { op: 'affine'; input: string; output: string; layer: string; scale: Float32Array; shift: Float32Array; bnMean?: Float32Array; bnBeta?: Float32Array }
  | { op: 'relu' | 'sigmoid'; input: string; output: string; layer: string }
  | { op: 'maxpool'; input: string; output: string; layer: string; kernel: number; stride: number; padLeft: number; padRight: number }
  | { op: 'add'; inputs: string[]; output: string; layer: string }
  | { op: 'flatten'; input: string; output: string; layer: string }
  | { op: 'dense'; input: string; output: string; layer: string; weight: Float32Array; bias?: Float32Array; fin: number; fout: number };

export interface IrGraph {
  input: string;
  inputShape: { channels: number; length: number };
  /** Pre-sigmoid output (the logits). */
  logits: string;
  classes: number;
  ops: IrOp[];
  shapes: Map<string, IrShape>;
  parameters: number;
}

/** TensorFlow's padding of a 1-D window op: returns [left, right, outputLength]. */
export function paddingOf(mode: string, n: number, kernel: number, stride: number, layer: string): [number, number, number] {
  if (mode === 'valid') {
    if (n < kernel) throw new LeadlightError('model_layer_unsupported', `Layer "${layer}" has a window (${kernel}) longer than its input (${n}).`);
    return [0, 0, Math.floor((n - kernel) / stride) + 1];
  }
  if (mode === 'same') {
    const out = Math.ceil(n / stride);
    const total = Math.max((out - 1) * stride + kernel - n, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2), out];
  }
  if (mode === 'causal') {
    const left = kernel - 1;
    return [left, 0, Math.floor((n + left - kernel) / stride) + 1];
  }
  throw new LeadlightError('model_layer_unsupported', `Layer "${layer}" uses padding "${mode}"; the converter supports same, valid and causal.`);
}

function single(v: unknown, layer: string, what: string): number {
  const x = Array.isArray(v) ? v : [v];
  if (x.length !== 1 || typeof x[0] !== 'number' || !Number.isInteger(x[0]) || x[0] < 1) {
    throw new LeadlightError('model_layer_unsupported', `Layer "${layer}" has ${what} ${JSON.stringify(v)}; the converter supports one positive integer.`);
  }
  return x[0];
}

function weightOf(layer: KerasLayer, list: KerasWeight[], suffix: string, shape: number[]): Float32Array {
  const w = list.find((x) => x.name.endsWith(`/${suffix}:0`) || x.name === `${suffix}:0`);
  if (!w) throw new LeadlightError('model_layout_mismatch', `Layer "${layer.name}" has no "${suffix}" weights in the file; the file does not have the model's layout.`);
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]) || w.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new LeadlightError('model_layout_mismatch', `The "${suffix}" weights of layer "${layer.name}" have shape [${w.shape.join(', ')}] where the config implies [${shape.join(', ')}].`);
  }
  return w.data;
}

function activationOps(act: unknown, layer: KerasLayer, input: string, output: string): IrOp[] {
  if (act === undefined || act === null || act === 'linear') return [];
  if (act === 'relu' || act === 'sigmoid') return [{ op: act, input, output, layer: layer.name }];
  throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses activation "${String(act)}"; the converter supports linear, relu and sigmoid.`);
}

/**
 * Builds the IR of a Keras model file. Optional `length` fixes the input length when the config leaves it open.
 * Errors name the layer: `model_layer_unsupported` (layer class or option), `model_layout_mismatch` (weights).
 */
export function buildIr(model: KerasModelFile, options: { length?: number; foldBatchNorm?: boolean } = {}): IrGraph {
  const shapes = new Map<string, IrShape>();
  const ops: IrOp[] = [];
  const alias = new Map<string, string>();
  const tensorOf = (layerName: string): string => alias.get(layerName) ?? layerName;
  const [lenCfg, chCfg] = model.inputShape;
  const length = lenCfg ?? options.length;
  if (model.inputShape.length !== 2 || !length || !chCfg) {
    throw new LeadlightError('model_layer_unsupported', `The model input has shape [${model.inputShape.join(', ')}]; the converter needs a fixed (samples, leads) input.`);
  }
  const input = 'input';
  shapes.set(input, { kind: 'seq', channels: chCfg, length });
  let parameters = 0;
  for (const layer of model.layers) {
    const cfg = layer.config;
    const wl = model.weights.get(layer.name) ?? [];
    parameters += wl.reduce((a, w) => a + w.data.length, 0);
    if (layer.className === 'InputLayer') {
      alias.set(layer.name, input);
      continue;
    }
    const ins = layer.inbound.map(tensorOf);
    const inShapes = ins.map((t) => shapes.get(t)!);
    const one = (): string => {
      if (ins.length !== 1) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" has ${ins.length} inputs; it must have one.`);
      return ins[0]!;
    };
    const seqShape = (): { channels: number; length: number } => {
      const s = inShapes[0]!;
      if (s.kind !== 'seq') throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" (${layer.className}) needs a sequence input (samples, channels).`);
      return s;
    };
    const out = layer.name;
    switch (layer.className) {
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'GaussianDropout':
      case 'GaussianNoise':
        alias.set(layer.name, one());
        break;
      case 'Activation': {
        const src = one();
        const acts = activationOps(cfg.activation, layer, src, out);
        if (acts.length === 0) alias.set(layer.name, src);
        else {
          ops.push(...acts);
          shapes.set(out, inShapes[0]!);
        }
        break;
      }
      case 'ReLU': {
        // keras.layers.ReLU with its defaults is a plain relu.
        const src = one();
        const plain = (cfg.max_value === undefined || cfg.max_value === null) && !cfg.negative_slope && !cfg.threshold;
        if (!plain) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" (ReLU) uses max_value, negative_slope or threshold, which the converter does not support.`);
        ops.push({ op: 'relu', input: src, output: out, layer: layer.name });
        shapes.set(out, inShapes[0]!);
        break;
      }
      case 'Conv1D': {
        const src = one();
        const s = seqShape();
        if ((cfg.data_format ?? 'channels_last') !== 'channels_last') throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses data_format ${String(cfg.data_format)}; only channels_last is supported.`);
        if (single(cfg.dilation_rate ?? 1, layer.name, 'dilation_rate') !== 1) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses a dilation rate other than 1, which the converter does not support.`);
        if (cfg.groups !== undefined && cfg.groups !== 1) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses grouped convolution, which the converter does not support.`);
        const kernel = single(cfg.kernel_size, layer.name, 'kernel_size');
        const stride = single(cfg.strides ?? 1, layer.name, 'strides');
        const cout = single(cfg.filters, layer.name, 'filters');
        const [padLeft, padRight, outLen] = paddingOf(String(cfg.padding ?? 'valid'), s.length, kernel, stride, layer.name);
        const k = weightOf(layer, wl, 'kernel', [kernel, s.channels, cout]);
        // Keras kernel [K, Cin, Cout] → ONNX [Cout, Cin, K].
        const weight = new Float32Array(cout * s.channels * kernel);
        for (let t = 0; t < kernel; t++) for (let i = 0; i < s.channels; i++) for (let o = 0; o < cout; o++) weight[(o * s.channels + i) * kernel + t] = k[(t * s.channels + i) * cout + o]!;
        const bias = cfg.use_bias === false ? undefined : weightOf(layer, wl, 'bias', [cout]);
        const hasAct = cfg.activation !== undefined && cfg.activation !== 'linear' && cfg.activation !== null;
        const convOut = hasAct ? `${out}/preact` : out;
        ops.push({ op: 'conv', input: src, output: convOut, layer: layer.name, weight, ...(bias ? { bias: Float32Array.from(bias) } : {}), cin: s.channels, cout, kernel, stride, padLeft, padRight });
        shapes.set(convOut, { kind: 'seq', channels: cout, length: outLen });
        const acts = activationOps(cfg.activation, layer, convOut, out);
        ops.push(...acts);
        shapes.set(out, { kind: 'seq', channels: cout, length: outLen });
        break;
      }
      case 'BatchNormalization': {
        const src = one();
        const s = inShapes[0]!;
        const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
        const rank = s.kind === 'seq' ? 3 : 2;
        if (axis.length !== 1 || !(axis[0] === -1 || axis[0] === rank - 1)) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" normalises over axis ${JSON.stringify(cfg.axis)}; only the channel (last) axis is supported.`);
        const c = s.kind === 'seq' ? s.channels : s.features;
        const eps = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-3;
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : weightOf(layer, wl, 'gamma', [c]);
        const beta = cfg.center === false ? new Float32Array(c) : weightOf(layer, wl, 'beta', [c]);
        const mean = weightOf(layer, wl, 'moving_mean', [c]);
        const variance = weightOf(layer, wl, 'moving_variance', [c]);
        const scale = new Float32Array(c);
        const shift = new Float32Array(c);
        for (let i = 0; i < c; i++) {
          const a = gamma[i]! / Math.sqrt(variance[i]! + eps);
          scale[i] = a;
          shift[i] = beta[i]! - a * mean[i]!;
        }
        ops.push({ op: 'affine', input: src, output: out, layer: layer.name, scale, shift, bnMean: Float32Array.from(mean), bnBeta: Float32Array.from(beta) });
        shapes.set(out, s);
        break;
      }
      case 'MaxPooling1D': {
        const src = one();
        const s = seqShape();
        if ((cfg.data_format ?? 'channels_last') !== 'channels_last') throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses data_format ${String(cfg.data_format)}; only channels_last is supported.`);
        const kernel = single(cfg.pool_size ?? 2, layer.name, 'pool_size');
        const stride = single(cfg.strides ?? kernel, layer.name, 'strides');
        const [padLeft, padRight, outLen] = paddingOf(String(cfg.padding ?? 'valid'), s.length, kernel, stride, layer.name);
        if (String(cfg.padding) === 'causal') throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" uses causal padding, which pooling does not have.`);
        ops.push({ op: 'maxpool', input: src, output: out, layer: layer.name, kernel, stride, padLeft, padRight });
        shapes.set(out, { kind: 'seq', channels: s.channels, length: outLen });
        break;
      }
      case 'Add': {
        if (ins.length < 2) throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" (Add) needs at least two inputs.`);
        const ref = JSON.stringify(inShapes[0]);
        if (inShapes.some((x) => JSON.stringify(x) !== ref)) throw new LeadlightError('model_layout_mismatch', `The inputs of layer "${layer.name}" (Add) have different shapes.`);
        ops.push({ op: 'add', inputs: ins, output: out, layer: layer.name });
        shapes.set(out, inShapes[0]!);
        break;
      }
      case 'Flatten': {
        const src = one();
        const s = inShapes[0]!;
        if (s.kind === 'flat') alias.set(layer.name, src);
        else {
          ops.push({ op: 'flatten', input: src, output: out, layer: layer.name });
          shapes.set(out, { kind: 'flat', features: s.channels * s.length });
        }
        break;
      }
      case 'Dense': {
        const src = one();
        const s = inShapes[0]!;
        if (s.kind !== 'flat') throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" (Dense) is applied to a sequence; the converter supports Dense after Flatten only.`);
        const fout = single(cfg.units, layer.name, 'units');
        const weight = Float32Array.from(weightOf(layer, wl, 'kernel', [s.features, fout]));
        const bias = cfg.use_bias === false ? undefined : Float32Array.from(weightOf(layer, wl, 'bias', [fout]));
        const hasAct = cfg.activation !== undefined && cfg.activation !== 'linear' && cfg.activation !== null;
        const denseOut = hasAct ? `${out}/preact` : out;
        ops.push({ op: 'dense', input: src, output: denseOut, layer: layer.name, weight, ...(bias ? { bias } : {}), fin: s.features, fout });
        shapes.set(denseOut, { kind: 'flat', features: fout });
        ops.push(...activationOps(cfg.activation, layer, denseOut, out));
        shapes.set(out, { kind: 'flat', features: fout });
        break;
      }
      default:
        throw new LeadlightError('model_layer_unsupported', `Layer "${layer.name}" is a ${layer.className}, which the converter does not support (supported: Conv1D, BatchNormalization, Activation, ReLU, Dropout, MaxPooling1D, Add, Flatten, Dense).`);
    }
  }
  const outTensor = tensorOf(model.outputLayer);
  const last = ops.find((o) => o.output === outTensor);
  if (!last || last.op !== 'sigmoid') {
    throw new LeadlightError('model_layer_unsupported', `The output layer "${model.outputLayer}" must end in a sigmoid activation (the converter exposes the logits before it).`);
  }
  const logitsShape = shapes.get(last.input)!;
  if (logitsShape.kind !== 'flat') throw new LeadlightError('model_layer_unsupported', `The output layer "${model.outputLayer}" must give one value per class (after Flatten and Dense).`);
  const graph: IrGraph = { input, inputShape: { channels: chCfg, length }, logits: last.input, classes: logitsShape.features, ops: ops.filter((o) => o !== last), shapes, parameters };
  if (options.foldBatchNorm !== false) foldBatchNorm(graph);
  pruneDead(graph);
  return graph;
}

function consumersOf(ops: IrOp[], tensor: string): IrOp[] {
  return ops.filter((o) => (o.op === 'add' ? o.inputs.includes(tensor) : o.input === tensor));
}

/** Folds an affine (BatchNormalization) into the convolution feeding it when that convolution feeds nothing else. */
function foldBatchNorm(g: IrGraph): void {
  for (let i = 0; i < g.ops.length; i++) {
    const op = g.ops[i]!;
    if (op.op !== 'affine') continue;
    const prod = g.ops.find((o) => o.output === op.input);
    if (!prod || prod.op !== 'conv' || prod.fold || op.input === g.logits || consumersOf(g.ops, op.input).length !== 1) continue;
    prod.fold = { layer: op.layer, scale: op.scale, shift: op.shift };
    prod.output = op.output;
    g.ops.splice(i, 1);
    i--;
  }
}

/** Removes ops whose outputs do not reach the logits. */
function pruneDead(g: IrGraph): void {
  const needed = new Set<string>([g.logits]);
  for (let i = g.ops.length - 1; i >= 0; i--) {
    const op = g.ops[i]!;
    if (!needed.has(op.output)) {
      g.ops.splice(i, 1);
      continue;
    }
    for (const t of op.op === 'add' ? op.inputs : [op.input]) needed.add(t);
  }
}
