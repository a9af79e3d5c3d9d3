/**
 * The Worker's analysis service: the shared pipeline (functions/core/pipeline.ts) on onnxruntime-web in workerd.
 * ORT's engine is imported as a compiled WebAssembly module (wrangler `CompiledWasm` rule: workerd forbids
 * compiling WebAssembly from bytes); graphs and weights come from the static assets (./models.ts). The runtime and
 * its sessions are created once per isolate and reused by later requests and queue invocations.
 */
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { addFaithfulness, analyzeEcg, checkUpload } from '../core/pipeline.ts';
import { sanityOfResult, sanityTargetOf, stepFilePath } from '../core/analysis/sanity-of-result.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { createOrtRuntime } from '../platform/ort.ts';
import type { Services } from './queue.ts';
import type { Env } from './env.ts';
import { loadModelFile, loadModelsIndex } from './models.ts';
import { WORKER_READ_OPTIONS } from './read-options.ts';

let runtime: ModelRuntime | undefined;

function runtimeFor(env: Env): ModelRuntime {
  runtime ??= createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, path) });
  return runtime;
}

export const workerServices: Services = {
  async check(files, options, env) {
    const { models } = await loadModelsIndex(env.ASSETS);
    await checkUpload(files, options, { models, readOptions: WORKER_READ_OPTIONS });
  },
  async analyze(files, options, env, onProgress, onPartial, extras) {
    const { models } = await loadModelsIndex(env.ASSETS);
    return analyzeEcg(files, options, { runtime: runtimeFor(env), models, onProgress, readOptions: WORKER_READ_OPTIONS, keepFileNames: false, faithfulness: extras?.faithfulness ?? true, ...(onPartial ? { onPartial } : {}) });
  },
  async addFaithfulness(result, env) {
    const { models } = await loadModelsIndex(env.ASSETS);
    return addFaithfulness(result, { runtime: runtimeFor(env), models });
  },
  async sanity(result, env, onStep) {
    // One runtime per cascade step (released by sanityOfResult after it): the installed graphs, the step's weights.
    const { models } = await loadModelsIndex(env.ASSETS);
    const { model, sanity } = sanityTargetOf(result, models);
    const runtimeForStep = (k: number) => createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, stepFilePath(model, sanity, k, path)) });
    return sanityOfResult(result, { models, runtimeForStep, onStep });
  },
};
