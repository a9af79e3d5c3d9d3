/**
 * The converter CLI (`node models/convert/convert.ts IN.h5 --model ID --out DIR`) writes the graphs and prints
 * what it wrote as JSON; a file with the wrong layout exits 2 with one line `error <code>: <message>`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { repoRoot, sharedModelsDir } from '../../helpers/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const cli = join(repoRoot, 'models/convert/convert.ts');
const cincFile = join(sharedModelsDir, 'cinc2020-ai-strollers', 'ECGCNNX_V4.h5');

it('converts a model file for its model id and prints the result', () => {
  const out = join(work, 'cinc');
  const run = spawnSync(process.execPath, [cli, cincFile, '--model', 'cinc2020-ai-strollers', '--out', out, '--graphs', 'classifier,gradient'], { encoding: 'utf8', timeout: 120_000 });
  expect(run.status).toBe(0);
  const result = JSON.parse(run.stdout) as { graphs: Record<string, string>; weightsFile: string; inputShape: { samples: number; leads: number }; classes: number };
  expect(result.inputShape).toEqual({ samples: 30000, leads: 12 });
  expect(result.classes).toBe(9);
  for (const f of [result.weightsFile, result.graphs.classifier!, result.graphs.gradient!]) expect(existsSync(join(out, f))).toBe(true);
  expect(result.graphs['lrp-epsilon']).toBeUndefined();
});

it('refuses a file with another layout with exit code 2 and one error line', () => {
  const run = spawnSync(process.execPath, [cli, cincFile, '--model', 'ribeiro2020', '--out', join(work, 'wrong')], { encoding: 'utf8', timeout: 120_000 });
  expect(run.status).toBe(2);
  expect(run.stderr.trim().split('\n').filter((l) => l.startsWith('error '))).toEqual([expect.stringMatching(/^error model_layout_mismatch: .*ribeiro2020/)]);
  expect(existsSync(join(work, 'wrong', 'classifier.onnx'))).toBe(false);
});
