/**
 * `leadlight analyze` as a user runs it (contract.md, "Commands"): result JSON on stdout for real records, and for
 * bad input exit code 2 with one stderr line `error <code>: <message>` and no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkResult, decodeFloat32 } from '../../../functions/core/result.ts';
import { installModel, loadSourceManifest } from '../../../models/install.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot, sharedModelsDir } from '../../helpers/paths.ts';

const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const cli = join(repoRoot, 'functions/cli/leadlight.ts');

function leadlight(args: string[], modelsDir = testBuildDir) {
  const run = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LEADLIGHT_MODELS_DIR: modelsDir },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function expectUsageError(run: ReturnType<typeof leadlight>, code: string) {
  expect(run.code).toBe(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^error ${code}: \\S`));
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stdout).toBe('');
}

beforeAll(async () => {
  await testModel('cinc2020-ai-strollers');
});

describe('leadlight analyze', () => {
  it('prints a result JSON that matches the schema for a CPSC record given by its .hea', () => {
    const run = leadlight(['analyze', join(cpsc, 'A0011.hea'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient-x-input', '--runtime', 'native']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = checkResult(JSON.parse(run.stdout));
    expect(result.record).toMatchObject({ name: 'A0011', format: 'wfdb', samplingRateHz: 500, durationS: 36 });
    expect(result.input).toMatchObject({ samplingRateHz: 500, samples: 30000, startS: 0 });
    expect(result.attribution.relevance.shape).toEqual([30000, 12]);
    expect(decodeFloat32(result.attribution.relevance)).toHaveLength(30000 * 12);
    expect(result.analysis.beats.rPeaksS.length).toBeGreaterThan(30);
    expect(result.prediction.positive).toContain('LBBB');
  });

  it('writes the same JSON to --out and uses the class named by --class', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'leadlight-')), 'r.json');
    const run = leadlight(['analyze', join(cpsc, 'A0003.hea'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient', '--class', 'Normal', '--out', out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    const result = checkResult(JSON.parse(readFileSync(out, 'utf8')));
    expect(result.attribution).toMatchObject({ method: 'gradient', class: 'Normal', target: 'logit', baseline: 'zeros' });
  });

  it('runs through npx as the contract names it', () => {
    const run = spawnSync('npx', ['--no-install', 'leadlight', '--help'], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/leadlight analyze FILE/);
  });

  describe('refuses bad input with exit 2 and one clear line', () => {
    it.each([
      ['an unknown method', ['--method', 'shap'], 'method_unknown'],
      ['an unknown class', ['--class', 'XYZ'], 'class_unknown'],
      ['an unknown model', ['--model', 'resnet9000'], 'model_unknown'],
      ['steps that are not a number', ['--steps', 'many'], 'option_invalid'],
      ['steps out of range', ['--steps', '0'], 'steps_invalid'],
      ['an unknown option', ['--colour', 'red'], 'option_invalid'],
      ['an unknown runtime', ['--runtime', 'gpu'], 'option_invalid'],
    ])('for %s', (_what, extra, code) => {
      expectUsageError(leadlight(['analyze', join(cpsc, 'A0003.hea'), '--model', 'cinc2020-ai-strollers', ...extra]), code);
    });

    it('for a file that does not exist', () => {
      expectUsageError(leadlight(['analyze', join(cpsc, 'A9999.hea')]), 'request_invalid');
    });

    it('for a file that is not an ECG', () => {
      const dir = mkdtempSync(join(tmpdir(), 'leadlight-'));
      writeFileSync(join(dir, 'notes.txt'), 'just some notes, not an ECG\n');
      expectUsageError(leadlight(['analyze', join(dir, 'notes.txt'), '--model', 'cinc2020-ai-strollers']), 'unsupported_format');
    });

    it('for a WFDB record whose signal file is truncated', () => {
      const dir = mkdtempSync(join(tmpdir(), 'leadlight-'));
      writeFileSync(join(dir, 'A0003.hea'), readFileSync(join(cpsc, 'A0003.hea')));
      writeFileSync(join(dir, 'A0003.mat'), readFileSync(join(cpsc, 'A0003.mat')).subarray(0, 5000));
      expectUsageError(leadlight(['analyze', join(dir, 'A0003.hea'), '--model', 'cinc2020-ai-strollers']), 'truncated_signal');
    });

    it('for a model whose weights are not installed, saying how to provide them', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'leadlight-models-'));
      const record = await installModel(loadSourceManifest('ribeiro2020'), { buildDir: dir, offline: true, sharedModelsDir: join(dir, 'none') });
      expect(record.status).toBe('unavailable');
      const run = leadlight(['analyze', join(cpsc, 'A0003.hea'), '--model', 'ribeiro2020'], dir);
      expectUsageError(run, 'model_unavailable');
      expect(run.stderr).toMatch(/LEADLIGHT_RIBEIRO2020_WEIGHTS|--weights/);
    });

    it('for a model converted by an older version (another graph contract), saying to run npm install', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'leadlight-models-'));
      const model = await testModel('cinc2020-ai-strollers');
      cpSync(join(testBuildDir, model.id), join(dir, model.id), { recursive: true });
      const manifestPath = join(dir, model.id, 'manifest.json');
      writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), converterVersion: '7' }));
      const run = leadlight(['analyze', join(cpsc, 'A0003.hea'), '--model', model.id], dir);
      expectUsageError(run, 'model_unavailable');
      expect(run.stderr).toMatch(/older version of Leadlight; run npm install/);
    });

    it('for --weights whose layout is not the model', () => {
      const run = leadlight(['analyze', join(cpsc, 'A0003.hea'), '--model', 'ribeiro2020', '--weights', join(sharedModelsDir, 'cinc2020-ai-strollers/ECGCNNX_V4.h5')]);
      expectUsageError(run, 'model_layout_mismatch');
    });
  });

  it('uses --weights that are not the published file, with a warning in the result', () => {
    const run = leadlight([
      'analyze', join(cpsc, 'A0003.hea'), '--model', 'ribeiro2020', '--method', 'gradient-x-input', '--runtime', 'native',
      '--weights', join(sharedModelsDir, 'ribeiro2020/ribeiro2020-layout-random.h5'),
    ]);
    expect(run.stderr).toBe('');
    const result = checkResult(JSON.parse(run.stdout));
    expect(result.model.id).toBe('ribeiro2020');
    expect(result.input).toMatchObject({ samplingRateHz: 400, samples: 4096 });
    expect((result.model as unknown as { warnings: { code: string }[] }).warnings.map((w) => w.code)).toContain('weights_not_published');
  });
});
