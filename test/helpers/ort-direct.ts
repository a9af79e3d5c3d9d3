/**
 * Opens one converted graph file in a runtime, through the product's one onnxruntime adapter
 * (functions/platform/ort.ts): `node` = onnxruntime-node (native CPU, one thread), `wasm` = onnxruntime-web
 * (WASM, one thread, in Node, derived kernels folded at load), `wasm-lean` = the same in the Worker's lean-memory
 * mode (no constant folding). The graph's external data file lies beside it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { InstalledModel } from '../../functions/core/model/manifest.ts';
import type { TensorF32 } from '../../functions/core/model/runtime.ts';
import { createOrtRuntime } from '../../functions/platform/ort.ts';
import { decodeModel } from '../../models/convert/onnx-proto.ts';
import { ortWasmBytes } from '../../functions/platform/node.ts';

export type RuntimeName = 'node' | 'wasm' | 'wasm-lean';
export const RUNTIMES: RuntimeName[] = ['node', 'wasm'];

export interface DirectSession {
  runtime: RuntimeName;
  run(feeds: Record<string, TensorF32>): Promise<Record<string, TensorF32>>;
  release(): Promise<void>;
}

/** The external-data file a graph references (the `location` of its first external initializer). */
function externalFileOf(graphPath: string): string | undefined {
  const graph = decodeModel(readFileSync(graphPath)).graph as { initializer?: { external_data?: { key: string; value: string }[] }[] };
  for (const t of graph.initializer ?? []) {
    const location = t.external_data?.find((e) => e.key === 'location');
    if (location) return location.value;
  }
  return undefined;
}

/** Opens `graphPath` (its external data file lies beside it, named in the graph) in the given runtime. */
export async function openSession(runtime: RuntimeName, graphPath: string, weightsFile = externalFileOf(graphPath)): Promise<DirectSession> {
  const dir = dirname(graphPath);
  const model = {
    id: '.',
    status: 'available',
    graphs: { classifier: basename(graphPath) },
    weightsFile: weightsFile && existsSync(join(dir, weightsFile)) ? weightsFile : undefined,
  } as unknown as InstalledModel;
  const ort = createOrtRuntime({
    backend: runtime === 'node' ? 'native' : 'wasm',
    wasmBinary: runtime === 'node' ? undefined : ortWasmBytes(),
    leanMemory: runtime === 'wasm-lean',
    numThreads: 1,
    modelsDir: dir,
    loadFile: async (path) => new Uint8Array(await readFile(join(dir, path))),
  });
  const session = await ort.session(model, 'classifier');
  return { runtime, run: (feeds) => session.run(feeds), release: () => ort.release() };
}
