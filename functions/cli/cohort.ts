/**
 * `leadlight cohort --labels LABELS.csv --out DIR` (../shared/docs/contract.md, "Cohorts"): runs every ECG of a
 * labelled cohort through the core pipeline (`analyzeEcg`), caches each record's summary in DIR/records/ so a rerun
 * resumes where it stopped, aggregates them with `buildCohort` (Bender et al. 2023, analyses (a), (b), (c)) into
 * DIR/cohort.json and writes the static aggregate report DIR/index.html (cohort-report.ts).
 * Per-record failures are collected (cohort.json `errors`, stderr) without stopping the run; bad options or a bad
 * CSV exit 2 before any record is analysed. With `--remote URL` the records are analysed by a Leadlight server
 * instead (./cohort-remote.ts), which writes the same files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseGroups, type AverageBeatInput } from '../core/analysis/cohort.ts';
import { assembleCohort, chooseCohortClass, cohortModelInfoOf, summariseResult, type CohortError, type CohortOutput, type RecordSummaryCache } from '../core/analysis/cohort-members.ts';
import { parseLabelsCsv } from '../core/analysis/cohort-labels.ts';
import { checkCohort } from '../core/cohort-schema.ts';
import { isLeadlightError, LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { analyzeEcg, checkRequest, NATIVE_BATCH, selectModel, WASM_BATCH, type AnalyzeRequest } from '../core/pipeline.ts';
import type { InputFile } from '../core/record.ts';
import { createNodeRuntime, loadInstalledModels } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions, parseRuntime } from './args.ts';
import { writeCohortReport } from './cohort-report.ts';
import { parseBeatLeads } from '../core/render/cohort-html.ts';
import { runRemoteCohort } from './cohort-remote.ts';
import { parseMethodList } from './compare.ts';
import { COHORT_SANITY_RECORDS, cohortSanity, kerasFileOf } from './sanity.ts';
import { agreementOfResults, type MethodPair } from '../core/analysis/method-agreement.ts';

// The pure parts live in the core (shared with the Worker's live cohorts); re-exported for existing callers.
export { aggregateCriteria, chooseCohortClass, summariseResult } from '../core/analysis/cohort-members.ts';
export { parseCsv } from '../core/analysis/cohort-labels.ts';
export type { CohortError, CohortOutput, CriteriaAggregate, CriterionSummary, RecordSummaryCache } from '../core/analysis/cohort-members.ts';

/** Bumped whenever the cached summary changes shape, so old caches are recomputed rather than misread. */
export const CACHE_VERSION = 1;
/** Largest labels file read (a cohort of 100 000 ECGs fits in a few MB). */
const MAX_LABELS_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Labels CSV

export interface LabelRow {
  /** The path as written in the CSV (what cohort.json and the report show). */
  path: string;
  /** Absolute path of the ECG file. */
  file: string;
  label: string;
  /** 1-based line of the CSV (for messages). */
  line: number;
}

/**
 * Reads LABELS.csv: a header with at least the columns `path` and `label` (any order, case-insensitive, other
 * columns ignored), then one ECG per row. Paths are relative to the CSV's folder or absolute; a WFDB record is given
 * by its `.hea`. Throws `option_invalid` for a missing file or column and `request_invalid` for malformed rows.
 */
export function readLabels(csvPath: string): LabelRow[] {
  const full = resolve(csvPath);
  if (!existsSync(full) || !statSync(full).isFile()) throw new LeadlightError('option_invalid', `There is no labels file "${csvPath}"; give a CSV with the columns path and label.`);
  if (statSync(full).size > MAX_LABELS_BYTES) throw new LeadlightError('file_too_large', `The labels file is larger than ${MAX_LABELS_BYTES} bytes; split the cohort.`);
  const base = dirname(full);
  return parseLabelsCsv(readFileSync(full)).map((row) => ({ path: row.path, label: row.label, file: isAbsolute(row.path) ? row.path : resolve(base, row.path), line: row.line }));
}

// ---------------------------------------------------------------------------------------------------------------
// Per-record summaries and their cache

interface CacheEntry {
  cacheVersion: number;
  key: string;
  model: string;
  method: string;
  class: string;
  steps: number | null;
  summary: RecordSummaryCache;
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 over the sources of the pure core (every .ts file under functions/core, by path and content): the code that computes
 * a record's summary. Part of the cache key, so results of an older Leadlight are recomputed, never mixed in.
 */
export function coreCodeHash(coreDir = fileURLToPath(new URL('../core/', import.meta.url))): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) hash.update(`${relative(coreDir, full)}\0`).update(readFileSync(full)).update('\0');
    }
  };
  walk(coreDir);
  return hash.digest('hex');
}

/**
 * Cache key of one record's analysis: sha256 over the record's file names and bytes, the model id and weights hash,
 * the method, the class, the IG steps (null = the default mode), the core code hash and the engine (native, wasm,
 * wasm-lean: their numbers differ in the last float32 bits, so one engine's cache never serves another).
 */
export function cacheKey(files: readonly InputFile[], model: Pick<InstalledModel, 'id' | 'converted'>, method: string, className: string, steps: number | undefined, codeHash = '', engine = ''): string {
  const parts = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => [f.name, sha256Hex(f.bytes)]);
  return sha256Hex(JSON.stringify({ v: CACHE_VERSION, files: parts, model: model.id, weights: model.converted?.sha256 ?? null, method, class: className, steps: steps ?? null, code: codeHash, ...(engine ? { engine } : {}) }));
}

/** Float32 copies of a beat's arrays: halves what a large cohort holds in memory (the cache keeps the JSON numbers). */
function compactBeat(beat: AverageBeatInput | null): AverageBeatInput | null {
  if (!beat) return null;
  const leads = (m: AverageBeatInput['signalMv']): AverageBeatInput['signalMv'] => (Array.isArray(m)
    ? m.map((v: ArrayLike<number>) => Float32Array.from(v))
    : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Float32Array.from(v as ArrayLike<number>)])));
  return { timeS: Float64Array.from(beat.timeS), signalMv: leads(beat.signalMv), relevance: leads(beat.relevance) };
}

function compactSummary(summary: RecordSummaryCache): RecordSummaryCache {
  return { ...summary, averageBeat: compactBeat(summary.averageBeat), averageBeatRAligned: compactBeat(summary.averageBeatRAligned) };
}

/** The part `pick` takes from the cache file at `path` when it is of this version and `key`, else null. */
function readCache<T>(path: string, key: string, pick: (entry: Record<string, unknown>) => T | null): T | null {
  if (!existsSync(path)) return null;
  try {
    const entry = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return entry.cacheVersion === CACHE_VERSION && entry.key === key ? pick(entry) : null;
  } catch {
    return null; // a cache file cut short by an interrupted run is simply recomputed
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------------------------
// The command

export interface CohortRunStats {
  records: number;
  analysed: number;
  cached: number;
  failed: number;
  seconds: number;
  /** Records analysed (not served from the cache) per minute of wall time. */
  recordsPerMinute: number | null;
  runtime: 'native' | 'wasm';
  jobs: number;
  threadsPerJob: number;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
}

/** Progress on stderr: a redrawn bar on a terminal, else one line per record. */
class ProgressReporter {
  private readonly tty: boolean;
  private readonly start = Date.now();
  private done = 0;
  private analysed = 0;
  private cached = 0;
  private failed = 0;
  private readonly total: number;
  private readonly out: NodeJS.WriteStream;

  constructor(total: number, out: NodeJS.WriteStream = process.stderr) {
    this.total = total;
    this.out = out;
    this.tty = Boolean(out.isTTY);
  }

  /** Draws the empty bar on a terminal (nothing otherwise). */
  begin(): void {
    if (this.tty && this.total > 0) this.drawBar();
  }

  record(row: LabelRow, outcome: { kind: 'analysed' | 'cached'; probability: number; seconds: number } | { kind: 'failed'; code: string; message: string }): void {
    this.done++;
    if (outcome.kind === 'analysed') this.analysed++;
    else if (outcome.kind === 'cached') this.cached++;
    else this.failed++;
    const counter = `[${this.done}/${this.total}]`;
    if (outcome.kind === 'failed') {
      if (this.tty) this.out.write('\r\x1b[2K');
      this.out.write(`${counter} ${row.path}: error ${outcome.code}: ${outcome.message}\n`);
    } else if (!this.tty) {
      const how = outcome.kind === 'cached' ? 'cached' : `analysed in ${outcome.seconds.toFixed(1)} s`;
      this.out.write(`${counter} ${row.path} (${row.label}) p=${outcome.probability.toFixed(3)} ${how}\n`);
    }
    if (this.tty) this.drawBar();
  }

  private drawBar(): void {
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const remaining = this.total - this.done;
    const perRecord = this.analysed > 0 ? elapsed / this.analysed : NaN;
    const eta = remaining === 0 || !Number.isFinite(perRecord) ? '' : ` ETA ${formatSeconds(perRecord * remaining)}`;
    this.out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total} (${this.cached} cached, ${this.failed} failed)${eta}`);
    if (remaining === 0) this.out.write('\n');
  }
}

/** `leadlight cohort`: see the module comment. Returns the exit code (0; errors per record do not fail the run). */
export async function runCohort(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    labels: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    method: { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
    runtime: { type: 'string' },
    weights: { type: 'string' },
    jobs: { type: 'string' },
    'batch-size': { type: 'string' },
    remote: { type: 'string' },
    'lean-memory': { type: 'boolean' },
    name: { type: 'string' },
    expiry: { type: 'string' },
    'beat-leads': { type: 'string' },
    methods: { type: 'string' },
    sanity: { type: 'boolean' },
    'sanity-records': { type: 'string' },
  }, false);
  if (!values.labels) throw new LeadlightError('option_invalid', 'Give the labels CSV with --labels LABELS.csv (columns path and label).');
  if (!values.out) throw new LeadlightError('option_invalid', 'Give the output folder with --out DIR.');
  // --beat-leads V1,V6: the leads whose average beats index.html shows until the reader picks others (checked first).
  const beatLeads = values['beat-leads'] === undefined ? undefined : parseBeatLeads(values['beat-leads']);
  if (values.remote !== undefined) {
    for (const local of ['runtime', 'weights', 'jobs', 'batch-size', 'lean-memory', 'methods', 'sanity', 'sanity-records'] as const) {
      if (values[local] !== undefined) throw new LeadlightError('option_invalid', `--${local} applies to a local run; with --remote the server analyses with its own engine and weights.`);
    }
    const remoteCode = await runRemoteCohort({
      url: values.remote,
      rows: readLabels(values.labels),
      labelsFile: values.labels,
      outDir: resolve(values.out),
      ...(values.name ? { name: values.name } : {}),
      ...(values.model ? { model: values.model } : {}),
      ...(values.method ? { method: values.method } : {}),
      ...(values.class ? { class: values.class } : {}),
      ...(values.steps !== undefined ? { steps: parseIntegerOption(values.steps, 'steps') } : {}),
      ...(values.expiry ? { expiry: values.expiry } : {}),
      ...(beatLeads ? { beatLeads } : {}),
    });
    return remoteCode;
  }
  if (values.name !== undefined || values.expiry !== undefined) throw new LeadlightError('option_invalid', '--name and --expiry name a cohort on a server: give them with --remote URL.');
  const runtime = parseRuntime(values.runtime, ['native', 'wasm']) as 'native' | 'wasm';
  const steps = parseIntegerOption(values.steps, 'steps');
  const batchSize = parseIntegerOption(values['batch-size'], 'batch-size');
  const cores = Math.max(1, availableParallelism());
  const jobsOption = parseIntegerOption(values.jobs, 'jobs');
  if (jobsOption !== undefined && (jobsOption < 1 || jobsOption > 64)) throw new LeadlightError('option_invalid', `--jobs must be from 1 to 64; got ${jobsOption}.`);
  // onnxruntime-node runs a session on the JavaScript thread (the run blocks it), so jobs in this process take turns
  // rather than run side by side: the default is one job with every core as an intra-op thread. More jobs only
  // overlap one record's reading and analyses with another's runs. WASM runs on the main thread too: 1 job.
  const jobs = runtime === 'wasm' ? 1 : (jobsOption ?? 1);
  const threadsPerJob = runtime === 'wasm' ? 1 : Math.max(1, Math.floor(cores / jobs));

  const rows = readLabels(values.labels);
  const { models, buildDir, warnings: modelWarnings } = await modelsWithUserWeights(loadInstalledModels(), values.model, values.weights);
  const model = selectModel(models, values.model);
  const className = values.class !== undefined && values.class !== '' ? values.class : chooseCohortClass(rows.map((r) => r.label), model.classes);
  const request: AnalyzeRequest = { model: model.id, method: values.method, class: className, steps };
  const { method } = checkRequest(request, model);
  // The groups come from the CSV (refusing a cohort without a positive or a control label before any work), so a
  // group whose records all fail still names its label in cohort.json (with a group_empty warning).
  const groups = chooseGroups(rows.map((r) => r.label), className);
  // Issue 16: --methods (method agreement per record) and --sanity (cascading randomisation on a seeded subset),
  // both checked before any record is analysed.
  const agreementMethods = values.methods !== undefined ? parseMethodList(values.methods) : undefined;
  const methodRequest = (m: string): AnalyzeRequest => ({ model: model.id, method: m, class: className, ...(m === 'ig' && steps !== undefined ? { steps } : {}) });
  for (const m of agreementMethods ?? []) checkRequest(methodRequest(m), model);
  if (values['sanity-records'] !== undefined && !values.sanity) throw new LeadlightError('option_invalid', '--sanity-records applies with --sanity.');
  const sanityRecords = parseIntegerOption(values['sanity-records'], 'sanity-records') ?? COHORT_SANITY_RECORDS;
  if (sanityRecords < 1) throw new LeadlightError('option_invalid', `--sanity-records must be at least 1; got ${sanityRecords}.`);
  const kerasPath = values.sanity ? kerasFileOf(model, values.weights) : undefined;

  const codeHash = coreCodeHash();
  const outDir = resolve(values.out);
  const recordsDir = join(outDir, 'records');
  mkdirSync(recordsDir, { recursive: true });

  // --lean-memory: the Worker's graph variants and session options (slower in Node; the server's numbers to the last bit).
  if (values['lean-memory'] && runtime !== 'wasm') throw new LeadlightError('option_invalid', '--lean-memory applies to --runtime wasm (the Worker\'s engine).');
  const runtimes = Array.from({ length: jobs }, () => createNodeRuntime(runtime, buildDir, threadsPerJob, values['lean-memory'] === true));
  const engine = values['lean-memory'] ? 'wasm-lean' : runtime;
  const progress = new ProgressReporter(rows.length);
  progress.begin();
  const summaries: (RecordSummaryCache | null)[] = rows.map(() => null);
  const errors: (CohortError | null)[] = rows.map(() => null);
  const agreements: (MethodPair[] | null)[] = rows.map(() => null);
  let analysed = 0;
  let cached = 0;
  let next = 0;
  const started = Date.now();

  async function analyseOne(index: number, worker: number): Promise<void> {
    const row = rows[index];
    const t0 = Date.now();
    try {
      let files: InputFile[];
      try {
        files = gatherRecordFiles([row.file]);
      } catch (e) {
        if (isLeadlightError(e) && e.code === 'request_invalid') throw new LeadlightError('request_invalid', 'There is no ECG file at this path; check the path (relative to the labels CSV) and that the file is there.');
        throw e;
      }
      const key = cacheKey(files, model, method, className, steps, codeHash, engine);
      const cachePath = join(recordsDir, `${key}.json`);
      const hit = readCache(cachePath, key, (entry) => {
        const summary = (entry as Partial<CacheEntry>).summary;
        return typeof summary?.probability === 'number' ? summary : null;
      });
      if (agreementMethods) agreements[index] = await agreementOf(files, worker);
      if (hit) {
        summaries[index] = compactSummary(hit);
        cached++;
        progress.record(row, { kind: 'cached', probability: hit.probability, seconds: 0 });
        return;
      }
      const result = await analyzeEcg(files, { ...request, label: row.label }, {
        runtime: runtimes[worker],
        models,
        batchSize: batchSize ?? (runtime === 'native' ? NATIVE_BATCH : WASM_BATCH),
        // cohort.json keeps no per-record faithfulness curves: their 108 forward passes are left out.
        faithfulness: false,
        modelWarnings,
      });
      const summary = summariseResult(result, className);
      const entry: CacheEntry = { cacheVersion: CACHE_VERSION, key, model: model.id, method, class: className, steps: steps ?? null, summary };
      writeAtomically(cachePath, `${JSON.stringify(entry)}\n`);
      summaries[index] = compactSummary(summary);
      analysed++;
      progress.record(row, { kind: 'analysed', probability: summary.probability, seconds: (Date.now() - t0) / 1000 });
    } catch (e) {
      const code = isLeadlightError(e) ? e.code : 'internal';
      const message = isLeadlightError(e) ? e.message : `The record could not be analysed (${e instanceof Error ? e.message.split('\n')[0] : String(e)}).`;
      errors[index] = { path: row.path, label: row.label, code, message };
      progress.record(row, { kind: 'failed', code, message });
    }
  }

  /** The record's method agreement (`--methods`), cached beside its summary under a key naming the methods. */
  async function agreementOf(files: InputFile[], worker: number): Promise<MethodPair[]> {
    const methods = agreementMethods as string[];
    const key = cacheKey(files, model, `agreement:${methods.join(',')}`, className, steps, codeHash, engine);
    const path = join(recordsDir, `${key}.json`);
    const cached = readCache(path, key, (entry) => (Array.isArray(entry.methodAgreement) ? (entry.methodAgreement as MethodPair[]) : null));
    if (cached) return cached;
    const results = [];
    for (const m of methods) {
      results.push(await analyzeEcg(files, methodRequest(m), { runtime: runtimes[worker], models, batchSize: batchSize ?? (runtime === 'native' ? NATIVE_BATCH : WASM_BATCH), faithfulness: false, modelWarnings }));
    }
    const { pairs } = agreementOfResults(results);
    writeAtomically(path, `${JSON.stringify({ cacheVersion: CACHE_VERSION, key, methodAgreement: pairs })}\n`);
    return pairs;
  }

  await Promise.all(runtimes.map(async (_, worker) => {
    while (next < rows.length) {
      const index = next++;
      await analyseOne(index, worker);
    }
  }));
  await Promise.all(runtimes.map((r) => r.release()));
  const seconds = (Date.now() - started) / 1000;

  const done = rows.flatMap((row, i) => (summaries[i] ? [{ row, index: i, summary: summaries[i] as RecordSummaryCache }] : []));
  const errorList = errors.filter((e): e is CohortError => e !== null);
  if (done.length === 0) {
    throw new LeadlightError('request_invalid', `None of the ${rows.length} ECGs could be analysed (first error: ${errorList[0]?.code}: ${errorList[0]?.message}); fix the paths or files and rerun.`);
  }
  const modelInfo = cohortModelInfoOf(model);
  const sanityStarted = Date.now();
  const sanity = kerasPath
    ? await cohortSanity({
      records: done.map(({ row }) => ({ path: row.path, load: () => gatherRecordFiles([row.file]) })),
      size: sanityRecords,
      seed: 16,
      methods: agreementMethods ?? [method],
      className,
      steps,
      model,
      models,
      buildDir,
      kerasPath,
      runtime,
      threads: runtime === 'wasm' ? 1 : cores,
      ...(batchSize !== undefined ? { batchSize } : {}),
      log: (line) => process.stderr.write(`${line}\n`),
    })
    : undefined;
  if (sanity) process.stderr.write(`sanity: ${sanity.records.length} records × ${sanity.methods.length} methods × ${sanity.methods[0]?.cascadeSteps.length ?? 0} steps in ${formatSeconds((Date.now() - sanityStarted) / 1000)}\n`);
  const output: CohortOutput = assembleCohort({
    model: modelInfo,
    method,
    className,
    steps: steps ?? null,
    labelsFile: values.labels,
    groups,
    errors: errorList,
    members: done.map(({ row, index, summary }) => {
      const pairs = agreements[index];
      return { path: row.path, label: row.label, summary, ...(pairs ? { methodAgreement: pairs } : {}) };
    }),
    ...(agreementMethods ? { agreementMethods } : {}),
    ...(sanity ? { sanity } : {}),
  });
  const cohort = output;
  output.warnings.push(...modelWarnings);
  // The one cohort.json schema (functions/core/cohort-schema.ts), also checked by the site and the Worker.
  checkCohort(output, 'The cohort just computed');
  writeAtomically(join(outDir, 'cohort.json'), `${JSON.stringify(output)}\n`);
  const stats: CohortRunStats = {
    records: rows.length,
    analysed,
    cached,
    failed: errorList.length,
    seconds,
    recordsPerMinute: analysed > 0 ? (analysed / seconds) * 60 : null,
    runtime,
    jobs,
    threadsPerJob,
  };
  writeAtomically(join(outDir, 'run.json'), `${JSON.stringify(stats, null, 2)}\n`);
  writeCohortReport(join(outDir, 'index.html'), output, beatLeads ? { beatLeads } : {});
  process.stderr.write(
    `cohort: ${done.length} of ${rows.length} ECGs in ${outDir} (${analysed} analysed, ${cached} from the cache, ${errorList.length} failed) in ${formatSeconds(seconds)}` +
      `${stats.recordsPerMinute !== null ? `, ${stats.recordsPerMinute.toFixed(1)} records/min` : ''}; ${cohort.outcomes.TP} TP, ${cohort.outcomes.FP} FP, ${cohort.outcomes.FN} FN, ${cohort.outcomes.TN} TN.\n`,
  );
  return 0;
}
