/**
 * `leadlight bench --runtime browser`: the engine of private mode (functions/platform/ort-browser.ts) in Debian's
 * Chromium via playwright-core, measured like the other runtimes — session, forward pass, one gradient (medians of
 * runs taken in turns), the paper's IG-64 and the first map (warm, and on a new page) — in three settings: WASM with
 * 1 thread, WASM with all cores, and WebGPU (on a machine without a GPU, Chromium's software adapter SwiftShader).
 * A local server hands the page an esbuild bundle of the engine and the pipeline, and the model and engine files as
 * the site serves them (site/scripts/copy-models.mjs), with the COOP/COEP headers threads need. Each setting runs
 * on a page of its own (onnxruntime-web fixes its thread count per page).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { repoRoot } from '../platform/node.ts';
import type { BenchRow } from './bench.ts';
import { gatherRecordFiles } from './args.ts';

const CHROMIUM = process.env.LEADLIGHT_CHROMIUM ?? '/usr/bin/chromium';
/** Beyond this estimated IG-64 time (64 gradients) a setting's IG-64 is not run (SwiftShader takes seconds a gradient). */
const IG_BUDGET_MS = 240_000;

const PAGE_ENTRY = `
import { createBrowserEngine } from './functions/platform/ort-browser.ts';
import { wasmMemoryBytes } from './functions/platform/ort.ts';
import { readEcg } from './functions/core/readers/registry.ts';
import { prepareModelInput } from './functions/core/model/preprocess.ts';
import { analyzeUntilFirstMap } from './functions/core/pipeline.ts';
import { attribute } from './functions/core/attribution/attribute.ts';

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
globalThis.leadlightBench = async ({ modelId, files, provider, numThreads, igBudgetMs }) => {
  files = files.map((f) => ({ name: f.name, bytes: Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0)) }));
  const tCold = performance.now();
  const engine = await createBrowserEngine(provider, location.origin, { numThreads });
  const { runtime, models, info } = engine;
  const model = models.find((m) => m.id === modelId);
  const request = { model: modelId };
  await analyzeUntilFirstMap(files, request, { runtime, models, faithfulness: false });
  const firstMapColdMs = performance.now() - tCold;
  const record = await readEcg(files);
  const input = prepareModelInput(record, model);
  const leads = model.input.leads.length;
  const classes = model.classes.length;
  const x = { data: input.data, dims: [1, input.samples, leads] };
  const seed = new Float32Array(classes);
  seed[0] = 1;
  const t0 = performance.now();
  const classifier = await runtime.session(model, 'classifier');
  const sessionMs = performance.now() - t0;
  const gradient = await runtime.session(model, 'gradient');
  const forward = () => classifier.run({ x }, ['logits']);
  const gradientRun = () => gradient.run({ x, seed: { data: seed, dims: [1, classes] } }, ['logits', 'grad']);
  await forward();
  await gradientRun();
  const repeats = provider === 'webgpu' ? 3 : 9;
  const f = [];
  const g = [];
  for (let i = 0; i < repeats; i++) {
    let t = performance.now();
    await forward();
    f.push(performance.now() - t);
    t = performance.now();
    await gradientRun();
    g.push(performance.now() - t);
  }
  const forwardMs = median(f);
  const gradientMs = median(g);
  let ig64Ms = null;
  let completenessRelativeError = null;
  if (gradientMs * 64 <= igBudgetMs) {
    const tIg = performance.now();
    const ig = await attribute(gradient, { method: 'ig', classIndex: 0, numClasses: classes, input: input.data, samples: input.samples, leads, steps: 64, rule: 'left', batchSize: 1 });
    ig64Ms = performance.now() - tIg;
    completenessRelativeError = ig.completeness.relativeError;
  }
  const firstMaps = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await analyzeUntilFirstMap(files, request, { runtime, models, faithfulness: false });
    firstMaps.push(performance.now() - t);
  }
  return {
    sessionMs, forwardMs, gradientMs, ig64Ms, completenessRelativeError, firstMapMs: median(firstMaps), firstMapColdMs,
    wasmMemoryBytes: wasmMemoryBytes(), threads: info.numThreads, provider: info.executionProvider,
    cpuFallback: info.cpuFallback, webgpuUnavailable: info.webgpuUnavailable ?? null,
  };
};
`;

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
    try {
      const context = await browser.newContext();
      const files = gatherRecordFiles([recordPath]).map((f) => ({ name: f.name, base64: Buffer.from(f.bytes).toString('base64') }));
      for (const [provider, numThreads] of [['wasm', 1], ['wasm', cores], ['webgpu', cores]] as const) {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        await page.waitForFunction(() => 'leadlightBench' in globalThis);
        let r: Record<string, unknown>;
        try {
          r = await page.evaluate((args) => (globalThis as unknown as { leadlightBench: (a: typeof args) => Promise<Record<string, unknown>> }).leadlightBench(args), { modelId, files, provider, numThreads, igBudgetMs: IG_BUDGET_MS });
        } catch (e) {
          // A setting the engine cannot run (e.g. an operator WebGPU claims but fails): said, and the others go on.
          const message = e instanceof Error ? e.message : String(e);
          const node = /running (\w+) node\..*?Status Message: (?:\S+ \w+ )?(.*)$/su.exec(message);
          process.stderr.write(`bench ${modelId} browser ${provider}×${numThreads}: cannot run${node ? ` ${node[1]}: ${node[2]!.split('\n')[0]!.trim()}` : `: ${message.split('\n')[0]}`}\n`);
          await page.close();
          continue;
        }
        await page.close();
        const n = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
        if (r.provider !== provider) process.stderr.write(`bench ${modelId} browser ${provider}: ran on ${String(r.provider)} (${String(r.webgpuUnavailable)})\n`);
        if (provider === 'webgpu') process.stderr.write(`bench ${modelId} browser webgpu: operators on the WASM provider ${JSON.stringify(r.cpuFallback)}\n`);
        rows.push({
          model: modelId,
          runtime: `browser-${String(r.provider)}`,
          threads: n(r.threads),
          sessionMs: n(r.sessionMs),
          forwardMs: n(r.forwardMs),
          gradientMs: n(r.gradientMs),
          gradientToForward: n(r.gradientMs) / n(r.forwardMs),
          ig64Ms: n(r.ig64Ms),
          igBatch: 1,
          firstMapMs: n(r.firstMapMs),
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
