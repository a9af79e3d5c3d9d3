/**
 * Integrated gradients until complete (issue 16, item 4): `--steps auto` refines the progressive IG on the 512-point
 * midpoint grid until the completeness error is at most 5 % of |f(x) − f(0)|, or says it stopped at 512 points;
 * `--steps N` and the default mode stay as they were.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IG_AUTO_MAX_POINTS, IG_AUTO_TOLERANCE, attribute } from '../../../functions/core/attribution/attribute.ts';
import { analyzeEcg } from '../../../functions/core/pipeline.ts';
import { type Result, decodeFloat32 } from '../../../functions/core/result.ts';
import { testModel, testRuntime } from '../../helpers/models.ts';
import { ecgDir } from '../../helpers/paths.ts';

const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const filesOf = (record: string) => [`${record}.hea`, `${record}.mat`].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(cpsc, name))) }));
type AutoAttribution = Result['attribution'] & { rule: string; stepsAuto?: { tolerance: number; maxPoints: number; reached: boolean; pointsUsed: number } };

describe('--steps auto on shared CPSC records', () => {
  // Two AF records and a normal one of the AF/NORM cohort (test/fixtures/cohort/cpsc-af-norm.csv), explained for AF.
  for (const record of ['A0003', 'A0086', 'A0020']) {
    it(`reaches a completeness error of at most 5 % on ${record}, or says it stopped at 512 points`, async () => {
      const model = await testModel('cinc2020-ai-strollers');
      const partials: Result[] = [];
      const result = await analyzeEcg(filesOf(record), { model: model.id, method: 'ig', class: 'AF', steps: 'auto' }, {
        runtime: testRuntime('native'),
        models: [model],
        faithfulness: false,
        onPartial: (p) => void partials.push(p),
      });
      const a = result.attribution as AutoAttribution;
      expect(a.stepsAuto).toMatchObject({ tolerance: IG_AUTO_TOLERANCE, maxPoints: IG_AUTO_MAX_POINTS, pointsUsed: a.steps });
      expect(a.rule).toBe('midpoint');
      const relativeError = a.completeness.relativeError as number;
      if (a.stepsAuto!.reached) {
        expect(relativeError).toBeLessThanOrEqual(IG_AUTO_TOLERANCE);
        expect(Math.log2(a.steps) % 1).toBe(0);
        // It stopped at the first checkpoint that was complete enough: the sub-rule of half the points was not.
        const half = partials.find((p) => (p.attribution as { progress?: { done: number } }).progress?.done === a.steps / 2);
        if (a.steps / 2 >= 16) expect(half!.attribution.completeness.relativeError as number).toBeGreaterThan(IG_AUTO_TOLERANCE);
      } else {
        expect(a.steps).toBe(IG_AUTO_MAX_POINTS);
      }
    }, 120_000);
  }

  it('uses the whole grid and says the target was not reached when it cannot be', async () => {
    const model = await testModel('cinc2020-ai-strollers');
    const runtime = testRuntime('native');
    const session = await runtime.session(model, 'gradient');
    const result = await analyzeEcg(filesOf('A0003'), { model: model.id, method: 'gradient-x-input' }, { runtime, models: [model], faithfulness: false });
    const input = decodeFloat32((result.input as unknown as { signalMv: Parameters<typeof decodeFloat32>[0] }).signalMv);
    const options = { method: 'ig' as const, classIndex: 0, numClasses: model.classes.length, input, samples: result.input.samples, leads: 12, steps: 32, rule: 'midpoint' as const };
    const unreachable = await attribute(session, { ...options, autoTolerance: 0 });
    expect(unreachable.steps).toBe(32);
    expect(unreachable.auto).toEqual({ tolerance: 0, maxPoints: 32, reached: false });
    // Using every point, it is the plain rule of that grid, value for value.
    const plain = await attribute(session, options);
    expect(plain.auto).toBeUndefined();
    expect(unreachable.relevance).toEqual(plain.relevance);
  }, 120_000);
});

describe('without auto', () => {
  it('keeps the default mode (64 midpoint steps) and the exact N-step left sum', async () => {
    const model = await testModel('cinc2020-ai-strollers');
    const deps = { runtime: testRuntime('native'), models: [model], faithfulness: false };
    const byDefault = (await analyzeEcg(filesOf('A0086'), { model: model.id, method: 'ig' }, deps)).attribution as AutoAttribution;
    expect([byDefault.steps, byDefault.rule, byDefault.stepsAuto]).toEqual([model.defaultIgSteps, 'midpoint', undefined]);
    const exact = (await analyzeEcg(filesOf('A0086'), { model: model.id, method: 'ig', steps: 8 }, deps)).attribution as AutoAttribution;
    expect([exact.steps, exact.rule, exact.stepsAuto]).toEqual([8, 'left', undefined]);
  }, 120_000);

  it('refuses auto for methods other than ig', async () => {
    const model = await testModel('cinc2020-ai-strollers');
    await expect(analyzeEcg(filesOf('A0086'), { model: model.id, method: 'gradient', steps: 'auto' }, { runtime: testRuntime('native'), models: [model] })).rejects.toMatchObject({ code: 'option_invalid' });
  });
});
