/**
 * The browser backend of the ORT adapter (./ort.ts owns onnxruntime; this file only prepares what the browser needs
 * and is imported by the site's private-mode Web Worker): the onnxruntime-web build (WASM, or WebGPU when
 * `navigator.gpu` gives an adapter), its engine and the model files from the site's own `/model-files/` (see
 * site/scripts/copy-models.mjs), every file kept in the Cache API under its version so a second analysis — also after
 * a reload — downloads no graph, weights or engine binary; and the thread count: all cores when the page is
 * cross-origin isolated (COOP/COEP, site/public/_headers), one otherwise.
 */
import type { InstalledModel } from '../core/model/manifest.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
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
  numThreads: number;
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
export async function createBrowserEngine(choice: ExecutionProviderChoice, origin = location.origin, options: { numThreads?: number } = {}): Promise<BrowserEngine> {
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
  const info: EngineInfo = {
    executionProvider,
    // All cores when cross-origin isolated (threads need SharedArrayBuffer); `numThreads` caps it (the bench).
    numThreads: isolated ? Math.max(1, Math.min(options.numThreads ?? cores, cores)) : 1,
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
  return { runtime: tracked, models: index.models, info };
}
