/**
 * Memory of the Worker isolate — V8 JS heap plus WebAssembly linear memory — during a Ribeiro-size `ig` analysis
 * of the largest record the Worker accepts (150 000 samples per lead: 300 s at 500 Hz, 12 leads), measured from
 * OUTSIDE the Worker over the V8 inspector, against the 128 MB isolate limit of Cloudflare Workers.
 *
 * Steps: bundles the Worker exactly as `wrangler deploy` would (`--dry-run --outdir`, like test/site/global-setup.ts),
 * converts the Ribeiro-size network from the shared same-layout random-weights file (as test/helpers/models.ts
 * does) and copies it as the only model into a temporary assets folder (site/scripts/copy-models.mjs), starts its
 * own `wrangler dev` on that bundle (fresh `--persist-to` folder, `--inspector-port`, own process group), writes a
 * synthetic 12-lead WFDB record (format 16) and uploads it with `POST /api/records` (model=ribeiro2020,
 * method=ig), which answers 201 once the result exists — whether the analysis ran in the request or in the
 * Worker's queue consumer.
 *
 * Meanwhile every isolate of the Worker is sampled over the Chrome DevTools Protocol: the isolates are listed from
 * workerd's own inspector (`/json`; every `core:user:*` isolate, i.e. the Worker, its Durable Objects' and queue
 * consumers' isolates if separate), falling back to the one target that `wrangler dev --inspector-port` proxies.
 * Per isolate and sample (~100 ms apart):
 *   - `Runtime.getHeapUsage`: usedSize (live + not yet collected JS objects on the V8 heap), totalSize (heap
 *     committed), backingStorageSize (off-heap ArrayBuffer backing stores and external strings);
 *   - the byteLength of every `WebAssembly.Memory` of the isolate (ORT's linear memory), read through remote
 *     handles on those objects (found once with `Runtime.queryObjects`, which walks the heap, then re-read cheaply
 *     with `Runtime.callFunctionOn`). WASM memory only grows, so its last value is its peak.
 * Whether backingStorageSize includes the WASM memory is checked at run time (see `wasmInBackingStorage`): the
 * total then counts it once.
 *
 * Caveat: the inspector is served by the isolate's own thread between JavaScript turns, so a sample cannot land
 * inside one long synchronous WASM run; the JS heap between two turns (the gradient batches of IG) is what is seen.
 * Garbage not yet collected counts in usedSize (as it does for the limit).
 *
 * Usage: node functions/cli/memory-workerd.ts [--source DIR | --head] [--models-dir DIR] [--interval MS] [--steps N]
 *          [--json] [--series FILE]
 *   --head     bundle the last commit (git archive HEAD into a temp folder) instead of the working tree
 *   --source   bundle another checkout (its wrangler.toml and `main`)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../core/random.ts';
import { freePort } from './free-port.ts';
import { parseArgs } from 'node:util';
import { installModel, loadSourceManifest } from '../../models/install.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MB = 1024 * 1024;
/** The isolate memory limit of Cloudflare Workers (128 MB; taken as MiB, the stricter reading). */
export const WORKER_MEMORY_LIMIT_BYTES = 128 * MB;

export interface MeasureWorkerMemoryOptions {
  /** The checkout whose wrangler.toml and Worker are bundled (default: this repository's working tree). */
  sourceDir?: string;
  /** Bundle the last commit of `sourceDir` (git archive HEAD) instead of its working tree. */
  head?: boolean;
  /** Where the Ribeiro-size test model is converted (cached by hash); default models/build/.test, as the tests. */
  modelsBuildDir?: string;
  /** The same-layout Keras file converted as ribeiro2020 (default: ../shared/models/ribeiro2020/ribeiro2020-layout-random.h5). */
  weightsFile?: string;
  samplesPerLead?: number;
  sampleRateHz?: number;
  /** Sampling interval of the inspector, ms (default 100). */
  intervalMs?: number;
  /** Extra form fields (e.g. { steps: '64' }); model=ribeiro2020 and method=ig are always sent. */
  fields?: Record<string, string>;
  log?: (line: string) => void;
}

export interface IsolateSample {
  t: number;
  target: string;
  usedSize: number;
  totalSize: number;
  backingStorageSize: number;
  wasmBytes: number;
}

export interface WorkerMemoryResult {
  /** Peak V8 heap usedSize over the samples (summed over the isolates of one sample round). */
  peakHeapUsedBytes: number;
  /** Peak V8 heap totalSize (committed). */
  peakHeapTotalBytes: number;
  /** Peak off-heap ArrayBuffer backing store NOT counting WASM memory. */
  peakBackingStoreBytes: number;
  /** Peak WebAssembly linear memory (all WebAssembly.Memory objects of the isolates). */
  peakWasmBytes: number;
  /** Peak over sample rounds of heap usedSize + non-WASM backing stores + WASM memory. */
  peakTotalBytes: number;
  /** Peak over sample rounds of heap usedSize + WASM memory (without off-heap ArrayBuffers). */
  peakHeapPlusWasmBytes: number;
  limitBytes: number;
  withinLimit: boolean;
  /** Whether the isolates' backingStorageSize was seen to include the WASM memory (then subtracted from it). */
  wasmInBackingStorage: boolean;
  method: string;
  targets: string[];
  samples: number;
  uploadStatus: number;
  uploadMs: number;
  totalMs: number;
  recordBytes: number;
  samplesPerLead: number;
  sampleRateHz: number;
  series: IsolateSample[];
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// The record: a synthetic 12-lead ECG (sinus rhythm ~70/min with RR variability, P-QRS-T as Gaussians with
// lead-specific amplitudes, baseline wander, mains and white noise; R about 1–1.8 mV), WFDB format 16 at 1000/mV.


const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
// Per lead: amplitudes (mV) of P, Q, R, S, T.
const WAVES: Record<string, [number, number, number, number, number]> = {
  I: [0.1, -0.05, 1.0, -0.15, 0.25],
  II: [0.15, -0.08, 1.4, -0.2, 0.35],
  III: [0.06, -0.05, 0.5, -0.1, 0.12],
  aVR: [-0.12, 0.05, -1.1, 0.15, -0.3],
  aVL: [0.03, -0.04, 0.3, -0.1, 0.08],
  aVF: [0.1, -0.06, 0.9, -0.15, 0.24],
  V1: [0.08, 0, 0.4, -1.2, -0.1],
  V2: [0.1, 0, 0.8, -1.6, 0.5],
  V3: [0.1, -0.05, 1.2, -1.0, 0.55],
  V4: [0.1, -0.1, 1.8, -0.5, 0.5],
  V5: [0.1, -0.12, 1.6, -0.3, 0.4],
  V6: [0.1, -0.1, 1.2, -0.2, 0.3],
};

export function syntheticEcgWfdb(name: string, samplesPerLead: number, fs: number, seed = 20260): { hea: Uint8Array; dat: Uint8Array } {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  // Beat onsets (s).
  const beats: number[] = [];
  for (let t = 0.3; t < samplesPerLead / fs + 1; ) {
    beats.push(t);
    t += 0.86 + 0.04 * Math.sin(2 * Math.PI * 0.25 * t) + 0.02 * gauss();
  }
  // Wave centres relative to R (s) and widths (s).
  const centre = [-0.16, -0.025, 0, 0.025, 0.26];
  const width = [0.025, 0.01, 0.012, 0.012, 0.05];
  const digital = new Int16Array(samplesPerLead * LEADS.length);
  const wander = LEADS.map(() => [0.1 + 0.1 * rand(), 0.15 + 0.2 * rand(), 2 * Math.PI * rand()]);
  let beat = 0;
  for (let i = 0; i < samplesPerLead; i++) {
    const t = i / fs;
    while (beat + 1 < beats.length && beats[beat + 1]! - 0.5 < t) beat++;
    for (let l = 0; l < LEADS.length; l++) {
      const amp = WAVES[LEADS[l]!]!;
      let mv = 0;
      for (const b of [beats[beat - 1], beats[beat], beats[beat + 1]]) {
        if (b === undefined) continue;
        for (let w = 0; w < 5; w++) {
          const d = t - b - centre[w]!;
          if (Math.abs(d) < 5 * width[w]!) mv += amp[w]! * Math.exp((-d * d) / (2 * width[w]! * width[w]!));
        }
      }
      const [a, f, p] = wander[l]!;
      mv += a! * Math.sin(2 * Math.PI * f! * t + p!) + 0.01 * Math.sin(2 * Math.PI * 50 * t) + 0.015 * gauss();
      digital[i * LEADS.length + l] = Math.max(-32767, Math.min(32767, Math.round(mv * 1000)));
    }
  }
  const dat = new Uint8Array(digital.buffer.slice(0));
  // Little-endian on every platform Node runs on; checksums and initial values as WFDB writes them.
  const lines = [`${name} ${LEADS.length} ${fs} ${samplesPerLead}`];
  for (let l = 0; l < LEADS.length; l++) {
    let sum = 0;
    for (let i = 0; i < samplesPerLead; i++) sum += digital[i * LEADS.length + l]!;
    const checksum = ((sum % 65536) + 65536) % 65536;
    const signed = checksum > 32767 ? checksum - 65536 : checksum;
    lines.push(`${name}.dat 16 1000/mV 16 0 ${digital[l]} ${signed} 0 ${LEADS[l]}`);
  }
  lines.push('# Age: 60', '# Sex: Male', '# synthetic ECG-like signal (leadlight memory-workerd)');
  return { hea: new TextEncoder().encode(`${lines.join('\n')}\n`), dat };
}

// ---------------------------------------------------------------------------------------------------------------
// Chrome DevTools Protocol over WebSocket (Node 22's global WebSocket).

interface CdpSession {
  target: string;
  send: (method: string, params?: object) => Promise<Record<string, unknown>>;
  contextId: () => number | undefined;
  close: () => void;
}

async function connectCdp(target: string, url: string): Promise<CdpSession> {
  // wrangler's inspector proxy checks the Origin header; the browser-less client sends a local one.
  const ws = new (WebSocket as unknown as new (u: string, o: object) => WebSocket)(url, { headers: { origin: 'http://127.0.0.1' } });
  let nextId = 1;
  let context: number | undefined;
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; method?: string; params?: { context?: { id: number } }; result?: Record<string, unknown>; error?: { message: string } };
    if (message.id !== undefined && pending.has(message.id)) {
      const p = pending.get(message.id)!;
      pending.delete(message.id);
      if (message.error) p.reject(new Error(`${target}: ${message.error.message}`));
      else p.resolve(message.result ?? {});
    } else if (message.method === 'Runtime.executionContextCreated' && message.params?.context) {
      context = message.params.context.id;
    }
  };
  ws.onclose = () => {
    for (const p of pending.values()) p.reject(new Error(`${target}: inspector connection closed`));
    pending.clear();
  };
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error(`cannot open the inspector WebSocket ${url}`));
  });
  const session: CdpSession = {
    target,
    send: (method, params = {}) =>
      new Promise((res, rej) => {
        const id = nextId++;
        pending.set(id, { resolve: res, reject: rej });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    contextId: () => context,
    close: () => ws.close(),
  };
  await session.send('Runtime.enable');
  return session;
}

interface InspectorTarget {
  id: string;
  webSocketDebuggerUrl: string;
}

async function listTargets(port: number): Promise<InspectorTarget[]> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? ((await response.json()) as InspectorTarget[]) : [];
  } catch {
    return [];
  }
}

/** The TCP ports a process listens on (from /proc/net/tcp and its socket descriptors), Linux only. */
function listeningPorts(pid: number): number[] {
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = execFileSync('readlink', [`/proc/${pid}/fd/${fd}`], { encoding: 'utf8' }).trim();
        const m = /^socket:\[(\d+)\]$/u.exec(link);
        if (m) inodes.add(m[1]!);
      } catch {
        /* closed meanwhile */
      }
    }
    const ports: number[] = [];
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!existsSync(table)) continue;
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/u);
        if (f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
      }
    }
    return ports;
  } catch {
    return [];
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc').filter((p) => /^\d+$/u.test(p))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* ended */
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) for (const c of children.get(stack.pop()!) ?? []) out.push(c), stack.push(c);
  return out;
}

/**
 * The Worker's isolates: workerd's own inspector (found among the ports the user-worker workerd process listens on)
 * lists every isolate; the user's are `core:user:<name>` (miniflare's helper workers excluded). Falls back to the
 * single target of wrangler's proxy on `--inspector-port`.
 */
async function findIsolates(wranglerPid: number, proxyPort: number): Promise<{ targets: InspectorTarget[]; via: string }> {
  // wrangler's proxy holds workerd's one inspector connection per isolate: go through it when it lists the Worker.
  for (let i = 0; i < 20; i++) {
    const proxied = await listTargets(proxyPort);
    if (proxied.length) return { targets: proxied, via: `wrangler --inspector-port ${proxyPort}/json` };
    await sleep(250);
  }
  for (const pid of descendants(wranglerPid)) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes('workerd') || !cmdline.includes('--inspector-addr')) continue;
    for (const port of listeningPorts(pid)) {
      const listed = await listTargets(port);
      const user = listed.filter((t) => t.id.startsWith('core:user:') && !t.id.startsWith('core:user:miniflare-') && !t.id.includes('__WRANGLER'));
      if (user.length) return { targets: user, via: `workerd inspector 127.0.0.1:${port}/json` };
    }
  }
  const proxied = await listTargets(proxyPort);
  return { targets: proxied, via: `wrangler --inspector-port ${proxyPort}/json` };
}

/** Samples one isolate: heap usage every call, WASM memories through remote handles found once via queryObjects. */
class IsolateSampler {
  private memoryHandles: string | undefined;
  private lastQuery = 0;
  wasmBytes = 0;
  readonly session: CdpSession;
  constructor(session: CdpSession) {
    this.session = session;
  }

  /** Finds the isolate's WebAssembly.Memory objects (heap walk; at most every `everyMs` until found). */
  private async findMemories(everyMs: number): Promise<void> {
    if (this.memoryHandles || performance.now() - this.lastQuery < everyMs) return;
    this.lastQuery = performance.now();
    const contextId = this.session.contextId();
    const proto = (await this.session.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype', objectGroup: 'leadlight-memory', ...(contextId ? { contextId } : {}) })) as {
      result: { objectId?: string };
    };
    if (!proto.result.objectId) return;
    const found = (await this.session.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId, objectGroup: 'leadlight-memory' })) as { objects: { objectId: string } };
    const count = (await this.session.send('Runtime.callFunctionOn', { objectId: found.objects.objectId, functionDeclaration: 'function () { return this.length; }', returnByValue: true })) as {
      result: { value: number };
    };
    if (count.result.value > 0) this.memoryHandles = found.objects.objectId;
  }

  async sample(t0: number, queryEveryMs: number): Promise<IsolateSample> {
    const heap = (await this.session.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number; backingStorageSize?: number };
    await this.findMemories(queryEveryMs);
    if (this.memoryHandles) {
      const bytes = (await this.session.send('Runtime.callFunctionOn', {
        objectId: this.memoryHandles,
        functionDeclaration: 'function () { let n = 0; for (const m of this) n += m.buffer.byteLength; return n; }',
        returnByValue: true,
      })) as { result: { value: number } };
      this.wasmBytes = bytes.result.value;
    }
    return { t: performance.now() - t0, target: this.session.target, usedSize: heap.usedSize, totalSize: heap.totalSize, backingStorageSize: heap.backingStorageSize ?? 0, wasmBytes: this.wasmBytes };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// wrangler: bundle, dev server.

function wranglerEnv(): NodeJS.ProcessEnv {
  const bin = join(repoRoot, 'node_modules/.bin');
  return { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', PATH: `${bin}:${process.env.PATH ?? ''}` };
}

/** Bundles `sourceDir`'s Worker as `wrangler deploy` would, with `assets` as its assets folder; returns the dev config. */
function bundleWorker(sourceDir: string, work: string, assets: string): string {
  const toml = readFileSync(join(sourceDir, 'wrangler.toml'), 'utf8');
  const main = /^main = "(.*)"$/mu.exec(toml)?.[1];
  if (!main) throw new Error(`no main = "..." in ${join(sourceDir, 'wrangler.toml')}`);
  const withAssets = toml.replace(/^directory = .*$/mu, `directory = ${JSON.stringify(assets)}`);
  const buildConfig = join(work, 'wrangler.build.toml');
  writeFileSync(buildConfig, withAssets.replace(/^main = .*$/mu, `main = ${JSON.stringify(isAbsolute(main) ? main : join(sourceDir, main))}`));
  const bundle = join(work, 'bundle');
  try {
    execFileSync(join(repoRoot, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', bundle, '--config', buildConfig], { cwd: work, env: wranglerEnv(), stdio: 'pipe' });
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`wrangler deploy --dry-run failed for ${sourceDir} (a tree mid-edit? try --head):\n${String(out.stdout ?? '').slice(-3000)}${String(out.stderr ?? '').slice(-2000)}`);
  }
  const devConfig = join(work, 'wrangler.toml');
  writeFileSync(devConfig, withAssets.replace(/^main = .*$/mu, `main = ${JSON.stringify(join(bundle, 'index.js'))}\nno_bundle = true`));
  return devConfig;
}

async function startWranglerDev(config: string, work: string): Promise<{ child: ChildProcess; baseUrl: string; inspectorPort: number; log: () => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const state = join(work, 'state');
  mkdirSync(state);
  let output = '';
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/wrangler'),
    ['dev', '--config', config, '--port', String(port), '--inspector-port', String(inspectorPort), '--ip', '127.0.0.1', '--persist-to', state, '--show-interactive-dev-session=false', '--log-level', 'warn'],
    { cwd: work, env: wranglerEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const stop = async () => {
    if (child.exitCode !== null || !child.pid) return;
    // wrangler starts workerd as a child: stop the whole process group it leads.
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 20 && child.exitCode === null; i++) await sleep(100);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output.slice(-4000)}`);
    try {
      if ((await fetch(`${baseUrl}/api/models`)).ok) break;
    } catch {
      /* not yet listening */
    }
    if (Date.now() - started > 120_000) {
      await stop();
      throw new Error(`wrangler dev did not answer within 120 s:\n${output.slice(-4000)}`);
    }
    await sleep(300);
  }
  return { child, baseUrl, inspectorPort, log: () => output, stop };
}

// ---------------------------------------------------------------------------------------------------------------

export async function measureWorkerMemory(options: MeasureWorkerMemoryOptions = {}): Promise<WorkerMemoryResult> {
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const samplesPerLead = options.samplesPerLead ?? 150_000;
  const sampleRateHz = options.sampleRateHz ?? 500;
  const intervalMs = options.intervalMs ?? 100;
  const work = mkdtempSync(join(tmpdir(), 'leadlight-memory-'));
  let dev: Awaited<ReturnType<typeof startWranglerDev>> | undefined;
  const sessions: CdpSession[] = [];
  try {
    // The Worker's sources: the working tree, or the last commit exported beside the installed node_modules.
    let sourceDir = resolve(options.sourceDir ?? repoRoot);
    if (options.head) {
      const snapshot = join(work, 'source');
      mkdirSync(snapshot);
      execFileSync('sh', ['-c', `git -C ${JSON.stringify(sourceDir)} archive HEAD | tar -x -C ${JSON.stringify(snapshot)}`]);
      symlinkSync(join(sourceDir, 'node_modules'), join(snapshot, 'node_modules'));
      sourceDir = snapshot;
    }
    // The Ribeiro-size model (test conversion of the same-layout random-weights file) as the only asset model.
    log('converting / checking the Ribeiro-size model …');
    const modelsBuildDir = options.modelsBuildDir ?? join(repoRoot, 'models/build/.test');
    const weightsFile = options.weightsFile ?? resolve(repoRoot, '../shared/models/ribeiro2020/ribeiro2020-layout-random.h5');
    const model = await installModel(loadSourceManifest('ribeiro2020'), { buildDir: modelsBuildDir, weights: { ribeiro2020: weightsFile } });
    if (model.status !== 'available') throw new Error(`ribeiro2020 could not be converted: ${model.reason}`);
    const only = join(work, 'models');
    mkdirSync(join(only, 'ribeiro2020'), { recursive: true });
    for (const f of readdirSync(join(modelsBuildDir, 'ribeiro2020'))) symlinkSync(join(modelsBuildDir, 'ribeiro2020', f), join(only, 'ribeiro2020', f));
    const assets = join(work, 'assets');
    mkdirSync(assets);
    execFileSync(process.execPath, [join(repoRoot, 'site/scripts/copy-models.mjs'), only, assets], { stdio: 'pipe' });
    log(`bundling ${sourceDir} (wrangler deploy --dry-run) …`);
    const config = bundleWorker(sourceDir, work, assets);
    log('starting wrangler dev …');
    dev = await startWranglerDev(config, work);

    const record = syntheticEcgWfdb('synthetic300s', samplesPerLead, sampleRateHz);
    const { targets, via } = await findIsolates(dev.child.pid!, dev.inspectorPort);
    if (!targets.length) throw new Error('the inspector lists no Worker isolate');
    for (const t of targets) sessions.push(await connectCdp(t.id, t.webSocketDebuggerUrl));
    const samplers = sessions.map((s) => new IsolateSampler(s));
    log(`sampling ${targets.map((t) => t.id).join(', ')} (${via}) every ${intervalMs} ms`);

    const series: IsolateSample[] = [];
    const rounds: IsolateSample[][] = [];
    let uploading = true;
    const tStart = performance.now();
    const sampling = (async () => {
      while (uploading) {
        const started = performance.now();
        // While the model loads, look for WebAssembly.Memory objects at most every 500 ms (each look walks the heap).
        const round = await Promise.all(samplers.map((s) => s.sample(tStart, 500).catch(() => undefined)));
        const ok = round.filter((r): r is IsolateSample => r !== undefined);
        series.push(...ok);
        rounds.push(ok);
        await sleep(Math.max(0, intervalMs - (performance.now() - started)));
      }
    })();
    await sleep(3 * intervalMs);

    const form = new FormData();
    form.append('file', new Blob([record.hea as BlobPart]), 'synthetic300s.hea');
    form.append('file', new Blob([record.dat as BlobPart]), 'synthetic300s.dat');
    form.append('model', 'ribeiro2020');
    form.append('method', 'ig');
    for (const [k, v] of Object.entries(options.fields ?? {})) form.append(k, v);
    log(`uploading ${samplesPerLead} samples × 12 leads (${((record.hea.byteLength + record.dat.byteLength) / MB).toFixed(1)} MB) with method=ig …`);
    const tUpload = performance.now();
    const response = await fetch(`${dev.baseUrl}/api/records`, { method: 'POST', body: form, signal: AbortSignal.timeout(15 * 60_000) });
    const body = await response.text();
    const uploadMs = performance.now() - tUpload;
    // A few samples after the answer (the result is stored; WASM memory has its final, peak size).
    await sleep(5 * intervalMs);
    uploading = false;
    await sampling;
    for (const s of samplers) await s.sample(tStart, 0).then((r) => rounds.push([r]), () => undefined);
    if (response.status !== 201) throw new Error(`POST /api/records answered ${response.status}: ${body.slice(0, 500)}\n${dev.log().slice(-2000)}`);

    // Does backingStorageSize include the WASM memory? It does if it is never below the WASM bytes it should hold.
    const wasmInBackingStorage = series.some((s) => s.wasmBytes > 0) && series.every((s) => s.wasmBytes === 0 || s.backingStorageSize >= s.wasmBytes);
    const sum = (round: IsolateSample[], f: (s: IsolateSample) => number) => round.reduce((a, s) => a + f(s), 0);
    const nonWasmBacking = (s: IsolateSample) => Math.max(0, s.backingStorageSize - (wasmInBackingStorage ? s.wasmBytes : 0));
    const peak = (f: (r: IsolateSample[]) => number) => Math.max(0, ...rounds.map(f));
    const peakTotalBytes = peak((r) => sum(r, (s) => s.usedSize + nonWasmBacking(s) + s.wasmBytes));
    return {
      peakHeapUsedBytes: peak((r) => sum(r, (s) => s.usedSize)),
      peakHeapTotalBytes: peak((r) => sum(r, (s) => s.totalSize)),
      peakBackingStoreBytes: peak((r) => sum(r, nonWasmBacking)),
      peakWasmBytes: peak((r) => sum(r, (s) => s.wasmBytes)),
      peakTotalBytes,
      peakHeapPlusWasmBytes: peak((r) => sum(r, (s) => s.usedSize + s.wasmBytes)),
      limitBytes: WORKER_MEMORY_LIMIT_BYTES,
      withinLimit: peakTotalBytes <= WORKER_MEMORY_LIMIT_BYTES,
      wasmInBackingStorage,
      method:
        `wrangler dev (workerd, bundle of ${options.head ? 'HEAD' : sourceDir}) with the Ribeiro-size test model; ${targets.length} isolate(s) via ${via}; ` +
        `every ${intervalMs} ms per isolate: CDP Runtime.getHeapUsage (usedSize, totalSize, backingStorageSize) and the byteLength of every WebAssembly.Memory ` +
        `(handles from Runtime.queryObjects, read with Runtime.callFunctionOn); total = heap usedSize + off-heap ArrayBuffers` +
        `${wasmInBackingStorage ? ' (backingStorageSize minus the WASM memory it includes)' : ' (backingStorageSize)'} + WASM memory, per sample round`,
      targets: targets.map((t) => t.id),
      samples: series.length,
      uploadStatus: response.status,
      uploadMs,
      totalMs: performance.now() - t0,
      recordBytes: record.hea.byteLength + record.dat.byteLength,
      samplesPerLead,
      sampleRateHz,
      series,
    };
  } finally {
    for (const s of sessions) s.close();
    await dev?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      head: { type: 'boolean' },
      'models-dir': { type: 'string' },
      interval: { type: 'string' },
      steps: { type: 'string' },
      json: { type: 'boolean' },
      series: { type: 'string' },
    },
  });
  const result = await measureWorkerMemory({
    ...(values.source ? { sourceDir: values.source } : {}),
    ...(values.head ? { head: true } : {}),
    ...(values['models-dir'] ? { modelsBuildDir: resolve(values['models-dir']) } : {}),
    ...(values.interval ? { intervalMs: Number(values.interval) } : {}),
    ...(values.steps ? { fields: { steps: values.steps } } : {}),
    log: (line) => console.error(line),
  });
  if (values.series) writeFileSync(values.series, JSON.stringify(result.series));
  if (values.json) {
    console.log(JSON.stringify({ ...result, series: undefined }, null, 2));
    return;
  }
  const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
  const rows: [string, string][] = [
    ['JS heap used (peak)', mb(result.peakHeapUsedBytes)],
    ['JS heap committed (peak)', mb(result.peakHeapTotalBytes)],
    ['off-heap ArrayBuffers (peak)', mb(result.peakBackingStoreBytes)],
    ['WASM linear memory (peak)', mb(result.peakWasmBytes)],
    ['heap used + WASM (peak)', mb(result.peakHeapPlusWasmBytes)],
    ['total (peak)', mb(result.peakTotalBytes)],
    ['limit', `${mb(result.limitBytes)} → ${result.withinLimit ? 'within' : 'OVER'}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`Worker isolate memory, ig on ribeiro2020, ${result.samplesPerLead} samples/lead × 12 at ${result.sampleRateHz} Hz (MB = 2^20 bytes)`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log(`  ${result.samples} samples of ${result.targets.join(', ')}; upload → ${result.uploadStatus} in ${(result.uploadMs / 1000).toFixed(1)} s; whole run ${(result.totalMs / 1000).toFixed(1)} s`);
  console.log(`  method: ${result.method}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
