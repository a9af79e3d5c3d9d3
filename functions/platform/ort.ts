/**
 * The one onnxruntime adapter: nothing else in Leadlight imports onnxruntime. It serves three hosts with one code
 * path — onnxruntime-web (WASM) in workerd, in Node and in the browser — plus onnxruntime-node (`native`).
 *
 * workerd forbids compiling WebAssembly from bytes (and eval), so the Worker imports ORT's `.wasm` as a compiled
 * module (wrangler `CompiledWasm` rule) and hands it over as `wasmBinary`. onnxruntime-web only accepts bytes, which
 * its Emscripten loader passes to `WebAssembly.instantiate`; while ORT initialises we route that one call (recognised
 * by a marker buffer) to the precompiled module. Node and browsers may pass the bytes themselves.
 *
 * Sessions are kept per isolate (one per model graph) as shared values that no request awaits while another request
 * makes them (./shared-value.ts), and runs never wait on each other's promises (see `OrtGraphSession`).
 *
 * In the browser (private mode) ./ort-browser.ts, which this adapter owns, hands over the onnxruntime-web build
 * the page bundles (`wasm`, or `webgpu` with the WebGPU execution provider), the engine's URL, the thread count and
 * a cached file loader; the sessions are made here like everywhere else.
 */
import type * as OrtWebModule from 'onnxruntime-web/wasm';
import type { GraphKind, InstalledModel } from '../core/model/manifest.ts';
import type { GraphSession, ModelRuntime, TensorF32 } from '../core/model/runtime.ts';
import { LeadlightError } from '../core/errors.ts';
import { SharedValue } from './shared-value.ts';

export interface OrtRuntimeOptions {
  backend: 'wasm' | 'native';
  /** wasm: ORT's `ort-wasm-simd-threaded.wasm` as a compiled module (workerd) or as bytes (Node, browser). */
  wasmBinary?: WebAssembly.Module | ArrayBuffer | Uint8Array;
  /** Intra-op threads: wasm uses 1 (workerd has no threads); native defaults to all cores. */
  numThreads?: number;
  /** Reads a file of an installed model; `path` is `<modelId>/<file>` relative to the models build folder. */
  loadFile: (path: string) => Promise<Uint8Array>;
  /** native only: the models build folder on disk, so onnxruntime-node maps graphs and weights itself. */
  modelsDir?: string;
  /**
   * wasm: keep the WASM memory small (the Worker's 128 MB isolate, the browser) — derived kernels are computed per
   * run just before use (`gradient-lowmem`, no constant folding) instead of once at load. Default true; Node's
   * WASM runtime turns it off and runs `gradient-wasm` (spectral input gradients, ~1.4× faster; ~144 MB instead of
   * ~60 MB).
   */
  leanMemory?: boolean;
  /** The browser (./ort-browser.ts): the onnxruntime-web build, its engine, threads and execution provider. */
  browser?: BrowserOrt;
}

/** What the browser backend (./ort-browser.ts) supplies. */
export interface BrowserOrt {
  /** Imports the onnxruntime-web build: `onnxruntime-web/wasm` or `onnxruntime-web/webgpu` (same API). */
  load: () => Promise<unknown>;
  /** Absolute URL of the build's Emscripten module (`ort-wasm-simd-threaded[.asyncify].mjs`), same-origin. */
  engineModuleUrl: string;
  /** `webgpu`: the WebGPU execution provider first, nodes it cannot run on the WASM provider. */
  executionProvider: 'wasm' | 'webgpu';
  /** Intra-op threads (needs cross-origin isolation; 1 otherwise). */
  numThreads: number;
  /** onnxruntime's log lines while a session is made (e.g. which nodes were placed on which provider). */
  onSessionLog?: (line: string) => void;
}

type Ort = typeof OrtWebModule;
type OrtSession = OrtWebModule.InferenceSession;

let webInit: SharedValue<Ort> | undefined;
/** The browser's onnxruntime-web builds, one per build (a page may try WebGPU, then fall back to WASM). */
const browserInits = new Map<string, SharedValue<Ort>>();
let wasmMemory: WebAssembly.Memory | undefined;

/** Bytes of onnxruntime-web's WebAssembly linear memory (weights, activations, arena): the isolate's main cost. */
export function wasmMemoryBytes(): number {
  return wasmMemory?.buffer.byteLength ?? 0;
}

function findMemory(imports: WebAssembly.Imports | undefined, instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  for (const value of Object.values(instance.exports)) if (value instanceof WebAssembly.Memory) return value;
  for (const module of Object.values(imports ?? {})) {
    for (const value of Object.values(module as Record<string, unknown>)) if (value instanceof WebAssembly.Memory) return value;
  }
  return undefined;
}

/** Loads and initialises onnxruntime-web once per isolate/process. */
function loadOrtWeb(wasmBinary: OrtRuntimeOptions['wasmBinary']): Promise<Ort> {
  webInit ??= new SharedValue(async () => {
    const ort = (await import('onnxruntime-web/wasm')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    if (!wasmBinary) throw new Error('onnxruntime-web needs its .wasm binary (wasmBinary)');
    const compiled = wasmBinary instanceof WebAssembly.Module ? wasmBinary : undefined;
    const marker = new ArrayBuffer(8);
    const instantiate = WebAssembly.instantiate;
    // While ORT initialises, route its instantiate-from-bytes of our marker to the precompiled module (workerd
    // cannot compile bytes), and note the linear memory of the instance for measurements. Restored right after.
    (WebAssembly as { instantiate: unknown }).instantiate = async (source: unknown, imports?: WebAssembly.Imports) => {
      if (compiled && ArrayBuffer.isView(source) && source.buffer === marker) {
        const instance = await instantiate(compiled, imports);
        wasmMemory = findMemory(imports, instance);
        return { instance, module: compiled };
      }
      const result = (await instantiate(source as BufferSource, imports)) as unknown as WebAssembly.WebAssemblyInstantiatedSource;
      if (result.instance) wasmMemory = findMemory(imports, result.instance);
      return result;
    };
    ort.env.wasm.wasmBinary = compiled ? marker : wasmBinary instanceof Uint8Array ? wasmBinary : new Uint8Array(wasmBinary as ArrayBuffer);
    try {
      // Creating a tiny session forces the backend to initialise while the routing is in place.
      await initialiseBackend(ort);
    } finally {
      (WebAssembly as { instantiate: unknown }).instantiate = instantiate;
    }
    return ort;
  });
  return webInit.get();
}

/** Loads and initialises the browser's onnxruntime-web build once per page or Web Worker. */
function loadOrtBrowser(browser: BrowserOrt, wasmBinary: OrtRuntimeOptions['wasmBinary']): Promise<Ort> {
  let init = browserInits.get(browser.engineModuleUrl);
  if (!init) {
    init = new SharedValue(async () => {
      if (browser.onSessionLog) routeConsole();
      const ort = (await browser.load()) as Ort;
      ort.env.wasm.numThreads = Math.max(1, browser.numThreads);
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      // The engine module from the site itself (the page's CSP allows no other script); its binary as bytes.
      ort.env.wasm.wasmPaths = { mjs: browser.engineModuleUrl };
      if (wasmBinary) ort.env.wasm.wasmBinary = wasmBinary instanceof Uint8Array ? wasmBinary : new Uint8Array(wasmBinary as ArrayBuffer);
      const instantiate = WebAssembly.instantiate;
      // Note the engine's linear memory (the page reports it), as in workerd and Node.
      (WebAssembly as { instantiate: unknown }).instantiate = async (source: unknown, imports?: WebAssembly.Imports) => {
        const result = (await instantiate(source as BufferSource, imports)) as unknown as WebAssembly.WebAssemblyInstantiatedSource;
        wasmMemory = findMemory(imports, result.instance ?? (result as unknown as WebAssembly.Instance)) ?? wasmMemory;
        return result;
      };
      try {
        await initialiseBackend(ort);
      } finally {
        (WebAssembly as { instantiate: unknown }).instantiate = instantiate;
      }
      return ort;
    });
    browserInits.set(browser.engineModuleUrl, init);
  }
  return init.get();
}

/** The smallest valid ONNX model (Identity on a float tensor), used to initialise the WASM backend. */
const IDENTITY_MODEL = Uint8Array.from(
  atob('CAg6QgoQCgF4EgF5IghJZGVudGl0eRIIaWRlbnRpdHlaEQoBeBIMCgoIARIGCgQKAggBYhEKAXkSDAoKCAESBgoECgIIAUICEBE='),
  (c) => c.charCodeAt(0),
);

async function initialiseBackend(ort: Ort): Promise<void> {
  const session = await ort.InferenceSession.create(IDENTITY_MODEL, { executionProviders: ['wasm'] });
  await session.release();
}

/** The graph file a session of `graph` loads in this runtime: the lean or spectral variant where there is one. */
export function graphVariant(model: InstalledModel, graph: GraphKind, backend: 'wasm' | 'native', leanMemory: boolean, executionProvider: 'wasm' | 'webgpu' = 'wasm'): GraphKind {
  if (backend !== 'wasm' || graph !== 'gradient') return graph;
  // WebGPU: the graph as written (its derived kernels folded once at load, on the CPU); the lean variant's per-run
  // Slice/Transpose chains only add dispatches there.
  if (executionProvider === 'webgpu') return graph;
  const variant = leanMemory ? 'gradient-lowmem' : 'gradient-wasm';
  return model.graphs[variant] ? variant : graph;
}

/** Creates the runtime the core uses. */
export function createOrtRuntime(options: OrtRuntimeOptions): ModelRuntime {
  const sessions = new Map<string, SharedValue<OrtGraphSession>>();

  async function createSession(model: InstalledModel, graph: GraphKind): Promise<OrtGraphSession> {
    // Lean WASM computes derived kernels per run (no constant folding, see below): the lean gradient variant.
    // Folding WASM takes the spectral gradient variant (`gradient-wasm`), where the model has it.
    const executionProvider = options.browser?.executionProvider ?? 'wasm';
    const leanMemory = options.backend === 'wasm' && options.leanMemory !== false && executionProvider === 'wasm';
    const variant = graphVariant(model, graph, options.backend, leanMemory, executionProvider);
    const file = model.graphs[variant];
    if (model.status !== 'available' || !file) {
      throw new LeadlightError('model_unavailable', model.reason ?? `Model ${model.id} has no ${graph} graph installed; run npm install.`);
    }
    if (options.backend === 'native') {
      const ortNode = await loadOrtNode();
      if (!options.modelsDir) throw new Error('native runtime needs modelsDir');
      const session = await ortNode.InferenceSession.create(`${options.modelsDir}/${model.id}/${file}`, {
        executionProviders: ['cpu'],
        intraOpNumThreads: options.numThreads ?? 0,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      return new OrtGraphSession(session as unknown as OrtSession, ortNode as unknown as Ort, false);
    }
    const ort = options.browser ? await loadOrtBrowser(options.browser, options.wasmBinary) : await loadOrtWeb(options.wasmBinary);
    const weightsFile = model.weightsFiles?.[variant] ?? model.weightsFile;
    const [graphBytes, weights] = await Promise.all([
      options.loadFile(`${model.id}/${file}`),
      weightsFile ? options.loadFile(`${model.id}/${weightsFile}`) : Promise.resolve(undefined),
    ]);
    const onLog = options.browser?.onSessionLog;
    const sessionOptions = {
      // WebGPU first; whatever it cannot run goes to the WASM provider (reported through onSessionLog).
      executionProviders: executionProvider === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
      graphOptimizationLevel: 'all' as const,
      enableCpuMemArena: false,
      enableMemPattern: false,
      // Folding the derived kernels (flipped, rearranged) at load multiplies the WASM memory (Ribeiro: 172 MB
      // instead of 40 MB at load); deriving the long layers' kernels per run (the short ones use ConvTranspose on
      // the stored kernel) cost about as much as the folded graph in one interleaved measurement (521 vs 522 ms).
      // No pre-packing either: ConvTranspose (the lean graph's deep layers) would keep a transposed copy of its kernel.
      ...(leanMemory ? { extra: { optimization: { disable_specified_optimizers: 'ConstantFolding' }, session: { disable_prepacking: '1' } } } : {}),
      ...(weights && weightsFile ? { externalData: [{ path: weightsFile, data: weights }] } : {}),
    };
    if (onLog) {
      // A verbose session once, only for its log of which nodes went to which provider, then the real one: a
      // verbose session also logs every kernel of every run (slowing WebGPU runs several-fold).
      const probe = await withSessionLog(onLog, () => ort.InferenceSession.create(graphBytes, { ...sessionOptions, logSeverityLevel: 0, logVerbosityLevel: 0 }));
      await probe.release();
    }
    const session = await ort.InferenceSession.create(graphBytes, sessionOptions);
    return new OrtGraphSession(session, ort, true);
  }

  return {
    backend: options.backend,
    session(model, graph) {
      const key = `${model.id}/${graph}`;
      let shared = sessions.get(key);
      if (!shared) {
        shared = new SharedValue(() => createSession(model, graph));
        sessions.set(key, shared);
      }
      return shared.get();
    },
    async release(modelId) {
      for (const [key, shared] of [...sessions]) {
        if (modelId && !key.startsWith(`${modelId}/`)) continue;
        sessions.delete(key);
        await shared.peek()?.release().catch(() => undefined);
      }
    },
  };
}

/**
 * Runs `make` with onnxruntime's console output (its log goes to console.log/warn/error in the browser) passed to
 * `onLog` — how the page learns which nodes the WebGPU provider left to the WASM provider.
 */
async function withSessionLog<T>(onLog: ((line: string) => void) | undefined, make: () => Promise<T>): Promise<T> {
  if (!onLog) return make();
  logSink = onLog;
  try {
    return await make();
  } finally {
    logSink = undefined;
  }
}

/** Where the console's lines go while a session is made with `onSessionLog` (else to the console itself). */
let logSink: ((line: string) => void) | undefined;
let consoleRouted = false;

/**
 * Routes the console through `logSink`. Done before onnxruntime-web's Emscripten module starts, because the module
 * binds console.log/console.error when it starts: patching them later would not see its lines.
 */
function routeConsole(): void {
  if (consoleRouted) return;
  consoleRouted = true;
  const c = console as unknown as Record<'log' | 'warn' | 'error' | 'info' | 'debug', (...a: unknown[]) => void>;
  for (const key of ['log', 'warn', 'error', 'info', 'debug'] as const) {
    const original = c[key];
    c[key] = (...a: unknown[]) => (logSink ? logSink(a.map(String).join(' ')) : original.apply(console, a));
  }
}

let nodeInit: Promise<unknown> | undefined;
function loadOrtNode(): Promise<typeof import('onnxruntime-node')> {
  // A computed specifier keeps bundlers (the Worker, the site) from pulling the native addon in.
  const specifier = ['onnxruntime', 'node'].join('-');
  nodeInit ??= import(/* @vite-ignore */ specifier);
  return nodeInit as Promise<typeof import('onnxruntime-node')>;
}

/** Lets the host's event loop run (I/O, streamed progress, the test runner's connection) between WASM runs. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * One ORT session, returning plain Float32Array tensors. onnxruntime-web computes synchronously on the calling
 * thread, so a run first yields a macrotask (its own timer): without it a long attribution starves workerd's event
 * loop (progress events arrive only at the end; connections time out).
 *
 * Runs are not queued behind each other's promises. Once it has started, a run of the WASM backend is one JavaScript
 * turn (it awaits only values that are already there), so runs of concurrent requests cannot overlap; a queue would
 * only make one request await another's promise — which workerd cancels as hung, and which never settles once that
 * other request was cancelled (issue 13: six concurrent `ig` uploads, then every upload of the isolate failed).
 */
class OrtGraphSession implements GraphSession {
  private readonly session: OrtSession;
  private readonly ort: Ort;
  private readonly yields: boolean;
  constructor(session: OrtSession, ort: Ort, yields: boolean) {
    this.session = session;
    this.ort = ort;
    this.yields = yields;
  }

  async run(feeds: Record<string, TensorF32>, outputs?: string[]): Promise<Record<string, TensorF32>> {
    if (this.yields) await yieldToEventLoop();
    const ortFeeds: Record<string, OrtWebModule.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new this.ort.Tensor('float32', t.data, t.dims);
    const results = outputs ? await this.session.run(ortFeeds, outputs) : await this.session.run(ortFeeds);
    const out: Record<string, TensorF32> = {};
    for (const [name, tensor] of Object.entries(results)) {
      out[name] = { data: tensor.data as Float32Array, dims: [...tensor.dims] };
      tensor.dispose?.();
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
