/**
 * Layer-wise relevance propagation graphs with iNNvestigate's rules (Alber et al. 2019, JMLR 20(93), iNNvestigate
 * 1.0.x `innvestigate/analyzer/relevance_based`), as used by Bender et al. 2023:
 * - `lrp-epsilon` (EpsilonRule, ε = 1e-7, bias kept): R_in = x ⊙ Wᵀ(R / (z + ε·sgn(z))), sgn(0) = +1;
 * - `lrp-alpha1-beta0` (AlphaBetaRule α = 1, β = 0, bias kept): with x⁺ = max(x, 0), x⁻ = min(x, 0),
 *   Z = (x⁺·W⁺ + b⁺) + (x⁻·W⁻ + b⁻), R_in = x⁺ ⊙ W⁺ᵀ(R ⊘ Z) + x⁻ ⊙ W⁻ᵀ(R ⊘ Z);
 * for Conv1D and Dense (the layer without its activation). Other layers as iNNvestigate's LRP does:
 * activations pass relevance through unchanged; BatchNormalization R_in = x(y − β)R / ((x − μ)y ± 1e-7);
 * Add R_i = x_i · (R ⊘ z); max-pooling, Flatten and Dropout by their gradient (argmax routing, reshape, identity).
 * ⊘ is iNNvestigate's safe_divide: a / (b + [b = 0]·1e-7). Relevances from several consumers are summed.
 * The output relevance is seed ⊙ logits (the logits are the last Dense before its sigmoid).
 * Needs the IR built with `foldBatchNorm: false`.
 */
import type { GraphKind } from '../../functions/core/model/manifest.ts';
import type { GraphBuilder } from './onnx-graph.ts';
import type { IrGraph, IrOp } from './ir.ts';
import { convAttrs, convBias, convWeight, emitConvInputGrad, emitForward, emitMaxPoolRouting, emitUnflatten, toExternal } from './graphs.ts';

export const LRP_GRAPH_KINDS: GraphKind[] = ['lrp-epsilon', 'lrp-alpha1-beta0'];
export const LRP_EPSILON = 1e-7;
/** Keras' K.epsilon(), used by iNNvestigate's safe_divide and BatchNormalization rule. */
const KERAS_EPSILON = 1e-7;

/** Whether an IR tensor is ≥ 0 by construction (then x⁻ = 0 and the negative branch of α-β vanishes). */
function nonNegative(ir: IrGraph, tensor: string): boolean {
  const producer = ir.ops.find((o) => o.output === tensor);
  if (!producer) return false;
  if (producer.op === 'relu' || producer.op === 'sigmoid') return true;
  if (producer.op === 'maxpool' || producer.op === 'flatten') return nonNegative(ir, producer.input);
  if (producer.op === 'add') return producer.inputs.every((t) => nonNegative(ir, t));
  return false;
}

/** a / (b + [b = 0]·1e-7), iNNvestigate's safe_divide. */
function safeDivide(g: GraphBuilder, a: string, b: string): string {
  const isZero = g.op('Cast', [g.op('Equal', [b, g.float('const/zero', 0)])], { to: 1 });
  return g.op('Div', [a, g.op('Add', [b, g.op('Mul', [isZero, g.float('const/keras_eps', KERAS_EPSILON)])])]);
}

/** z + eps·sgn(z) with sgn(0) = +1. */
function stabilise(g: GraphBuilder, z: string, eps: number): string {
  const ge = g.op('GreaterOrEqual', [z, g.float('const/zero', 0)]);
  return g.op('Add', [z, g.op('Where', [ge, g.float(`const/eps_${eps}`, eps), g.float(`const/neg_eps_${eps}`, -eps)])]);
}

/** Emits `lrp-epsilon` or `lrp-alpha1-beta0`: inputs x, seed → outputs logits, relevance. */
export function emitLrp(g: GraphBuilder, ir: IrGraph, kind: GraphKind, options: { epsilon?: number } = {}): void {
  const epsilon = options.epsilon ?? LRP_EPSILON;
  const x = g.input('x', ['N', ir.inputShape.length, ir.inputShape.channels]);
  const seed = g.input('seed', ['N', ir.classes]);
  const fwd = emitForward(g, ir, x, true);
  g.op('Identity', [fwd.logits], {}, 'logits');
  const fname = (t: string) => fwd.names.get(t)!;

  const rel = new Map<string, string[]>();
  rel.set(ir.logits, [g.op('Mul', [seed, fwd.logits])]);
  const push = (t: string, v: string) => {
    const list = rel.get(t);
    if (list) list.push(v);
    else rel.set(t, [v]);
  };
  const total = (t: string): string | undefined => {
    const list = rel.get(t);
    if (!list || list.length === 0) return undefined;
    let acc = list[0]!;
    for (let i = 1; i < list.length; i++) acc = g.op('Add', [acc, list[i]!]);
    return acc;
  };

  /** W⁺ or W⁻ and b⁺ or b⁻ of a layer, derived in-graph from its kernel and bias (constant-folded by onnxruntime). */
  const parts = (w: string, b: string | undefined, sign: 'pos' | 'neg'): { w: string; b?: string } => {
    const part = (t: string) => g.derive(`${t}/${sign}`, () => (sign === 'pos' ? g.op('Relu', [t]) : g.op('Min', [t, g.float('const/zero', 0)])));
    return { w: part(w), ...(b ? { b: part(b) } : {}) };
  };

  for (let i = ir.ops.length - 1; i >= 0; i--) {
    const op = ir.ops[i]!;
    const r = total(op.output);
    if (!r) continue;
    switch (op.op) {
      case 'conv': {
        const xin = fname(op.input);
        const inLen = (ir.shapes.get(op.input)! as { length: number }).length;
        const outLen = (ir.shapes.get(op.output)! as { length: number }).length;
        if (kind === 'lrp-epsilon') {
          const s = g.op('Div', [r, stabilise(g, fname(op.output), epsilon)]);
          push(op.input, g.op('Mul', [xin, emitConvInputGrad(g, op, convWeight(g, op), s, inLen, outLen)]));
          break;
        }
        const w = convWeight(g, op);
        const bias = convBias(g, op);
        const pos = parts(w, bias, 'pos');
        const onlyPositive = nonNegative(ir, op.input);
        const xPos = onlyPositive ? xin : g.op('Relu', [xin]);
        let z = g.op('Conv', [xPos, pos.w, ...(pos.b ? [pos.b] : [])], convAttrs(op));
        let xNeg: string | undefined;
        let neg: ReturnType<typeof parts> | undefined;
        if (!onlyPositive) {
          neg = parts(w, bias, 'neg');
          xNeg = g.op('Min', [xin, g.float('const/zero', 0)]);
          z = g.op('Add', [z, g.op('Conv', [xNeg, neg.w, ...(neg.b ? [neg.b] : [])], convAttrs(op))]);
        } else if (bias) {
          z = g.op('Add', [z, g.op('Unsqueeze', [parts(w, bias, 'neg').b!, g.int64('const/axes12', [1, 2])])]);
        }
        const s = safeDivide(g, r, z);
        let rin = g.op('Mul', [xPos, emitConvInputGrad(g, op, pos.w, s, inLen, outLen)]);
        if (xNeg && neg) rin = g.op('Add', [rin, g.op('Mul', [xNeg, emitConvInputGrad(g, op, neg.w, s, inLen, outLen)])]);
        push(op.input, rin);
        break;
      }
      case 'dense': {
        const xin = fname(op.input);
        if (kind === 'lrp-epsilon') {
          const w = g.weight(`${op.layer}/W`, op.weight, [op.fin, op.fout]);
          const s = g.op('Div', [r, stabilise(g, fname(op.output), epsilon)]);
          push(op.input, g.op('Mul', [xin, g.op('Gemm', [s, w], { transB: 1 })]));
          break;
        }
        const w = g.weight(`${op.layer}/W`, op.weight, [op.fin, op.fout]);
        const bias = op.bias ? g.weight(`${op.layer}/B`, op.bias, [op.fout]) : undefined;
        const pos = parts(w, bias, 'pos');
        const neg = parts(w, bias, 'neg');
        const wPos = pos.w;
        const wNeg = neg.w;
        const bPos = pos.b ? [pos.b] : [];
        const bNeg = neg.b ? [neg.b] : [];
        const onlyPositive = nonNegative(ir, op.input);
        const xPos = onlyPositive ? xin : g.op('Relu', [xin]);
        const xNeg = g.op('Min', [xin, g.float('const/zero', 0)]);
        const z = g.op('Add', [g.op('Gemm', [xPos, wPos, ...bPos]), g.op('Gemm', [xNeg, wNeg, ...bNeg])]);
        const s = safeDivide(g, r, z);
        const rin = g.op('Add', [g.op('Mul', [xPos, g.op('Gemm', [s, wPos], { transB: 1 })]), g.op('Mul', [xNeg, g.op('Gemm', [s, wNeg], { transB: 1 })])]);
        push(op.input, rin);
        break;
      }
      case 'affine': {
        if (!op.bnMean || !op.bnBeta) throw new Error('LRP needs the BatchNormalization statistics (build the IR with foldBatchNorm: false)');
        const dims = (ir.shapes.get(op.input)!.kind === 'seq' ? [op.scale.length, 1, 1] : [op.scale.length]) as number[];
        const mean = g.weight(`${op.layer}/mean`, op.bnMean, dims);
        const beta = g.weight(`${op.layer}/beta`, op.bnBeta, dims);
        const xin = fname(op.input);
        const y = fname(op.output);
        const num = g.op('Mul', [g.op('Mul', [xin, g.op('Sub', [y, beta])]), r]);
        const den = stabilise(g, g.op('Mul', [g.op('Sub', [xin, mean]), y]), KERAS_EPSILON);
        push(op.input, safeDivide(g, num, den));
        break;
      }
      case 'relu':
      case 'sigmoid':
        push(op.input, r);
        break;
      case 'maxpool':
        push(op.input, emitMaxPoolRouting(g, ir, fwd, op, r));
        break;
      case 'flatten':
        push(op.input, emitUnflatten(g, ir, op, r));
        break;
      case 'add': {
        const s = safeDivide(g, r, fname(op.output));
        for (const t of op.inputs) push(t, g.op('Mul', [fname(t), s]));
        break;
      }
    }
  }
  const rx = total(ir.input) ?? g.op('Mul', [fname(ir.input), g.float('const/zero', 0)]);
  toExternal(g, rx, 'relevance');
  g.output('logits', ['N', ir.classes]);
  g.output('relevance', ['N', ir.inputShape.length, ir.inputShape.channels]);
}
