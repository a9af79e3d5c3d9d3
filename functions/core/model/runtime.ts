/**
 * What the core needs from an inference engine, and nothing more: named float32 tensors in, named float32 tensors
 * out. The one implementation lives in functions/platform/ort.ts (onnxruntime-web WASM or onnxruntime-node);
 * the core never imports onnxruntime.
 */
import type { GraphKind, InstalledModel } from './manifest.ts';

export interface TensorF32 {
  data: Float32Array;
  dims: number[];
}

export interface GraphSession {
  /** Runs the graph; calls on one session are queued (never concurrent). */
  run(feeds: Record<string, TensorF32>, outputs?: string[]): Promise<Record<string, TensorF32>>;
}

export interface ModelRuntime {
  /** `wasm` (onnxruntime-web) or `native` (onnxruntime-node). */
  readonly backend: 'wasm' | 'native';
  /** A session for one graph of an installed model, created once and cached (memoised promise). */
  session(model: InstalledModel, graph: GraphKind): Promise<GraphSession>;
  /** Releases cached sessions (e.g. to stay within a Worker's memory). */
  release(modelId?: string): Promise<void>;
}
