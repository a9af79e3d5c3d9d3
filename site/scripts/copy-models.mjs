// Copies the installed models (models/build/<id>/: manifest.json, *.onnx graphs, weights) into the built site
// under dist/model-files/, so the Worker reads them through its ASSETS binding and they never enter the Worker bundle.
// With them the sanity check's randomised weights (sanity/step-<k>/, models/install.ts installSanitySteps).
// Writes dist/model-files/index.json = { models: InstalledModel[], parts: { "<id>/<file>": [part paths] } }.
// Workers static assets allow at most 25 MiB per file: larger files are split into 20 MiB parts that the Worker
// joins (functions/worker/models.ts). It also copies onnxruntime-web's engine for the browser (private mode,
// functions/platform/ort-browser.ts) into dist/model-files/ort/ — the WASM build and the WebGPU (asyncify) build, each
// an Emscripten module (.mjs) and its binary — listed as `engine` in index.json, its large binaries split the same
// way (the page joins them). Usage: node site/scripts/copy-models.mjs [modelsBuildDir] [siteDistDir]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const buildDir = resolve(process.argv[2] ?? join(root, 'models/build'));
const distDir = resolve(process.argv[3] ?? join(root, 'site/dist'));
const PART_BYTES = 20 * 1024 * 1024;
// Graphs only onnxruntime-web in Node reads (folded at load, functions/platform/ort.ts graphVariant): the Worker and
// the browser run lean, so these graphs and the weights file only they use are not deployed.
const NODE_ONLY_GRAPHS = ['gradient-wasm'];
const LIMIT_BYTES = 25 * 1024 * 1024;

const out = join(distDir, 'model-files');
const require = createRequire(import.meta.url);
/** onnxruntime-web's engine files the browser loads: the WASM build and the WebGPU build (native WebGPU EP). */
const ENGINE_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const models = [];
const parts = {};
let copied = 0;
for (const id of existsSync(buildDir) ? readdirSync(buildDir).sort() : []) {
  const manifestPath = join(buildDir, id, 'manifest.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const skipped = new Set();
  for (const kind of NODE_ONLY_GRAPHS) {
    if (manifest.graphs?.[kind]) skipped.add(manifest.graphs[kind]);
    if (manifest.weightsFiles?.[kind]) skipped.add(manifest.weightsFiles[kind]);
    delete manifest.graphs?.[kind];
    delete manifest.weightsFiles?.[kind];
  }
  for (const file of [manifest.weightsFile, ...Object.values(manifest.weightsFiles ?? {}), ...Object.values(manifest.graphs ?? {})]) skipped.delete(file);
  // The sanity check's randomised weights (models/install.ts installSanitySteps): sanity/step-<k>/<weights file>,
  // without the files only Node's graphs use.
  if (manifest.sanity) manifest.sanity.weightsFiles = manifest.sanity.weightsFiles.filter((f) => !skipped.has(f));
  // An incomplete set (a build folder edited by hand) is left out: the server then answers sanity_unavailable.
  if (manifest.sanity && !manifest.sanity.steps.every((step) => manifest.sanity.weightsFiles.every((f) => existsSync(join(buildDir, id, manifest.sanity.dir, `step-${step.k}`, f))))) delete manifest.sanity;
  models.push(manifest);
  mkdirSync(join(out, id), { recursive: true });
  for (const step of manifest.sanity?.steps ?? []) {
    const stepKey = `${id}/${manifest.sanity.dir}/step-${step.k}`;
    mkdirSync(join(out, stepKey), { recursive: true });
    for (const file of manifest.sanity.weightsFiles) copied += copyOrSplit(join(buildDir, stepKey, file), `${stepKey}/${file}`);
  }
  for (const file of readdirSync(join(buildDir, id))) {
    if (skipped.has(file)) continue;
    if (file === 'manifest.json') {
      writeFileSync(join(out, id, file), `${JSON.stringify(manifest, null, 2)}\n`);
      continue;
    }
    const from = join(buildDir, id, file);
    if (!statSync(from).isFile()) continue;
    copied += copyOrSplit(from, `${id}/${file}`);
  }
}
/** Copies `from` to `<out>/<key>`, split into parts (listed in `parts`) when above the static-asset limit. */
function copyOrSplit(from, key) {
  const size = statSync(from).size;
  if (size <= LIMIT_BYTES) {
    copyFileSync(from, join(out, key));
    return size;
  }
  const names = [];
  const fd = openSync(from, 'r');
  try {
    for (let offset = 0, i = 0; offset < size; offset += PART_BYTES, i++) {
      const length = Math.min(PART_BYTES, size - offset);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, offset);
      writeFileSync(join(out, `${key}.part${i}`), buf);
      names.push(`${key}.part${i}`);
    }
  } finally {
    closeSync(fd);
  }
  parts[key] = names;
  return size;
}
const ortPackage = resolve(dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm')), '..');
const ortVersion = JSON.parse(readFileSync(join(ortPackage, 'package.json'), 'utf8')).version;
mkdirSync(join(out, 'ort'), { recursive: true });
let engineBytes = 0;
for (const file of ENGINE_FILES) engineBytes += copyOrSplit(join(ortPackage, 'dist', file), `ort/${file}`);
const engine = { version: ortVersion, files: ENGINE_FILES };
console.log(`copy-models: browser engine onnxruntime-web ${ortVersion}, ${(engineBytes / 1024 / 1024).toFixed(1)} MiB`);
writeFileSync(join(out, 'index.json'), JSON.stringify({ models, parts, engine }));
console.log(`copy-models: ${models.length} model(s), ${(copied / 1024 / 1024).toFixed(1)} MiB into ${out}${Object.keys(parts).length ? `; split: ${Object.keys(parts).join(', ')}` : ''}`);
