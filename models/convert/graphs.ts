/**
 * Emits the ONNX graphs of the graph contract (functions/core/model/manifest.ts) from the IR:
 * - `classifier`: x [N, samples, leads] → logits, probabilities = sigmoid(logits);
 * - `gradient`: x, seed [N, C] → logits, grad = ∂(Σ seed·logits)/∂x by reverse-mode differentiation of the IR
 *   written with standard ONNX opset-17 operators (convolution input gradients as stride-1 Conv with flipped or
 *   polyphase kernels — in the lean variant's short layers ConvTranspose —, Gemm with transB for Dense, ReLU by a
 *   HardSigmoid mask, max-pool routing through MaxPool's argmax indices and MaxUnpool, or ScatterElements
 *   (reduction="add") for overlapping windows).
 * - `gradient-wasm`: the `gradient` contract for onnxruntime-web (WASM), whose Conv kernels run far below the
 *   machine's peak: the input gradients of stride-1 convolutions over ≥ 256 samples in spectral form
 *   (emitSpectralConv: overlap-save tiles, a real DFT, per-frequency channel mixing, all MatMul). The forward pass
 *   stays direct: its rounding decides exact ties of max-pool windows (constant activations: the zero-padded tail,
 *   the all-zero input of integrated gradients' first point), which must fall on TensorFlow's first maximum; a
 *   spectral forward pass broke them elsewhere (A0003, 64-step IG: 3 % from the golden map).
 * Internally a sequence is [N, C, 1, T]: the 1-D convolutions are emitted as 2-D ones of height 1, because
 * onnxruntime's CPU provider runs 2-D convolutions in its blocked NCHWc layout (about 1.4× faster than its 1-D
 * im2col path on this project's machines; the WASM build has no NCHWc and runs both alike). The input is
 * rearranged once on the way in (toInternal) and the gradient once on the way out (toExternal).
 * Only the Keras weights are stored (external data); derived kernels (BatchNormalization folded, flipped,
 * polyphase, positive/negative parts) are small constant subgraphs onnxruntime folds at session creation.
 */
import type { GraphBuilder } from './onnx-graph.ts';
import type { IrGraph, IrOp, IrShape } from './ir.ts';

export interface ForwardResult {
  /** ONNX tensor name of every IR tensor. */
  names: Map<string, string>;
  /** MaxPool argmax indices by IR output tensor (when requested). */
  indices: Map<string, string>;
  logits: string;
}

function dimsOfShape(s: IrShape): number[] {
  return s.kind === 'seq' ? [s.channels, 1, 1] : [s.features];
}

/** Dims of a convolution kernel in the internal layout: [Cout, Cin, 1, K]. */
export function kernelDims(cout: number, cin: number, kernel: number): number[] {
  return [cout, cin, 1, kernel];
}

/** ONNX attributes of a 1-D convolution or pooling window in the internal (height-1 2-D) layout. */
export function windowAttrs(kernel: number, stride: number, padLeft: number, padRight: number): { kernel_shape: number[]; strides: number[]; pads: number[] } {
  return { kernel_shape: [1, kernel], strides: [1, stride], pads: [0, padLeft, 0, padRight] };
}

/** onnxruntime's NCHWc block on AVX-512 machines: channel counts below it stay in the plain layout. */
const NCHWC_BLOCK = 16;
/**
 * onnxruntime's blocked 2-D convolution splits a height-1 image between threads by sets of four 16-channel blocks
 * only, so a convolution with at most 64 output channels runs on one thread. Such backward convolutions over long
 * sequences are cut into two rows of half the length (emitTwoRowConv).
 */
const FEW_CHANNELS = 64;
const SPLIT_MIN_LENGTH = 1024;
/**
 * Output-gradient lengths up to which the lean variant uses ConvTranspose with the stored kernel. Measured on the
 * Ribeiro layers in single-thread WASM: deriving a kernel costs ~12 ns per weight per run, ConvTranspose ~5–10 %
 * more than Conv; at 256 samples and below the derivation is 15–170 % of the convolution, at 1024 ~6 %.
 */
const TRANSPOSED_MAX_LENGTH = 256;

/**
 * A stride-1 convolution of `x` [N, Cin, 1, T] with kernel `w` [cout, Cin, 1, k] and pads (padLeft, padRight) computed
 * as two rows of T/2 outputs ([N, Cin, 2, T/2 + k − 1] from two overlapping slices of the padded input), then read
 * back as one row: the same sums, on two threads where the height-1 form gets one.
 */
function emitTwoRowConv(g: GraphBuilder, x: string, w: string, cout: number, length: number, k: number, padLeft: number, padRight: number): string {
  const half = length / 2;
  let rows: string;
  if (k === 1 && padLeft === 0 && padRight === 0) rows = g.op('Reshape', [x, g.int64(`shape/rows_${length}`, [0, 0, 2, half])]);
  else {
    const padded = g.op('Pad', [x, g.int64(`const/pads_t_${padLeft}_${padRight}`, [0, 0, 0, padLeft, 0, 0, 0, padRight])]);
    const axis3 = g.int64('const/axis3', [3]);
    const first = g.op('Slice', [padded, g.int64('const/0', [0]), g.int64(`const/${half + k - 1}`, [half + k - 1]), axis3]);
    const second = g.op('Slice', [padded, g.int64(`const/${half}`, [half]), g.int64(`const/${length + k - 1}`, [length + k - 1]), axis3]);
    rows = g.op('Concat', [first, second], { axis: 2 });
  }
  const y = g.op('Conv', [rows, w], convAttrs({ kernel: k, stride: 1, padLeft: 0, padRight: 0 }));
  return g.op('Reshape', [y, g.int64(`shape/seq_${cout}_${length}`, [-1, cout, 1, length])]);
}

/**
 * Tile length n of the spectral form of a convolution's input gradient (emitSpectralInputGrad) over an output
 * gradient of `length` samples, or 0 for the Conv of emitConvInputGrad. Only stride-1 convolutions whose pads are at
 * most k − 1 (so the input gradient is a plain correlation). Measured on the Ribeiro layers in single-thread WASM
 * (onnxruntime-web runs Conv at 11–21 GFLOP/s): 2–3× faster than Conv at 256–4096 samples with ≥ 64 channels,
 * ~1.1× with 12, slower at 64 samples; natively (NCHWc Conv near the machine's peak) slower everywhere, so only the
 * WASM graph uses it. n is a power of two ≥ 2k − 1 (so a tile's k − 1 overlap fits in the next block).
 */
export function spectralTileLength(op: Pick<ConvGeometry, 'kernel' | 'stride' | 'padLeft' | 'padRight'>, length: number): number {
  if (op.stride !== 1 || op.kernel < 8 || length < 256 || op.padLeft > op.kernel - 1 || op.padRight > op.kernel - 1) return 0;
  let n = length >= 1024 ? 64 : 32;
  while (n < 2 * op.kernel - 1) n *= 2;
  return n <= length ? n : 0;
}

/**
 * Real DFT of length n as a matrix [n, n] applied on the right (x [.., n] · D → [.., n]), its columns in the packed
 * order (part, f): part 0 the real parts Re X_f, f = 0..n/2−1; part 1 the imaginary parts Im X_f = −Σ x_t sin(2πft/n),
 * except that slot (1, 0), where Im X_0 = 0, holds the real Re X_{n/2}.
 */
function realDftMatrix(n: number): Float32Array {
  const h = n / 2;
  const d = new Float32Array(n * n);
  for (let t = 0; t < n; t++) {
    for (let f = 0; f < h; f++) {
      d[t * n + f] = Math.cos((2 * Math.PI * f * t) / n);
      d[t * n + h + f] = f === 0 ? (t % 2 === 0 ? 1 : -1) : -Math.sin((2 * Math.PI * f * t) / n);
    }
  }
  return d;
}

/** The inverse of realDftMatrix for the first m samples, applied on the right: [n, m] (packed spectrum → signal). */
function inverseRealDftMatrix(n: number, m: number): Float32Array {
  const h = n / 2;
  const d = new Float32Array(n * m);
  for (let i = 0; i < m; i++) {
    for (let f = 0; f < h; f++) {
      d[f * m + i] = (f === 0 ? 1 : 2 * Math.cos((2 * Math.PI * f * i) / n)) / n;
      d[(h + f) * m + i] = (f === 0 ? (i % 2 === 0 ? 1 : -1) : -2 * Math.sin((2 * Math.PI * f * i) / n)) / n;
    }
  }
  return d;
}

/**
 * The channel-mixing matrices of a cross-correlation with `kernel` [cout, cin, k] in the packed spectrum of
 * realDftMatrix, transposed: [n/2, 2·cin, 2·cout], per frequency f the transpose of the real block form of conj(W_f)·X_f =
 * (Wr·Xr + Wi·Xi) + i(Wr·Xi − Wi·Xr), W_f = Σ_j w_j e^{−2πifj/n}, i.e. [[Wr, Wi], [−Wi, Wr]]; slot 0 pairs the two
 * real bins 0 and n/2: diag(W_0, W_{n/2}). Summed in float64, rounded once to float32.
 */
export function spectralMixing(kernel: Float32Array, cout: number, cin: number, k: number, n: number): Float32Array {
  const h = n / 2;
  const mixing = new Float32Array(h * 4 * cout * cin);
  const cos = Float64Array.from({ length: n }, (_, t) => Math.cos((2 * Math.PI * t) / n));
  const sin = Float64Array.from({ length: n }, (_, t) => Math.sin((2 * Math.PI * t) / n));
  // Stored transposed, [h, 2·cin, 2·cout], for data·mixing (emitSpectralConv).
  const at = (f: number, row: number, col: number) => (f * 2 * cin + col) * 2 * cout + row;
  for (let o = 0; o < cout; o++) {
    for (let c = 0; c < cin; c++) {
      const w = kernel.subarray((o * cin + c) * k, (o * cin + c + 1) * k);
      let nyquist = 0;
      for (let j = 0; j < k; j++) nyquist += j % 2 === 0 ? w[j]! : -w[j]!;
      for (let f = 0; f < h; f++) {
        let re = 0;
        let im = 0;
        for (let j = 0; j < k; j++) {
          re += w[j]! * cos[(f * j) % n]!;
          im -= w[j]! * sin[(f * j) % n]!;
        }
        mixing[at(f, o, c)] = re;
        mixing[at(f, cout + o, cin + c)] = f === 0 ? nyquist : re;
        if (f > 0) {
          mixing[at(f, o, cin + c)] = im;
          mixing[at(f, cout + o, c)] = -im;
        }
      }
    }
  }
  return mixing;
}

/**
 * A stride-1 convolution (cross-correlation, as ONNX Conv) of `x` [N, cin, 1, T] with a kernel [cout, cin, k] and
 * pads (padLeft, padRight), by overlap-save in tiles of n samples (n = spectralTileLength): each tile of
 * m = n − k + 1 outputs reads n padded inputs; a real DFT (one MatMul), per frequency a [2·cin, 2·cout] real matrix
 * (`mixing`, the kernel's spectrum from spectralMixing, stored at conversion) mixing the channels (one batched
 * MatMul), and the inverse DFT of the m kept samples (one MatMul). Per output and channel pair that is ~2n/m multiply-adds
 * instead of k (n = 64, k = 16: 2.6 vs 16); the DFTs are exact sums of float32 products (no FFT), so the result
 * agrees with Conv to float32 rounding (~5e-7 relative on the Ribeiro layers).
 */
export function emitSpectralConv(g: GraphBuilder, x: string, mixing: string, geometry: { cin: number; cout: number; kernel: number; padLeft: number; padRight: number }, length: number, n: number): string {
  const { cin, cout, kernel: k, padLeft, padRight } = geometry;
  const h = n / 2;
  const m = n - k + 1;
  const outLen = length + padLeft + padRight - k + 1;
  const tiles = Math.ceil(outLen / m);
  // Blocks of m samples; tile t = block t followed by the first k − 1 samples of block t + 1.
  const blocksLen = (tiles + 1) * m;
  const x3 = g.op('Reshape', [x, g.int64(`shape/ncl_${cin}_${length}`, [0, cin, length])]);
  const padded = g.op('Pad', [x3, g.int64(`const/pads_ncl_${padLeft}_${blocksLen - padLeft - length}`, [0, 0, padLeft, 0, 0, blocksLen - padLeft - length])]);
  const blocks = g.op('Reshape', [padded, g.int64(`shape/blocks_${cin}_${tiles + 1}_${m}`, [0, cin, tiles + 1, m])]);
  const heads = g.op('Slice', [blocks, g.int64('const/0', [0]), g.int64(`const/${tiles}`, [tiles]), g.int64('const/axis2', [2])]);
  const tails = g.op('Slice', [blocks, g.int64('const/1_0', [1, 0]), g.int64(`const/${tiles + 1}_${k - 1}`, [tiles + 1, k - 1]), g.int64('const/axes2_3', [2, 3])]);
  const frames = g.op('Concat', [heads, tails], { axis: 3 }); // [N, cin, tiles, n]
  const spectrum = g.op('MatMul', [frames, g.weight(`const/rdft_${n}`, realDftMatrix(n), [n, n])]); // [N, cin, tiles, (part, f)]
  const byFrequency = g.op('Transpose', [g.op('Reshape', [spectrum, g.int64(`shape/spectrum_${cin}_${tiles}_${h}`, [-1, cin, tiles, 2, h])])], { perm: [4, 0, 2, 3, 1] });
  const rows = g.op('Reshape', [byFrequency, g.int64(`shape/spectral_rows_${h}_${2 * cin}`, [h, -1, 2 * cin])]); // [h, (N, tiles), (part, cin)]
  // The data on the left: onnxruntime-web ran this 1.2–2× faster than mixing·data (measured on the Ribeiro layers).
  const mixed = g.op('MatMul', [rows, mixing]); // [h, (N, tiles), (part, cout)]
  const perTile = g.op('Transpose', [g.op('Reshape', [mixed, g.int64(`shape/mixed_${h}_${tiles}_${cout}`, [h, -1, tiles, 2, cout])])], { perm: [1, 4, 2, 3, 0] });
  const packed = g.op('Reshape', [perTile, g.int64(`shape/packed_${cout}_${tiles}_${n}`, [-1, cout, tiles, n])]);
  const samples = g.op('MatMul', [packed, g.weight(`const/irdft_${n}_${m}`, inverseRealDftMatrix(n, m), [n, m])]); // [N, cout, tiles, m]
  const row = g.op('Reshape', [samples, g.int64(`shape/seq_${cout}_${tiles * m}`, [-1, cout, 1, tiles * m])]);
  if (tiles * m === outLen) return row;
  return g.op('Slice', [row, g.int64('const/0', [0]), g.int64(`const/${outLen}`, [outLen]), g.int64('const/axis3', [3])]);
}

/** ONNX attributes of a convolution of the IR in the internal layout. */
export function convAttrs(op: Pick<ConvGeometry, 'kernel' | 'stride' | 'padLeft' | 'padRight'>): { kernel_shape: number[]; strides: number[]; pads: number[]; dilations: number[]; group: number } {
  return { ...windowAttrs(op.kernel, op.stride, op.padLeft, op.padRight), dilations: [1, 1], group: 1 };
}

/** [N, T, C] (the model input) → [N, C, 1, T]. */
export function toInternal(g: GraphBuilder, x: string): string {
  return g.op('Transpose', [g.op('Unsqueeze', [x, g.int64('const/axis2', [2])])], { perm: [0, 3, 2, 1] });
}

/** [N, C, 1, T] → [N, T, C] (the layout of the model input), under the name `output` when given. */
export function toExternal(g: GraphBuilder, t: string, output?: string): string {
  return g.op('Squeeze', [g.op('Transpose', [t], { perm: [0, 3, 2, 1] }), g.int64('const/axis2', [2])], {}, output);
}

/**
 * The ONNX name of a convolution's kernel [Cout, Cin, K]. A folded BatchNormalization scale is applied here, at
 * conversion (W·scale[o] in float32, the product onnxruntime would compute), and the folded kernel is stored instead
 * of the raw one: deriving it in-graph would hold a second copy of every kernel in the Worker's memory.
 */
export function convWeight(g: GraphBuilder, op: Extract<IrOp, { op: 'conv' }>): string {
  return g.weight(convWeightName(op), convKernel(op), kernelDims(op.cout, op.cin, op.kernel));
}

function convWeightName(op: Extract<IrOp, { op: 'conv' }>): string {
  return op.fold ? `${op.layer}/W*${op.fold.layer}` : `${op.layer}/W`;
}

/** The kernel [Cout, Cin, K] a convolution stores: the Keras kernel, times a folded BatchNormalization scale. */
function convKernel(op: Extract<IrOp, { op: 'conv' }>): Float32Array {
  const fold = op.fold;
  if (!fold) return op.weight;
  const perOut = op.cin * op.kernel;
  const folded = new Float32Array(op.weight.length);
  for (let i = 0; i < folded.length; i++) folded[i] = Math.fround(op.weight[i]! * fold.scale[Math.floor(i / perOut)]!);
  return folded;
}

/**
 * The input gradient of a stride-1 convolution in spectral form (tiles of n = spectralTileLength): a correlation of
 * `dy` with the transposed, time-flipped kernel and pads (k − 1 − left, k − 1 − right), whose mixing matrices are
 * stored (`…/spectral_grad_n`).
 */
function emitSpectralInputGrad(g: GraphBuilder, op: Extract<IrOp, { op: 'conv' }>, dy: string, outLen: number, n: number): string {
  const { cout, cin, kernel: k } = op;
  const kernel = convKernel(op);
  const flipped = new Float32Array(kernel.length);
  for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let j = 0; j < k; j++) flipped[(i * cout + o) * k + (k - 1 - j)] = kernel[(o * cin + i) * k + j]!;
  const mixing = g.weight(`${convWeightName(op)}/spectral_grad_${n}`, spectralMixing(flipped, cin, cout, k, n), [n / 2, 2 * cout, 2 * cin]);
  return emitSpectralConv(g, dy, mixing, { cin: cout, cout: cin, kernel: k, padLeft: k - 1 - op.padLeft, padRight: k - 1 - op.padRight }, outLen, n);
}

/** The ONNX name of a convolution's bias (folded: b·scale + shift, computed here), or undefined. */
export function convBias(g: GraphBuilder, op: Extract<IrOp, { op: 'conv' }>): string | undefined {
  const fold = op.fold;
  if (!fold) return op.bias ? g.weight(`${op.layer}/B`, op.bias, [op.cout]) : undefined;
  const b = fold.shift.map((shift, o) => (op.bias ? op.bias[o]! * fold.scale[o]! : 0) + shift);
  return g.weight(`${op.layer}/B*${fold.layer}`, b, [op.cout]);
}

/** Emits the forward pass; `withIndices` makes MaxPool also return its argmax indices. */
export function emitForward(g: GraphBuilder, ir: IrGraph, xName: string, withIndices: boolean): ForwardResult {
  const names = new Map<string, string>();
  const indices = new Map<string, string>();
  names.set(ir.input, toInternal(g, xName));
  const nameOf = (t: string): string => {
    const n = names.get(t);
    if (!n) throw new Error(`IR tensor ${t} used before it is defined`);
    return n;
  };
  for (const op of ir.ops) {
    let out: string;
    switch (op.op) {
      case 'conv': {
        const ins = [nameOf(op.input), convWeight(g, op)];
        const b = convBias(g, op);
        if (b) ins.push(b);
        out = g.op('Conv', ins, convAttrs(op));
        break;
      }
      case 'affine': {
        const dims = dimsOfShape(ir.shapes.get(op.input)!);
        const scale = g.weight(`${op.layer}/scale`, op.scale, dims);
        const shift = g.weight(`${op.layer}/shift`, op.shift, dims);
        out = g.op('Add', [g.op('Mul', [nameOf(op.input), scale]), shift]);
        break;
      }
      case 'relu':
        out = g.op('Relu', [nameOf(op.input)]);
        break;
      case 'sigmoid':
        out = g.op('Sigmoid', [nameOf(op.input)]);
        break;
      case 'maxpool': {
        const attrs = windowAttrs(op.kernel, op.stride, op.padLeft, op.padRight);
        if (withIndices) {
          const [y, idx] = g.node('MaxPool', [nameOf(op.input)], attrs, 2);
          out = y!;
          indices.set(op.output, idx!);
        } else out = g.op('MaxPool', [nameOf(op.input)], attrs);
        break;
      }
      case 'add':
        out = op.inputs.length === 2 ? g.op('Add', op.inputs.map(nameOf)) : g.op('Sum', op.inputs.map(nameOf));
        break;
      case 'flatten': {
        // Keras flattens [T, C] row-major: time outer, channel inner.
        const ntc = g.op('Transpose', [nameOf(op.input)], { perm: [0, 2, 3, 1] });
        out = g.op('Reshape', [ntc, g.int64('shape/flatten', [0, -1])]);
        break;
      }
      case 'dense': {
        const w = g.weight(`${op.layer}/W`, op.weight, [op.fin, op.fout]);
        const ins = [nameOf(op.input), w];
        if (op.bias) ins.push(g.weight(`${op.layer}/B`, op.bias, [op.fout]));
        out = g.op('Gemm', ins);
        break;
      }
    }
    names.set(op.output, out);
  }
  return { names, indices, logits: nameOf(ir.logits) };
}

/** The classifier graph: x → logits, probabilities. */
export function emitClassifier(g: GraphBuilder, ir: IrGraph): void {
  const x = g.input('x', ['N', ir.inputShape.length, ir.inputShape.channels]);
  const fwd = emitForward(g, ir, x, false);
  g.op('Identity', [fwd.logits], {}, 'logits');
  g.op('Sigmoid', ['logits'], {}, 'probabilities');
  g.output('logits', ['N', ir.classes]);
  g.output('probabilities', ['N', ir.classes]);
}

/** The geometry of a convolution. */
export type ConvGeometry = Pick<Extract<IrOp, { op: 'conv' }>, 'cin' | 'cout' | 'kernel' | 'stride' | 'padLeft' | 'padRight'>;

/**
 * An int64 constant that — for the lean variant — depends on the output gradient `dy` (+ 0·N, N read off dy's
 * shape). A kernel rearrangement whose first node takes this constant runs just before the layer's backward
 * convolution, and its result is freed after it, instead of every layer's kernel being derived at the start of the
 * run and held (for the Ribeiro network a second copy of all weights, ~26 MB, in the Worker's memory). The extra
 * work is one pass over the kernel per run.
 */
function constWhenNeeded(g: GraphBuilder, name: string, values: number[], dy: string | undefined): string {
  const c = g.int64(name, values);
  if (!dy) return c;
  const zero = g.op('Mul', [g.op('Shape', [dy], { start: 0, end: 1 }), g.int64('const/zero_i64', [0])]);
  return g.op('Add', [c, zero]);
}

/** `t` reversed along `axis` (Slice with step -1); `starts` may carry a dependency (constWhenNeeded). */
function reverseAxis(g: GraphBuilder, t: string, axis: number, starts: string): string {
  return g.op('Slice', [t, starts, g.int64('const/int64_min', [-(2 ** 62)]), g.int64(`const/axis${axis}`, [axis]), g.int64('const/-1', [-1])]);
}

/**
 * Wᵀ·dy: the input gradient of a convolution with kernel `w` ([Cout, Cin, 1, K], an ONNX tensor name) for output
 * gradient `dy`. Stride 1: a Conv with the transposed, time-flipped kernel and pads (k-1-left, k-1-right);
 * strided: the polyphase Conv below. The rearranged kernels are derived in-graph from `w`: as constants that
 * onnxruntime folds once at load (`plain`, `spectral`), or per run just before use (`lean`: the Worker), where the
 * short layers use ConvTranspose on `w` itself instead. Only `plain` runs on onnxruntime's CPU provider, whose
 * blocked (NCHWc) kernels take 2-D convolutions with whole 16-channel blocks (the layouts below that serve them).
 */
export function emitConvInputGrad(g: GraphBuilder, op: ConvGeometry, w: string, dy: string, inLen: number, outLen: number, variant: GradientVariant = 'lean'): string {
  const k = op.kernel;
  const whenNeeded = variant === 'lean';
  const blocked = variant === 'plain';
  if (whenNeeded && outLen <= TRANSPOSED_MAX_LENGTH) {
    // Short output gradient (the deep layers): rearranging the kernel per run would cost more than the convolution;
    // ConvTranspose reads the kernel as it is. output_padding restores the input samples a strided window skips.
    const skipped = (inLen + op.padLeft + op.padRight - k) % op.stride;
    return g.op('ConvTranspose', [dy, w], { ...convAttrs(op), output_padding: [0, skipped] });
  }
  const dep = whenNeeded ? dy : undefined;
  const derive = (key: string, build: () => string) => (whenNeeded ? build() : g.derive(`${w}/${key}`, build));
  if (op.stride === 1 && op.padLeft <= k - 1 && op.padRight <= k - 1) {
    const wf = derive('flipT', () => g.op('Transpose', [reverseAxis(g, w, 3, constWhenNeeded(g, 'const/-1', [-1], dep))], { perm: [1, 0, 2, 3] }));
    const attrs = convAttrs({ ...op, stride: 1, padLeft: k - 1 - op.padLeft, padRight: k - 1 - op.padRight });
    if (op.cin < NCHWC_BLOCK && blocked) {
      // Fewer output channels than one block: onnxruntime's blocked kernel takes the convolution once the kernel is
      // padded with zero output channels to a whole block (the first Ribeiro layer's 64 → 12: 2.98 instead of
      // 5.6 ms for four inputs, for 4/3 of the work); the padding channels are sliced off.
      const padded = derive(`flipT_block${NCHWC_BLOCK}`, () => g.op('Pad', [wf, g.int64(`const/pads_out_${NCHWC_BLOCK - op.cin}`, [0, 0, 0, 0, NCHWC_BLOCK - op.cin, 0, 0, 0])]));
      const y = g.op('Conv', [dy, padded], attrs);
      return g.op('Slice', [y, g.int64('const/0', [0]), g.int64(`const/${op.cin}`, [op.cin]), g.int64('const/axis1', [1])]);
    }
    if (op.cin < NCHWC_BLOCK) {
      // Fewer output channels than one block, not padded (WASM has no blocked kernels; the LRP graphs): the 1-D
      // kernel, faster than the generic 2-D one.
      const axis2 = g.int64('const/axis2', [2]);
      const y = g.op('Conv', [g.op('Squeeze', [dy, axis2]), g.op('Squeeze', [wf, axis2])], { kernel_shape: [k], strides: [1], pads: [attrs.pads[1], attrs.pads[3]], dilations: [1], group: 1 });
      return g.op('Unsqueeze', [y, axis2]);
    }
    if (blocked && op.cin <= FEW_CHANNELS && inLen % 2 === 0 && inLen >= SPLIT_MIN_LENGTH) return emitTwoRowConv(g, dy, wf, op.cin, inLen, k, attrs.pads[1]!, attrs.pads[3]!);
    return g.op('Conv', [dy, wf], attrs);
  }
  return emitStridedConvInputGrad(g, op, derive('phases', () => phaseKernels(g, op, w, dep)), dy, inLen, outLen);
}

/**
 * Input gradient of a strided convolution as ONE stride-1 Conv (polyphase decomposition) instead of ConvTranspose,
 * which onnxruntime's CPU kernels run up to 1.5× slower on long sequences (in WASM the two are close).
 * With j + padLeft = s·m + p (phase p < s):
 *   dx[i, s·m + p - padLeft] = Σ_o Σ_q W[o, i, s·q + p] · dy[o, m - q],
 * a full correlation of dy with the phase kernels; the s phases are the output channels (p, i) of one Conv, then
 * interleaved by Reshape/Transpose and cropped to the input length. Phase kernel [(p, i), o, r] = W[o, i, s(Q-1-r)+p].
 */
function phaseKernels(g: GraphBuilder, op: ConvGeometry, w: string, dep: string | undefined): string {
  const { stride: s, kernel: k, cin, cout } = op;
  const q = Math.ceil(k / s);
  const oiqs = `shape/oiqs_${cout}_${cin}_${q}_${s}`;
  const split =
    q * s === k
      ? g.op('Reshape', [w, constWhenNeeded(g, oiqs, [cout, cin, q, s], dep)])
      : g.op('Reshape', [g.op('Pad', [w, constWhenNeeded(g, `const/pad_k_${q * s - k}`, [0, 0, 0, 0, 0, 0, 0, q * s - k], dep)]), g.int64(oiqs, [cout, cin, q, s])]);
  const flipped = reverseAxis(g, split, 2, g.int64('const/-1', [-1]));
  const ordered = g.op('Transpose', [flipped], { perm: [3, 1, 0, 2] });
  return g.op('Reshape', [ordered, g.int64(`shape/phases_kernel_${s * cin}_${cout}_${q}`, kernelDims(s * cin, cout, q))]);
}

function emitStridedConvInputGrad(g: GraphBuilder, op: ConvGeometry, phases: string, dy: string, inLen: number, outLen: number): string {
  const { stride: s, kernel: k, cin, padLeft } = op;
  const q = Math.ceil(k / s);
  const m = Math.ceil((inLen + padLeft) / s);
  const padRight = Math.max(m - outLen, 0);
  let z = g.op('Conv', [dy, phases], convAttrs({ kernel: q, stride: 1, padLeft: q - 1, padRight }));
  if (outLen + padRight > m) z = g.op('Slice', [z, g.int64(`const/0`, [0]), g.int64(`const/${m}`, [m]), g.int64('const/axis3', [3])]);
  const phased = g.op('Reshape', [z, g.int64(`shape/phases_${s}_${cin}_${m}`, [-1, s, cin, m])]);
  const interleaved = g.op('Reshape', [g.op('Transpose', [phased], { perm: [0, 2, 3, 1] }), g.int64(`shape/seq_${cin}_${m * s}`, [-1, cin, 1, m * s])]);
  if (padLeft === 0 && m * s === inLen) return interleaved;
  return g.op('Slice', [interleaved, g.int64(`const/${padLeft}`, [padLeft]), g.int64(`const/${padLeft + inLen}`, [padLeft + inLen]), g.int64('const/axis3', [3])]);
}

/**
 * Routes `dy` (shaped like the max-pool output) to the argmax positions of the input (the first maximum of each
 * window, as TensorFlow's MaxPoolGrad). Windows that do not overlap (kernel ≤ stride, the ResNet skip path) use
 * MaxUnpool, one write per output; overlapping ones sum with ScatterElements(reduction = "add").
 */
export function emitMaxPoolRouting(g: GraphBuilder, ir: IrGraph, fwd: ForwardResult, op: Extract<IrOp, { op: 'maxpool' }>, dy: string): string {
  const s = ir.shapes.get(op.input)! as { channels: number; length: number };
  const xin = fwd.names.get(op.input)!;
  const indices = fwd.indices.get(op.output)!;
  if (op.kernel <= op.stride) {
    return g.op('MaxUnpool', [dy, indices, g.op('Shape', [xin])], windowAttrs(op.kernel, op.stride, op.padLeft, op.padRight));
  }
  const flat = g.int64('shape/flat', [-1]);
  const zeros = g.op('Reshape', [g.op('ConstantOfShape', [g.op('Shape', [xin])]), flat]);
  const idx = g.op('Reshape', [indices, flat]);
  const upd = g.op('Reshape', [dy, flat]);
  const scattered = g.op('ScatterElements', [zeros, idx, upd], { axis: 0, reduction: 'add' });
  return g.op('Reshape', [scattered, g.int64(`shape/seq_${s.channels}_${s.length}`, [-1, s.channels, 1, s.length])]);
}

/** The inverse of Flatten: [N, T·C] (row-major over time, channel) back to [N, C, 1, T]. */
export function emitUnflatten(g: GraphBuilder, ir: IrGraph, op: Extract<IrOp, { op: 'flatten' }>, dy: string): string {
  const s = ir.shapes.get(op.input)! as { channels: number; length: number };
  const ntc = g.op('Reshape', [dy, g.int64(`shape/n1tc_${s.length}_${s.channels}`, [-1, 1, s.length, s.channels])]);
  return g.op('Transpose', [ntc], { perm: [0, 3, 1, 2] });
}

/**
 * How a gradient graph computes convolution input gradients: `plain` (kernels derived in-graph, folded at load),
 * `lean` (derived per run just before use: `gradient-lowmem`), `spectral` (long stride-1 layers by
 * emitSpectralInputGrad: `gradient-wasm`).
 */
export type GradientVariant = 'plain' | 'lean' | 'spectral';

/**
 * Reverse-mode pass over the IR: returns the ONNX name of ∂(Σ seed·logits)/∂(IR input) in the internal layout.
 * `fwd` must come from emitForward(..., withIndices = true).
 */
export function emitBackward(g: GraphBuilder, ir: IrGraph, fwd: ForwardResult, seed: string, variant: GradientVariant): string {
  const grads = new Map<string, string[]>();
  grads.set(ir.logits, [seed]);
  const push = (t: string, v: string) => {
    const list = grads.get(t);
    if (list) list.push(v);
    else grads.set(t, [v]);
  };
  const total = (t: string): string | undefined => {
    const list = grads.get(t);
    if (!list || list.length === 0) return undefined;
    let acc = list[0]!;
    for (let i = 1; i < list.length; i++) acc = g.op('Add', [acc, list[i]!]);
    return acc;
  };
  const fname = (t: string) => fwd.names.get(t)!;
  for (let i = ir.ops.length - 1; i >= 0; i--) {
    const op: IrOp = ir.ops[i]!;
    const dy = total(op.output);
    if (!dy) continue;
    switch (op.op) {
      case 'conv': {
        const inLen = (ir.shapes.get(op.input)! as { length: number }).length;
        const outLen = (ir.shapes.get(op.output)! as { length: number }).length;
        const n = variant === 'spectral' ? spectralTileLength(op, outLen) : 0;
        push(op.input, n > 0 ? emitSpectralInputGrad(g, op, dy, outLen, n) : emitConvInputGrad(g, op, convWeight(g, op), dy, inLen, outLen, variant));
        break;
      }
      case 'affine': {
        const scale = g.weight(`${op.layer}/scale`, op.scale, dimsOfShape(ir.shapes.get(op.input)!));
        push(op.input, g.op('Mul', [dy, scale]));
        break;
      }
      case 'relu': {
        // dy·[y > 0] (TensorFlow's ReluGrad: 0 at 0). The mask is HardSigmoid(y) = clamp(2¹²⁶·y, 0, 1) of the ReLU
        // output y ≥ 0: exactly 0 at 0 and 1 from float32's smallest normal number up (onnxruntime runs this Mul
        // in its blocked layout, where a Where/Greater pair costs a layout round trip and ~5× the time).
        push(op.input, g.op('Mul', [dy, g.op('HardSigmoid', [fname(op.output)], { alpha: { float: 2 ** 126 }, beta: { float: 0 } })]));
        break;
      }
      case 'sigmoid': {
        const y = fname(op.output);
        const one = g.float('const/one', 1);
        push(op.input, g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [one, y])])]));
        break;
      }
      case 'maxpool':
        push(op.input, emitMaxPoolRouting(g, ir, fwd, op, dy));
        break;
      case 'add':
        for (const t of op.inputs) push(t, dy);
        break;
      case 'flatten':
        push(op.input, emitUnflatten(g, ir, op, dy));
        break;
      case 'dense': {
        const w = g.weight(`${op.layer}/W`, op.weight, [op.fin, op.fout]);
        push(op.input, g.op('Gemm', [dy, w], { transB: 1 }));
        break;
      }
    }
  }
  const dx = total(ir.input);
  if (!dx) {
    // The logits do not depend on the input (possible only for degenerate models): the gradient is zero.
    return g.op('Mul', [fwd.names.get(ir.input)!, g.float('const/zero', 0)]);
  }
  return dx;
}

/**
 * The gradient graph: x, seed → logits, grad. Variants: `lean` is the memory-lean `gradient-lowmem` for runtimes
 * that do not constant-fold at load (onnxruntime-web in the Worker); `spectral` is `gradient-wasm` (onnxruntime-web
 * in Node, which folds at load).
 */
export function emitGradient(g: GraphBuilder, ir: IrGraph, variant: GradientVariant = 'plain'): void {
  const x = g.input('x', ['N', ir.inputShape.length, ir.inputShape.channels]);
  const seedIn = g.input('seed', ['N', ir.classes]);
  const fwd = emitForward(g, ir, x, true);
  g.op('Identity', [fwd.logits], {}, 'logits');
  // A seed row with a NaN stands for the one-hot seed of that row's largest logit: classifying and the gradient of
  // the top class in one run (the first map of a progressive explanation needs no separate forward). Any real seed,
  // negative entries included, keeps its meaning.
  const top = g.op('OneHot', [g.op('ArgMax', [fwd.logits], { axis: 1, keepdims: 0 }), g.int64(`const/${ir.classes}`, [ir.classes]), g.float32s('const/off_on', [0, 1])], { axis: -1 });
  const auto = g.op('Greater', [g.op('ReduceMax', [g.op('Cast', [g.op('IsNaN', [seedIn])], { to: 1 })], { axes: [1], keepdims: 1 }), g.float('const/zero', 0)]);
  const seed = g.op('Where', [auto, top, seedIn]);
  // An all-zero seed has an all-zero gradient: skip the backward pass then (If), so a run that only needs the
  // logits — classifying before the class to explain is known — costs a forward pass, in the same session.
  const needsGradient = g.op('Greater', [g.op('ReduceMax', [g.op('Abs', [seed])], { keepdims: 0 }), g.float('const/zero', 0)]);
  const backward = g.subgraph(() => [emitBackward(g, ir, fwd, seed, variant)]);
  const zeros = g.subgraph(() => [g.op('ConstantOfShape', [g.op('Shape', [fwd.names.get(ir.input)!])])]);
  const [dxNct] = g.node('If', [needsGradient], { then_branch: { graph: backward }, else_branch: { graph: zeros } });
  toExternal(g, dxNct!, 'grad');
  g.output('logits', ['N', ir.classes]);
  g.output('grad', ['N', ir.inputShape.length, ir.inputShape.channels]);
}
