/**
 * A Worker used only by `leadlight bench --runtime workerd`: it runs the engine inside workerd exactly as the
 * service does (CompiledWasm ORT, models from the ASSETS binding) and exposes single steps — load, forward,
 * gradient, integrated gradients, the first map of a progressive explanation, the check of a shared result (issue 15's
 * `POST /api/results`: `/share-prepare` analyses the bench record as a browser would and keeps its JSON, `/share`
 * checks it `repeat` times) — so the bench can time each from outside (workerd's clocks do not advance during
 * computation) and read the WASM memory of the isolate.
 */
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { attribute } from '../core/attribution/attribute.ts';
import { prepareModelInput, type ModelInput } from '../core/model/preprocess.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { analyzeEcg, analyzeUntilFirstMap } from '../core/pipeline.ts';
import { asciiJsonText } from '../core/json-ascii.ts';
import { parseSharedResult } from '../core/result-consistency.ts';
import type { InputFile } from '../core/record.ts';
import { readEcg } from '../core/readers/registry.ts';
import { createOrtRuntime, wasmMemoryBytes } from '../platform/ort.ts';
import type { AssetsFetcher } from './env.ts';
import { loadModelFile, loadModelsIndex } from './models.ts';

interface BenchEnv {
  ASSETS: AssetsFetcher;
}

const ISOLATE = Math.random();
let runtime: ModelRuntime | undefined;
let state: { model: InstalledModel; models: InstalledModel[]; input: ModelInput; files: InputFile[]; shared?: Uint8Array } | undefined;

async function recordFiles(env: BenchEnv): Promise<InputFile[]> {
  const list = (await (await env.ASSETS.fetch('https://assets.invalid/bench-record/index.json')).json()) as string[];
  return Promise.all(
    list.map(async (name) => ({ name, bytes: new Uint8Array(await (await env.ASSETS.fetch(`https://assets.invalid/bench-record/${name}`)).arrayBuffer()) })),
  );
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
    try {
      runtime ??= createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => loadModelFile(env.ASSETS, path) });
      if (url.pathname === '/ping') return json({ ok: true, isolate: ISOLATE });
      // Every step names its model and loads it when this isolate has not (a fresh isolate, or another model).
      const modelId = url.searchParams.get('model');
      let loaded = false;
      if (url.pathname === '/load' || !state || state.model.id !== modelId) {
        const { models } = await loadModelsIndex(env.ASSETS);
        const model = models.find((m) => m.id === modelId);
        if (!model) return json({ error: `no model ${modelId}` });
        const files = await recordFiles(env);
        const input = prepareModelInput(await readEcg(files), model);
        state = { model, models, input, files };
        await runtime.session(model, 'gradient');
        loaded = true;
      }
      if (url.searchParams.get('classifier') === '1') await runtime.session(state.model, 'classifier');
      if (url.pathname === '/load') return json({ wasmMemoryBytes: wasmMemoryBytes(), loaded });
      const { model, input } = state;
      const leads = model.input.leads.length;
      const classes = model.classes.length;
      const x = { data: input.data, dims: [1, input.samples, leads] };
      if (url.pathname === '/forward') {
        const session = await runtime.session(model, 'classifier');
        await session.run({ x }, ['logits']);
      } else if (url.pathname === '/gradient') {
        const session = await runtime.session(model, 'gradient');
        const seed = new Float32Array(classes);
        seed[0] = 1;
        await session.run({ x, seed: { data: seed, dims: [1, classes] } }, ['logits', 'grad']);
      } else if (url.pathname === '/ig') {
        const session = await runtime.session(model, 'gradient');
        const ig = await attribute(session, {
          method: 'ig', classIndex: 0, numClasses: classes, input: input.data, samples: input.samples, leads,
          steps: Number(url.searchParams.get('steps') ?? 64), rule: 'left', batchSize: Number(url.searchParams.get('batch') ?? 1),
        });
        return json({ completenessRelativeError: ig.completeness.relativeError, wasmMemoryBytes: wasmMemoryBytes(), loaded });
      } else if (url.pathname === '/first-map') {
        await analyzeUntilFirstMap(state.files, { model: model.id }, { runtime, models: state.models });
      } else if (url.pathname === '/share-prepare') {
        const result = await analyzeEcg(state.files, { model: model.id, method: 'gradient' }, { runtime, models: state.models, faithfulness: false });
        // As the share client sends it (site/src/scripts/api.ts): ASCII JSON.
        state.shared = new TextEncoder().encode(asciiJsonText(JSON.stringify({ ...result, provenance: { computedIn: 'browser' } })));
        return json({ sharedResultBytes: state.shared.byteLength, loaded });
      } else if (url.pathname === '/share') {
        if (!state.shared) return json({ error: 'call /share-prepare first' });
        const repeat = Number(url.searchParams.get('repeat') ?? 1);
        for (let i = 0; i < repeat; i++) parseSharedResult(state.shared, state.models);
        return json({ repeat, loaded });
      } else if (url.pathname === '/release') {
        await runtime.release();
      }
      return json({ wasmMemoryBytes: wasmMemoryBytes(), loaded });
    } catch (e) {
      return json({ error: e instanceof Error ? e.message : String(e) });
    }
  },
};
