/**
 * The browser backend of the ORT adapter (./ort.ts owns onnxruntime; this file only prepares what the browser needs
 * and is imported by the site's private-mode Web Worker): the onnxruntime-web build (WASM, or WebGPU when
 * `navigator.gpu` gives an adapter), its engine and the model files from the site's own `/model-files/` (see
 * site/scripts/copy-models.mjs), every file kept in the Cache API under its version so a second analysis — also after
 * a reload — downloads no graph, weights or engine binary; and the use of the visitor's cores.
 *
 * Cores (issue 15): by default one engine whose intra-op threads (cross-origin isolation needed: COOP/COEP,
 * site/public/_headers) are the visitor's cores — on the Ribeiro-size network IG-64 took 0.54× the one-thread time
 * with 2 threads on this idle 2-core machine (2026-12-07, Chromium). On a busy machine threads hurt (each operator
 * waits for the thread that was descheduled: 1.4–2.5× the one-thread time), so the private worker can instead run
 * **several engines side by side** (`parallelPlan`, the page's `&cores=engines`): helper Web Workers
 * (`serveEngineHelper`), each with its own onnxruntime-web and the same cached files, take rows of a batched run (the
 * pipeline's IG points and faithfulness steps, `parallelBatch`) as they become free; each row is still one
 * single-row run, so the numbers are those of one engine (0.46–0.63× busy, 0.66× idle).
 */
import type { GraphKind, InstalledModel } from '../core/model/manifest.ts';
import type { GraphSession, ModelRuntime, TensorF32 } from '../core/model/runtime.ts';
import { concatBytes } from '../core/bytes.ts';
import { createOrtRuntime } from './ort.ts';

/** The models index of the static assets (/model-files/index.json). */
export interface BrowserModelsIndex {
  models: InstalledModel[];
  parts: Record<string, string[]>;
  /** onnxruntime-web's engine files copied beside the models (`ort/<file>`), and its version. */
  engine?: { version: string; files: string[] };
}

export type ExecutionProviderChoice = 'auto' | 'wasm' | 'webgpu';

export interface BrowserEngine {
  runtime: ModelRuntime;
  models: InstalledModel[];
  /** What runs: the provider, the threads, and (WebGPU) the nodes left to the WASM provider, by operator. */
  info: EngineInfo;
}

export interface EngineInfo {
  executionProvider: 'wasm' | 'webgpu';
  /** Intra-op threads of each engine. */
  numThreads: number;
  /** Engines running the rows of a batched run side by side (this one and its helper Web Workers). */
  instances: number;
  crossOriginIsolated: boolean;
  /** Why WebGPU is not used when it was asked for (no navigator.gpu, no adapter). */
  webgpuUnavailable?: string;
  /** The operator WebGPU could not run, when an analysis fell back to WASM (set by the caller that retried). */
  webgpuFailed?: string;
  /** WebGPU: operator types of the nodes placed on the WASM (CPU) provider, per graph file. */
  cpuFallback: Record<string, string[]>;
  /** Bytes fetched from the network for model and engine files (0 when all came from the Cache API). */
  downloadedBytes: number;
  /** Files served from the Cache API. */
  cachedFiles: number;
}

const CACHE_NAME = 'leadlight-model-files-v1';
const BASE = '/model-files/';

/** The GPU adapter of this browser, or why there is none. */
export async function webgpuAdapter(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu)' };
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? { ok: true } : { ok: false, reason: 'WebGPU gave no adapter' };
  } catch (e) {
    return { ok: false, reason: `WebGPU failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * Fetches `path` (relative to /model-files/) through the Cache API: a stored copy of this `version` when there is
 * one, else the network (the copy is stored for next time). Files split at build time are joined.
 */
class CachedFiles {
  downloadedBytes = 0;
  cachedFiles = 0;
  private readonly index: BrowserModelsIndex;
  private readonly origin: string;
  constructor(index: BrowserModelsIndex, origin: string) {
    this.index = index;
    this.origin = origin;
  }

  async load(path: string, version: string): Promise<Uint8Array> {
    const parts = this.index.parts[path];
    if (!parts) return this.one(path, version);
    return concatBytes(await Promise.all(parts.map((p) => this.one(p, version))));
  }

  private async one(path: string, version: string): Promise<Uint8Array> {
    const url = new URL(BASE + path, this.origin).href;
    // The cache key carries the version (weights hash, converter, engine version): a new model is fetched anew.
    const key = new Request(`${url}?v=${encodeURIComponent(version)}`);
    const cache = typeof caches === 'undefined' ? null : await caches.open(CACHE_NAME).catch(() => null);
    const hit = cache ? await cache.match(key) : undefined;
    if (hit) {
      this.cachedFiles++;
      return new Uint8Array(await hit.arrayBuffer());
    }
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`${BASE}${path} answered ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.downloadedBytes += bytes.byteLength;
    if (cache) {
      await cache.put(key, new Response(bytes, { headers: { 'content-type': response.headers.get('content-type') ?? 'application/octet-stream' } })).catch(() => undefined);
    }
    return bytes;
  }
}

/** The version a model's files are cached under: its weights hash and the converter that wrote the graphs. */
function modelVersion(model: InstalledModel | undefined): string {
  return `${model?.converted?.sha256 ?? 'none'}-${model?.converterVersion ?? '0'}`;
}

/** The operator types of the nodes onnxruntime's verbose log lists as placed on the CPU (WASM) provider. */
export function cpuFallbackOperators(log: string[]): string[] {
  const ops = new Set<string>();
  let inCpuList = false;
  for (const line of log) {
    for (const part of line.split('\n')) {
      if (/Node\(s\) placed on \[CPUExecutionProvider\]/u.test(part)) {
        inCpuList = true;
        continue;
      }
      if (/Node\(s\) placed on \[/u.test(part) || /All nodes placed on/u.test(part)) {
        inCpuList = false;
        continue;
      }
      // Lines like "… VerifyEachNodeIsAssignedToAnEp]   OneHot (OneHot_43)" (with a timestamp in front).
      const op = inCpuList ? /(?:^|\]|\s)\s*([A-Z][A-Za-z0-9]*) \([^()]*\)\s*$/u.exec(part) : null;
      if (op) ops.add(op[1]);
    }
  }
  return [...ops].sort();
}

/**
 * The browser's engine: loads /model-files/index.json, picks the provider (`auto`: WebGPU when it gives an adapter,
 * else WASM) and returns the adapter's runtime over the cached files.
 */
export async function createBrowserEngine(choice: ExecutionProviderChoice, origin = location.origin, options: BrowserEngineOptions = {}): Promise<BrowserEngine> {
  const response = await fetch(new URL(`${BASE}index.json`, origin), { cache: 'no-cache' });
  if (!response.ok) throw new Error(`the models index answered ${response.status}`);
  const index = (await response.json()) as BrowserModelsIndex;
  if (!index.engine) throw new Error('this deployment has no browser engine in /model-files/ (run npm run build:site)');
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = Math.max(1, Number((navigator as { hardwareConcurrency?: number }).hardwareConcurrency) || 1);
  let executionProvider: 'wasm' | 'webgpu' = 'wasm';
  let webgpuUnavailable: string | undefined;
  if (choice !== 'wasm') {
    const adapter = await webgpuAdapter();
    if (adapter.ok) executionProvider = 'webgpu';
    else webgpuUnavailable = adapter.reason;
  }
  const files = new CachedFiles(index, origin);
  const engineFile = executionProvider === 'webgpu' ? 'ort-wasm-simd-threaded.asyncify' : 'ort-wasm-simd-threaded';
  const wasmBinary = await files.load(`ort/${engineFile}.wasm`, index.engine.version);
  // Helper engines (WASM only): rows of batched runs go to them; each has `numThreads` of its own.
  const helperCount = executionProvider === 'wasm' && options.helperUrl ? Math.max(0, (options.instances ?? 1) - 1) : 0;
  const info: EngineInfo = {
    executionProvider,
    // All cores when cross-origin isolated (threads need SharedArrayBuffer); `numThreads` caps it (the bench).
    numThreads: isolated ? Math.max(1, Math.min(options.numThreads ?? cores, cores)) : 1,
    instances: 1 + helperCount,
    crossOriginIsolated: isolated,
    ...(webgpuUnavailable && choice !== 'wasm' ? { webgpuUnavailable } : {}),
    cpuFallback: {},
    get downloadedBytes() {
      return files.downloadedBytes;
    },
    get cachedFiles() {
      return files.cachedFiles;
    },
  };
  const byId = new Map(index.models.map((m) => [m.id, m]));
  let logLines: string[] = [];
  const runtime = createOrtRuntime({
    backend: 'wasm',
    wasmBinary,
    loadFile: (path) => {
      if (executionProvider === 'webgpu') logLines = [];
      return files.load(path, modelVersion(byId.get(path.split('/')[0])));
    },
    browser: {
      load: () => (executionProvider === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')),
      engineModuleUrl: new URL(`${BASE}ort/${engineFile}.mjs`, origin).href,
      executionProvider,
      numThreads: info.numThreads,
      ...(executionProvider === 'webgpu' ? { onSessionLog: (line: string) => logLines.push(line) } : {}),
    },
  });
  // Record, per graph session, the operators WebGPU left to the CPU (from the log of the session just made).
  const tracked: ModelRuntime = {
    backend: runtime.backend,
    async session(model, graph) {
      const session = await runtime.session(model, graph);
      const key = `${model.id}/${graph}`;
      if (executionProvider === 'webgpu' && !(key in info.cpuFallback) && logLines.length) info.cpuFallback[key] = cpuFallbackOperators(logLines);
      return session;
    },
    release: (modelId) => runtime.release(modelId),
  };
  if (!helperCount || !options.helperUrl) return { runtime: tracked, models: index.models, info };
  // Started with the first session, once this engine has put the engine binary and the model files in the cache
  // (started together, on a first visit each would download them).
  const helperUrl = options.helperUrl;
  let helpers: EngineHelper[] | undefined;
  const startHelpers = () => (helpers ??= Array.from({ length: helperCount }, () => new EngineHelper(helperUrl, origin, info.numThreads)));
  return { runtime: dataParallelRuntime(tracked, startHelpers), models: index.models, info };
}

export interface BrowserEngineOptions {
  /** Intra-op threads per engine (capped by the cores; 1 unless cross-origin isolated). Default: all cores. */
  numThreads?: number;
  /** Engines side by side for batched runs (WASM): this one and `instances − 1` helper Web Workers. Default 1. */
  instances?: number;
  /** The script of the helper Web Workers: a module that calls `serveEngineHelper()` when named ENGINE_HELPER_NAME. */
  helperUrl?: string | URL;
}

/**
 * How private mode uses `cores` on WASM: engines side by side (a power of two, at most 4: the pipeline's IG
 * checkpoints at 4, 8, 16 … points fall on batch boundaries, and each engine holds the model: ~90 MB of WASM memory
 * for the Ribeiro-size network), each with the cores left over as intra-op threads when cross-origin isolated.
 */
export function parallelPlan(cores: number, crossOriginIsolated: boolean): { instances: number; numThreads: number } {
  const n = Math.max(1, Math.floor(cores));
  const instances = n >= 4 ? 4 : n >= 2 ? 2 : 1;
  return { instances, numThreads: crossOriginIsolated ? Math.max(1, Math.floor(n / instances)) : 1 };
}

/**
 * The batch (IG points, faithfulness steps per run) for `instances` engines side by side: 4 rows or one per engine
 * (two rows per engine on two cores, so an engine rarely waits for the other at the end of a run; the pipeline's
 * first IG checkpoint, 4 points, stays a run boundary). One engine: 1 (as WASM_BATCH).
 */
export function parallelBatch(instances: number): number {
  return instances > 1 ? Math.max(4, instances) : 1;
}

/** The name helper Web Workers are started with (their script tells by `self.name` what to be). */
export const ENGINE_HELPER_NAME = 'leadlight-engine-helper';

type HelperRequest =
  | { type: 'init'; origin: string; numThreads: number }
  | { type: 'session'; model: string; graph: GraphKind }
  | { type: 'run'; model: string; graph: GraphKind; feeds: Record<string, TensorF32>; outputs?: string[] }
  | { type: 'release'; model?: string };
type HelperReply = { id: number; ok: true; outputs?: Record<string, TensorF32> } | { id: number; ok: false; message: string };

/** One helper engine in a Web Worker of its own; requests are answered in order. */
class EngineHelper {
  private readonly worker: Worker;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (r: HelperReply) => void; reject: (e: Error) => void }>();
  private failed: Error | undefined;
  constructor(url: string | URL, origin: string, numThreads: number) {
    this.worker = new Worker(url, { type: 'module', name: ENGINE_HELPER_NAME });
    this.worker.onmessage = (e: MessageEvent<HelperReply>) => {
      const p = this.pending.get(e.data.id);
      this.pending.delete(e.data.id);
      p?.resolve(e.data);
    };
    this.worker.onerror = (e) => {
      // A helper that cannot start or crashed: its rows are run by the calling engine from now on.
      e.preventDefault?.();
      this.failed = new Error(`engine helper failed: ${e.message || 'the Web Worker failed'}`);
      for (const p of this.pending.values()) p.reject(this.failed);
      this.pending.clear();
    };
    void this.call({ type: 'init', origin, numThreads }).catch(() => undefined);
  }

  async call(request: HelperRequest, transfer: Transferable[] = []): Promise<Record<string, TensorF32> | undefined> {
    if (this.failed) throw this.failed;
    const id = this.next++;
    const reply = await new Promise<HelperReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...request }, transfer);
    });
    if (!reply.ok) throw new Error(reply.message);
    return reply.outputs;
  }
}

/** Rows `from`..`to` of a tensor whose first dimension is the batch (a copy, so it can be transferred). */
function rowsOf(t: TensorF32, from: number, to: number): TensorF32 {
  const row = t.data.length / t.dims[0]!;
  return { data: t.data.slice(from * row, to * row), dims: [to - from, ...t.dims.slice(1)] };
}

/** The tensors of consecutive row ranges joined along the batch dimension. */
function joinRows(parts: TensorF32[]): TensorF32 {
  const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of parts) {
    data.set(t.data, offset);
    offset += t.data.length;
  }
  return { data, dims: [parts.reduce((n, t) => n + t.dims[0]!, 0), ...parts[0]!.dims.slice(1)] };
}

/**
 * The runtime over this engine and its helpers: the rows of a run of B > 1 rows are dealt out one at a time to
 * whichever engine is free (this one and the helpers), each as a single-row run, and the outputs joined in row
 * order — so an engine slowed by other load takes fewer rows. Single-row runs (the first map, classification) stay
 * here. A helper that fails hands its rows back to this engine.
 */
function dataParallelRuntime(local: ModelRuntime, startHelpers: () => EngineHelper[]): ModelRuntime {
  let helpers: EngineHelper[] = [];
  return {
    backend: local.backend,
    async session(model, graph): Promise<GraphSession> {
      const session = await local.session(model, graph);
      // The helpers load the same graph in the background (files from the Cache API); runs wait for them in order.
      helpers = startHelpers();
      for (const h of helpers) void h.call({ type: 'session', model: model.id, graph }).catch(() => undefined);
      return {
        async run(feeds, outputs) {
          const batch = feeds.x?.dims[0] ?? 1;
          if (batch < 2) return session.run(feeds, outputs);
          const row = (i: number) => Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, t.dims[0] === batch ? rowsOf(t, i, i + 1) : t]));
          const out: Record<string, TensorF32>[] = [];
          let next = 0;
          const there = async (h: EngineHelper) => {
            for (let i = next++; i < batch; i = next++) {
              const part = row(i);
              try {
                out[i] = (await h.call({ type: 'run', model: model.id, graph, feeds: part, ...(outputs ? { outputs } : {}) }, Object.values(part).map((t) => t.data.buffer as ArrayBuffer))) as Record<string, TensorF32>;
              } catch {
                out[i] = await session.run(row(i), outputs);
              }
            }
          };
          const here = async () => {
            for (let i = next++; i < batch; i = next++) out[i] = await session.run(row(i), outputs);
          };
          // The helpers get their first rows before this engine starts one (its runs hold this thread).
          await Promise.all([...helpers.map(there), here()]);
          return Object.fromEntries(Object.keys(out[0]!).map((name) => [name, joinRows(out.map((o) => o[name]!))]));
        },
      };
    },
    async release(modelId) {
      await Promise.all(helpers.map((h) => h.call({ type: 'release', ...(modelId ? { model: modelId } : {}) }).catch(() => undefined)));
      await local.release(modelId);
    },
  };
}

/**
 * The body of a helper Web Worker: one WASM engine (`numThreads` intra-op threads) over the same cached model
 * files, answering `session`, `run` and `release` requests in the order they come.
 */
export function serveEngineHelper(): void {
  const scope = self as unknown as { postMessage(m: HelperReply, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<HelperRequest & { id: number }>) => void) | null };
  let engine: Promise<BrowserEngine> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const answer = async (request: HelperRequest & { id: number }): Promise<void> => {
    try {
      if (request.type === 'init') {
        engine = createBrowserEngine('wasm', request.origin, { numThreads: request.numThreads });
        await engine;
        scope.postMessage({ id: request.id, ok: true });
        return;
      }
      if (!engine) throw new Error('engine helper not initialised');
      const e = await engine;
      if (request.type === 'release') {
        await e.runtime.release(request.model);
        scope.postMessage({ id: request.id, ok: true });
        return;
      }
      const model = e.models.find((m) => m.id === request.model);
      if (!model) throw new Error(`no model ${request.model}`);
      const session = await e.runtime.session(model, request.graph);
      if (request.type === 'session') {
        scope.postMessage({ id: request.id, ok: true });
        return;
      }
      const outputs = await session.run(request.feeds, request.outputs);
      scope.postMessage({ id: request.id, ok: true, outputs }, [...new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer))]);
    } catch (error) {
      scope.postMessage({ id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  };
  scope.onmessage = (e) => {
    queue = queue.then(() => answer(e.data));
  };
}
