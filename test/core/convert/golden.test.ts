/**
 * The converted shared models reproduce the golden reference numbers of ../shared/models/<id>/golden (computed by
 * an independent float64 implementation, see the models' README.md) in onnxruntime-node and onnxruntime-web
 * (WASM, one thread): logits on CPSC record A0003 within 1e-4 absolute, logits at zero input, and the gradient of
 * the attributed class's logit within 1e-3 relative L2 — by the `gradient` graph, by its spectral WASM variant
 * (`gradient-wasm`), and by `gradient-lowmem` in the Worker's lean-memory WASM mode. All expected numbers are read from the golden files.
 * The ribeiro2020 model is `ribeiro2020-layout-random.h5` (published layout, random weights), converted into a
 * temporary folder.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertKerasModel, type ConvertResult } from '../../../models/convert/convert.ts';
import { decodeModel } from '../../../models/convert/onnx-proto.ts';
import { maxAbsDiff, relativeL2 } from '../../helpers/metrics.ts';
import { RUNTIMES, openSession } from '../../helpers/ort-direct.ts';
import { sharedModelsDir } from '../../helpers/paths.ts';

interface Golden {
  model: string;
  input: { file: string; shape: [number, number] };
  logits: number[];
  logits_at_zero_input: number[];
  attributed_class_index: number;
  gradient: { file: string; shape: [number, number] };
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-golden-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cases = readdirSync(sharedModelsDir)
  .filter((id) => existsSync(join(sharedModelsDir, id, 'golden')))
  .flatMap((id) =>
    readdirSync(join(sharedModelsDir, id, 'golden'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ id, goldenDir: join(sharedModelsDir, id, 'golden'), golden: JSON.parse(readFileSync(join(sharedModelsDir, id, 'golden', f), 'utf8')) as Golden })),
  );

it('finds golden files for both shared models', () => {
  expect(new Set(cases.map((c) => c.id))).toEqual(new Set(['ribeiro2020', 'cinc2020-ai-strollers']));
});

describe.each(cases)('$id on $golden.input.file', ({ id, goldenDir, golden }) => {
  const outDir = join(work, id);
  let result: ConvertResult;
  const x = readF32(join(goldenDir, golden.input.file));
  const dims = [1, ...golden.input.shape];

  beforeAll(async () => {
    result = await convertKerasModel({ h5Path: join(sharedModelsDir, id, golden.model), outDir, graphs: ['classifier', 'gradient', 'gradient-wasm', 'gradient-lowmem'] });
  });

  it('writes small graphs that keep every weight in the shared external-data file', () => {
    expect(x.length).toBe(golden.input.shape[0] * golden.input.shape[1]);
    expect(statSync(join(outDir, result.weightsFile)).size).toBe(result.weightsBytes);
    for (const kind of ['classifier', 'gradient'] as const) {
      const bytes = readFileSync(join(outDir, result.graphs[kind]!));
      expect(bytes.length).toBeLessThan(64 * 1024);
      const graph = decodeModel(bytes).graph as { initializer: { name: string; data_location?: number; external_data?: { key: string; value: string }[]; data_type: number }[] };
      for (const t of graph.initializer.filter((t) => t.data_type === 1 && t.external_data)) {
        const meta = Object.fromEntries(t.external_data!.map((e) => [e.key, e.value]));
        expect(t.data_location).toBe(1);
        expect(meta.location).toBe(result.weightsFile);
        expect(Number(meta.offset) % 64).toBe(0);
        expect(Number(meta.offset) + Number(meta.length)).toBeLessThanOrEqual(result.weightsBytes);
      }
    }
  });

  it.each(RUNTIMES)('gives the golden logits and the logits at zero input in %s', async (runtime) => {
    const session = await openSession(runtime, join(outDir, result.graphs.classifier!));
    const zero = new Float32Array(x.length);
    const out = await session.run({ x: { data: Float32Array.from([...x, ...zero]), dims: [2, ...golden.input.shape] } });
    await session.release();
    const c = golden.logits.length;
    expect(out.logits!.dims).toEqual([2, c]);
    golden.logits.forEach((v, k) => expect(Math.abs(out.logits!.data[k]! - v)).toBeLessThan(1e-4));
    golden.logits_at_zero_input.forEach((v, k) => expect(Math.abs(out.logits!.data[c + k]! - v)).toBeLessThan(1e-4));
    golden.logits.forEach((v, k) => expect(Math.abs(out.probabilities!.data[k]! - 1 / (1 + Math.exp(-v)))).toBeLessThan(1e-5));
  });

  it.each([...RUNTIMES.map((r) => [r, 'gradient'] as const), ['wasm', 'gradient-wasm'] as const, ['wasm-lean', 'gradient-lowmem'] as const])('gives the golden gradient of the attributed logit in %s (%s graph)', async (runtime, graph) => {
    const reference = readF32(join(goldenDir, golden.gradient.file));
    const session = await openSession(runtime, join(outDir, result.graphs[graph]!));
    const seed = new Float32Array(golden.logits.length);
    seed[golden.attributed_class_index] = 1;
    const out = await session.run({ x: { data: x, dims }, seed: { data: seed, dims: [1, seed.length] } });
    await session.release();
    golden.logits.forEach((v, k) => expect(Math.abs(out.logits!.data[k]! - v)).toBeLessThan(1e-4));
    expect(out.grad!.dims).toEqual(dims);
    expect(reference.some((v) => v !== 0)).toBe(true);
    expect(relativeL2(out.grad!.data, reference)).toBeLessThan(1e-3);
  });

  it.each([...RUNTIMES.map((r) => [r, 'gradient'] as const), ['wasm', 'gradient-wasm'] as const, ['wasm-lean', 'gradient-lowmem'] as const])('explains the top class for a NaN seed, as the one-hot seed of the largest logit, in %s (%s graph)', async (runtime, graph) => {
    const session = await openSession(runtime, join(outDir, result.graphs[graph]!));
    const c = golden.logits.length;
    const top = golden.logits.indexOf(Math.max(...golden.logits));
    const seeds = new Float32Array(2 * c).fill(Number.NaN, 0, c);
    seeds[c + top] = 1;
    const out = await session.run({ x: { data: Float32Array.from([...x, ...x]), dims: [2, ...golden.input.shape] }, seed: { data: seeds, dims: [2, c] } });
    await session.release();
    const n = x.length;
    const { maxDiff, maxAbs } = maxAbsDiff(out.grad!.data.subarray(0, n), out.grad!.data.subarray(n));
    expect(maxAbs).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThanOrEqual(1e-6 * maxAbs);
    for (let k = 0; k < c; k++) expect(out.logits!.data[k]).toBe(out.logits!.data[c + k]);
  });
});
