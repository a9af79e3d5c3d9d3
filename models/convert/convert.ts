/**
 * Converts a Keras 2 HDF5 model into the ONNX graphs of the graph contract (functions/core/model/manifest.ts)
 * plus one shared external-data weights file. API: `convertKerasModel`; CLI:
 *   node models/convert/convert.ts IN.h5 --model ID --out DIR [--graphs classifier,gradient,...]
 */
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LeadlightError, isLeadlightError } from '../../functions/core/errors.ts';
import type { GraphKind, ModelManifest } from '../../functions/core/model/manifest.ts';
import { readKerasH5 } from './keras-h5.ts';
import { buildIr, type IrGraph } from './ir.ts';
import { GraphBuilder, WeightStore } from './onnx-graph.ts';
import { emitClassifier, emitGradient } from './graphs.ts';
import { INSTALLED_GRAPH_KINDS, loadSourceManifest } from './manifests.ts';
import { emitLrp, LRP_GRAPH_KINDS } from './lrp.ts';

export const WEIGHTS_FILE = 'weights.bin';
/** The LRP graphs need the unfolded kernels and BatchNormalization statistics: they get their own weights file, so a
 * session of the classifier or gradient graph mounts only the weights it uses. */
export const LRP_WEIGHTS_FILE = 'weights-lrp.bin';
/**
 * The WASM gradient graph (`gradient-wasm`) stores the spectra of its long stride-1 backward kernels besides the
 * kernels (graphs.ts, emitSpectralConv): its own weights file, read only by onnxruntime-web in Node.
 */
export const WASM_WEIGHTS_FILE = 'weights-wasm.bin';
const WASM_GRAPH_KINDS: GraphKind[] = ['gradient-wasm'];
/** Every graph kind the converter builds (the graph contract's kinds). */
export const ALL_GRAPH_KINDS: GraphKind[] = INSTALLED_GRAPH_KINDS;

export interface ConvertOptions {
  h5Path: string;
  outDir: string;
  /** When given, the model's input length, lead count and class count must match it. */
  manifest?: Pick<ModelManifest, 'id' | 'input' | 'classes'>;
  graphs?: GraphKind[];
}

export interface ConvertResult {
  /** Graph file names relative to outDir, by kind. */
  graphs: Partial<Record<GraphKind, string>>;
  weightsFile: string;
  weightsBytes: number;
  /** The weights file each graph references (classifier and gradient: weightsFile; LRP graphs: LRP_WEIGHTS_FILE). */
  weightsFiles: Partial<Record<GraphKind, string>>;
  /** Parameters of the Keras model (all weights in the file, including BatchNormalization statistics). */
  parameters: number;
  /** Bytes of each graph file. */
  graphBytes: Partial<Record<GraphKind, number>>;
  inputShape: { samples: number; leads: number };
  classes: number;
}

function checkAgainstManifest(ir: IrGraph, manifest: ConvertOptions['manifest']): void {
  if (!manifest) return;
  const problems: string[] = [];
  if (ir.inputShape.length !== manifest.input.samples) problems.push(`input length ${ir.inputShape.length} instead of ${manifest.input.samples} samples`);
  if (ir.inputShape.channels !== manifest.input.leads.length) problems.push(`${ir.inputShape.channels} input channels instead of ${manifest.input.leads.length} leads`);
  if (ir.classes !== manifest.classes.length) problems.push(`${ir.classes} outputs instead of ${manifest.classes.length} classes`);
  if (problems.length > 0) {
    throw new LeadlightError('model_layout_mismatch', `The Keras file does not have the layout of model "${manifest.id}": ${problems.join('; ')}. Give the file published for this model.`);
  }
}

/**
 * Builds the ONNX bytes of the requested graphs and the shared weights file, without touching the disk.
 * `irUnfolded` (BatchNormalization kept as a layer) is needed for the LRP graphs.
 */
export function buildGraphs(
  ir: IrGraph,
  kinds: GraphKind[],
  modelId = 'model',
  irUnfolded?: IrGraph,
): { files: Map<GraphKind, Uint8Array>; weights: Uint8Array; lrpWeights?: Uint8Array; wasmWeights?: Uint8Array; weightsFiles: Partial<Record<GraphKind, string>> } {
  const store = new WeightStore();
  const lrpStore = new WeightStore();
  const wasmStore = new WeightStore();
  const builders = new Map<GraphKind, GraphBuilder>();
  const weightsFiles: Partial<Record<GraphKind, string>> = {};
  for (const kind of kinds) {
    const isLrp = LRP_GRAPH_KINDS.includes(kind);
    const isWasm = WASM_GRAPH_KINDS.includes(kind);
    weightsFiles[kind] = isLrp ? LRP_WEIGHTS_FILE : isWasm ? WASM_WEIGHTS_FILE : WEIGHTS_FILE;
    const g = new GraphBuilder(`${modelId}-${kind}`, isLrp ? lrpStore : isWasm ? wasmStore : store);
    if (kind === 'classifier') emitClassifier(g, ir);
    else if (kind === 'gradient') emitGradient(g, ir);
    else if (kind === 'gradient-wasm') emitGradient(g, ir, 'spectral');
    else if (kind === 'gradient-lowmem') emitGradient(g, ir, 'lean');
    else if (LRP_GRAPH_KINDS.includes(kind) && irUnfolded) emitLrp(g, irUnfolded, kind);
    else throw new LeadlightError('option_invalid', `The converter cannot build "${kind}" graphs; use ${ALL_GRAPH_KINDS.join(', ')}.`);
    builders.set(kind, g);
  }
  const weights = store.layout();
  const lrpWeights = lrpStore.tensors.size > 0 ? lrpStore.layout() : undefined;
  const wasmWeights = wasmStore.tensors.size > 0 ? wasmStore.layout() : undefined;
  const files = new Map<GraphKind, Uint8Array>();
  for (const [kind, g] of builders) files.set(kind, g.toBytes(weightsFiles[kind]!, { 'leadlight.model': modelId, 'leadlight.graph': kind }));
  return { files, weights, ...(lrpWeights ? { lrpWeights } : {}), ...(wasmWeights ? { wasmWeights } : {}), weightsFiles };
}

/**
 * Converts `h5Path` into `outDir`: `<kind>.onnx` for each graph kind and `weights.bin`.
 * Files are written under temporary names and renamed, so a failed conversion leaves no half-written graph.
 */
export async function convertKerasModel(options: ConvertOptions): Promise<ConvertResult> {
  const kinds = options.graphs ?? ALL_GRAPH_KINDS;
  const model = await readKerasH5(options.h5Path);
  const length = options.manifest ? { length: options.manifest.input.samples } : {};
  const ir = buildIr(model, length);
  checkAgainstManifest(ir, options.manifest);
  const irUnfolded = kinds.some((k) => LRP_GRAPH_KINDS.includes(k)) ? buildIr(model, { ...length, foldBatchNorm: false }) : undefined;
  const { files, weights, lrpWeights, wasmWeights, weightsFiles } = buildGraphs(ir, kinds, options.manifest?.id, irUnfolded);
  mkdirSync(options.outDir, { recursive: true });
  const writeAtomic = (name: string, bytes: Uint8Array) => {
    const tmp = join(options.outDir, `.${name}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(options.outDir, name));
  };
  writeAtomic(WEIGHTS_FILE, weights);
  if (lrpWeights) writeAtomic(LRP_WEIGHTS_FILE, lrpWeights);
  if (wasmWeights) writeAtomic(WASM_WEIGHTS_FILE, wasmWeights);
  const graphs: Partial<Record<GraphKind, string>> = {};
  const graphBytes: Partial<Record<GraphKind, number>> = {};
  for (const [kind, bytes] of files) {
    const name = `${kind}.onnx`;
    writeAtomic(name, bytes);
    graphs[kind] = name;
    graphBytes[kind] = bytes.length;
  }
  return {
    graphs,
    weightsFile: WEIGHTS_FILE,
    weightsBytes: weights.length,
    weightsFiles,
    parameters: ir.parameters,
    graphBytes,
    inputShape: { samples: ir.inputShape.length, leads: ir.inputShape.channels },
    classes: ir.classes,
  };
}

function parseCli(argv: string[]): { input: string; model?: string; out: string; graphs?: GraphKind[] } {
  let input: string | undefined;
  let model: string | undefined;
  let out: string | undefined;
  let graphs: GraphKind[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--model') model = argv[++i];
    else if (a === '--out') out = argv[++i];
    else if (a === '--graphs') {
      graphs = String(argv[++i] ?? '').split(',').filter(Boolean) as GraphKind[];
      for (const k of graphs) if (!ALL_GRAPH_KINDS.includes(k)) throw new LeadlightError('option_invalid', `Unknown graph kind "${k}"; use ${ALL_GRAPH_KINDS.join(', ')}.`);
    } else if (!a.startsWith('--') && input === undefined) input = a;
    else throw new LeadlightError('option_invalid', `Unknown argument "${a}". Usage: convert.ts IN.h5 --model ID --out DIR [--graphs classifier,gradient]`);
  }
  if (!input || !out) throw new LeadlightError('option_invalid', 'Usage: convert.ts IN.h5 --model ID --out DIR [--graphs classifier,gradient]');
  return { input, out, ...(model ? { model } : {}), ...(graphs ? { graphs } : {}) };
}

async function main(): Promise<void> {
  try {
    const args = parseCli(process.argv.slice(2));
    let manifest: ModelManifest | undefined;
    if (args.model) {
      manifest = loadSourceManifest(args.model);
    }
    const result = await convertKerasModel({ h5Path: resolve(args.input), outDir: resolve(args.out), ...(manifest ? { manifest } : {}), ...(args.graphs ? { graphs: args.graphs } : {}) });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (e) {
    if (isLeadlightError(e)) {
      process.stderr.write(`error ${e.code}: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`error internal: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(dirname(fileURLToPath(import.meta.url)), 'convert.ts')) {
  await main();
}
