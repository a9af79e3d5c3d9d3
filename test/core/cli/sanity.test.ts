/**
 * The sanity check by model randomisation (issue 16, item 2; Adebayo et al. 2018): its similarity measures equal
 * numpy/scipy (test/fixtures/sanity, SSIM as scikit-image's defaults), weights are redrawn from the layers' Keras
 * initialisers, and `leadlight sanity` shows that the gradient map of a shared CPSC record loses its resemblance to
 * the original once every layer of the model is randomised.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spearmanOfRanks } from '../../../functions/core/analysis/ranksum.ts';
import { absRanks, normalisedAbs, ssim } from '../../../functions/core/analysis/sanity-metrics.ts';
import { drawFromInitialiser } from '../../../functions/cli/sanity.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';
import { seededRandom } from '../../helpers/random.ts';

const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/sanity/sanity-numpy.json'), 'utf8')) as { cases: { name: string; rows: number; a: number[]; b: number[]; ssim: number; spearmanAbs: number }[] };

describe('the similarity of two maps', () => {
  for (const c of fixture.cases) {
    it(`is the SSIM and Spearman rho of |relevance| numpy/scipy give (${c.name})`, () => {
      const a = Float32Array.from(c.a);
      const b = Float32Array.from(c.b);
      expect(Math.abs(ssim(normalisedAbs(a, c.rows), normalisedAbs(b, c.rows), c.rows, 12) - c.ssim)).toBeLessThan(1e-9);
      expect(Math.abs(spearmanOfRanks(absRanks(a, c.rows), absRanks(b, c.rows))! - c.spearmanAbs)).toBeLessThan(1e-12);
    });
  }
});

describe('redrawn weights', () => {
  it("follow the layer's initialiser: Glorot uniform within its limit, He normal with its variance, constants as they are", () => {
    const rand = seededRandom(1);
    const glorot = drawFromInitialiser({ class_name: 'GlorotUniform' }, [11, 12, 32], rand, 'test');
    const limit = Math.sqrt(6 / (11 * 12 + 11 * 32));
    expect(Math.max(...glorot.map(Math.abs))).toBeLessThanOrEqual(limit);
    const variance = (v: Float32Array) => v.reduce((s, x) => s + x * x, 0) / v.length;
    expect(variance(glorot) / (limit * limit / 3)).toBeCloseTo(1, 1);
    const he = drawFromInitialiser({ class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal' } }, [16, 64, 128], rand, 'test');
    expect(variance(he) / (2 / (16 * 64))).toBeCloseTo(1, 1);
    expect([...drawFromInitialiser({ class_name: 'Ones' }, [4], rand, 'test')]).toEqual([1, 1, 1, 1]);
    expect(() => drawFromInitialiser({ class_name: 'Orthogonal' }, [4, 4], rand, 'layer "x"')).toThrow(/Orthogonal/);
  });
});

describe('leadlight sanity', () => {
  beforeAll(async () => {
    await testModel('cinc2020-ai-strollers');
  });
  it('drops the gradient map of CPSC A0003 below a correlation of 0.5 once all layers are randomised, reporting every layer', () => {
    const record = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0003.hea');
    const run = spawnSync(process.execPath, [join(repoRoot, 'functions/cli/leadlight.ts'), 'sanity', record, '--model', 'cinc2020-ai-strollers', '--method', 'gradient', '--runtime', 'native'], {
      encoding: 'utf8',
      env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir },
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { class: string; cascadeSteps: { randomised: string[]; spearmanAbs: number; ssim: number }[] };
    expect(out.class).toBe('AF');
    // 9 convolutions and the dense output layer, output first; the batch normalisations go with their convolution.
    expect(out.cascadeSteps).toHaveLength(10);
    expect(out.cascadeSteps[0]!.randomised).toEqual(['dense']);
    expect(out.cascadeSteps[9]!.randomised).toHaveLength(19);
    const last = out.cascadeSteps[9]!;
    expect(last.spearmanAbs).toBeLessThan(0.5);
    expect(last.ssim).toBeLessThan(0.5);
  }, 180_000);
});
