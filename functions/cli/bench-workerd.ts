/**
 * The workerd part of `leadlight bench`: starts functions/worker/bench-entry.ts under `wrangler dev` (workerd on
 * this machine, loopback only) with the model and the bench record as static assets, times each step from
 * outside, and reads the isolate's WASM memory and the workerd process's peak resident memory.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LeadlightError } from '../core/errors.ts';
import { WASM_BATCH } from '../core/pipeline.ts';
import { loadInstalledModels, repoRoot } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import type { BenchRow } from './bench.ts';
import { gatherRecordFiles } from './args.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The parent pid of a process, from /proc/<pid>/stat. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** The workerd processes this bench started (descendants of this process). */
function benchWorkerdPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((p) => /^\d+$/u.test(p))) {
    const pid = Number(entry);
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('workerd')) continue;
      let ancestor = parentOf(pid);
      while (ancestor > 1 && ancestor !== process.pid) ancestor = parentOf(ancestor);
      if (ancestor === process.pid) pids.push(pid);
    } catch {
      /* process ended */
    }
  }
  return pids;
}

/** Resident memory (peak VmHWM or current VmRSS) of the workerd processes this bench started, in bytes. */
function workerdRss(which: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  let total = 0;
  for (const pid of benchWorkerdPids()) {
    try {
      const match = new RegExp(`${which}:\\s+(\\d+) kB`, 'u').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      /* process ended */
    }
  }
  return total;
}

/** Checks of a shared result timed in one request (see benchWorkerd). */
const SHARE_REPEATS = 20;

/** CPU time (user + system, ms; 10 ms ticks) of the workerd processes this bench started. */
function workerdCpuMs(): number {
  let total = 0;
  for (const pid of benchWorkerdPids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      /* process ended */
    }
  }
  return total;
}

export async function benchWorkerd(modelId: string, recordPath: string, weightsFile?: string): Promise<BenchRow> {
  const { models, buildDir } = await modelsWithUserWeights(loadInstalledModels(), weightsFile ? modelId : undefined, weightsFile);
  const model = models.find((m) => m.id === modelId && m.status === 'available');
  if (!model) throw new LeadlightError('model_unavailable', `Model ${modelId} is not installed.`);
  const work = join(repoRoot, 'models/build/.bench');
  const assets = join(work, 'assets');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(assets, 'bench-record'), { recursive: true });
  const only = join(work, 'models');
  mkdirSync(only, { recursive: true });
  // Only the benchmarked model goes into the assets.
  const copy = join(only, modelId);
  mkdirSync(copy);
  for (const f of readdirSync(join(buildDir, modelId))) copyFileSync(join(buildDir, modelId, f), join(copy, f));
  const copyModels = spawn(process.execPath, [join(repoRoot, 'site/scripts/copy-models.mjs'), only, assets], { stdio: 'ignore' });
  await new Promise((r) => copyModels.on('exit', r));
  const files = gatherRecordFiles([recordPath]);
  for (const f of files) writeFileSync(join(assets, 'bench-record', f.name), f.bytes);
  writeFileSync(join(assets, 'bench-record/index.json'), JSON.stringify(files.map((f) => f.name)));
  writeFileSync(
    join(work, 'wrangler.json'),
    JSON.stringify({
      name: 'leadlight-bench',
      main: join(repoRoot, 'functions/worker/bench-entry.ts'),
      compatibility_date: '2026-08-01',
      assets: { directory: assets, binding: 'ASSETS' },
      rules: [{ type: 'CompiledWasm', globs: ['**/*.wasm'], fallthrough: true }],
    }),
  );
  // wrangler's programmatic dev server, with file watching off so edits elsewhere never reload the isolate.
  const { unstable_dev } = await import('wrangler');
  const dev = await unstable_dev(join(repoRoot, 'functions/worker/bench-entry.ts'), {
    config: join(work, 'wrangler.json'),
    ip: '127.0.0.1',
    port: await freePort(),
    logLevel: 'error',
    experimental: { watch: false, disableExperimentalWarning: true },
  });
  const base = `http://127.0.0.1:${dev.port}`;
  // A step that had to load the model first (a fresh isolate) is timed again.
  const call = async (step: string, query = ''): Promise<{ ms: number; body: Record<string, number | string | boolean> }> => {
    for (let attempt = 0; ; attempt++) {
      const t = performance.now();
      const response = await fetch(`${base}${step}?model=${encodeURIComponent(modelId)}${query}`);
      const body = (await response.json()) as Record<string, number | string | boolean>;
      const ms = performance.now() - t;
      if (body.error) throw new Error(`workerd bench ${step}: ${body.error}`);
      if (!body.loaded || step === '/load' || step === '/ping' || attempt > 0) return { ms, body };
    }
  };
  try {
    // Request overhead, measured warm just before each timed group and subtracted from it.
    const pingMs = async () => Math.min((await call('/ping')).ms, (await call('/ping')).ms, (await call('/ping')).ms);
    let ping = await pingMs();
    const idleRss = workerdRss('VmRSS');
    const load = await call('/load');
    const firstMapCold = await call('/first-map');
    ping = await pingMs();
    const gradient = [await call('/gradient'), await call('/gradient'), await call('/gradient')].map((c) => c.ms - ping).sort((a, b) => a - b)[1];
    const ig = await call('/ig', `&steps=64&batch=${WASM_BATCH}`);
    const firstMap = await call('/first-map');
    // The classifier graph is a second session; measure it last so the IG peak reflects the service's one session.
    const peakAfterIg = workerdRss('VmHWM');
    await call('/release');
    await call('/load', '&classifier=1');
    ping = await pingMs();
    const forward = [await call('/forward'), await call('/forward'), await call('/forward')].map((c) => c.ms - ping).sort((a, b) => a - b)[1];
    // Issue 15: the CPU of checking a shared result (POST /api/results without its KV write) as workerd's own
    // process CPU (so other load on the machine does not count): 10 requests of 1 + SHARE_REPEATS checks minus 10
    // requests of 1 check (request overhead cancels), median of 3 such pairs.
    const prepared = await call('/share-prepare');
    const shareCheck: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c0 = workerdCpuMs();
      for (let k = 0; k < 10; k++) await call('/share', '&repeat=1');
      const c1 = workerdCpuMs();
      for (let k = 0; k < 10; k++) await call('/share', `&repeat=${1 + SHARE_REPEATS}`);
      shareCheck.push((workerdCpuMs() - c1 - (c1 - c0)) / (10 * SHARE_REPEATS));
    }
    return {
      model: modelId,
      runtime: 'workerd',
      threads: 1,
      sessionMs: load.ms - ping,
      forwardMs: forward,
      gradientMs: gradient,
      gradientToForward: gradient / forward,
      ig64Ms: ig.ms - ping,
      igBatch: WASM_BATCH,
      firstMapMs: firstMap.ms - ping,
      firstMapColdMs: firstMapCold.ms + load.ms - 2 * ping,
      peakRssBytes: peakAfterIg,
      isolateGrowthBytes: peakAfterIg - idleRss,
      wasmMemoryBytes: Number(ig.body.wasmMemoryBytes),
      completenessRelativeError: Number(ig.body.completenessRelativeError),
      shareCheckMs: shareCheck.sort((a, b) => a - b)[2],
      sharedResultBytes: Number(prepared.body.sharedResultBytes),
    };
  } finally {
    await dev.stop();
  }
}

