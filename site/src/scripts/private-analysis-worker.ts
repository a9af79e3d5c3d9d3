/**
 * Private mode's Web Worker: the whole analysis in the visitor's browser, off the page's thread. It runs the one
 * pipeline (functions/core/pipeline.ts) on the ORT adapter's browser backend (functions/platform/ort-browser.ts:
 * WASM on all cores when cross-origin isolated, or WebGPU), with the Worker's reading bounds and without file names
 * in the result (as a server upload), and posts the progress, the partial maps and the final result to the page.
 * Nothing it receives or computes is sent anywhere; the only requests are for the site's model and engine files.
 */
import './zod-jitless.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { type AnalyzeRequest, analyzeEcg } from '../../../functions/core/pipeline.ts';
import { type Result, checkResult } from '../../../functions/core/result.ts';
import { type BrowserEngine, type EngineInfo, type ExecutionProviderChoice, createBrowserEngine } from '../../../functions/platform/ort-browser.ts';
import { WORKER_READ_OPTIONS } from '../../../functions/worker/read-options.ts';

export interface AnalyseMessage {
  type: 'analyse';
  files: { name: string; bytes: ArrayBuffer }[];
  request: AnalyzeRequest;
  engine: ExecutionProviderChoice;
  /** false: leave out the deletion/insertion curves (108 forward passes; very slow on a software WebGPU adapter). */
  faithfulness?: boolean;
}

export type WorkerEvent =
  | { type: 'engine'; info: EngineInfo }
  | { type: 'progress'; stage: string; done?: number; total?: number }
  | { type: 'partial'; result: Result }
  | { type: 'result'; result: Result; info: EngineInfo }
  | { type: 'error'; code: string; message: string };

const scope = self as unknown as { postMessage(message: WorkerEvent): void; onmessage: ((e: MessageEvent<AnalyseMessage>) => void) | null };
const post = (event: WorkerEvent) => scope.postMessage(event);

/** The engine of this Worker, made once per provider choice (sessions and cached files are reused). */
const engines = new Map<ExecutionProviderChoice, Promise<BrowserEngine>>();
function engineFor(choice: ExecutionProviderChoice): Promise<BrowserEngine> {
  let engine = engines.get(choice);
  if (!engine) {
    engine = createBrowserEngine(choice);
    engine.catch(() => engines.delete(choice));
    engines.set(choice, engine);
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

async function analyse(message: AnalyseMessage): Promise<void> {
  const t0 = performance.now();
  post({ type: 'progress', stage: 'engine' });
  let engine = await engineFor(message.engine);
  post({ type: 'engine', info: snapshot(engine.info) });
  const tEngine = performance.now();
  const files = message.files.map((f) => ({ name: f.name, bytes: new Uint8Array(f.bytes) }));
  const run = (e: BrowserEngine) =>
    analyzeEcg(files, message.request, {
      runtime: e.runtime,
      models: e.models,
      readOptions: WORKER_READ_OPTIONS,
      keepFileNames: false,
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
    engine = await engineFor('wasm');
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
        ...(Object.keys(info.cpuFallback).length ? { cpuFallback: info.cpuFallback } : {}),
        ...(webgpuFailed ? { webgpuFailed } : {}),
      },
    },
  });
  post({ type: 'result', result: final, info });
}

scope.onmessage = (e) => {
  if (e.data?.type !== 'analyse') return;
  analyse(e.data).catch((error: unknown) => {
    if (isLeadlightError(error)) post({ type: 'error', code: error.code, message: error.message });
    else post({ type: 'error', code: 'internal', message: `The analysis failed in this browser: ${error instanceof Error ? error.message : String(error)}` });
  });
};
