/**
 * Private mode on WebGPU (issue 15): Chromium with its software adapter (SwiftShader, `--enable-unsafe-webgpu
 * --use-webgpu-adapter=swiftshader`) runs the analysis through onnxruntime-web's WebGPU execution provider, the
 * nodes it cannot run on the WASM provider. The test names those operators (from onnxruntime's node placement,
 * carried in the result's provenance) and holds the WebGPU numbers to the WASM tolerances against Node's WASM run
 * of the same file: probabilities within 1e-5, the relevance within 1e-3 relative L2. SwiftShader emulates the GPU
 * on the CPU — a CinC gradient takes seconds there — so this runs the CinC model with one-pass gradient × input
 * (the first map of every IG run) and without the deletion/insertion curves (`&faithfulness=0`, 108 forward passes).
 * The Ribeiro-size network cannot run on WebGPU in onnxruntime-web 1.30: its max-pool routing uses MaxPool's Indices
 * output, which the WebGPU provider claims but refuses at run time; the page says so, runs it on WASM, and the
 * result (with `provenance.engine.webgpuFailed`) still agrees with Node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { analyzeEcg } from '../../functions/core/pipeline.ts';
import { type Result, checkResult, decodeFloat32 } from '../../functions/core/result.ts';
import { WORKER_READ_OPTIONS } from '../../functions/worker/read-options.ts';
import { relativeL2 } from '../helpers/metrics.ts';
import { testModel, testRuntime } from '../helpers/models.ts';
import { ecgDir } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('testModelsBaseUrl');
const recordDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const RECORD = ['A0003.hea', 'A0003.mat'].map((f) => join(recordDir, f));
const MODEL = 'cinc2020-ai-strollers';
const METHOD = 'gradient-x-input';

/** Runs `model` `method` in private mode on `engine` (without faithfulness curves); the result from the page. */
async function analyseOn(model: string, method: string): Promise<{ result: Result; seconds: number }> {
  await page.goto(`${baseUrl}/?where=browser&engine=webgpu&faithfulness=0`);
  await page.waitForFunction((id) => [...(document.getElementById('model') as HTMLSelectElement).options].some((o) => o.value === id && !o.disabled), model);
  await page.selectOption('#model', model);
  await page.selectOption('#method', method);
  await page.setInputFiles('#file-input', RECORD);
  const t0 = Date.now();
  await page.click('#submit');
  await page.waitForSelector('#report-actions:not([hidden]) #share:not([hidden])', { timeout: 280_000 });
  const seconds = (Date.now() - t0) / 1000;
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  return { result: checkResult(JSON.parse(readFileSync((await download.path())!, 'utf8'))), seconds };
}

/** Node's WASM run of the same file and its agreement with `result`. */
async function agreement(model: 'cinc2020-ai-strollers' | 'ribeiro2020', method: string, result: Result): Promise<{ maxProbabilityDiff: number; relevanceL2: number }> {
  const installed = await testModel(model);
  const files = RECORD.map((path) => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(path)) }));
  const node: Result = await analyzeEcg(files, { model, method }, { runtime: testRuntime('wasm', 1), models: [installed], readOptions: WORKER_READ_OPTIONS, keepFileNames: false, faithfulness: false });
  let maxProbabilityDiff = 0;
  for (const c of node.model.classes) maxProbabilityDiff = Math.max(maxProbabilityDiff, Math.abs(result.prediction.probabilities[c]! - node.prediction.probabilities[c]!));
  return { maxProbabilityDiff, relevanceL2: relativeL2(decodeFloat32(result.attribution.relevance), decodeFloat32(node.attribution.relevance)) };
}

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium({ width: 1280, height: 900 }, { webgpu: true });
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
});

describe('private mode on WebGPU (SwiftShader)', () => {
  it(`runs ${MODEL} ${METHOD} on the WebGPU provider, names the operators left to WASM, and agrees with Node's WASM run`, async () => {
    await page.goto(`${baseUrl}/?where=browser&engine=webgpu&faithfulness=0`);
    const adapter = await page.evaluate(async () => Boolean(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
    expect(adapter, 'Chromium gives a WebGPU adapter with --use-webgpu-adapter=swiftshader').toBe(true);
    const { result, seconds } = await analyseOn(MODEL, METHOD);
    const engine = (result.provenance as { engine?: { executionProvider: string; cpuFallback?: Record<string, string[]> } }).engine;
    expect(engine?.executionProvider).toBe('webgpu');
    const fallback = [...new Set(Object.values(engine?.cpuFallback ?? {}).flat())].sort();

    const { maxProbabilityDiff, relevanceL2 } = await agreement(MODEL, METHOD, result);
    console.log(`private mode on WebGPU (SwiftShader), ${MODEL} ${METHOD}: ${seconds.toFixed(1)} s (timings ${JSON.stringify(result.timingsMs)}); operators on the WASM provider: ${fallback.join(', ') || 'none'} (${JSON.stringify(engine?.cpuFallback)}); vs Node WASM: max |Δp| ${maxProbabilityDiff.toExponential(2)}, relevance relative L2 ${relevanceL2.toExponential(2)}`);
    // The gradient graph's seed handling (a NaN seed means "the top class") is what WebGPU leaves to WASM.
    expect(Object.keys(engine?.cpuFallback ?? {})).toContain(`${MODEL}/gradient`);
    expect(maxProbabilityDiff).toBeLessThanOrEqual(1e-5);
    expect(relevanceL2).toBeLessThanOrEqual(1e-3);
  });

  it('names the operator WebGPU cannot run for the Ribeiro-size network (MaxPool indices), and falls back to WASM', async () => {
    const { result, seconds } = await analyseOn('ribeiro2020', METHOD);
    const engine = (result.provenance as { engine?: { executionProvider: string; webgpuFailed?: string } }).engine;
    const { maxProbabilityDiff, relevanceL2 } = await agreement('ribeiro2020', METHOD, result);
    console.log(`private mode, WebGPU asked for, ribeiro2020 ${METHOD}: ${seconds.toFixed(1)} s; ran on ${engine?.executionProvider} because WebGPU cannot run ${engine?.webgpuFailed}; vs Node WASM: max |Δp| ${maxProbabilityDiff.toExponential(2)}, relevance relative L2 ${relevanceL2.toExponential(2)}`);
    expect(engine?.executionProvider).toBe('wasm');
    expect(engine?.webgpuFailed).toMatch(/^MaxPool: .*Indices output is not supported/u);
    expect(await page.getAttribute('#status', 'data-webgpu-failed')).toMatch(/^MaxPool/u);
    expect(maxProbabilityDiff).toBeLessThanOrEqual(1e-5);
    expect(relevanceL2).toBeLessThanOrEqual(1e-3);
  });
});
