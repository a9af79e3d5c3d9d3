/**
 * The Worker's analysis service: the shared pipeline (functions/core/pipeline.ts) on onnxruntime-web in workerd.
 * ORT's engine is imported as a compiled WebAssembly module (wrangler `CompiledWasm` rule: workerd forbids
 * compiling WebAssembly from bytes); graphs and weights come from the static assets (./models.ts). The runtime and
 * its sessions are created once per isolate and reused by later requests and queue invocations.
 */
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { analyzeEcg, checkUpload } from '../core/pipeline.ts';
import { DEFAULT_RECORD_LIMITS } from '../core/record.ts';
import type { ReadEcgOptions } from '../core/readers/registry.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { createOrtRuntime } from '../platform/ort.ts';
import type { Services } from './queue.ts';
import type { Env } from './env.ts';
import { loadModelFile, loadModelsIndex } from './models.ts';

let runtime: ModelRuntime | undefined;

/**
 * Reading bounds of the Worker's 128 MB isolate (the core's defaults suit the CLI): at most 64 MiB decoded from
 * archives and compressed content, and 150 000 samples per lead (5 minutes at 500 Hz) — the analyses keep a few
 * float64 copies of all 12 leads.
 */
export const WORKER_MAX_SAMPLES_PER_LEAD = 150_000;
const WORKER_READ_OPTIONS: ReadEcgOptions = {
  maxDecodedBytes: 64 * 1024 * 1024,
  maxSamplesPerChannel: WORKER_MAX_SAMPLES_PER_LEAD,
  limits: { ...DEFAULT_RECORD_LIMITS, maxSamplesPerLead: WORKER_MAX_SAMPLES_PER_LEAD },
};

function runtimeFor(env: Env): ModelRuntime {
  runtime ??= createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, path) });
  return runtime;
}

export const workerServices: Services = {
  async check(files, options, env) {
    const { models } = await loadModelsIndex(env.ASSETS);
    await checkUpload(files, options, { models, readOptions: WORKER_READ_OPTIONS });
  },
  async analyze(files, options, env, onProgress, onPartial) {
    const { models } = await loadModelsIndex(env.ASSETS);
    return analyzeEcg(files, options, { runtime: runtimeFor(env), models, onProgress, readOptions: WORKER_READ_OPTIONS, keepFileNames: false, ...(onPartial ? { onPartial } : {}) });
  },
};
