/**
 * The Worker's analysis service: the shared pipeline (functions/core/pipeline.ts) on onnxruntime-web in workerd.
 * ORT's engine is imported as a compiled WebAssembly module (wrangler `CompiledWasm` rule: workerd forbids
 * compiling WebAssembly from bytes); graphs and weights come from the static assets (./models.ts). The runtime and
 * its sessions are created once per isolate and reused by later requests.
 */
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { analyzeEcg } from '../core/pipeline.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { createOrtRuntime } from '../platform/ort.ts';
import type { Services } from './app.ts';
import type { Env } from './env.ts';
import { loadModelFile, loadModelsIndex } from './models.ts';

let runtime: ModelRuntime | undefined;

function runtimeFor(env: Env): ModelRuntime {
  runtime ??= createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, path) });
  return runtime;
}

export const workerServices: Services = {
  async analyze(files, options, env, onProgress) {
    const { models } = await loadModelsIndex(env.ASSETS);
    return analyzeEcg(files, options, { runtime: runtimeFor(env), models, onProgress });
  },
};
