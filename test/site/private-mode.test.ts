/**
 * Private mode (issue 15) in Debian's Chromium against `wrangler dev` with the test models: an upload "in this
 * browser" (WASM on all cores — one engine with a thread per core, or engines side by side with &cores=engines;
 * cross-origin isolated) of CPSC A0003 for integrated gradients (64 midpoint steps) on
 * both models. Every request of the browser context is intercepted: none carries a body (the ECG or the result)
 * and none names the record. The report is drawn from memory; its probabilities equal the Node WASM run of the
 * same file within 1e-5 and its relevance within 1e-3 relative L2. A second analysis after a reload downloads no
 * model file or engine binary (Cache API), and once the page has prepared the engine (as it does while the visitor
 * picks a file) its first map is on the page within 1.5 s of submitting. Share posts the result JSON (only then) and the shared link shows the
 * same report, "computed in the visitor's browser", in a fresh browser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { asciiJsonText } from '../../functions/core/json-ascii.ts';
import { analyzeEcg } from '../../functions/core/pipeline.ts';
import { type Result, checkResult, decodeFloat32 } from '../../functions/core/result.ts';
import { WORKER_READ_OPTIONS } from '../../functions/worker/read-options.ts';
import { relativeL2 } from '../helpers/metrics.ts';
import { type TestModelId, testModel, testRuntime } from '../helpers/models.ts';
import { ecgDir } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('testModelsBaseUrl');
const recordDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const RECORD = ['A0003.hea', 'A0003.mat'].map((f) => join(recordDir, f));
const MODELS: TestModelId[] = ['cinc2020-ai-strollers', 'ribeiro2020'];

interface Seen {
  method: string;
  url: string;
  body: Buffer | null;
}

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const seen: Seen[] = [];

/** Intercepts every request of the context (pages and their Web Workers) and records it. */
async function recordRequests(context: BrowserContext, into: Seen[]): Promise<void> {
  await context.route('**/*', async (route) => {
    const request = route.request();
    into.push({ method: request.method(), url: request.url(), body: request.postDataBuffer() });
    await route.continue();
  });
}

beforeAll(async () => {
  browser = await launchChromium({ width: 1440, height: 900 });
  await recordRequests(browser.context, seen);
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
});

/** The Node WASM run of the same file with the Worker's read options (the reference). */
async function nodeRun(id: TestModelId): Promise<Result> {
  const model = await testModel(id);
  const files = RECORD.map((path) => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(path)) }));
  return analyzeEcg(files, { model: id, method: 'ig' }, { runtime: testRuntime('wasm', 1), models: [model], readOptions: WORKER_READ_OPTIONS, keepFileNames: false, faithfulness: false });
}

/**
 * Submits A0003 for IG on `model` in private mode and waits for the report; returns the result (as the page's
 * "Download JSON" gives it, from memory), the ms from submit to the first map and to the report.
 */
async function analyseHere(model: TestModelId): Promise<{ result: Result; text: string; firstMapMs: number; totalMs: number; engine: string }> {
  await page.waitForFunction((id) => [...(document.getElementById('model') as HTMLSelectElement).options].some((o) => o.value === id && !o.disabled), model);
  expect(await page.isChecked('input[name="where"][value="browser"]')).toBe(true);
  await page.selectOption('#model', model);
  await page.selectOption('#method', 'ig');
  await page.setInputFiles('#file-input', RECORD);
  await page.evaluate(() => {
    const w = window as unknown as { t0?: number; tFirst?: number };
    w.t0 = undefined;
    w.tFirst = undefined;
    document.getElementById('upload-form')!.addEventListener('submit', () => (w.t0 = performance.now()), { capture: true, once: true });
    const note = document.getElementById('refining')!;
    const observer = new MutationObserver(() => {
      if (note.hidden || w.tFirst !== undefined) return;
      w.tFirst = performance.now();
      observer.disconnect();
    });
    observer.observe(note, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  await page.click('#submit');
  // The previous report's actions are hidden at once; they come back with the new report.
  await page.waitForSelector('#report-actions[hidden]', { state: 'attached', timeout: 10_000 });
  await page.waitForSelector('#report-actions:not([hidden]) #share:not([hidden])', { timeout: 280_000 });
  const times = await page.evaluate(() => {
    const w = window as unknown as { t0: number; tFirst: number };
    return { firstMapMs: w.tFirst - w.t0, totalMs: performance.now() - w.t0 };
  });
  const engine = (await page.getAttribute('#status', 'data-engine')) ?? '';
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  const text = readFileSync((await download.path())!, 'utf8');
  return { result: checkResult(JSON.parse(text)), text, engine, ...times };
}

/** No request carried a body, and none names the record; only the site's own files and the models list were fetched. */
function expectNothingSent(requests: Seen[], ecgBytes: Buffer[]): void {
  expect(requests.length).toBeGreaterThan(0);
  for (const r of requests) {
    expect(r.method, r.url).toBe('GET');
    expect(r.body?.length ?? 0, r.url).toBe(0);
    expect(r.url).not.toMatch(/A0003/u);
    const url = new URL(r.url);
    expect(url.origin).toBe(new URL(baseUrl).origin);
    expect(url.pathname).toMatch(/^\/($|\?|_astro\/|model-files\/|api\/models$|favicon\.svg$)/u);
    for (const bytes of ecgBytes) expect(r.body?.includes(bytes.subarray(0, 256)) ?? false).toBe(false);
  }
}

describe('private mode: the whole analysis in the browser', () => {
  const results = new Map<TestModelId, Result>();

  it('is preselected by ?where=browser, remembered, and the page is cross-origin isolated (WASM on all cores)', async () => {
    await page.goto(`${baseUrl}/?where=browser&engine=wasm`);
    expect(await page.isChecked('input[name="where"][value="browser"]')).toBe(true);
    await page.goto(`${baseUrl}/`);
    expect(await page.isChecked('input[name="where"][value="browser"]')).toBe(true);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const headers = (await fetch(`${baseUrl}/`)).headers;
    expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  for (const model of MODELS) {
    it(`analyses A0003 with ${model} in the page, sends nothing, and agrees with Node's WASM run`, async () => {
      const ecgBytes = RECORD.map((p) => readFileSync(p));
      await page.goto(`${baseUrl}/?where=browser&engine=wasm`);
      seen.length = 0;
      const here = await analyseHere(model);
      expectNothingSent(seen, ecgBytes);
      // The report from memory: the probabilities table, the ECG drawn, the provenance.
      expect(await page.isVisible('#report')).toBe(true);
      expect(await page.locator('#probabilities tbody tr').count()).toBe(here.result.model.classes.length);
      expect(await page.textContent('#provenance-note')).toContain("Computed in the visitor's browser");
      expect(here.engine).toBe('wasm');
      const cores = await page.evaluate(() => navigator.hardwareConcurrency);
      expect(here.result.provenance).toMatchObject({ computedIn: 'browser', engine: { executionProvider: 'wasm' } });
      // All cores: one engine with a thread per core (the default; `&cores=engines` is the next test).
      const engine = (here.result.provenance as unknown as { engine: { numThreads: number; instances: number } }).engine;
      expect(engine).toMatchObject({ instances: 1, numThreads: cores });
      expect(here.result.record.name).not.toMatch(/A0003\.(hea|mat)/u);

      const node = await nodeRun(model);
      let maxProbabilityDiff = 0;
      for (const c of node.model.classes) maxProbabilityDiff = Math.max(maxProbabilityDiff, Math.abs(here.result.prediction.probabilities[c]! - node.prediction.probabilities[c]!));
      const relevanceL2 = relativeL2(decodeFloat32(here.result.attribution.relevance), decodeFloat32(node.attribution.relevance));
      console.log(`private mode ${model}: IG-64 in Chromium (WASM, ${engine.instances} engines × ${engine.numThreads} threads) first map ${here.firstMapMs.toFixed(0)} ms, report ${here.totalMs.toFixed(0)} ms (timings ${JSON.stringify(here.result.timingsMs)}); vs Node WASM: max |Δp| ${maxProbabilityDiff.toExponential(2)}, relevance relative L2 ${relevanceL2.toExponential(2)}`);
      expect(here.result.attribution).toMatchObject({ method: 'ig', steps: 64, rule: 'midpoint', class: node.attribution.class });
      expect(maxProbabilityDiff).toBeLessThanOrEqual(1e-5);
      expect(relevanceL2).toBeLessThanOrEqual(1e-3);
      results.set(model, here.result);
    });
  }

  it('runs engines side by side with &cores=engines (for a busy machine) and still agrees with Node\'s WASM run', async () => {
    const model: TestModelId = MODELS[0];
    const ecgBytes = RECORD.map((p) => readFileSync(p));
    await page.goto(`${baseUrl}/?where=browser&engine=wasm&cores=engines`);
    seen.length = 0;
    const here = await analyseHere(model);
    expectNothingSent(seen, ecgBytes);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    // Engines side by side, each with its share of the cores as threads (ort-browser.ts parallelPlan).
    const engine = (here.result.provenance as unknown as { engine: { numThreads: number; instances: number } }).engine;
    expect(engine.instances).toBe(cores >= 4 ? 4 : cores >= 2 ? 2 : 1);
    expect(engine.numThreads * engine.instances).toBe(cores);
    const node = await nodeRun(model);
    for (const c of node.model.classes) expect(Math.abs(here.result.prediction.probabilities[c]! - node.prediction.probabilities[c]!)).toBeLessThanOrEqual(1e-5);
    expect(relativeL2(decodeFloat32(here.result.attribution.relevance), decodeFloat32(node.attribution.relevance))).toBeLessThanOrEqual(1e-3);
  });

  it('downloads no model file or engine binary for a second analysis after a reload (Cache API), and prepares the engine before the file is chosen', async () => {
    await page.goto(`${baseUrl}/?where=browser&engine=wasm`);
    seen.length = 0;
    // The page prepares the default model's engine and session while the visitor picks a file.
    const tPrepare = Date.now();
    await page.waitForSelector('body[data-prepared~="ribeiro2020"]', { state: 'attached', timeout: 120_000 });
    const prepareMs = Date.now() - tPrepare;
    const again = await analyseHere('ribeiro2020');
    expectNothingSent(seen, RECORD.map((p) => readFileSync(p)));
    const downloads = seen.filter((r) => /\.(onnx|bin|wasm)$|\.part\d+$/u.test(new URL(r.url).pathname));
    expect(downloads.map((r) => r.url)).toEqual([]);
    // The same numbers as the first run (same engine, same files).
    expect(again.result.prediction.probabilities).toEqual(results.get('ribeiro2020')!.prediction.probabilities);
    // A third analysis in the same page: the engine and the sessions are already loaded.
    const warm = await analyseHere('ribeiro2020');
    console.log(`private mode ribeiro2020, after a reload: engine prepared in ${prepareMs} ms (files from the Cache API), then first map ${again.firstMapMs.toFixed(0)} ms after submit; in the same page: ${warm.firstMapMs.toFixed(0)} ms`);
    expect(again.firstMapMs).toBeLessThan(1500);
    expect(warm.firstMapMs).toBeLessThan(1500);
  });

  it('shares the result only on request, and the link opens the same report in a fresh browser', async () => {
    const local = results.get('cinc2020-ai-strollers')!;
    await page.goto(`${baseUrl}/?where=browser&engine=wasm`);
    const here = await analyseHere('cinc2020-ai-strollers');
    seen.length = 0;
    await page.click('#share');
    await page.waitForSelector('#shared-link', { timeout: 60_000 });
    const link = (await page.getAttribute('#shared-link', 'href'))!;
    expect(link).toMatch(/^\/r\/[A-Za-z0-9_-]{22}$/u);
    // Exactly one request carried a body: the result JSON, to POST /api/results.
    const withBody = seen.filter((r) => (r.body?.length ?? 0) > 0);
    expect(withBody.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual(['POST /api/results']);
    // The result JSON as downloaded, sent in its ASCII form (site/src/scripts/api.ts shareResult: the same JSON).
    expect(withBody[0]!.body!.toString('utf8')).toBe(asciiJsonText(here.text));
    expect(JSON.parse(withBody[0]!.body!.toString('utf8'))).toEqual(JSON.parse(here.text));
    expect(here.result.prediction.probabilities).toEqual(local.prediction.probabilities);
    expect(await page.isVisible('#copy-link')).toBe(true);

    const fresh = await launchChromium({ width: 1280, height: 900 });
    try {
      const other = await fresh.context.newPage();
      const response = await other.goto(`${baseUrl}${link}`);
      expect(response!.headers()['cross-origin-embedder-policy']).toBe('require-corp');
      await other.waitForSelector('#report:not([hidden])', { timeout: 60_000 });
      const shown = await other.$$eval('#probabilities tbody tr', (rows) => rows.map((r) => [r.getAttribute('data-class'), Number(r.getAttribute('data-probability'))]));
      expect(Object.fromEntries(shown)).toEqual(here.result.prediction.probabilities);
      expect(await other.textContent('#provenance-note')).toContain("Computed in the visitor's browser");
      expect(await other.textContent('#facts')).toContain("in the visitor's browser");
      const stored = checkResult(await (await fetch(`${baseUrl}/api/records/${link.slice(3)}`)).json());
      expect(decodeFloat32(stored.attribution.relevance)).toEqual(decodeFloat32(here.result.attribution.relevance));
    } finally {
      await fresh.close();
    }
  });
});
