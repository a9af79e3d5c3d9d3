/**
 * Models for tests, converted by the install step's own code from the files in ../shared/models into
 * models/build/.test/ (cached by hash, so only the first test run converts). `ribeiro2020` is the same-layout
 * random-weights file given as user weights (`--weights`), exactly as a user would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstalledModel } from '../../functions/core/model/manifest.ts';
import type { ModelRuntime } from '../../functions/core/model/runtime.ts';
import { createNodeRuntime } from '../../functions/platform/node.ts';
import { installModel, loadSourceManifest } from '../../models/install.ts';
import { repoRoot, sharedModelsDir } from './paths.ts';

export const testBuildDir = join(repoRoot, 'models/build/.test');
export const TEST_MODEL_IDS = ['cinc2020-ai-strollers', 'ribeiro2020'] as const;
export type TestModelId = (typeof TEST_MODEL_IDS)[number];

const weightsOf: Record<TestModelId, string> = {
  'cinc2020-ai-strollers': join(sharedModelsDir, 'cinc2020-ai-strollers/ECGCNNX_V4.h5'),
  ribeiro2020: join(sharedModelsDir, 'ribeiro2020/ribeiro2020-layout-random.h5'),
};

const installing = new Map<TestModelId, Promise<InstalledModel>>();

/** The converted test model (available), converting it on first use. */
export function testModel(id: TestModelId): Promise<InstalledModel> {
  let pending = installing.get(id);
  if (!pending) {
    pending = installModel(loadSourceManifest(id), { buildDir: testBuildDir, weights: { [id]: weightsOf[id] } }).then((m) => {
      if (m.status !== 'available') throw new Error(`test model ${id} could not be converted: ${m.reason}`);
      return m;
    });
    installing.set(id, pending);
  }
  return pending;
}

/** A runtime over the test models: `wasm` (onnxruntime-web, 1 thread) or `native` (onnxruntime-node). */
export function testRuntime(backend: 'wasm' | 'native', numThreads = 1): ModelRuntime {
  return createNodeRuntime(backend, testBuildDir, numThreads);
}

/** A golden reference of ../shared/models/<id>/golden/. */
export interface Golden {
  json: {
    logits: number[];
    probabilities: number[];
    logits_at_zero_input: number[];
    attributed_class_index: number;
    input: { shape: [number, number] };
    integrated_gradients: { steps: number; sum: number; sum_per_lead: number[] };
  };
  input: Float32Array;
  gradient: Float32Array;
  ig64: Float32Array;
}

function f32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function loadGolden(id: TestModelId, record = 'A0003'): Golden {
  const dir = join(sharedModelsDir, id, 'golden');
  return {
    json: JSON.parse(readFileSync(join(dir, `${record}.json`), 'utf8')),
    input: f32(join(dir, `${record}.input.f32`)),
    gradient: f32(join(dir, `${record}.gradient.f32`)),
    ig64: f32(join(dir, `${record}.ig64.f32`)),
  };
}


