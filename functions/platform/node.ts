/**
 * Node platform shell shared by the CLI, the install step and tests: where the models are built, how installed
 * models are listed, and the ModelRuntime for Node (onnxruntime-web WASM from its package, or onnxruntime-node).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstalledModel } from '../core/model/manifest.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { createOrtRuntime } from './ort.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const modelsBuildDir = process.env.LEADLIGHT_MODELS_DIR ? resolve(process.env.LEADLIGHT_MODELS_DIR) : join(repoRoot, 'models/build');

/** The models the install step prepared (models/build/<id>/manifest.json), available or not. */
export function loadInstalledModels(buildDir = modelsBuildDir): InstalledModel[] {
  if (!existsSync(buildDir)) return [];
  const models: InstalledModel[] = [];
  for (const entry of readdirSync(buildDir, { withFileTypes: true })) {
    const manifest = join(buildDir, entry.name, 'manifest.json');
    if (entry.isDirectory() && !entry.name.startsWith('.') && existsSync(manifest)) {
      models.push(JSON.parse(readFileSync(manifest, 'utf8')) as InstalledModel);
    }
  }
  return models;
}

/** onnxruntime-web's WASM binary, as shipped in its npm package. */
export function ortWasmBytes(): Uint8Array {
  const require = createRequire(import.meta.url);
  return readFileSync(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

/**
 * A runtime reading model files from `buildDir`: `wasm` (onnxruntime-web, 1 thread) or `native` (all cores).
 * Node's WASM runtime is not memory-bound: it folds derived kernels at load unless `leanMemory` (the Worker's mode).
 */
export function createNodeRuntime(backend: 'wasm' | 'native', buildDir = modelsBuildDir, numThreads?: number, leanMemory = false): ModelRuntime {
  return createOrtRuntime({
    backend,
    wasmBinary: backend === 'wasm' ? ortWasmBytes() : undefined,
    numThreads,
    leanMemory,
    modelsDir: buildDir,
    loadFile: async (path) => new Uint8Array(await readFile(join(buildDir, path))),
  });
}
