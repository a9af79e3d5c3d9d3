/**
 * `leadlight bench --runtime browser`: the engine of private mode (functions/platform/ort-browser.ts) in Debian's
 * Chromium via playwright-core, measured like the other runtimes — session, forward pass, one gradient (medians of
 * runs), the paper's IG-64 and the first map (warm, and on a new page) — in four settings: WASM with 1 thread, WASM
 * with all cores as intra-op threads, WASM as private mode runs it on several cores (engines side by side in helper
 * Web Workers, one IG point each per run: ort-browser.ts `parallelPlan`), and WebGPU (on a machine without a GPU,
 * Chromium's software adapter SwiftShader). A local server hands the page an esbuild bundle of the engine and the
 * pipeline (also the helpers' script), and the model and engine files as the site serves them
 * (site/scripts/copy-models.mjs), with the COOP/COEP headers threads need. Each setting has a page of its own
 * (onnxruntime-web fixes its thread count per page); all pages are made first and every measurement is then taken in
 * turns over them, so a spell of load from other processes (this machine is shared) falls on all settings alike.
 * IG-64 runs twice per setting (in turns; the faster is the row's), each with the share of the CPU other processes
 * used meanwhile on stderr (Linux).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { repoRoot } from '../platform/node.ts';
import { parallelBatch, parallelPlan } from '../platform/ort-browser.ts';
import type { BenchRow } from './bench.ts';
import { gatherRecordFiles } from './args.ts';

const CHROMIUM = process.env.LEADLIGHT_CHROMIUM ?? '/usr/bin/chromium';
/** Beyond this estimated IG-64 time (64 gradients) a setting's IG-64 is not run (SwiftShader takes seconds a gradient). */
const IG_BUDGET_MS = 240_000;
/** IG-64 runs per setting, taken in turns over the settings; the fastest is reported. */
const IG_REPEATS = 2;

const PAGE_ENTRY = `
import { ENGINE_HELPER_NAME, createBrowserEngine, parallelBatch, serveEngineHelper } from './functions/platform/ort-browser.ts';
import { wasmMemoryBytes } from './functions/platform/ort.ts';
import { readEcg } from './functions/core/readers/registry.ts';
import { prepareModelInput } from './functions/core/model/preprocess.ts';
import { analyzeUntilFirstMap } from './functions/core/pipeline.ts';
import { attribute } from './functions/core/attribution/attribute.ts';

// This bundle is also the script of the helper engines (Web Workers named ENGINE_HELPER_NAME).
if (typeof window === 'undefined' && self.name === ENGINE_HELPER_NAME) serveEngineHelper();

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
let state;
/** Makes the engine (timed to the first map, cold) and the sessions, and runs each once. */
globalThis.leadlightSetup = async ({ modelId, files, provider, numThreads, instances }) => {
  files = files.map((f) => ({ name: f.name, bytes: Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0)) }));
  const tCold = performance.now();
  const engine = await createBrowserEngine(provider, location.origin, { numThreads, instances, helperUrl: '/bench.js' });
  const { runtime, models, info } = engine;
  const model = models.find((m) => m.id === modelId);
  const request = { model: modelId };
  await analyzeUntilFirstMap(files, request, { runtime, models, faithfulness: false });
  const firstMapColdMs = performance.now() - tCold;
  const record = await readEcg(files);
  const input = prepareModelInput(record, model);
  const t0 = performance.now();
  const classifier = await runtime.session(model, 'classifier');
  const sessionMs = performance.now() - t0;
  const gradient = await runtime.session(model, 'gradient');
  state = { files, request, runtime, models, info, model, input, classifier, gradient };
  await globalThis.leadlightTurn();
  // Warm the helper engines too (a batch of rows for every engine).
  if (info.instances > 1) await globalThis.leadlightGradients(parallelBatch(info.instances));
  return { sessionMs, firstMapColdMs, threads: info.numThreads, instances: info.instances, provider: info.executionProvider, cpuFallback: info.cpuFallback, webgpuUnavailable: info.webgpuUnavailable ?? null };
};
const x = () => ({ data: state.input.data, dims: [1, state.input.samples, state.model.input.leads.length] });
const seed = (rows) => {
  const classes = state.model.classes.length;
  const s = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r++) s[r * classes] = 1;
  return { data: s, dims: [rows, classes] };
};
/** One forward pass and one gradient (single row), timed. */
globalThis.leadlightTurn = async () => {
  let t = performance.now();
  await state.classifier.run({ x: x() }, ['logits']);
  const forwardMs = performance.now() - t;
  t = performance.now();
  await state.gradient.run({ x: x(), seed: seed(1) }, ['logits', 'grad']);
  return { forwardMs, gradientMs: performance.now() - t };
};
globalThis.leadlightGradients = async (rows) => {
  const one = state.input.data;
  const data = new Float32Array(rows * one.length);
  for (let r = 0; r < rows; r++) data.set(one, r * one.length);
  await state.gradient.run({ x: { data, dims: [rows, state.input.samples, state.model.input.leads.length] }, seed: seed(rows) }, ['logits', 'grad']);
};
/** The paper's IG-64, batched as private mode batches it (parallelBatch: several points per run on several engines). */
globalThis.leadlightIg = async () => {
  const { model, input, info } = state;
  const t = performance.now();
  const ig = await attribute(state.gradient, { method: 'ig', classIndex: 0, numClasses: model.classes.length, input: input.data, samples: input.samples, leads: model.input.leads.length, steps: 64, rule: 'left', batchSize: parallelBatch(info.instances) });
  return { ig64Ms: performance.now() - t, completenessRelativeError: ig.completeness.relativeError };
};
globalThis.leadlightFirstMap = async () => {
  const t = performance.now();
  await analyzeUntilFirstMap(state.files, state.request, { runtime: state.runtime, models: state.models, faithfulness: false });
  return performance.now() - t;
};
globalThis.leadlightMemory = () => wasmMemoryBytes();
`;

/** Share of the machine's CPU (0..1) used by processes outside this process's tree since `since` (Linux; else NaN). */
function otherCpu(): () => number {
  const sample = () => {
    try {
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const total = cpu.reduce((a, b) => a + b, 0);
      const busy = total - cpu[3]! - cpu[4]!;
      const parent = new Map<number, number>();
      const ticks = new Map<number, number>();
      for (const d of readdirSync('/proc')) {
        if (!/^\d+$/u.test(d)) continue;
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          parent.set(Number(d), Number(f[1]));
          ticks.set(Number(d), Number(f[11]) + Number(f[12]));
        } catch {
          // The process ended meanwhile.
        }
      }
      let mine = 0;
      for (const [pid, t] of ticks) {
        for (let p: number | undefined = pid; p; p = parent.get(p)) {
          if (p === process.pid) {
            mine += t;
            break;
          }
        }
      }
      return { total, busy, mine };
    } catch {
      return undefined;
    }
  };
  const a = sample();
  return () => {
    const b = sample();
    return a && b && b.total > a.total ? (b.busy - a.busy - (b.mine - a.mine)) / (b.total - a.total) : Number.NaN;
  };
}

const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]! : Number.NaN);

/** Calls one of the bench page's functions. */
function call(page: Page, name: string, args?: unknown): Promise<Record<string, unknown>> {
  return page.evaluate(([fn, a]) => (globalThis as unknown as Record<string, (x: unknown) => Promise<Record<string, unknown>>>)[fn as string]!(a), [name, args] as const);
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html' };

/** Serves the bench page, its bundle and `dist` (model files) with the headers of the site (cross-origin isolated). */
function serve(bundle: string, dist: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-store' };
    if (path === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>Leadlight bench</title><script type="module" src="/bench.js"></script>');
      return;
    }
    if (path === '/bench.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(bundle);
      return;
    }
    const file = normalize(join(dist, path));
    if (!file.startsWith(dist) || !path.startsWith('/model-files/')) {
      res.writeHead(404, headers).end();
      return;
    }
    try {
      statSync(file);
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    } catch {
      res.writeHead(404, headers).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

/** WASM × 1 thread, WASM × all cores, WebGPU: one row each (WebGPU's CPU-fallback operators on stderr). */
export async function benchBrowser(modelId: string, recordPath: string, buildDir: string): Promise<BenchRow[]> {
  const { build } = await import('esbuild');
  const { chromium } = await import('playwright-core');
  const work = mkdtempSync(join(tmpdir(), 'leadlight-bench-browser-'));
  const cores = availableParallelism();
  try {
    execFileSync(process.execPath, [join(repoRoot, 'site/scripts/copy-models.mjs'), buildDir, work], { stdio: 'pipe' });
    const out = await build({
      stdin: { contents: PAGE_ENTRY, resolveDir: repoRoot, sourcefile: 'bench-entry.js', loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      // onnxruntime-web's builds that load their engine from a URL (as the site's Vite config picks).
      conditions: ['onnxruntime-web-use-extern-wasm'],
    });
    const { server, origin } = await serve(out.outputFiles[0]!.text, work);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] });
    const rows: BenchRow[] = [];
    const label = (provider: string, threads: number, instances: number) => `${provider}×${threads}${instances > 1 ? ` in ${instances} engines` : ''}`;
    try {
      const context = await browser.newContext();
      const files = gatherRecordFiles([recordPath]).map((f) => ({ name: f.name, base64: Buffer.from(f.bytes).toString('base64') }));
      type Setting = { provider: 'wasm' | 'webgpu'; numThreads: number; instances: number };
      const settings: Setting[] = [
        { provider: 'wasm', numThreads: 1, instances: 1 },
        { provider: 'wasm', numThreads: cores, instances: 1 },
        // Private mode's plan on this machine (ort-browser.ts parallelPlan): engines side by side.
        ...(cores > 1 ? [{ provider: 'wasm' as const, ...parallelPlan(cores, true) }] : []),
        { provider: 'webgpu', numThreads: cores, instances: 1 },
      ];
      // Every setting's page is made first and kept open; then each measurement is taken in turns over the pages,
      // so a spell of load from other processes falls on every setting alike (and is reported).
      const open: { setting: Setting; page: Page; setup: Record<string, unknown>; forward: number[]; gradient: number[]; firstMaps: number[]; ig?: Record<string, unknown>; igRuns: { ms: number; other: number }[] }[] = [];
      for (const setting of settings) {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        await page.waitForFunction(() => 'leadlightSetup' in globalThis);
        try {
          const setup = await call(page, 'leadlightSetup', { modelId, files, ...setting });
          if (setup.provider !== setting.provider) process.stderr.write(`bench ${modelId} browser ${setting.provider}: ran on ${String(setup.provider)} (${String(setup.webgpuUnavailable)})\n`);
          if (setting.provider === 'webgpu') process.stderr.write(`bench ${modelId} browser webgpu: operators on the WASM provider ${JSON.stringify(setup.cpuFallback)}\n`);
          open.push({ setting, page, setup, forward: [], gradient: [], firstMaps: [], igRuns: [] });
        } catch (e) {
          // A setting the engine cannot run (e.g. an operator WebGPU claims but fails): said, and the others go on.
          const message = e instanceof Error ? e.message : String(e);
          const node = /running (\w+) node\..*?Status Message: (?:\S+ \w+ )?(.*)$/su.exec(message);
          process.stderr.write(`bench ${modelId} browser ${label(setting.provider, setting.numThreads, setting.instances)}: cannot run${node ? ` ${node[1]}: ${node[2]!.split('\n')[0]!.trim()}` : `: ${message.split('\n')[0]}`}\n`);
          await page.close();
        }
      }
      for (let i = 0; i < 9; i++) {
        for (const o of open) {
          if (o.setting.provider === 'webgpu' && i >= 3) continue;
          const turn = await call(o.page, 'leadlightTurn');
          o.forward.push(Number(turn.forwardMs));
          o.gradient.push(Number(turn.gradientMs));
        }
      }
      // IG-64 twice per setting, in turns; the faster of the two is reported (the other is a spell of load).
      for (let i = 0; i < IG_REPEATS; i++) {
        for (const o of open) {
          if (median(o.gradient) * 64 > IG_BUDGET_MS * Number(o.setup.instances)) continue;
          const other = otherCpu();
          const ig = await call(o.page, 'leadlightIg');
          o.igRuns.push({ ms: Number(ig.ig64Ms), other: other() });
          if (!o.ig || Number(ig.ig64Ms) < Number(o.ig.ig64Ms)) o.ig = ig;
        }
      }
      for (let i = 0; i < 3; i++) for (const o of open) o.firstMaps.push(Number(await call(o.page, 'leadlightFirstMap')));
      for (const o of open) {
        const r: Record<string, unknown> = { ...o.setup, ...o.ig, wasmMemoryBytes: await o.page.evaluate(() => (globalThis as unknown as { leadlightMemory: () => number }).leadlightMemory()) };
        await o.page.close();
        const n = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
        const instances = n(r.instances);
        if (o.igRuns.length) {
          const runs = o.igRuns.map((g) => `${(g.ms / 1000).toFixed(2)} s${Number.isFinite(g.other) ? ` (other processes: ${(g.other * 100).toFixed(0)} % of the CPU)` : ''}`);
          process.stderr.write(`bench ${modelId} browser ${label(String(r.provider), n(r.threads), instances)}: IG-64 ${runs.join(', ')}\n`);
        }
        rows.push({
          model: modelId,
          runtime: `browser-${String(r.provider)}${instances > 1 ? `/${instances}` : ''}`,
          threads: n(r.threads),
          sessionMs: n(r.sessionMs),
          forwardMs: median(o.forward),
          gradientMs: median(o.gradient),
          gradientToForward: median(o.gradient) / median(o.forward),
          ig64Ms: n(r.ig64Ms),
          igBatch: parallelBatch(instances),
          firstMapMs: median(o.firstMaps),
          firstMapColdMs: n(r.firstMapColdMs),
          peakRssBytes: 0,
          wasmMemoryBytes: n(r.wasmMemoryBytes),
          completenessRelativeError: n(r.completenessRelativeError),
        });
      }
    } finally {
      await browser.close();
      server.close();
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
