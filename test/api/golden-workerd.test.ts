/**
 * The engine inside workerd, as the Worker runs it (onnxruntime-web imported as a CompiledWasm module through the
 * one adapter), against the independent float64 goldens of ../shared/models/<id>/golden/: logits within 1e-4
 * absolute, gradient and the paper's 64-step integrated gradients within 1e-3 relative L2.
 */
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { describe, expect, inject, it } from 'vitest';
import { attribute } from '../../functions/core/attribution/attribute.ts';
import type { InstalledModel } from '../../functions/core/model/manifest.ts';
import { WASM_BATCH } from '../../functions/core/pipeline.ts';
import { createOrtRuntime, wasmMemoryBytes } from '../../functions/platform/ort.ts';
import { relativeL2 } from '../helpers/metrics.ts';

const server = inject('goldenServer');

async function bytes(path: string): Promise<Uint8Array> {
  const response = await fetch(`${server}/${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
const f32 = async (path: string) => {
  const b = await bytes(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

const runtime = createOrtRuntime({ backend: 'wasm', wasmBinary: ortWasm, loadFile: (path) => bytes(`models/${path}`) });

for (const id of ['cinc2020-ai-strollers', 'ribeiro2020']) {
  describe(`${id} in workerd`, () => {
    it('gives the golden logits, gradient and 64-step integrated gradients', async () => {
      const model = JSON.parse(new TextDecoder().decode(await bytes(`models/${id}/manifest.json`))) as InstalledModel;
      const golden = JSON.parse(new TextDecoder().decode(await bytes(`golden/${id}/golden/A0003.json`)));
      const input = await f32(`golden/${id}/golden/A0003.input.f32`);
      const [samples, leads] = golden.input.shape as [number, number];
      const classIndex = golden.attributed_class_index as number;
      const numClasses = model.classes.length;
      const session = await runtime.session(model, 'gradient');

      const out = await session.run(
        { x: { data: input, dims: [1, samples, leads] }, seed: { data: new Float32Array(numClasses), dims: [1, numClasses] } },
        ['logits'],
      );
      (golden.logits as number[]).forEach((v, c) => expect(Math.abs(out.logits.data[c] - v)).toBeLessThan(1e-4));

      const gradient = await attribute(session, { method: 'gradient', classIndex, numClasses, input, samples, leads });
      expect(relativeL2(gradient.relevance, await f32(`golden/${id}/golden/A0003.gradient.f32`))).toBeLessThan(1e-3);

      const ig = await attribute(session, { method: 'ig', classIndex, numClasses, input, samples, leads, steps: 64, rule: 'left', batchSize: WASM_BATCH });
      expect(relativeL2(ig.relevance, await f32(`golden/${id}/golden/A0003.ig64.f32`))).toBeLessThan(1e-3);
      expect(ig.completeness.logitAtBaseline).toBeCloseTo(golden.logits_at_zero_input[classIndex], 4);

      // The isolate's WebAssembly memory stays within the Worker's 128 MB (Ribeiro-size: about 88 MB).
      expect(wasmMemoryBytes()).toBeLessThan(100 * 1024 * 1024);
      await runtime.release(id);
    });
  });
}
