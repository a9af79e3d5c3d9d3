/**
 * Builds ONNX graphs node by node and writes them with their weights as ONNX external data: one weights file per
 * model, each tensor 64-byte aligned, referenced from every graph by `location` / `offset` / `length` with
 * `data_location = EXTERNAL` (ONNX docs/ExternalData.md). Small int64 constants (shapes, axes) stay inline.
 */
import { AttributeType, DataType, IR_VERSION, OPSET, encodeModel } from './onnx-proto.ts';

/** A subgraph attribute (e.g. If's branches): its nodes and the names it outputs (float tensors of any shape). */
export interface Subgraph {
  nodes: Record<string, unknown>[];
  outputs: string[];
}

export type AttrValue = number | number[] | string | { float: number } | { graph: Subgraph };

const ALIGN = 64;

/** The tensors of one model, shared by all its graphs; written once as the weights file. */
export class WeightStore {
  readonly tensors = new Map<string, { data: Float32Array; dims: number[] }>();
  private offsets: Map<string, number> | undefined;

  /** Registers a float32 tensor under a unique name (re-registering the same name must give the same data). */
  add(name: string, data: Float32Array, dims: number[]): string {
    const have = this.tensors.get(name);
    if (have) {
      if (have.data !== data && (have.data.length !== data.length || have.data.some((v, i) => v !== data[i]))) {
        throw new Error(`weight ${name} registered twice with different data`);
      }
      return name;
    }
    if (this.offsets) throw new Error('weights added after layout');
    if (dims.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`weight ${name}: dims do not match data`);
    this.tensors.set(name, { data, dims });
    return name;
  }

  /** Fixes the offsets (64-byte aligned, in insertion order) and returns the weights file bytes. */
  layout(): Uint8Array {
    let offset = 0;
    const offsets = new Map<string, number>();
    for (const [name, t] of this.tensors) {
      offsets.set(name, offset);
      offset += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
    }
    this.offsets = offsets;
    const bytes = new Uint8Array(offset);
    const view = new DataView(bytes.buffer);
    for (const [name, t] of this.tensors) {
      const base = offsets.get(name)!;
      for (let i = 0; i < t.data.length; i++) view.setFloat32(base + 4 * i, t.data[i]!, true);
    }
    return bytes;
  }

  offsetOf(name: string): number {
    const o = this.offsets?.get(name);
    if (o === undefined) throw new Error(`weight ${name} has no offset (call layout() first)`);
    return o;
  }

  get parameters(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.data.length;
    return n;
  }
}

type Dim = number | string;

/** One ONNX graph under construction. Tensor names are made unique with a counter. */
export class GraphBuilder {
  readonly nodes: Record<string, unknown>[] = [];
  readonly inputs: { name: string; dims: Dim[]; elemType: number }[] = [];
  readonly outputs: { name: string; dims: Dim[]; elemType: number }[] = [];
  private readonly usedWeights = new Set<string>();
  private readonly inline: Record<string, unknown>[] = [];
  private readonly inlineNames = new Set<string>();
  private counter = 0;
  private readonly derived = new Map<string, string>();
  readonly name: string;
  readonly store: WeightStore;

  constructor(name: string, store: WeightStore) {
    this.name = name;
    this.store = store;
  }

  fresh(hint: string): string {
    return `${hint}#${this.counter++}`;
  }

  input(name: string, dims: Dim[]): string {
    this.inputs.push({ name, dims, elemType: DataType.FLOAT });
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push({ name, dims, elemType: DataType.FLOAT });
  }

  /** A float32 weight stored externally (shared between graphs through the store). */
  weight(name: string, data: Float32Array, dims: number[]): string {
    this.store.add(name, data, dims);
    this.usedWeights.add(name);
    return name;
  }

  /**
   * A tensor computed from initialisers only (e.g. a flipped kernel), emitted once per graph under `key`.
   * onnxruntime folds such constant subgraphs when the session is created, so they cost no file space.
   */
  derive(key: string, build: () => string): string {
    const have = this.derived.get(key);
    if (have) return have;
    const name = build();
    this.derived.set(key, name);
    return name;
  }

  /** A small inline constant (stored in the graph, not the weights file); the first registration of a name wins. */
  private inlineConstant(name: string, dims: number[], dataType: number, raw: Uint8Array): string {
    if (this.inlineNames.has(name)) return name;
    this.inline.push({ name, dims, data_type: dataType, raw_data: raw });
    this.inlineNames.add(name);
    return name;
  }

  /** A small inline int64 vector constant. */
  int64(name: string, values: number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    return this.inlineConstant(name, [values.length], DataType.INT64, raw);
  }

  /** A small inline float32 vector constant. */
  float32s(name: string, values: number[]): string {
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return this.inlineConstant(name, [values.length], DataType.FLOAT, raw);
  }

  /** A small inline float32 scalar constant. */
  float(name: string, value: number): string {
    const raw = new Uint8Array(4);
    new DataView(raw.buffer).setFloat32(0, value, true);
    return this.inlineConstant(name, [], DataType.FLOAT, raw);
  }

  /** Appends a node; returns its output names (fresh names from `hint` unless `outputs` is given). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: string[] | number = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
      if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
      if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
      if ('graph' in v) {
        const output = v.graph.outputs.map((o) => ({ name: o, type: { tensor_type: { elem_type: DataType.FLOAT } } }));
        return { name, type: AttributeType.GRAPH, g: { name: `${this.name}/${name}_${this.nodes.length}`, node: v.graph.nodes, output } };
      }
      return { name, type: AttributeType.FLOAT, f: v.float };
    });
    this.nodes.push({ op_type: opType, name: `${opType}_${this.nodes.length}`, input: inputs, output: outs, attribute });
    return outs;
  }

  /**
   * Emits nodes with `build` into a subgraph instead of this graph; the subgraph may use any value of this graph
   * (outer scope: inputs, initializers, earlier nodes' outputs).
   */
  subgraph(build: () => string[]): Subgraph {
    const start = this.nodes.length;
    const outputs = build();
    return { nodes: this.nodes.splice(start), outputs };
  }

  /** Shorthand for a single-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.node(opType, inputs, attrs, output ? [output] : 1)[0]!;
  }

  /** Serialises the graph; the store's layout() must have been called. */
  toBytes(weightsFile: string, metadata: Record<string, string> = {}): Uint8Array {
    const valueInfo = (v: { name: string; dims: Dim[]; elemType: number }) => ({
      name: v.name,
      type: { tensor_type: { elem_type: v.elemType, shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
    });
    const initializer = [
      ...[...this.usedWeights].map((name) => {
        const t = this.store.tensors.get(name)!;
        return {
          name,
          dims: t.dims,
          data_type: DataType.FLOAT,
          data_location: 1,
          external_data: [
            { key: 'location', value: weightsFile },
            { key: 'offset', value: String(this.store.offsetOf(name)) },
            { key: 'length', value: String(t.data.length * 4) },
          ],
        };
      }),
      ...this.inline,
    ];
    return encodeModel({
      ir_version: IR_VERSION,
      producer_name: 'leadlight-convert',
      producer_version: '1',
      opset_import: [{ domain: '', version: OPSET }],
      graph: { name: this.name, node: this.nodes, initializer, input: this.inputs.map(valueInfo), output: this.outputs.map(valueInfo) },
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
  }
}
