/**
 * The sanity check of a stored result (issue 16, item 2; Adebayo et al., NeurIPS 2018, cascading randomisation):
 * the install step's randomised weights (models/install.ts `installSanitySteps`) explain the result's own model
 * input again, and the per-step Spearman ρ of |relevance| and SSIM equal what `leadlight sanity` computes from the
 * ECG file (its WASM mode, which converts each randomised Keras file itself) on a real CPSC record (A0001) with the
 * CinC 2020 model. Runs the Worker's lean WASM runtime in Node, with the file mapping the Worker uses.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SanityCheck, sanityOf, sanityOfResult, sanityTargetOf, stepFilePath } from '../../../functions/core/analysis/sanity-of-result.ts';
import type { InstalledModel } from '../../../functions/core/model/manifest.ts';
import { analyzeEcg } from '../../../functions/core/pipeline.ts';
import type { Result } from '../../../functions/core/result.ts';
import { ortWasmBytes } from '../../../functions/platform/node.ts';
import { createOrtRuntime } from '../../../functions/platform/ort.ts';
import { SANITY_MAX_WEIGHTS_BYTES, installSanitySteps, loadSourceManifest } from '../../../models/install.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot, sharedModelsDir } from '../../helpers/paths.ts';

const ID = 'cinc2020-ai-strollers';
const RECORD = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001');
const files = ['hea', 'mat'].map((ext) => ({ name: `A0001.${ext}`, bytes: new Uint8Array(readFileSync(`${RECORD}.${ext}`)) }));

/** The Worker's runtime (lean WASM), reading the models build folder, step k's weights when k is given. */
function runtime(model: InstalledModel, k?: number) {
  const sanity = sanityOf(model)!;
  return createOrtRuntime({
    backend: 'wasm',
    wasmBinary: ortWasmBytes(),
    loadFile: async (path) => new Uint8Array(await readFile(join(testBuildDir, k === undefined ? path : stepFilePath(model, sanity, k, path)))),
  });
}

let model: InstalledModel;
beforeAll(async () => {
  const converted = await testModel(ID);
  model = await installSanitySteps(loadSourceManifest(ID), converted, { buildDir: testBuildDir, weights: { [ID]: join(sharedModelsDir, ID, 'ECGCNNX_V4.h5') } });
});

describe('the sanity check of a stored result', () => {
  it('has the randomised weights of every cascade step installed, the graphs shared with the trained model', () => {
    const sanity = sanityOf(model)!;
    expect(sanity.steps).toHaveLength(10);
    expect(sanity.steps[0].layers).toHaveLength(1);
    expect(sanity.steps[9].layers.length).toBeGreaterThan(10);
    expect(stepFilePath(model, sanity, 3, `${ID}/weights.bin`)).toBe(`${ID}/sanity/step-3/weights.bin`);
    expect(stepFilePath(model, sanity, 3, `${ID}/gradient-lowmem.onnx`)).toBe(`${ID}/gradient-lowmem.onnx`);
  });

  it('gives per step the rho and SSIM `leadlight sanity` computes from the file (gradient, CPSC A0001)', async () => {
    const rt = runtime(model);
    const result = await analyzeEcg(files, { model: ID, method: 'gradient' }, { runtime: rt, models: [model], faithfulness: false });
    await rt.release();
    const t0 = Date.now();
    const check: SanityCheck = await sanityOfResult(result, { models: [model], runtimeForStep: (k) => runtime(model, k) });
    const ms = Date.now() - t0;
    const cli = spawnSync(process.execPath, [join(repoRoot, 'functions/cli/leadlight.ts'), 'sanity', `${RECORD}.hea`, '--model', ID, '--method', 'gradient', '--runtime', 'wasm'], {
      encoding: 'utf8',
      env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir },
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(cli.status, cli.stderr).toBe(0);
    const out = JSON.parse(cli.stdout) as { class: string; seed: number; cascadeSteps: { randomised: string[]; spearmanAbs: number; ssim: number; logit: number }[] };
    expect(check.class).toBe(out.class);
    expect(check.seed).toBe(out.seed);
    expect(check.cascadeSteps).toHaveLength(out.cascadeSteps.length);
    const diffs = check.cascadeSteps.map((s, k) => {
      expect(s.layers).toEqual(out.cascadeSteps[k].randomised);
      return { rho: Math.abs(s.spearmanAbs! - out.cascadeSteps[k].spearmanAbs), ssim: Math.abs(s.ssim - out.cascadeSteps[k].ssim), logit: Math.abs(s.logit - out.cascadeSteps[k].logit) };
    });
    console.log(`sanity of result A0001 gradient: ${ms} ms; per step rho/SSIM ${check.cascadeSteps.map((s) => `${s.spearmanAbs!.toFixed(3)}/${s.ssim.toFixed(3)}`).join(' ')}; CLI ${out.cascadeSteps.map((s) => `${s.spearmanAbs.toFixed(3)}/${s.ssim.toFixed(3)}`).join(' ')}; largest differences rho ${Math.max(...diffs.map((d) => d.rho)).toExponential(2)}, SSIM ${Math.max(...diffs.map((d) => d.ssim)).toExponential(2)}, logit ${Math.max(...diffs.map((d) => d.logit)).toExponential(2)}`);
    for (const d of diffs) {
      // Observed: ~4e-8 / ~8e-8 / 0 (the same WASM engine; the CLI folds its gradient kernels, the Worker's runtime not).
      expect(d.rho).toBeLessThan(1e-6);
      expect(d.ssim).toBeLessThan(1e-6);
      expect(d.logit).toBeLessThan(1e-5);
    }
    // The gradient passes: with every layer random its map no longer resembles the trained model's.
    expect(check.cascadeSteps[9].spearmanAbs!).toBeLessThan(0.5);
    expect(check.cascadeSteps[9].ssim).toBeLessThan(0.5);
  });

  it('writes no randomised weights for a model too large for the Worker (the Ribeiro-size network)', async () => {
    const ribeiro = await testModel('ribeiro2020');
    const lines: string[] = [];
    const rec = await installSanitySteps(loadSourceManifest('ribeiro2020'), ribeiro, { buildDir: testBuildDir, weights: { ribeiro2020: join(sharedModelsDir, 'ribeiro2020', 'ribeiro2020-layout-random.h5') }, log: (l) => lines.push(l) });
    expect(ribeiro.weightsBytes!).toBeGreaterThan(SANITY_MAX_WEIGHTS_BYTES);
    expect(sanityOf(rec)).toBeUndefined();
    expect(lines.join('\n')).toMatch(/no server-side sanity check \(weights of \d+ bytes/u);
  });

  it('refuses a result computed in the browser and a model without randomised weights, with sanity_unavailable', async () => {
    const rt = runtime(model);
    const result = await analyzeEcg(files, { model: ID, method: 'gradient' }, { runtime: rt, models: [model], faithfulness: false });
    await rt.release();
    const browser = { ...result, provenance: { computedIn: 'browser' as const } } as Result;
    expect(() => sanityTargetOf(browser, [model])).toThrow(expect.objectContaining({ code: 'sanity_unavailable', message: expect.stringMatching(/browser.*npx leadlight sanity/su) }));
    const { sanity: _none, ...plain } = model as InstalledModel & { sanity?: unknown };
    expect(() => sanityTargetOf(result, [plain as InstalledModel])).toThrow(expect.objectContaining({ code: 'sanity_unavailable', message: expect.stringMatching(/npx leadlight sanity FILE --model cinc2020-ai-strollers/u) }));
  });
});
