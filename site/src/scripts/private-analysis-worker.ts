/**
 * Private mode's Web Worker: the whole analysis in the visitor's browser, off the page's thread. It runs the one
 * pipeline (functions/core/pipeline.ts) on the ORT adapter's browser backend (functions/platform/ort-browser.ts:
 * WASM on all cores when cross-origin isolated, or WebGPU), with the Worker's reading bounds and without file names
 * in the result (as a server upload), and posts the progress, the partial maps and the final result to the page.
 * Nothing it receives or computes is sent anywhere; the only requests are for the site's model and engine files.
 * On WASM with several cores it starts copies of itself as helper engines (named ENGINE_HELPER_NAME; see
 * `parallelPlan` in ort-browser.ts) that run the IG points and faithfulness steps side by side, and passes the
 * pipeline batches of `parallelBatch` points.
 * A `prepare` message (the page sends it while the visitor picks a file) makes the engine and the model's session
 * and runs it once on a zero input, so the first map of the analysis does not wait for the engine to compile, the
 * files to load or the session to be made.
 */
import './zod-jitless.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { graphOf, parseMethod } from '../../../functions/core/attribution/attribute.ts';
import { type AnalyzeRequest, analyzeEcg, selectModel } from '../../../functions/core/pipeline.ts';
import { type Result, checkResult } from '../../../functions/core/result.ts';
import {
  type BrowserEngine,
  ENGINE_HELPER_NAME,
  type EngineInfo,
  type ExecutionProviderChoice,
  createBrowserEngine,
  parallelBatch,
  parallelPlan,
  serveEngineHelper,
} from '../../../functions/platform/ort-browser.ts';
import { WORKER_READ_OPTIONS } from '../../../functions/worker/read-options.ts';

export interface AnalyseMessage {
  type: 'analyse';
  files: { name: string; bytes: ArrayBuffer }[];
  request: AnalyzeRequest;
  engine: ExecutionProviderChoice;
  /** How WASM uses the cores (see `planOf`); default `threads`. */
  cores?: CoresChoice;
  /** false: leave out the deletion/insertion curves (108 forward passes; very slow on a software WebGPU adapter). */
  faithfulness?: boolean;
}

/**
 * How WASM uses the visitor's cores: `threads` (default, issue 15): one engine with `numThreads` = the cores;
 * `engines`: engines side by side, each with its share (ort-browser.ts `parallelPlan`) — slower on an idle machine
 * (Ribeiro-size IG-64 0.66× against 0.54× the one-thread time, 2 cores) but far better on a busy one (0.46–0.63×
 * where two threads took 1.4–2.5×), at one model copy per engine.
 */
export type CoresChoice = 'threads' | 'engines';

/** Sent while the visitor picks a file: load the engine and `model`'s session for `method` ahead of the analysis. */
export interface PrepareMessage {
  type: 'prepare';
  model: string;
  method?: string;
  engine: ExecutionProviderChoice;
  cores?: CoresChoice;
}

export type WorkerEvent =
  | { type: 'engine'; info: EngineInfo }
  | { type: 'progress'; stage: string; done?: number; total?: number }
  | { type: 'partial'; result: Result }
  | { type: 'result'; result: Result; info: EngineInfo }
  | { type: 'error'; code: string; message: string }
  /** A `prepare` finished: the engine and the session of `model` are loaded (and warm, on WASM), in `ms`. */
  | { type: 'prepared'; model: string; ms: number };

const scope = self as unknown as { postMessage(message: WorkerEvent): void; onmessage: ((e: MessageEvent<AnalyseMessage | PrepareMessage>) => void) | null };
const post = (event: WorkerEvent) => scope.postMessage(event);

/** The engine of this Worker, made once per provider and cores choice (sessions and cached files are reused). */
const engines = new Map<string, Promise<BrowserEngine>>();
function engineFor(choice: ExecutionProviderChoice, cores: CoresChoice = 'threads'): Promise<BrowserEngine> {
  const key = `${choice}/${cores}`;
  let engine = engines.get(key);
  if (!engine) {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const count = navigator.hardwareConcurrency || 1;
    // One engine with a thread per core, or engines side by side (this script is also the helpers': see the end).
    const plan = cores === 'engines' ? parallelPlan(count, isolated) : { instances: 1, numThreads: count };
    engine = createBrowserEngine(choice, location.origin, { ...plan, helperUrl: self.location.href });
    engine.catch(() => engines.delete(key));
    engines.set(key, engine);
  }
  return engine;
}

/** A snapshot of the engine facts (the info object's byte counters are getters). */
function snapshot(info: EngineInfo): EngineInfo {
  return { ...info, cpuFallback: { ...info.cpuFallback }, downloadedBytes: info.downloadedBytes, cachedFiles: info.cachedFiles };
}

/**
 * What WebGPU could not run, from onnxruntime's error: "… running MaxPool node. Name:'…' Status Message: … The
 * Indices output is not supported yet." → "MaxPool: The Indices output is not supported yet."
 */
export function webgpuFailureOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const node = /running (\w+) node\..*?Status Message: (?:\S+ \w+ )?(.*)$/su.exec(text);
  return node ? `${node[1]}: ${node[2].split('\n')[0].trim()}` : text.split('\n')[0].slice(0, 300);
}

/** Models and graphs already prepared (or being prepared) in this Worker, by `<choice>/<model>/<graph>`. */
const prepared = new Map<string, Promise<void>>();

/**
 * Makes the engine and, on WASM, the session an analysis of `model` with `method` opens first, and runs it once on
 * a zero input with a class seed (forward and backward pass, so the engine's code is warm). On WebGPU only the engine
 * (a session's node placement is read from the log while it is made, one at a time; a run on a software adapter
 * takes many seconds). A failure is left to the analysis, which meets it again and says so.
 */
function prepare(message: PrepareMessage): Promise<void> {
  let graph: ReturnType<typeof graphOf>;
  try {
    graph = graphOf(parseMethod(message.method));
  } catch {
    return Promise.resolve();
  }
  const key = `${message.engine}/${message.cores ?? 'threads'}/${message.model}/${graph}`;
  let done = prepared.get(key);
  if (!done) {
    const t0 = performance.now();
    done = (async () => {
      const engine = await engineFor(message.engine, message.cores);
      // On WebGPU only the engine: its sessions are made one at a time, each with the log of its node placement.
      if (engine.info.executionProvider !== 'wasm') return;
      const model = selectModel(engine.models, message.model);
      const session = await engine.runtime.session(model, graph);
      // A zero input with a class seed: the forward and the backward pass, as the first map's run.
      const samples = model.input.samples;
      const leads = model.input.leads.length;
      // One row per engine, so the helper engines are warm too.
      const rows = engine.info.instances;
      const seed = new Float32Array(rows * model.classes.length);
      for (let r = 0; r < rows; r++) seed[r * model.classes.length] = 1;
      await session.run({ x: { data: new Float32Array(rows * samples * leads), dims: [rows, samples, leads] }, seed: { data: seed, dims: [rows, model.classes.length] } }, graph === 'gradient' ? ['logits', 'grad'] : undefined);
    })().then(
      () => post({ type: 'prepared', model: message.model, ms: performance.now() - t0 }),
      () => {
        prepared.delete(key);
      },
    );
    prepared.set(key, done);
  }
  return done;
}

async function analyse(message: AnalyseMessage): Promise<void> {
  const t0 = performance.now();
  post({ type: 'progress', stage: 'engine' });
  let engine = await engineFor(message.engine, message.cores);
  post({ type: 'engine', info: snapshot(engine.info) });
  const tEngine = performance.now();
  const files = message.files.map((f) => ({ name: f.name, bytes: new Uint8Array(f.bytes) }));
  const run = (e: BrowserEngine) =>
    analyzeEcg(files, message.request, {
      runtime: e.runtime,
      models: e.models,
      readOptions: WORKER_READ_OPTIONS,
      keepFileNames: false,
      // Several IG points (or faithfulness steps) per run: the rows go to the engines side by side.
      ...(e.info.instances > 1 ? { batchSize: parallelBatch(e.info.instances) } : {}),
      ...(message.faithfulness === false ? { faithfulness: false } : {}),
      onProgress: (p) => post({ type: 'progress', ...p }),
      onPartial: (partial) => post({ type: 'partial', result: partial }),
    });
  let result: Result;
  let webgpuFailed: string | undefined;
  try {
    result = await run(engine);
  } catch (error) {
    // A node WebGPU claims but cannot run (e.g. MaxPool with its Indices output in onnxruntime-web 1.30): the
    // analysis runs again on WASM, and the page and the result say why.
    if (engine.info.executionProvider !== 'webgpu' || isLeadlightError(error)) throw error;
    webgpuFailed = webgpuFailureOf(error);
    engine = await engineFor('wasm', message.cores);
    post({ type: 'engine', info: { ...snapshot(engine.info), webgpuFailed } });
    result = await run(engine);
  }
  const info = { ...snapshot(engine.info), ...(webgpuFailed ? { webgpuFailed } : {}) };
  const final = checkResult({
    ...result,
    timingsMs: { engine: tEngine - t0, ...result.timingsMs, total: performance.now() - t0 },
    provenance: {
      computedIn: 'browser',
      engine: {
        runtime: 'onnxruntime-web',
        executionProvider: info.executionProvider,
        numThreads: info.numThreads,
        instances: info.instances,
        ...(Object.keys(info.cpuFallback).length ? { cpuFallback: info.cpuFallback } : {}),
        ...(webgpuFailed ? { webgpuFailed } : {}),
      },
    },
  });
  post({ type: 'result', result: final, info });
}

// Started by itself as a helper engine (ort-browser.ts): serve runs; else: the analysis Worker of the page.
if ((self as { name?: string }).name === ENGINE_HELPER_NAME) serveEngineHelper();
else {
  scope.onmessage = (e) => {
    if (e.data?.type === 'prepare') {
      void prepare(e.data);
      return;
    }
    if (e.data?.type !== 'analyse') return;
    analyse(e.data).catch((error: unknown) => {
      if (isLeadlightError(error)) post({ type: 'error', code: error.code, message: error.message });
      else post({ type: 'error', code: 'internal', message: `The analysis failed in this browser: ${error instanceof Error ? error.message : String(error)}` });
    });
  };
}
