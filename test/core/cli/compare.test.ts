/**
 * `leadlight compare` (issue 16, item 3): one record explained by several methods for one class, with the pairwise
 * Spearman correlations of the maps and of the lead relevances; bad options exit 2 with one stderr line.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spearmanRho } from '../../../functions/core/analysis/cohort-stats.ts';
import { methodAgreement } from '../../../functions/core/analysis/method-agreement.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';
import { seededRandom } from '../../helpers/random.ts';

const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const cli = join(repoRoot, 'functions/cli/leadlight.ts');
const leadlight = (args: string[]) => {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir }, maxBuffer: 64 * 1024 * 1024 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

beforeAll(async () => {
  await testModel('cinc2020-ai-strollers');
});

describe('method agreement', () => {
  it("is Spearman's rho (tested against scipy) of the maps without the padding, of |relevance| and of the lead relevances", () => {
    const random = seededRandom(3);
    const mapOf = (f: (v: number) => number) => Float32Array.from({ length: 50 * 12 }, (_, i) => (i < 40 * 12 ? f(random() - 0.5) : 7));
    const maps = [mapOf((v) => v), mapOf((v) => v * v * Math.sign(v)), mapOf((v) => -v)].map((relevance, k) => ({
      method: `m${k}`,
      relevance,
      leadRelevance: Object.fromEntries(LEAD_ORDER.map((l, j) => [l, relevance[j]!])),
    }));
    const pairs = methodAgreement(maps, 40);
    expect(pairs.map((p) => [p.a, p.b])).toEqual([['m0', 'm1'], ['m0', 'm2'], ['m1', 'm2']]);
    const signal = (m: Float32Array) => Array.from(m.subarray(0, 480));
    pairs.forEach((p, k) => {
      const [i, j] = [[0, 1], [0, 2], [1, 2]][k]!;
      expect(p.map).toBeCloseTo(spearmanRho(signal(maps[i]!.relevance), signal(maps[j]!.relevance)), 12);
      expect(p.absMap).toBeCloseTo(spearmanRho(signal(maps[i]!.relevance).map(Math.abs), signal(maps[j]!.relevance).map(Math.abs)), 12);
      expect(p.leads).toBeCloseTo(spearmanRho(LEAD_ORDER.map((l) => maps[i]!.leadRelevance[l]!), LEAD_ORDER.map((l) => maps[j]!.leadRelevance[l]!)), 12);
    });
  });
});

describe('leadlight compare', () => {
  it('explains one CPSC record with each method for the same class and reports how alike the maps are', () => {
    const run = leadlight(['compare', join(cpsc, 'A0003.hea'), '--model', 'cinc2020-ai-strollers', '--methods', 'gradient,gradient-x-input,lrp-epsilon', '--runtime', 'native']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { class: string; methods: { method: string; faithfulness: { deletionAreaVsRandom: number } | null }[]; methodAgreement: { spearman: { a: string; b: string; map: number; absMap: number; leads: number }[] } };
    expect(out.class).toBe('AF');
    expect(out.methods.map((m) => m.method)).toEqual(['gradient', 'gradient-x-input', 'lrp-epsilon']);
    expect(out.methods.every((m) => typeof m.faithfulness?.deletionAreaVsRandom === 'number')).toBe(true);
    expect(out.methodAgreement.spearman).toHaveLength(3);
    for (const p of out.methodAgreement.spearman) for (const v of [p.map, p.absMap, p.leads]) expect(Math.abs(v)).toBeLessThanOrEqual(1);
  }, 120_000);

  it('asks for two methods or more, with one error line', () => {
    const run = leadlight(['compare', join(cpsc, 'A0003.hea'), '--methods', 'ig']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^error option_invalid: --methods needs at least two methods/);
  });
});
