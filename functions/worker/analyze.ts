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

/** Lets workerd's event loop run (and flush streamed progress) before the next synchronous WASM inference. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * The ORT runtime, with a macrotask yield before every graph run: ORT's WASM inference is synchronous CPU work
 * behind a promise, so without it the NDJSON progress events would all reach the client at the very end.
 */
function runtimeFor(env: Env): ModelRuntime {
  if (!runtime) {
    const ort = createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, path) });
    runtime = {
      backend: ort.backend,
      async session(model, graph) {
        const session = await ort.session(model, graph);
        return {
          async run(feeds, outputs) {
            await yieldToEventLoop();
            return session.run(feeds, outputs);
          },
        };
      },
      release: (modelId) => ort.release(modelId),
    };
  }
  return runtime;
}

export const workerServices: Services = {
  async analyze(files, options, env, onProgress) {
    const { models } = await loadModelsIndex(env.ASSETS);
    return analyzeEcg(files, options, { runtime: runtimeFor(env), models, onProgress });
  },
};
