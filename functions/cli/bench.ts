/**
 * `leadlight bench`: speed and memory of the engine per model and runtime, on one input — forward pass, one
 * gradient, their ratio, 64-step integrated gradients, time to the first map (the first partial result of a
 * progressive explanation, through the whole pipeline), peak memory and completeness. Each model × runtime runs in
 * its own process so peak memory is its own.
 * Runtimes: `wasm` (onnxruntime-web in Node, 1 thread), `native` (onnxruntime-node, all cores), `workerd`
 * (onnxruntime-web inside the Worker runtime, via functions/cli/bench-workerd.ts), `browser` (private mode's engine in
 * Chromium: WASM with 1 thread and with all cores, and WebGPU, via functions/cli/bench-browser.ts).
 * `--ig-accuracy` instead measures how far N-step IG (left and midpoint rules) lies from a 512-step reference.
 * `--whole-process` times whole `npx leadlight analyze --steps 64` processes (WASM, native) against PyTorch's CPU
 * integrated gradients of the same Keras file on the same input (models/reference/pytorch_ig.py, 1 thread and all
 * cores), taken in turns after one untimed 1-step run of each runtime.
 * Benchmarks print numbers; they are not tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attribute, type IgRule } from '../core/attribution/attribute.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { prepareModelInput } from '../core/model/preprocess.ts';
import { analyzeUntilFirstMap, NATIVE_BATCH, WASM_BATCH } from '../core/pipeline.ts';
import { readEcg } from '../core/readers/registry.ts';
import { wasmMemoryBytes } from '../platform/ort.ts';
import { createNodeRuntime, loadInstalledModels, repoRoot } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions } from './args.ts';

const DEFAULT_RECORD = resolve(repoRoot, '../shared/data/ecg/cpsc2018_physionet2020_python-classifier-2020/input_directory/A0003.hea');

export interface BenchRow {
  model: string;
  runtime: string;
  threads: number;
  sessionMs: number;
  forwardMs: number;
  gradientMs: number;
  gradientToForward: number;
  ig64Ms: number;
  igBatch: number;
  firstMapMs: number;
  firstMapColdMs?: number;
  peakRssBytes: number;
  /** workerd: peak resident memory minus the idle process (the isolate's own growth: weights, WASM, JS). */
  isolateGrowthBytes?: number;
  wasmMemoryBytes: number;
  completenessRelativeError: number;
  /** workerd: CPU of checking a shared result of this model (issue 15, `POST /api/results` before its KV write). */
  shareCheckMs?: number;
  sharedResultBytes?: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Median times of runs taken in turns (a, b, a, b, …) after one warm-up each, so a slow spell of the machine hits
 * all alike; `pauseMs` of idle time before each run lets the previous session's onnxruntime-node threads, which
 * spin for a while after a run, go to sleep first.
 */
async function timeAlternating(runs: (() => Promise<unknown>)[], repeats: number, pauseMs = 0): Promise<number[]> {
  for (const run of runs) await run();
  const times = runs.map(() => [] as number[]);
  for (let i = 0; i < repeats; i++) {
    for (const [k, run] of runs.entries()) {
      if (pauseMs > 0) await pause(pauseMs);
      const t = performance.now();
      await run();
      times[k]!.push(performance.now() - t);
    }
  }
  return times.map(median);
}

async function timeRuns(run: () => Promise<unknown>, repeats: number): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** Splits `--weights ID=FILE` / `--weights FILE`. */
function weightsSpec(value: string | undefined, model: string | undefined): { id?: string; file?: string } {
  if (!value) return {};
  const eq = value.indexOf('=');
  if (eq > 0 && !existsSync(value)) return { id: value.slice(0, eq), file: value.slice(eq + 1) };
  return { id: model ?? 'ribeiro2020', file: value };
}

/** The user's weights file for `modelId`, when `--weights` names that model. */
function userWeightsOf(weights: { id?: string; file?: string }, modelId: string): string | undefined {
  return weights.id === modelId ? weights.file : undefined;
}

/** The installed models (the bench's own build when `--weights` gives a file) and the available model `modelId`. */
async function benchModel(modelId: string, weights: { id?: string; file?: string }): Promise<{ models: InstalledModel[]; buildDir: string; model: InstalledModel }> {
  const file = userWeightsOf(weights, modelId);
  const { models, buildDir } = await modelsWithUserWeights(loadInstalledModels(), file ? modelId : undefined, file);
  const model = models.find((m) => m.id === modelId);
  if (!model || model.status !== 'available') throw new LeadlightError('model_unavailable', model?.reason ?? `Model ${modelId} is not installed.`);
  return { models, buildDir, model };
}

/** Measures one model in one runtime in this process. */
async function benchOne(modelId: string, backend: 'wasm' | 'native', recordPath: string, weights: { id?: string; file?: string }, threads: number): Promise<BenchRow> {
  const { models, buildDir, model } = await benchModel(modelId, weights);
  const files = gatherRecordFiles([recordPath]);

  const tCold = performance.now();
  const coldRuntime = createNodeRuntime(backend, buildDir, threads);
  await analyzeUntilFirstMap(files, { model: modelId }, { runtime: coldRuntime, models });
  const firstMapColdMs = performance.now() - tCold;
  await coldRuntime.release();

  const record = await readEcg(files);
  const input = prepareModelInput(record, model);
  const leads = model.input.leads.length;
  const classes = model.classes.length;
  const x = { data: input.data, dims: [1, input.samples, leads] };
  const seed = new Float32Array(classes);
  seed[0] = 1;
  // Forward (the classifier graph) and one gradient: 9 runs each after a warm-up, taken in turns; the ratio is that of
  // the medians. Native runs wait 50 ms before each run (see timeAlternating).
  const forwardRuntime = createNodeRuntime(backend, buildDir, threads);
  const classifier = await forwardRuntime.session(model, 'classifier');
  const forward = () => classifier.run({ x }, ['logits']);
  const runtime = createNodeRuntime(backend, buildDir, threads);
  const t0 = performance.now();
  const gradient = await runtime.session(model, 'gradient');
  const sessionMs = performance.now() - t0;
  const gradientRun = () => gradient.run({ x, seed: { data: seed, dims: [1, classes] } }, ['logits', 'grad']);
  const [forwardMs, gradientMs] = (await timeAlternating([forward, gradientRun], 9, backend === 'native' ? 50 : 0)) as [number, number];
  await forwardRuntime.release();
  const igBatch = backend === 'native' ? NATIVE_BATCH : WASM_BATCH;
  const tIg = performance.now();
  const ig = await attribute(gradient, { method: 'ig', classIndex: 0, numClasses: classes, input: input.data, samples: input.samples, leads, steps: 64, rule: 'left', batchSize: igBatch });
  const ig64Ms = performance.now() - tIg;
  const firstMapMs = await timeRuns(() => analyzeUntilFirstMap(files, { model: modelId }, { runtime, models }), 3);
  return {
    model: modelId,
    runtime: backend,
    threads,
    sessionMs,
    forwardMs,
    gradientMs,
    gradientToForward: gradientMs / forwardMs,
    ig64Ms,
    igBatch,
    firstMapMs,
    firstMapColdMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    wasmMemoryBytes: wasmMemoryBytes(),
    completenessRelativeError: ig.completeness.relativeError,
  };
}

/** IG accuracy study: relative L2 distance of N-step left/midpoint IG to a 512-step midpoint reference. */
async function benchIgAccuracy(modelId: string, records: string[], weights: { id?: string; file?: string }, backend: 'wasm' | 'native', json: boolean): Promise<void> {
  const { buildDir, model } = await benchModel(modelId, weights);
  const runtime = createNodeRuntime(backend, buildDir);
  const session = await runtime.session(model, 'gradient');
  const rows: { record: string; classIndex: number; rule: IgRule; steps: number; relL2: number; completeness: number }[] = [];
  for (const path of records) {
    const record = await readEcg(gatherRecordFiles([path]));
    const input = prepareModelInput(record, model);
    const leads = model.input.leads.length;
    const classes = model.classes.length;
    const out = await session.run({ x: { data: input.data, dims: [1, input.samples, leads] }, seed: { data: new Float32Array(classes), dims: [1, classes] } }, ['logits']);
    const logits = Array.from(out.logits.data);
    const classIndex = logits.indexOf(Math.max(...logits));
    const run = (steps: number, rule: IgRule) =>
      attribute(session, { method: 'ig', classIndex, numClasses: classes, input: input.data, samples: input.samples, leads, steps, rule, batchSize: backend === 'native' ? 16 : 4 });
    const reference = await run(512, 'midpoint');
    let den = 0;
    for (const v of reference.relevance) den += v * v;
    for (const rule of ['left', 'midpoint'] as const) {
      for (const steps of [8, 16, 24, 32, 48, 64]) {
        const r = await run(steps, rule);
        let num = 0;
        for (let i = 0; i < r.relevance.length; i++) num += (r.relevance[i] - reference.relevance[i]) ** 2;
        rows.push({ record: record.name, classIndex, rule, steps, relL2: Math.sqrt(num / den), completeness: r.completeness.relativeError });
      }
    }
    if (!json) process.stderr.write(`ig-accuracy: ${record.name} done\n`);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ model: modelId, runtime: backend, reference: 'midpoint, 512 steps', rows })}\n`);
    return;
  }
  const left64 = rows.filter((r) => r.rule === 'left' && r.steps === 64);
  process.stdout.write(`IG accuracy, model ${modelId}: relative L2 distance to a 512-step reference (median over ${records.length} records; worst)\n`);
  for (const rule of ['left', 'midpoint'] as const) {
    for (const steps of [8, 16, 24, 32, 48, 64]) {
      const sel = rows.filter((r) => r.rule === rule && r.steps === steps);
      const worseThanLeft64 = sel.filter((r) => r.relL2 > left64.find((l) => l.record === r.record)!.relL2).length;
      process.stdout.write(
        `  ${rule.padEnd(8)} ${String(steps).padStart(3)} steps: median ${median(sel.map((r) => r.relL2)).toExponential(2)}, worst ${Math.max(...sel.map((r) => r.relL2)).toExponential(2)}, completeness error median ${median(sel.map((r) => r.completeness)).toExponential(2)}; less accurate than left-64 on ${worseThanLeft64}/${sel.length}\n`,
      );
    }
  }
}

/** A Python with torch and h5py: LEADLIGHT_PYTHON, else Debian's /usr/bin/python3, else python3 on the PATH. */
function findTorchPython(): string | undefined {
  const candidates = [process.env.LEADLIGHT_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p));
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch, h5py'], { stdio: 'ignore' }).status === 0);
}

/** Runs one benchmarked process from the repository root to its end; its stdout, or an error with its last line. */
function runProcess(name: string, [command, args]: readonly [string, readonly string[]]): string {
  const child = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (child.status !== 0) throw new LeadlightError('internal', `${name} failed: ${(child.stderr || '').trim().split('\n').pop()}`);
  return child.stdout;
}

/**
 * Whole-process 64-step IG (left Riemann sum, as the paper): `npx leadlight analyze` in WASM (1 thread) and native
 * (all cores) against PyTorch with 1 thread and all cores, `repeats` rounds taken in turns; prints medians.
 */
async function benchWholeProcess(modelId: string, recordPath: string, weights: { id?: string; file?: string }, repeats: number, batch: number, json: boolean): Promise<void> {
  const { model } = await benchModel(modelId, weights);
  const userWeights = userWeightsOf(weights, modelId);
  const h5 = userWeights ? resolve(userWeights) : resolve(repoRoot, '../shared/models', modelId, model.source.sharedFileName);
  if (!existsSync(h5)) throw new LeadlightError('option_invalid', `PyTorch needs the Keras file of ${modelId}; give it with --weights ${modelId}=FILE.`);
  const python = findTorchPython();
  if (!python) throw new LeadlightError('option_invalid', 'No Python with torch and h5py was found; install them (Debian: apt-get install python3-torch python3-h5py) or set LEADLIGHT_PYTHON.');
  const work = mkdtempSync(join(tmpdir(), 'leadlight-bench-'));
  try {
    const input = prepareModelInput(await readEcg(gatherRecordFiles([recordPath])), model);
    const inputFile = join(work, 'input.f32');
    writeFileSync(inputFile, new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength));
    const className = model.classes[0]!;
    const cores = availableParallelism();
    const leadlight = (runtime: string, steps = 64) => ['npx', ['leadlight', 'analyze', recordPath, '--model', modelId, ...(userWeights ? ['--weights', h5] : []), '--steps', String(steps), '--class', className, '--runtime', runtime, '--out', join(work, `${runtime}.json`)]] as const;
    const pytorch = (threads: number) => [python, [fileURLToPath(new URL('../../models/reference/pytorch_ig.py', import.meta.url)), '--weights', h5, '--input', inputFile, '--leads', String(model.input.leads.length), '--class', '0', '--steps', '64', '--batch', String(batch), '--threads', String(threads)]] as const;
    const cases = [
      { name: `PyTorch, 1 thread, batch ${batch}`, command: pytorch(1) },
      { name: 'leadlight analyze, WASM, 1 thread', command: leadlight('wasm') },
      { name: `PyTorch, ${cores} threads, batch ${batch}`, command: pytorch(cores) },
      { name: `leadlight analyze, native, ${cores} threads`, command: leadlight('native') },
    ].map((c) => ({ ...c, seconds: [] as number[] }));
    // One untimed 1-step run of each runtime first, so the first timed round does not also pay first-time costs
    // (files just converted by benchModel, cold page cache).
    for (const runtime of ['wasm', 'native']) runProcess(`leadlight analyze, ${runtime}, 1 step`, leadlight(runtime, 1));
    let torchVersion = '';
    for (let round = 0; round < repeats; round++) {
      for (const c of cases) {
        const t = performance.now();
        const stdout = runProcess(c.name, c.command);
        const seconds = (performance.now() - t) / 1000;
        c.seconds.push(seconds);
        if (c.command[0] === python) torchVersion = (JSON.parse(stdout.trim().split('\n').pop()!) as { torch: string }).torch;
        if (!json) process.stderr.write(`round ${round + 1}: ${c.name}: ${seconds.toFixed(2)} s\n`);
      }
    }
    const med = cases.map((c) => median(c.seconds));
    const [torch1, wasm, torchAll, native] = med as [number, number, number, number];
    const summary = {
      model: modelId,
      record: recordPath,
      machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores`,
      torch: torchVersion,
      cases: cases.map((c, i) => ({ name: c.name, medianSeconds: med[i], seconds: c.seconds })),
      wasmToPytorch1: wasm / torch1,
      pytorchAllToNative: torchAll / native,
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    process.stdout.write(`Whole-process 64-step IG, ${modelId}, ${summary.machine}, PyTorch ${torchVersion}; medians of ${repeats} rounds in turns\n`);
    for (const c of summary.cases) process.stdout.write(`  ${c.name.padEnd(48)} ${c.medianSeconds!.toFixed(2).padStart(6)} s  (${c.seconds.map((v) => v.toFixed(2)).join(', ')})\n`);
    process.stdout.write(`  WASM / PyTorch 1 thread: ${summary.wasmToPytorch1.toFixed(2)}× (issue #6: ≤ 2.5)\n`);
    process.stdout.write(`  PyTorch ${cores} threads / native: ${summary.pytorchAllToNative.toFixed(2)}× faster (issue #6: ≥ 2)\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function formatRow(r: BenchRow): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
  return [
    r.model.padEnd(22),
    `${r.runtime}${r.threads ? `×${r.threads}` : ''}`.padEnd(10),
    `fwd ${r.forwardMs.toFixed(0).padStart(5)} ms`,
    `grad ${r.gradientMs.toFixed(0).padStart(5)} ms`,
    `ratio ${r.gradientToForward.toFixed(2)}`,
    `IG-64 ${(r.ig64Ms / 1000).toFixed(2).padStart(6)} s`,
    `first map ${r.firstMapMs.toFixed(0)} ms (cold ${r.firstMapColdMs?.toFixed(0) ?? '–'} ms)`,
    `peak RSS ${mb(r.peakRssBytes)}${r.isolateGrowthBytes ? ` (isolate +${mb(r.isolateGrowthBytes)})` : ''}`,
    `wasm mem ${mb(r.wasmMemoryBytes)}`,
    `completeness err ${(r.completenessRelativeError * 100).toFixed(1)}%`,
    ...(r.shareCheckMs !== undefined ? [`share check ${r.shareCheckMs.toFixed(1)} ms CPU (${((r.sharedResultBytes ?? 0) / 1048576).toFixed(1)} MiB)`] : []),
  ].join('  ');
}

export async function runBench(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    json: { type: 'boolean' },
    model: { type: 'string' },
    runtime: { type: 'string' },
    weights: { type: 'string' },
    record: { type: 'string' },
    threads: { type: 'string' },
    'ig-accuracy': { type: 'boolean' },
    'whole-process': { type: 'boolean' },
    repeats: { type: 'string' },
    batch: { type: 'string' },
    one: { type: 'boolean' },
  });
  const weights = weightsSpec(values.weights, values.model);
  const record = values.record ?? DEFAULT_RECORD;
  if (!existsSync(record)) throw new LeadlightError('request_invalid', `The bench record ${record} does not exist; give one with --record FILE.`);
  const threads = parseIntegerOption(values.threads, 'threads') ?? availableParallelism();

  if (values['ig-accuracy']) {
    const model = values.model ?? 'cinc2020-ai-strollers';
    const recs = positionals.length ? positionals : [record];
    await benchIgAccuracy(model, recs, weights, (values.runtime ?? 'native') as 'wasm' | 'native', Boolean(values.json));
    return 0;
  }
  if (values['whole-process']) {
    const model = values.model ?? weights.id ?? 'ribeiro2020';
    await benchWholeProcess(model, record, weights, parseIntegerOption(values.repeats, 'repeats') ?? 3, parseIntegerOption(values.batch, 'batch') ?? 16, Boolean(values.json));
    return 0;
  }
  if (values.one) {
    const backend = values.runtime as 'wasm' | 'native';
    const row = await benchOne(values.model as string, backend, record, weights, backend === 'wasm' ? 1 : threads);
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return 0;
  }

  const installed = loadInstalledModels().filter((m: InstalledModel) => m.status === 'available').map((m) => m.id);
  if (weights.id && !installed.includes(weights.id)) installed.push(weights.id);
  const modelIds = values.model ? values.model.split(',') : installed;
  const runtimes = (values.runtime ?? 'wasm,native,workerd').split(',');
  const rows: BenchRow[] = [];
  const cli = fileURLToPath(new URL('./leadlight.ts', import.meta.url));
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.versions.node}`;
  if (!values.json) process.stdout.write(`Leadlight bench on ${machine}; record ${record.split('/').pop()}\n`);
  for (const id of modelIds) {
    for (const runtime of runtimes) {
      let row: BenchRow;
      if (runtime === 'browser') {
        // Private mode's engine in Chromium: WASM × 1, WASM × all cores, WebGPU (./bench-browser.ts).
        const { benchBrowser } = await import('./bench-browser.ts');
        const { buildDir } = await benchModel(id, weights);
        for (const browserRow of await benchBrowser(id, record, buildDir)) {
          rows.push(browserRow);
          if (!values.json) process.stdout.write(`${formatRow(browserRow)}\n`);
        }
        continue;
      }
      if (runtime === 'workerd') {
        const { benchWorkerd } = await import('./bench-workerd.ts');
        row = await benchWorkerd(id, record, weights.id === id ? weights.file : undefined);
      } else {
        const child = spawnSync(
          process.execPath,
          [cli, 'bench', '--one', '--model', id, '--runtime', runtime, '--record', record, '--threads', String(threads), ...(weights.id && weights.file ? ['--weights', `${weights.id}=${weights.file}`] : [])],
          { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
        );
        if (child.status !== 0) {
          process.stderr.write(`bench ${id} ${runtime}: ${child.stderr.trim().split('\n').pop()}\n`);
          continue;
        }
        row = JSON.parse(child.stdout.trim().split('\n').pop() as string) as BenchRow;
      }
      rows.push(row);
      if (!values.json) process.stdout.write(`${formatRow(row)}\n`);
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ machine, record, rows })}\n`);
  return 0;
}

