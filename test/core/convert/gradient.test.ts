/**
 * The gradient graphs compute ∂(Σ_c seed_c · logit_c)/∂x exactly: on the tiny Keras models (every supported layer
 * option, residual Add, overlapping max-pooling, causal and strided convolutions) they agree with central finite
 * differences of the float64 plain-loop reference (helpers/reference.ts) at every input coordinate, for a batch
 * of two inputs with different seeds, in onnxruntime-node and onnxruntime-web (WASM, one thread), and so do the
 * lean-memory variant (`gradient-lowmem`, kernels derived per run) in the Worker's WASM mode and the spectral
 * variant (`gradient-wasm`, long stride-1 convolutions by DFT) in Node's WASM mode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertKerasModel } from '../../../models/convert/convert.ts';
import { RUNTIMES, openSession } from '../../helpers/ort-direct.ts';
import { referenceLogits } from './helpers/reference.ts';
import { seededRandom, writeTinyKeras, type TinyModel } from './helpers/tiny-keras.ts';
import { tinyModels } from './helpers/tiny-models.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-gradient-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Central differences of Σ seed·logits in float64, step h, at every coordinate. */
function finiteDifferenceGradient(model: TinyModel, x: Float64Array, seed: number[], h = 1e-6): Float64Array {
  const objective = (v: Float64Array) => referenceLogits(model, v).reduce((a, l, c) => a + l * seed[c]!, 0);
  const grad = new Float64Array(x.length);
  const v = x.slice();
  for (let i = 0; i < x.length; i++) {
    v[i] = x[i]! + h;
    const up = objective(v);
    v[i] = x[i]! - h;
    const down = objective(v);
    v[i] = x[i]!;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

describe.each(tinyModels().map((m, i) => ({ ...m, i })))('$name', ({ model, i }) => {
  const dir = join(work, `m${i}`);
  beforeAll(async () => {
    await writeTinyKeras(join(work, `m${i}.h5`), model);
    await convertKerasModel({ h5Path: join(work, `m${i}.h5`), outDir: dir, graphs: ['gradient', 'gradient-wasm', 'gradient-lowmem'] });
  });

  it.each([...RUNTIMES.map((r) => [r, 'gradient'] as const), ['wasm', 'gradient-wasm'] as const, ['wasm-lean', 'gradient-lowmem'] as const])('agrees with central finite differences in %s (%s graph)', async (runtime, graph) => {
    const [length, channels] = model.inputShape;
    const per = length * channels;
    const rand = seededRandom(1234 + i);
    const x = Float32Array.from({ length: 2 * per }, () => 2 * rand() - 1);
    const classes = referenceLogits(model, x.subarray(0, per)).length;
    // Example 0: one-hot on the last class; example 1: a mixed seed.
    const seeds = [Array.from({ length: classes }, (_, c) => (c === classes - 1 ? 1 : 0)), Array.from({ length: classes }, () => 2 * rand() - 1)];
    const session = await openSession(runtime, join(dir, `${graph}.onnx`));
    const out = await session.run({ x: { data: x, dims: [2, length, channels] }, seed: { data: Float32Array.from(seeds.flat()), dims: [2, classes] } });
    await session.release();
    expect(out.grad!.dims).toEqual([2, length, channels]);
    for (let n = 0; n < 2; n++) {
      const xn = Float64Array.from(x.subarray(n * per, (n + 1) * per));
      const fd = finiteDifferenceGradient(model, xn, seeds[n]!);
      const ref = referenceLogits(model, xn);
      for (let c = 0; c < classes; c++) expect(Math.abs(out.logits!.data[n * classes + c]! - ref[c]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref[c]!)));
      const g = out.grad!.data.subarray(n * per, (n + 1) * per);
      const scale = Math.max(...fd.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-3);
      let worst = 0;
      for (let j = 0; j < per; j++) worst = Math.max(worst, Math.abs(g[j]! - fd[j]!));
      expect(worst / scale).toBeLessThan(1e-4);
    }
  });
});
