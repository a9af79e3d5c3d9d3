/**
 * Progressive results (the performance issue): a first map from one pass, then integrated-gradient estimates at
 * checkpoints, and a final result identical to a one-shot run of the same request.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { progressiveOrder } from '../../../functions/core/attribution/attribute.ts';
import { analyzeEcg, analyzeUntilFirstMap } from '../../../functions/core/pipeline.ts';
import { type Result, checkResult, decodeFloat32 } from '../../../functions/core/result.ts';
import { maxAbsDiff } from '../../helpers/metrics.ts';
import { testModel, testRuntime } from '../../helpers/models.ts';
import { ecgDir } from '../../helpers/paths.ts';

const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const files = ['A0003.hea', 'A0003.mat'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(cpsc, name))) }));

describe('progressiveOrder', () => {
  it('visits every point once, and its first 2^j points are the evenly spread 2^j-point sub-rule', () => {
    const order = progressiveOrder(64);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, k) => k));
    for (const j of [1, 2, 4, 8, 16, 32]) expect([...order.slice(0, j)].sort((a, b) => a - b)).toEqual(Array.from({ length: j }, (_, k) => k * (64 / j)));
  });
  it('covers rules whose step count is not a power of two', () => {
    expect([...progressiveOrder(48)].sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, k) => k));
    expect(progressiveOrder(1)).toEqual([0]);
  });
});

describe('a progressive run', () => {
  for (const steps of [undefined, 16]) {
    it(`ends with the same result as a one-shot run (${steps ? `--steps ${steps}` : 'default mode'})`, async () => {
      const model = await testModel('cinc2020-ai-strollers');
      const runtime = testRuntime('native');
      const request = { model: model.id, method: 'ig', ...(steps ? { steps } : {}) };
      const oneShot = await analyzeEcg(files, request, { runtime, models: [model] });
      const partials: Result[] = [];
      const progressive = await analyzeEcg(files, request, { runtime, models: [model], onPartial: (p) => void partials.push(p) });

      const withoutTimings = (r: Result) => JSON.stringify({ ...r, timingsMs: {} });
      expect(withoutTimings(progressive)).toBe(withoutTimings(oneShot));

      const total = steps ?? model.defaultIgSteps;
      const progress = partials.map((p) => (p.attribution as unknown as { progress: { done: number; total: number; preview?: string } }).progress);
      expect(progress[0]).toEqual({ preview: 'gradient-x-input', done: 0, total });
      // Checkpoints fall where a run of the batch ends on 4, 8, 16, … points; the last is half the rule.
      const done = progress.slice(1).map((p) => p.done);
      expect(done.length).toBeGreaterThan(0);
      for (const [i, n] of done.entries()) {
        expect(n >= 4 && n < total && (n & (n - 1)) === 0).toBe(true);
        if (i > 0) expect(n).toBeGreaterThan(done[i - 1]);
      }
      expect(done.at(-1)).toBe(total / 2);
      for (const p of partials) {
        checkResult(p);
        expect(p.prediction).toEqual(oneShot.prediction);
        expect(p.attribution.class).toBe(oneShot.attribution.class);
      }
    });
  }
});

describe('the first map of a progressive run', () => {
  for (const backend of ['native', 'wasm'] as const) {
    it(`is gradient × input of the top class from the classifying run, as a one-shot gradient-x-input analysis (${backend})`, async () => {
      const model = await testModel('ribeiro2020');
      const runtime = testRuntime(backend);
      const first = await analyzeUntilFirstMap(files, { model: model.id }, { runtime, models: [model] });
      const oneShot = await analyzeEcg(files, { model: model.id, method: 'gradient-x-input' }, { runtime, models: [model] });
      await runtime.release();
      expect(first.prediction).toEqual(oneShot.prediction);
      const top = Object.entries(oneShot.prediction.logits).sort((a, b) => b[1] - a[1])[0]![0];
      expect(first.attribution.class).toBe(top);
      expect(oneShot.attribution.class).toBe(top);
      const { maxDiff, maxAbs } = maxAbsDiff(decodeFloat32(first.attribution.relevance), decodeFloat32(oneShot.attribution.relevance));
      expect(maxAbs).toBeGreaterThan(0);
      expect(maxDiff).toBeLessThanOrEqual(1e-6 * maxAbs);
      expect(first.attribution.completeness.expected).toBe(oneShot.attribution.completeness.expected);
    });
  }
});
