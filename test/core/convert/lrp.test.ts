/**
 * The LRP graphs apply iNNvestigate's rules (epsilon with ε = 1e-7, alpha1-beta0, and its BatchNormalization,
 * Add and max-pooling handling): on the tiny Keras models their relevance matches a float64 plain-loop reference
 * of the rules (helpers/reference-lrp.ts) in onnxruntime-node and onnxruntime-web (WASM, one thread).
 * On the two shared models the graphs run and give the golden logits and finite, non-zero relevance.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertKerasModel } from '../../../models/convert/convert.ts';
import { RUNTIMES, openSession } from '../../helpers/ort-direct.ts';
import { sharedModelsDir } from '../../helpers/paths.ts';
import { referenceLrp, type LrpRule } from './helpers/reference-lrp.ts';
import { referenceLogits } from './helpers/reference.ts';
import { seededRandom, writeTinyKeras } from './helpers/tiny-keras.ts';
import { tinyModels } from './helpers/tiny-models.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-lrp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const RULES: { kind: 'lrp-epsilon' | 'lrp-alpha1-beta0'; rule: LrpRule }[] = [
  { kind: 'lrp-epsilon', rule: 'epsilon' },
  { kind: 'lrp-alpha1-beta0', rule: 'alpha1-beta0' },
];

describe.each(tinyModels().map((m, i) => ({ ...m, i })))('$name', ({ model, i }) => {
  const dir = join(work, `m${i}`);
  beforeAll(async () => {
    await writeTinyKeras(join(work, `m${i}.h5`), model);
    await convertKerasModel({ h5Path: join(work, `m${i}.h5`), outDir: dir, graphs: ['lrp-epsilon', 'lrp-alpha1-beta0'] });
  });

  describe.each(RULES)('$kind', ({ kind, rule }) => {
    it.each(RUNTIMES)('matches the reference rules in %s', async (runtime) => {
      const [length, channels] = model.inputShape;
      const per = length * channels;
      const rand = seededRandom(4321 + i);
      const x = Float32Array.from({ length: 2 * per }, () => 2 * rand() - 1);
      const classes = referenceLogits(model, x.subarray(0, per)).length;
      const seeds = [Array.from({ length: classes }, (_, c) => (c === 0 ? 1 : 0)), Array.from({ length: classes }, () => 2 * rand() - 1)];
      const session = await openSession(runtime, join(dir, `${kind}.onnx`));
      const out = await session.run({ x: { data: x, dims: [2, length, channels] }, seed: { data: Float32Array.from(seeds.flat()), dims: [2, classes] } });
      await session.release();
      expect(out.relevance!.dims).toEqual([2, length, channels]);
      for (let n = 0; n < 2; n++) {
        const ref = referenceLrp(model, x.subarray(n * per, (n + 1) * per), seeds[n]!, rule);
        const got = out.relevance!.data.subarray(n * per, (n + 1) * per);
        const scale = Math.max(...ref.map(Math.abs));
        expect(scale).toBeGreaterThan(1e-4);
        let worst = 0;
        for (let j = 0; j < per; j++) worst = Math.max(worst, Math.abs(got[j]! - ref[j]!));
        expect(worst / scale).toBeLessThan(1e-4);
      }
    });
  });
});

describe.each(['cinc2020-ai-strollers', 'ribeiro2020'])('%s', (id) => {
  const goldenDir = join(sharedModelsDir, id, 'golden');
  const golden = JSON.parse(readFileSync(join(goldenDir, 'A0003.json'), 'utf8')) as { model: string; input: { file: string; shape: [number, number] }; logits: number[]; attributed_class_index: number };
  const dir = join(work, id);
  beforeAll(async () => {
    await convertKerasModel({ h5Path: join(sharedModelsDir, id, golden.model), outDir: dir, graphs: ['lrp-epsilon', 'lrp-alpha1-beta0'] });
  });

  it.each(RULES.flatMap((r) => RUNTIMES.map((runtime) => ({ ...r, runtime }))))('runs $kind in $runtime with the golden logits and finite relevance', async ({ kind, runtime }) => {
    expect(existsSync(join(dir, `${kind}.onnx`))).toBe(true);
    const b = readFileSync(join(goldenDir, golden.input.file));
    const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const seed = new Float32Array(golden.logits.length);
    seed[golden.attributed_class_index] = 1;
    const session = await openSession(runtime, join(dir, `${kind}.onnx`));
    const out = await session.run({ x: { data: x, dims: [1, ...golden.input.shape] }, seed: { data: seed, dims: [1, seed.length] } });
    await session.release();
    golden.logits.forEach((v, k) => expect(Math.abs(out.logits!.data[k]! - v)).toBeLessThan(1e-4));
    const r = out.relevance!.data;
    expect(r.every(Number.isFinite)).toBe(true);
    expect(r.some((v) => v !== 0)).toBe(true);
  });
});
