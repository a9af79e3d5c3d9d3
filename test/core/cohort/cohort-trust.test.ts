/**
 * `leadlight cohort --methods … --sanity` (issue 16, items 2 and 3) end to end: the real command on four real CPSC
 * records from ../shared (2 AF, 2 NORM; test/fixtures/cohort/cpsc-af-norm.csv) with the converted test model
 * cinc2020-ai-strollers. Each record's `methodAgreement` must be what `leadlight compare` prints for the same file,
 * class and methods; the cohort-level summary is the mean/median of those; the sanity summary (Adebayo et al. 2018,
 * cascading randomisation) covers the seeded subset, every method and all 10 cascade steps; cohort.json passes the
 * one schema. Bad trust options exit 2 before any analysis.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanAndMedian, sanitySubset, summariseSanitySteps } from '../../../functions/core/analysis/sanity-metrics.ts';
import type { MethodPair } from '../../../functions/core/analysis/method-agreement.ts';
import { checkCohort } from '../../../functions/core/cohort-schema.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';

const cli = join(repoRoot, 'functions/cli/leadlight.ts');
const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const RECORDS = [['A0002', 'NORM'], ['A0003', 'AF'], ['A0004', 'AF'], ['A0016', 'NORM']] as const;
const METHODS = ['gradient', 'gradient-x-input', 'lrp-epsilon'];

const leadlight = (args: string[]) => {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir }, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
};

let dir: string;
let run: ReturnType<typeof leadlight>;
type Checked = ReturnType<typeof checkCohort>;
let cohort: Omit<Checked, 'records'> & { records: (Checked['records'][number] & { methodAgreement?: MethodPair[] })[] };

beforeAll(async () => {
  await testModel('cinc2020-ai-strollers');
  dir = mkdtempSync(join(tmpdir(), 'leadlight-cohort-trust-'));
  writeFileSync(join(dir, 'labels.csv'), `path,label\n${RECORDS.map(([r, l]) => `${join(cpsc, `${r}.hea`)},${l}`).join('\n')}\n`);
  run = leadlight(['cohort', '--labels', join(dir, 'labels.csv'), '--out', join(dir, 'out'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient', '--class', 'AF', '--methods', METHODS.join(','), '--sanity', '--sanity-records', '2', '--runtime', 'native']);
  if (run.status === 0) cohort = checkCohort(JSON.parse(readFileSync(join(dir, 'out/cohort.json'), 'utf8'))) as unknown as typeof cohort;
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('leadlight cohort --methods --sanity', () => {
  it('finishes with exit 0 and writes a cohort.json of the one schema', () => {
    expect(run.status, run.stderr).toBe(0);
    expect(cohort.records).toHaveLength(4);
  });

  it("records per record the method agreement leadlight compare prints for that file and class", () => {
    const [record] = RECORDS[1];
    const compare = leadlight(['compare', join(cpsc, `${record}.hea`), '--model', 'cinc2020-ai-strollers', '--class', 'AF', '--methods', METHODS.join(','), '--runtime', 'native']);
    expect(compare.status, compare.stderr).toBe(0);
    const expected = (JSON.parse(compare.stdout) as { methodAgreement: { spearman: MethodPair[] } }).methodAgreement.spearman;
    const entry = cohort.records.find((r) => r.path.endsWith(`${record}.hea`))!;
    expect(entry.methodAgreement).toEqual(expected);
    expect(expected.map((p) => [p.a, p.b])).toEqual([['gradient', 'gradient-x-input'], ['gradient', 'lrp-epsilon'], ['gradient-x-input', 'lrp-epsilon']]);
  }, 300_000);

  it('summarises each method pair over the records as the mean and median of their correlations', () => {
    const summary = cohort.methodAgreement!;
    expect(summary.methods).toEqual(METHODS);
    expect(summary.pairs).toHaveLength(3);
    for (const [k, pair] of summary.pairs.entries()) {
      const values = (key: 'map' | 'absMap' | 'leads') => cohort.records.map((r) => r.methodAgreement![k]![key]);
      expect(pair.n).toBe(4);
      for (const key of ['map', 'absMap', 'leads'] as const) {
        const { mean, median } = meanAndMedian(values(key));
        expect(pair[key].mean).toBeCloseTo(mean!, 12);
        expect(pair[key].median).toBeCloseTo(median!, 12);
      }
    }
    // Gradient × input and LRP-ε coincide on this ReLU network (README, "Method agreement").
    expect(summary.pairs[2]!.absMap.median).toBeGreaterThan(0.99);
  });

  it('runs the cascading randomisation on the seeded subset for every method and step', () => {
    const sanity = cohort.sanity!;
    expect(sanity.seed).toBe(16);
    const chosen = sanitySubset(4, 2, 16).map((i) => join(cpsc, `${RECORDS[i]![0]}.hea`));
    expect(sanity.records).toEqual(chosen);
    expect(sanity.methods.map((m) => m.method)).toEqual(METHODS);
    for (const m of sanity.methods) {
      expect(m.cascadeSteps).toHaveLength(10);
      expect(m.cascadeSteps[0]!.layer).toBe('dense');
      expect(m.cascadeSteps[9]!.layersRandomised).toBe(19);
      for (const step of m.cascadeSteps) expect(step.n).toBe(2);
    }
    // The gradient fails to keep its map once every layer is random (as `leadlight sanity` on A0003).
    const gradient = sanity.methods[0]!.cascadeSteps[9]!;
    expect(gradient.spearmanAbs.mean!).toBeLessThan(0.5);
    expect(gradient.ssim.mean!).toBeLessThan(0.5);
  });

  it('shows both checks in the static report (index.html)', () => {
    const html = readFileSync(join(dir, 'out/index.html'), 'utf8');
    const section = /<section id="trust">[\s\S]*?<\/section>/u.exec(html)?.[0] ?? '';
    expect(section).toContain('Method agreement');
    expect(section).toContain('Sanity check by model randomisation');
    for (const m of METHODS) expect(section).toContain(`<caption>${m}</caption>`);
  });

  it('refuses bad trust options with exit 2 before any analysis', () => {
    const labels = join(dir, 'labels.csv');
    const one = leadlight(['cohort', '--labels', labels, '--out', join(dir, 'bad'), '--class', 'AF', '--methods', 'gradient']);
    expect(one.status).toBe(2);
    expect(one.stderr).toMatch(/^error option_invalid: --methods needs at least two methods/u);
    const unknown = leadlight(['cohort', '--labels', labels, '--out', join(dir, 'bad'), '--class', 'AF', '--methods', 'gradient,shap']);
    expect(unknown.status).toBe(2);
    const alone = leadlight(['cohort', '--labels', labels, '--out', join(dir, 'bad'), '--class', 'AF', '--sanity-records', '3']);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/^error option_invalid: --sanity-records applies with --sanity/u);
    const remote = leadlight(['cohort', '--labels', labels, '--out', join(dir, 'bad'), '--remote', 'http://127.0.0.1:9', '--sanity']);
    expect(remote.status).toBe(2);
    expect(remote.stderr).toMatch(/^error option_invalid: --sanity applies to a local run/u);
  }, 120_000);
});

describe('the pure summaries', () => {
  it('draws a repeatable subset of distinct records in ascending order, all of them when asked for more', () => {
    const a = sanitySubset(27, 5, 16);
    expect(a).toEqual(sanitySubset(27, 5, 16));
    expect(new Set(a).size).toBe(5);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
    expect(a.every((i) => i >= 0 && i < 27)).toBe(true);
    expect(sanitySubset(3, 5, 16)).toEqual([0, 1, 2]);
  });

  it('summarises the cascade steps as the mean and median over records, leaving undefined correlations out', () => {
    const steps = [{ layer: 'dense', layersRandomised: 1 }, { layer: 'conv1d_8', layersRandomised: 3 }];
    const summary = summariseSanitySteps(steps, [
      [{ spearmanAbs: 0.9, ssim: 0.8 }, { spearmanAbs: 0.1, ssim: 0.2 }],
      [{ spearmanAbs: 0.5, ssim: 0.4 }, { spearmanAbs: null, ssim: 0.6 }],
      [{ spearmanAbs: 0.7, ssim: 0.3 }, { spearmanAbs: 0.3, ssim: 0.1 }],
    ]);
    expect(summary[0]).toEqual({ layer: 'dense', layersRandomised: 1, n: 3, spearmanAbs: { mean: expect.closeTo(0.7, 12), median: 0.7 }, ssim: { mean: expect.closeTo(0.5, 12), median: 0.4 } });
    expect(summary[1]!.n).toBe(2);
    expect(summary[1]!.spearmanAbs.median).toBeCloseTo(0.2, 12);
    expect(summary[1]!.ssim.median).toBe(0.2);
  });
});
