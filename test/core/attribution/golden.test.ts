/**
 * Attribution against the independent float64 goldens in ../shared/models/<id>/golden/ (A0003, an AF record):
 * logits within 1e-4 absolute, gradient and the paper's 64-step integrated gradients within 1e-3 relative L2,
 * in onnxruntime-web (WASM in Node) and onnxruntime-node. Every number comes from the golden files.
 */
import { describe, expect, it } from 'vitest';
import { attribute } from '../../../functions/core/attribution/attribute.ts';
import { relativeL2 } from '../../helpers/metrics.ts';
import { loadGolden, TEST_MODEL_IDS, testModel, testRuntime } from '../../helpers/models.ts';

for (const id of TEST_MODEL_IDS) {
  const golden = loadGolden(id);
  const [samples, leads] = golden.json.input.shape;
  const classIndex = golden.json.attributed_class_index;
  for (const backend of ['wasm', 'native'] as const) {
    describe(`${id} in ${backend}`, () => {
      it('gives the golden logits at the golden input and at zero input, and no gradient for a zero seed', async () => {
        const model = await testModel(id);
        const session = await testRuntime(backend).session(model, 'gradient');
        const classes = model.classes.length;
        const out = await session.run(
          {
            x: { data: new Float32Array([...golden.input, ...new Float32Array(samples * leads)]), dims: [2, samples, leads] },
            seed: { data: new Float32Array(2 * classes), dims: [2, classes] },
          },
          ['logits', 'grad'],
        );
        // A zero seed skips the backward pass (If in the graph): its gradient is exactly zero.
        expect(out.grad.data.every((v) => v === 0)).toBe(true);
        golden.json.logits.forEach((v, c) => expect(Math.abs(out.logits.data[c] - v)).toBeLessThan(1e-4));
        golden.json.logits_at_zero_input.forEach((v, c) => expect(Math.abs(out.logits.data[classes + c] - v)).toBeLessThan(1e-4));
      });

      it('gives the golden gradient of the class logit', async () => {
        const model = await testModel(id);
        const session = await testRuntime(backend).session(model, 'gradient');
        const result = await attribute(session, { method: 'gradient', classIndex, numClasses: model.classes.length, input: golden.input, samples, leads });
        expect(relativeL2(result.relevance, golden.gradient)).toBeLessThan(1e-3);
      });

      it("gives the golden 64-step integrated gradients (the paper's left Riemann sum) and reports completeness", async () => {
        const model = await testModel(id);
        const session = await testRuntime(backend).session(model, 'gradient');
        const steps = golden.json.integrated_gradients.steps;
        const result = await attribute(session, {
          method: 'ig', classIndex, numClasses: model.classes.length, input: golden.input, samples, leads, steps, rule: 'left', batchSize: 8,
        });
        expect(relativeL2(result.relevance, golden.ig64)).toBeLessThan(1e-3);
        // The sum cancels heavily; bound its error by 1e-3 of the map's L1 norm (the same scale as the L2 check).
        const l1 = golden.ig64.reduce((a, v) => a + Math.abs(v), 0);
        expect(Math.abs(result.completeness.sum - golden.json.integrated_gradients.sum)).toBeLessThan(1e-3 * l1);
        const expected = golden.json.logits[classIndex] - golden.json.logits_at_zero_input[classIndex];
        expect(result.completeness.expected).toBeCloseTo(expected, 4);
        expect(result.completeness.logitAtBaseline).toBeCloseTo(golden.json.logits_at_zero_input[classIndex], 4);
      });
    });
  }
}
