/**
 * The converter's classifier graphs follow Keras semantics for the layer options the shared models lack:
 * tiny Keras-2 HDF5 models (written in the test with h5wasm) are converted and run in onnxruntime-node and
 * onnxruntime-web (WASM, one thread); their logits must match a plain-loop float64 reference of Keras' forward pass
 * (helpers/reference.ts) for a batch of two seeded random inputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertKerasModel } from '../../../models/convert/convert.ts';
import { RUNTIMES, openSession } from '../../helpers/ort-direct.ts';
import { referenceLogits } from './helpers/reference.ts';
import { seededRandom, writeTinyKeras } from './helpers/tiny-keras.ts';
import { tinyModels } from './helpers/tiny-models.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-options-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(tinyModels().map((m, i) => ({ ...m, dir: join(work, `m${i}`) })))('$name', ({ model, dir }) => {
  beforeAll(async () => {
    await writeTinyKeras(join(work, `${dir.split('/').pop()}.h5`), model);
    await convertKerasModel({ h5Path: join(work, `${dir.split('/').pop()}.h5`), outDir: dir, graphs: ['classifier'] });
  });

  it.each(RUNTIMES)('gives the logits and probabilities of Keras in %s', async (runtime) => {
    const [length, channels] = model.inputShape;
    const rand = seededRandom(99);
    const batch = 2;
    const x = Float32Array.from({ length: batch * length * channels }, () => 2 * rand() - 1);
    const session = await openSession(runtime, join(dir, 'classifier.onnx'));
    const out = await session.run({ x: { data: x, dims: [batch, length, channels] } });
    await session.release();
    const refs = [0, 1].map((n) => referenceLogits(model, x.subarray(n * length * channels, (n + 1) * length * channels)));
    // The check is only meaningful when the logits depend on the input.
    expect(Math.max(...refs[0]!.map((v, c) => Math.abs(v - refs[1]![c]!)))).toBeGreaterThan(1e-3);
    for (let n = 0; n < batch; n++) {
      const ref = referenceLogits(model, x.subarray(n * length * channels, (n + 1) * length * channels));
      expect(out.logits!.dims).toEqual([batch, ref.length]);
      for (let c = 0; c < ref.length; c++) {
        const logit = out.logits!.data[n * ref.length + c]!;
        expect(Math.abs(logit - ref[c]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref[c]!)));
        expect(out.probabilities!.data[n * ref.length + c]!).toBeCloseTo(1 / (1 + Math.exp(-ref[c]!)), 6);
      }
    }
  });
});
