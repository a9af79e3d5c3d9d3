/**
 * The install step (npm postinstall, Node 22): for every source manifest in models/manifests/, find the model's
 * Keras file, verify it against the published size and hashes, convert it to ONNX (models/convert/convert.ts) and
 * write models/build/<id>/ with manifest.json (`InstalledModel`, functions/core/model/manifest.ts).
 *
 * Where the Keras file comes from, in order: `--weights ID=FILE` or the manifest's environment variable (a user
 * file: a hash differing from the published one is converted with a warning, `converted.published: false`);
 * `../shared/models/<id>/<sharedFileName>` beside the repository (must be the published file); a download from
 * `source.downloadUrls` (zip members extracted with fflate), verified by size and sha256 / git blob id.
 * Nothing found → the model is `unavailable` with a reason saying how to provide it.
 * Fast when nothing changed: a build whose manifest records the same source hash and converter version is kept.
 * For models small enough for the Worker, `installModels` also writes the server-side sanity check's randomised
 * weights (`installSanitySteps`, models/build/<id>/sanity/step-<k>/).
 * Never fails the install: every problem becomes a log line and an `unavailable` manifest; the exit code is 0.
 */
import { concatBytes } from '../functions/core/bytes.ts';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LeadlightError, isLeadlightError } from '../functions/core/errors.ts';
import { CONVERTER_VERSION, type InstalledModel, type ModelManifest, type ModelSource } from '../functions/core/model/manifest.ts';
import { INSTALLED_GRAPH_KINDS, defaultRepoRoot, listSourceManifests, loadSourceManifest } from './convert/manifests.ts';

/** Bumped whenever the converter's output changes, so cached builds are regenerated. */
export { CONVERTER_VERSION };

export { loadSourceManifest, listSourceManifests, defaultRepoRoot };

export interface InstallOptions {
  manifestsDir?: string;
  buildDir?: string;
  /** Folder holding `<id>/<sharedFileName>`; default ../shared/models beside the repository. */
  sharedModelsDir?: string;
  /** User files by model id (`--weights ID=FILE`). */
  weights?: Record<string, string>;
  /** Environment consulted for the manifests' `envVar` (default: none). */
  env?: Record<string, string | undefined>;
  /** Skip downloads (e.g. `--offline`). */
  offline?: boolean;
  /** Convert again even when the build is current. */
  force?: boolean;
  /** Per-URL download timeout (whole transfer) and time allowed until the response starts. */
  downloadTimeoutMs?: number;
  connectTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Extra fields the install step records beside `InstalledModel`. */
export type InstalledModelRecord = InstalledModel & { converterVersion?: string; warnings?: string[] };

/** sha256 and git blob id (sha1 of "blob <size>\0" + bytes) of bytes. */
export function hashBytes(bytes: Uint8Array): { sha256: string; gitBlobSha1: string; sizeBytes: number } {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const blob = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
  return { sha256, gitBlobSha1: blob, sizeBytes: bytes.length };
}

/** Hashes a file in chunks (no whole-file buffer). */
export function hashFile(path: string): { sha256: string; gitBlobSha1: string; sizeBytes: number } {
  const size = statSync(path).size;
  const sha = createHash('sha256');
  const blob = createHash('sha1').update(`blob ${size}\0`);
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(1 << 20);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      sha.update(buf.subarray(0, n));
      blob.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: sha.digest('hex'), gitBlobSha1: blob.digest('hex'), sizeBytes: size };
}

/** Why a file is not the published one (undefined when size and every given hash match). */
export function publishedMismatch(h: { sha256: string; gitBlobSha1: string; sizeBytes: number }, source: ModelSource): string | undefined {
  if (h.sizeBytes !== source.sizeBytes) return `its size is ${h.sizeBytes} bytes instead of ${source.sizeBytes}`;
  if (source.sha256 && h.sha256 !== source.sha256.toLowerCase()) return `its sha256 is ${h.sha256} instead of ${source.sha256}`;
  if (source.gitBlobSha1 && h.gitBlobSha1 !== source.gitBlobSha1.toLowerCase()) return `its git blob id is ${h.gitBlobSha1} instead of ${source.gitBlobSha1}`;
  return undefined;
}

/** How to provide the model's file, for `reason` texts. */
function howToProvide(m: ModelManifest): string {
  return `Download ${m.source.file} from ${m.source.url} and run \`node models/install.ts --weights ${m.id}=PATH\` (or set ${m.source.envVar}=PATH and run npm install).`;
}

/**
 * Downloads one URL with a size limit: the response must start within `connectTimeoutMs` (so an unreachable
 * mirror does not stall `npm install`) and finish within `timeoutMs`.
 */
async function download(url: string, maxBytes: number, timeoutMs: number, connectTimeoutMs: number): Promise<Uint8Array> {
  const controller = new AbortController();
  const overall = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs);
  const connect = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), connectTimeoutMs);
  try {
    return await downloadWith(url, maxBytes, controller.signal, () => clearTimeout(connect));
  } catch (e) {
    if (controller.signal.aborted) throw new DOMException('timed out', 'TimeoutError');
    throw e;
  } finally {
    clearTimeout(overall);
    clearTimeout(connect);
  }
}

async function downloadWith(url: string, maxBytes: number, signal: AbortSignal, connected: () => void): Promise<Uint8Array> {
  const response = await fetch(url, { signal, redirect: 'follow' });
  connected();
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new Error(`the download is ${declared} bytes, more than expected`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error('the download is larger than expected');
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/** The model file from downloaded bytes: the zip member `source.file` when the download is a zip, else the bytes. */
export async function extractModelFile(bytes: Uint8Array, source: ModelSource): Promise<Uint8Array> {
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (!isZip || source.file.toLowerCase().endsWith('.zip')) return bytes;
  // Imported here so that a broken dependency can never make the install script itself fail to load.
  const { unzipSync } = await import('fflate');
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => f.name === source.file && f.originalSize <= source.sizeBytes * 2 + 1024 });
  } catch {
    throw new Error('the downloaded zip could not be read');
  }
  const member = files[source.file];
  if (!member) throw new Error(`the downloaded zip has no member ${source.file}`);
  return member;
}

function readBuilt(dir: string): InstalledModelRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as InstalledModelRecord;
  } catch {
    return undefined;
  }
}

function buildIsComplete(dir: string, built: InstalledModelRecord | undefined): built is InstalledModelRecord {
  if (!built || built.status !== 'available' || built.converterVersion !== CONVERTER_VERSION || !built.weightsFile) return false;
  const files = [built.weightsFile, ...Object.values(built.weightsFiles ?? {}), ...Object.values(built.graphs)];
  if (INSTALLED_GRAPH_KINDS.some((k) => !built.graphs[k])) return false;
  return files.every((f) => typeof f === 'string' && existsSync(join(dir, f)));
}

/** Replaces `dir` by `staging` (both under the build folder). */
function swapIn(staging: string, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
}

function writeUnavailable(m: ModelManifest, buildDir: string, reason: string): InstalledModelRecord {
  const dir = join(buildDir, m.id);
  const record: InstalledModelRecord = { ...m, status: 'unavailable', reason, graphs: {}, converterVersion: CONVERTER_VERSION };
  const staging = join(buildDir, `.${m.id}.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify(record, null, 2)}\n`);
  swapIn(staging, dir);
  return record;
}

async function convertInto(m: ModelManifest, buildDir: string, h5Path: string, hashes: { sha256: string; sizeBytes: number }, published: boolean, warnings: string[], fromFile = basename(h5Path)): Promise<InstalledModelRecord> {
  const staging = join(buildDir, `.${m.id}.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const { convertKerasModel } = await import('./convert/convert.ts');
    const result = await convertKerasModel({ h5Path, outDir: staging, manifest: m, graphs: INSTALLED_GRAPH_KINDS });
    const record: InstalledModelRecord = {
      ...m,
      status: 'available',
      graphs: result.graphs,
      weightsFile: result.weightsFile,
      weightsBytes: result.weightsBytes,
      weightsFiles: result.weightsFiles,
      converted: { fromFile, sha256: hashes.sha256, sizeBytes: hashes.sizeBytes, published, at: new Date().toISOString() },
      parameters: result.parameters,
      converterVersion: CONVERTER_VERSION,
      ...(warnings.length > 0 ? { warnings } : {}),
    };
    writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify(record, null, 2)}\n`);
    swapIn(staging, join(buildDir, m.id));
    return record;
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

/** Installs one model; never throws for problems with the model file (they give an `unavailable` record). */
export async function installModel(m: ModelManifest, options: InstallOptions = {}): Promise<InstalledModelRecord> {
  const log = options.log ?? (() => {});
  const buildDir = options.buildDir ?? join(defaultRepoRoot, 'models/build');
  const sharedModelsDir = options.sharedModelsDir ?? resolve(defaultRepoRoot, '../shared/models');
  const dir = join(buildDir, m.id);
  mkdirSync(buildDir, { recursive: true });
  const built = readBuilt(dir);
  const current = buildIsComplete(dir, built) ? built : undefined;

  // 1. A user file.
  const userPath = options.weights?.[m.id] ?? options.env?.[m.source.envVar];
  if (userPath) {
    if (!existsSync(userPath)) return writeUnavailable(m, buildDir, `The file given for ${m.id} (--weights or ${m.source.envVar}) does not exist. ${howToProvide(m)}`);
    const h = hashFile(userPath);
    const mismatch = publishedMismatch(h, m.source);
    if (current && !options.force && current.converted?.sha256 === h.sha256) {
      log(`${m.id}: up to date (${current.converted.published ? 'published file' : 'user file'})`);
      return current;
    }
    const warnings = mismatch ? [`The given file is not the published ${m.source.file} (${mismatch}); it was converted as given.`] : [];
    if (mismatch) log(`${m.id}: warning: the given file is not the published one (${mismatch}); converting it anyway`);
    try {
      const rec = await convertInto(m, buildDir, userPath, h, !mismatch, warnings);
      log(`${m.id}: converted the given file (${rec.weightsBytes} weight bytes)`);
      return rec;
    } catch (e) {
      const msg = isLeadlightError(e) ? e.message : 'The conversion failed unexpectedly.';
      return writeUnavailable(m, buildDir, `The file given for ${m.id} could not be converted: ${msg}`);
    }
  }

  // 2. The shared folder beside the repository (must be the published file).
  const sharedPath = join(sharedModelsDir, m.id, m.source.sharedFileName);
  let sharedProblem: string | undefined;
  if (existsSync(sharedPath)) {
    const h = hashFile(sharedPath);
    const mismatch = publishedMismatch(h, m.source);
    if (mismatch) {
      sharedProblem = `${m.source.sharedFileName} in the shared folder is not the published file (${mismatch})`;
      log(`${m.id}: ignoring the shared file: ${sharedProblem}`);
    } else {
      if (current && !options.force && current.converted?.sha256 === h.sha256) {
        log(`${m.id}: up to date`);
        return current;
      }
      try {
        const rec = await convertInto(m, buildDir, sharedPath, h, true, []);
        log(`${m.id}: converted the shared published file`);
        return rec;
      } catch (e) {
        sharedProblem = `the shared file could not be converted: ${isLeadlightError(e) ? e.message : 'unexpected failure'}`;
        log(`${m.id}: ${sharedProblem}`);
      }
    }
  }

  // 3. An existing build of the published file needs no download.
  if (current && !options.force && current.converted?.published) {
    log(`${m.id}: up to date (published file converted ${current.converted.at})`);
    return current;
  }

  // 4. Download.
  const problems: string[] = sharedProblem ? [sharedProblem] : [];
  if (!options.offline) {
    const timeoutMs = options.downloadTimeoutMs ?? 300_000;
    const connectTimeoutMs = Math.min(options.connectTimeoutMs ?? 20_000, timeoutMs);
    const maxBytes = m.source.sizeBytes * 2 + 16 * 1024 * 1024;
    for (const url of m.source.downloadUrls) {
      let host = url;
      try {
        host = new URL(url).host;
      } catch {
        /* keep the text */
      }
      try {
        log(`${m.id}: downloading from ${host} ...`);
        const bytes = await extractModelFile(await download(url, maxBytes, timeoutMs, connectTimeoutMs), m.source);
        const h = hashBytes(bytes);
        const mismatch = publishedMismatch(h, m.source);
        if (mismatch) throw new Error(`the downloaded ${m.source.file} is not the published file: ${mismatch}`);
        const tmp = join(buildDir, `.${m.id}.download-${process.pid}.h5`);
        writeFileSync(tmp, bytes);
        try {
          const rec = await convertInto(m, buildDir, tmp, h, true, [], basename(m.source.file));
          log(`${m.id}: downloaded and converted`);
          return rec;
        } finally {
          rmSync(tmp, { force: true });
        }
      } catch (e) {
        const why = isLeadlightError(e) ? e.message : e instanceof Error ? (e.name === 'TimeoutError' ? 'timed out' : e.message) : String(e);
        problems.push(`${host}: ${why}`);
        log(`${m.id}: download from ${host} failed: ${why}`);
      }
    }
  } else problems.push('downloads are switched off (--offline)');

  // 5. Keep a build converted earlier from a user file when no source is available now.
  if (current && !options.force) {
    log(`${m.id}: no source file now; keeping the build converted ${current.converted?.at ?? 'earlier'}`);
    return current;
  }
  const reason = `The weights of ${m.id} are not installed (${problems.join('; ') || 'no source file found'}). ${howToProvide(m)}`;
  log(`${m.id}: unavailable — ${reason}`);
  return writeUnavailable(m, buildDir, reason);
}

/** Models whose weights are at most this large get the server-side sanity check's randomised weights (below). */
export const SANITY_MAX_WEIGHTS_BYTES = 4 * 1024 * 1024;
/** The seed of the cascade the install step writes: `leadlight sanity`'s default. */
export const SANITY_SEED = 16;
const SANITY_DIR = 'sanity';

/** What the manifest says about the randomised weights of the sanity check (`InstalledModel.sanity`). */
export interface InstalledSanity {
  seed: number;
  /** Folder (in the model's build folder) holding `step-<k>/<weights file>` for every step. */
  dir: string;
  /** The Keras file the cascade randomised (its sha256), so a new file means new steps. */
  sourceSha256: string;
  converterVersion: string;
  /** The weights files each step folder holds (the graphs' external data; the graphs themselves are shared). */
  weightsFiles: string[];
  steps: { k: number; layer: string; layers: string[] }[];
}

function sanityIsComplete(dir: string, rec: InstalledModelRecord & { sanity?: InstalledSanity }): boolean {
  const s = rec.sanity;
  if (!s || s.seed !== SANITY_SEED || s.converterVersion !== CONVERTER_VERSION || s.sourceSha256 !== rec.converted?.sha256) return false;
  return s.steps.every((step) => s.weightsFiles.every((f) => existsSync(join(dir, s.dir, `step-${step.k}`, f))));
}

/**
 * The server-side sanity check's randomised models (issue 16, item 2; Adebayo et al., NeurIPS 2018, "Sanity checks
 * for saliency maps", §3.1, cascading randomisation): for a model whose weights are small enough for the Worker
 * (SANITY_MAX_WEIGHTS_BYTES), every cascade step of `leadlight sanity` (same code, same seed) is converted by this
 * install step's converter, and only its weights files are kept, in `sanity/step-<k>/`: the graphs are checked to
 * be byte for byte those of the trained model, so a step is the installed graphs with other external data. Needs
 * the Keras file (a user file or the shared copy); without it, or for larger models, the manifest has no `sanity`
 * and the server answers `sanity_unavailable`. Kept when current (same source hash, seed and converter version).
 */
export async function installSanitySteps(m: ModelManifest, rec: InstalledModelRecord, options: InstallOptions = {}): Promise<InstalledModelRecord> {
  const log = options.log ?? (() => {});
  const buildDir = options.buildDir ?? join(defaultRepoRoot, 'models/build');
  const dir = join(buildDir, m.id);
  const withSanity = rec as InstalledModelRecord & { sanity?: InstalledSanity };
  if (rec.status !== 'available' || !rec.converted) return rec;
  const drop = (why: string): InstalledModelRecord => {
    log(`${m.id}: no server-side sanity check (${why})`);
    if (!withSanity.sanity) return rec;
    const { sanity: _dropped, ...rest } = withSanity;
    rmSync(join(dir, SANITY_DIR), { recursive: true, force: true });
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(rest, null, 2)}\n`);
    return rest;
  };
  if ((rec.weightsBytes ?? Infinity) > SANITY_MAX_WEIGHTS_BYTES) return drop(`weights of ${rec.weightsBytes} bytes, more than the ${SANITY_MAX_WEIGHTS_BYTES} the Worker takes`);
  if (sanityIsComplete(dir, withSanity)) {
    log(`${m.id}: sanity-check steps up to date`);
    return rec;
  }
  const sharedModelsDir = options.sharedModelsDir ?? resolve(defaultRepoRoot, '../shared/models');
  const candidates = [options.weights?.[m.id], options.env?.[m.source.envVar], join(sharedModelsDir, m.id, m.source.sharedFileName)];
  const h5Path = candidates.find((p): p is string => typeof p === 'string' && existsSync(p) && hashFile(p).sha256 === rec.converted!.sha256);
  if (!h5Path) return drop('the Keras file it was converted from is not here to randomise');
  const started = Date.now();
  const staging = join(buildDir, `.${m.id}.sanity-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const { convertKerasModel } = await import('./convert/convert.ts');
    const { randomisedKerasFiles } = await import('../functions/cli/sanity-keras.ts');
    const weightsFiles = [...new Set([rec.weightsFile, ...Object.values(rec.weightsFiles ?? {})].filter((f): f is string => typeof f === 'string'))];
    const steps: InstalledSanity['steps'] = [];
    for await (const step of randomisedKerasFiles(h5Path, SANITY_SEED)) {
      const out = join(step.workDir, `convert-${step.index}`);
      mkdirSync(out, { recursive: true });
      const result = await convertKerasModel({ h5Path: step.path, outDir: out, manifest: m, graphs: INSTALLED_GRAPH_KINDS });
      // The same graphs, byte for byte: only the external data differs between the steps and the trained model.
      for (const [kind, file] of Object.entries(result.graphs)) {
        if (file !== rec.graphs[kind as keyof typeof rec.graphs] || !readFileSync(join(out, file)).equals(readFileSync(join(dir, file)))) {
          throw new Error(`the randomised ${kind} graph differs from the installed one`);
        }
      }
      const stepDir = join(staging, `step-${step.index}`);
      mkdirSync(stepDir, { recursive: true });
      for (const f of weightsFiles) renameSync(join(out, f), join(stepDir, f));
      rmSync(out, { recursive: true, force: true });
      steps.push({ k: step.index, layer: step.layer, layers: step.randomised });
    }
    swapIn(staging, join(dir, SANITY_DIR));
    const sanity: InstalledSanity = { seed: SANITY_SEED, dir: SANITY_DIR, sourceSha256: rec.converted.sha256, converterVersion: CONVERTER_VERSION, weightsFiles, steps };
    const updated = { ...rec, sanity } as InstalledModelRecord;
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(updated, null, 2)}\n`);
    log(`${m.id}: wrote the sanity check's ${steps.length} randomised steps (${Date.now() - started} ms)`);
    return updated;
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    return drop(`the randomised steps could not be written: ${isLeadlightError(e) ? e.message : e instanceof Error ? e.message : String(e)}`);
  }
}

/** Installs every model of the manifests folder (with the sanity check's steps, `installSanitySteps`). */
export async function installModels(options: InstallOptions = {}): Promise<InstalledModelRecord[]> {
  const out: InstalledModelRecord[] = [];
  for (const m of listSourceManifests(options.manifestsDir)) {
    try {
      out.push(await installSanitySteps(m, await installModel(m, options), options));
    } catch (e) {
      // Unexpected (e.g. the build folder is not writable): report, keep going with the other models.
      const why = e instanceof Error ? e.message : String(e);
      options.log?.(`${m.id}: install failed: ${why}`);
      out.push({ ...m, status: 'unavailable', reason: `The install step failed for ${m.id} (${why}). ${howToProvide(m)}`, graphs: {}, converterVersion: CONVERTER_VERSION });
    }
  }
  return out;
}

function parseArgs(argv: string[]): InstallOptions {
  const weights: Record<string, string> = {};
  const options: InstallOptions = { weights, env: process.env };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => argv[++i] ?? '';
    if (a === '--weights' || a.startsWith('--weights=')) {
      const spec = a === '--weights' ? value() : a.slice('--weights='.length);
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new LeadlightError('option_invalid', '--weights takes ID=FILE, e.g. --weights ribeiro2020=model.hdf5');
      weights[spec.slice(0, eq)] = resolve(spec.slice(eq + 1));
    } else if (a === '--offline') options.offline = true;
    else if (a === '--force') options.force = true;
    else if (a === '--build-dir') options.buildDir = resolve(value());
    else if (a === '--shared-models') options.sharedModelsDir = resolve(value());
    else throw new LeadlightError('option_invalid', `Unknown argument "${a}". Usage: node models/install.ts [--weights ID=FILE] [--offline] [--force]`);
  }
  if (process.env.LEADLIGHT_OFFLINE === '1') options.offline = true;
  return options;
}

async function main(): Promise<void> {
  const started = Date.now();
  try {
    const options = parseArgs(process.argv.slice(2));
    options.log = (line) => process.stdout.write(`leadlight models: ${line}\n`);
    const records = await installModels(options);
    const summary = records.map((r) => `${r.id} ${r.status}`).join(', ');
    process.stdout.write(`leadlight models: ${summary} (${Date.now() - started} ms)\n`);
  } catch (e) {
    // The install must never fail because of the models: report and exit 0.
    const msg = isLeadlightError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stdout.write(`leadlight models: model install skipped (${msg})\n`);
  }
  process.exitCode = 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
