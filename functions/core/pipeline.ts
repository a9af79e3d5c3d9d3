/**
 * The one pipeline every surface runs (CLI, Worker, cohort): read → preprocess → classify → attribute → analyse →
 * result JSON (../shared/docs/contract.md, "Result JSON"). Platform code supplies the files, the installed models
 * and a ModelRuntime; nothing here touches a platform API.
 */
import { LeadlightError } from './errors.ts';
import { analyseRelevance, analyseSignal } from './analysis/record-analysis.ts';
import { type Attribution, IG_AUTO_MAX_POINTS, IG_AUTO_TOLERANCE, type Method, attribute, gradientTimesInput, graphOf, parseMethod } from './attribution/attribute.ts';
import { type Faithfulness, faithfulnessCurves } from './attribution/faithfulness.ts';
import { CONVERTER_VERSION, type InstalledModel } from './model/manifest.ts';
import { prepareModelInput } from './model/preprocess.ts';
import type { GraphSession, ModelRuntime } from './model/runtime.ts';
import { type EcgRecord, type InputFile, durationS } from './record.ts';
import { type ReadEcgOptions, readEcg } from './readers/registry.ts';
import { type EncodedArray, type Result, RESULT_SCHEMA_VERSION, checkResult, decodeFloat32, encodeFloat32 } from './result.ts';

/**
 * Interpolation points per run. WASM (one thread, the Worker's 128 MB isolate): 1 — a second point per run was no
 * faster per point (Ribeiro-size, measured in Node with both graph variants) and costs 12 MB more WASM memory
 * (58 → 70 MB in the Worker); native: 4 (Ribeiro-size, 2 cores: 4 points per run were as fast as 8 or 16 and
 * faster than 1 or 2, within this machine's ±20 %).
 */
export const WASM_BATCH = 1;
export const NATIVE_BATCH = 4;

/** Models in the order the default is chosen: the paper's model when installed, else the small real one. */
export const DEFAULT_MODEL_ORDER = ['ribeiro2020', 'cinc2020-ai-strollers'];

export interface AnalyzeRequest {
  model?: string;
  method?: string;
  class?: string;
  /**
   * IG: exact N-step left Riemann sum (the paper's rule); `auto`: refined until complete within 5 % or 512 points
   * (issue 16, item 4); without it, the model's default mode.
   */
  steps?: number | 'auto';
  label?: string;
  cohort?: string;
  /** The record's name in the result, as the uploader chose it (upload field `name`). */
  name?: string;
}

export type Stage = 'reading' | 'classifying' | 'attributing' | 'analysing' | 'done';
export interface Progress {
  stage: Stage;
  done?: number;
  total?: number;
}

export interface AnalyzeDeps {
  runtime: ModelRuntime;
  models: InstalledModel[];
  readOptions?: ReadEcgOptions;
  /** Interpolation points per run; the Worker keeps this small to stay within its memory. */
  batchSize?: number;
  onProgress?: (p: Progress) => void;
  /** Extra warnings about the model (e.g. weights that are not the published file). */
  modelWarnings?: { code: string; message: string }[];
  now?: () => number;
  /**
   * Progressive results (integrated gradients only): called with a schema-valid partial result — first a one-pass
   * map (gradient × input, `attribution.progress.preview`), then the IG estimate after 4, 8, 16, … points
   * (`attribution.progress.done/total`). The final result returned is identical to a run without this callback.
   */
  onPartial?: (partial: Result) => void | Promise<void>;
  /**
   * false (the Worker): no part of the uploaded file names reaches the result — file names are often the patient's
   * name or record number. The record is named `request.name`, else neutrally (`neutralRecordName`), and warnings
   * that quote a file name say "the uploaded file" instead. Default true (the CLI keeps paths; they stay local).
   */
  keepFileNames?: boolean;
  /**
   * Deletion and insertion curves of the final map (`analysis.faithfulness`, issue 16): 108 forward passes.
   * Default true; false leaves them out (the result stays schema-valid without them); `later` leaves them out and
   * marks the result `analysis.faithfulnessStatus: "pending"` for `addFaithfulness` to add after it is stored.
   */
  faithfulness?: boolean | 'later';
}

/** Picks the model a request names, or the default; refuses unknown and unavailable models clearly. */
export function selectModel(models: InstalledModel[], id: string | undefined): InstalledModel {
  // Graphs written by another converter version follow another graph contract: never run them.
  const stale = (m: InstalledModel) => m.converterVersion !== undefined && m.converterVersion !== CONVERTER_VERSION;
  const usable = (m: InstalledModel) => m.status === 'available' && !stale(m);
  if (id) {
    const model = models.find((m) => m.id === id);
    if (!model) throw new LeadlightError('model_unknown', `There is no model "${id}"; use one of ${models.map((m) => m.id).join(', ')}.`);
    if (model.status !== 'available') throw new LeadlightError('model_unavailable', model.reason ?? `Model ${id} is not installed.`);
    if (stale(model)) throw new LeadlightError('model_unavailable', `Model ${id} was converted by an older version of Leadlight; run npm install to convert it again.`);
    return model;
  }
  for (const preferred of DEFAULT_MODEL_ORDER) {
    const model = models.find((m) => m.id === preferred && usable(m));
    if (model) return model;
  }
  const model = models.find(usable);
  if (!model) throw new LeadlightError('model_unavailable', 'No model is installed; run npm install (see the README for the model weights).');
  return model;
}

/** Validates the options of a request before any work is done. */
export function checkRequest(request: AnalyzeRequest, model: InstalledModel): { method: Method; classIndex: number | null } {
  const method = parseMethod(request.method);
  let classIndex: number | null = null;
  if (request.class !== undefined && request.class !== '') {
    classIndex = model.classes.indexOf(request.class);
    if (classIndex < 0) {
      throw new LeadlightError('class_unknown', `Model ${model.id} has no class "${request.class}"; use one of ${model.classes.join(', ')}.`);
    }
  }
  if (request.steps !== undefined) {
    if (method !== 'ig') throw new LeadlightError('option_invalid', `--steps applies to ig only, not to ${method}.`);
    if (request.steps !== 'auto' && (!Number.isInteger(request.steps) || request.steps < 1 || request.steps > 1024)) {
      throw new LeadlightError('steps_invalid', `steps must be a whole number from 1 to 1024, or auto; got ${request.steps}.`);
    }
  }
  return { method, classIndex };
}

const baselineLogitsBySession = new WeakMap<GraphSession, Float32Array>();

/**
 * The logits of the all-zero input (the attribution baseline), computed on first use and kept with the session.
 * The values are kept, not a promise: a promise of one request must never be awaited by another (in workerd it
 * may never settle, see functions/platform/shared-value.ts); two first uses at once each compute it once.
 */
async function logitsAtZeroBaseline(session: GraphSession, samples: number, leads: number, numClasses: number): Promise<Float32Array> {
  const kept = baselineLogitsBySession.get(session);
  if (kept && kept.length === numClasses) return kept;
  const out = await session.run({ x: { data: new Float32Array(samples * leads), dims: [1, samples, leads] }, seed: { data: new Float32Array(numClasses), dims: [1, numClasses] } }, ['logits']);
  const logits = out.logits.data.slice(0, numClasses);
  baselineLogitsBySession.set(session, logits);
  return logits;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * The deletion and insertion curves of one map (issue 16, item 1; ./attribution/faithfulness.ts) on the session the
 * pipeline uses for them. Forward passes only: the LRP graphs have no forward-only mode (an all-zero seed still runs
 * their backward pass), so natively they go to the gradient graph (forward only for a zero seed); in WASM the
 * method's own session is used, as a second Ribeiro-size session would not fit the Worker's memory.
 */
async function curvesOf(
  model: InstalledModel,
  method: Method,
  deps: Pick<AnalyzeDeps, 'runtime' | 'batchSize'>,
  map: { input: Float32Array; samples: number; signalSamples: number; relevance: Float32Array; classIndex: number; logitAtInput: number },
): Promise<Faithfulness> {
  const leads = model.input.leads.length;
  const numClasses = model.classes.length;
  const session = await deps.runtime.session(model, graphOf(method));
  const forward = graphOf(method) !== 'gradient' && deps.runtime.backend === 'native' ? await deps.runtime.session(model, 'gradient') : session;
  const baselineLogits = await logitsAtZeroBaseline(session, map.samples, leads, numClasses);
  return faithfulnessCurves(forward, {
    input: map.input,
    samples: map.samples,
    leads,
    signalSamples: map.signalSamples,
    relevance: map.relevance,
    classIndex: map.classIndex,
    numClasses,
    logitAtInput: map.logitAtInput,
    logitAtBaseline: baselineLogits[map.classIndex],
    batchSize: deps.batchSize ?? (deps.runtime.backend === 'wasm' ? WASM_BATCH : NATIVE_BATCH),
  });
}

/**
 * The deletion and insertion curves of a stored result, computed after it was stored (the Worker stores a result
 * first and adds its curves in a second write, so the report does not wait for ~100 forward passes): from the
 * model input and the map the result carries, on the same sessions and in the same order as `analyzeEcg`, so the
 * curves equal those computed inline. Returns the result with `analysis.faithfulness` and without the `pending`
 * status, checked against the one schema.
 */
export async function addFaithfulness(result: Result, deps: Pick<AnalyzeDeps, 'runtime' | 'models' | 'batchSize'>): Promise<Result> {
  const model = selectModel(deps.models, result.model.id);
  const method = parseMethod(result.attribution.method);
  const samples = result.input.samples;
  const inputMv = (result.input as Record<string, unknown>).signalMv as EncodedArray | undefined;
  const signalSamples = (result.input as Record<string, unknown>).signalSamples;
  const classIndex = model.classes.indexOf(result.attribution.class);
  if (!inputMv || typeof signalSamples !== 'number' || classIndex < 0) throw new Error('the result lacks the model input, its signal length or a class of its model');
  const faithfulness = await curvesOf(model, method, deps, {
    input: decodeFloat32(inputMv),
    samples,
    signalSamples,
    relevance: decodeFloat32(result.attribution.relevance),
    classIndex,
    logitAtInput: result.prediction.logits[result.attribution.class],
  });
  const { faithfulnessStatus: _pending, ...analysis } = result.analysis as Result['analysis'] & { faithfulnessStatus?: string };
  return checkResult({ ...result, analysis: { ...analysis, faithfulness } });
}

/** Reads an upload and analyses it: the result JSON of the contract, validated against the one schema. */
export async function analyzeEcg(files: InputFile[], request: AnalyzeRequest, deps: AnalyzeDeps): Promise<Result> {
  const now = deps.now ?? (() => Date.now());
  const t0 = now();
  const model = selectModel(deps.models, request.model);
  const { method, classIndex: requestedClass } = checkRequest(request, model);

  deps.onProgress?.({ stage: 'reading' });
  const read = await readEcg(files, deps.readOptions);
  const record = deps.keepFileNames === false || request.name !== undefined ? renameRecord(read, files, request.name, deps.keepFileNames !== false) : read;
  const tRead = now();
  return analyzeRecord(record, { model, method, requestedClass, request, deps, t0, tRead });
}

/**
 * A record name that says what the record is without anything of its file: the format and, when the file has it,
 * the acquisition date (e.g. "WFDB ECG of 2020-02-05").
 */
export function neutralRecordName(record: Pick<EcgRecord, 'format' | 'startTime'>): string {
  const date = record.startTime && /^\d{4}-\d{2}-\d{2}/u.test(record.startTime) ? ` of ${record.startTime.slice(0, 10)}` : '';
  return `${record.format.toUpperCase()} ECG${date}`;
}

/**
 * The record named `name` (else, unless file names are kept, neutrally); without kept file names, every file name
 * of the upload and its stem (3 characters or more) in a warning becomes "the uploaded file".
 */
export function renameRecord(record: EcgRecord, files: InputFile[], name: string | undefined, keepFileNames: boolean): EcgRecord {
  const renamed: EcgRecord = { ...record, name: name ?? (keepFileNames ? record.name : neutralRecordName(record)) };
  if (keepFileNames) return renamed;
  renamed.warnings = record.warnings.map((w) => ({ ...w, message: withoutFileNames(w.message, files.map((f) => f.name)) }));
  return renamed;
}

/** `text` with every one of `fileNames` and its stem (3 characters or more) replaced by "the uploaded file". */
export function withoutFileNames(text: string, fileNames: readonly string[]): string {
  const needles = [...new Set(fileNames.flatMap((n) => [n, n.replace(/\.[^.]*$/u, '')]).filter((n) => n.length >= 3))].sort((a, b) => b.length - a.length);
  return needles.reduce((t, n) => t.split(n).join('the uploaded file'), text);
}

/**
 * The `record` part of the result JSON: what the result carries of the record read (no samples; age, sex,
 * structured labels and the acquisition time when the file has them). Everything stored of the file passes here.
 */
export function resultRecordOf(record: EcgRecord): Result['record'] {
  return {
    name: record.name,
    format: record.format,
    samplingRateHz: record.samplingRateHz,
    durationS: durationS(record),
    samples: record.samples,
    leads: [...record.leads],
    derivedLeads: record.derivedLeads,
    warnings: [...record.warnings],
    ...(record.ageYears !== undefined ? { ageYears: record.ageYears } : {}),
    ...(record.sex ? { sex: record.sex } : {}),
    ...(record.labels ? { labels: record.labels } : {}),
    ...(record.startTime ? { startTime: record.startTime } : {}),
  };
}

/**
 * Checks an upload before a service accepts it for analysis: its options, and that its files read as one record
 * the model can take (../shared/docs/contract.md, error codes). Throws what `analyzeEcg` would throw for them,
 * without running the model, so bad input is refused at once instead of failing a queued job.
 */
export async function checkUpload(files: InputFile[], request: AnalyzeRequest, deps: Pick<AnalyzeDeps, 'models' | 'readOptions'>): Promise<void> {
  const model = selectModel(deps.models, request.model);
  checkRequest(request, model);
  const record = await readEcg(files, deps.readOptions);
  prepareModelInput(record, model);
}

/**
 * The first map of a progressive explanation (integrated gradients): gradient × input from the run that classifies,
 * the partial result the service streams first. Stops there; used to time "the first map" (`leadlight bench`).
 */
export async function analyzeUntilFirstMap(files: InputFile[], request: AnalyzeRequest, deps: Omit<AnalyzeDeps, 'onPartial'>): Promise<Result> {
  let first: Result | undefined;
  const stop = new Error('first map reached');
  try {
    await analyzeEcg(files, { ...request, method: 'ig' }, {
      ...deps,
      onPartial: (partial) => {
        first = partial;
        throw stop;
      },
    });
  } catch (e) {
    if (e !== stop) throw e;
  }
  if (!first) throw new Error('the analysis gave no partial result');
  return first;
}

interface RecordJob {
  model: InstalledModel;
  method: Method;
  requestedClass: number | null;
  request: AnalyzeRequest;
  deps: AnalyzeDeps;
  t0: number;
  tRead: number;
}

async function analyzeRecord(record: EcgRecord, job: RecordJob): Promise<Result> {
  const { model, method, request, deps } = job;
  const now = deps.now ?? (() => Date.now());
  const input = prepareModelInput(record, model);
  const leads = model.input.leads.length;
  const numClasses = model.classes.length;
  const tPrep = now();

  deps.onProgress?.({ stage: 'classifying' });
  const session = await deps.runtime.session(model, graphOf(method));
  // Classifying is a run with a zero seed: the graph skips its backward pass, so it costs one forward pass. A
  // progressive explanation instead classifies and takes the gradient for its first map in the same run: the seed of
  // the requested class, or NaN for "the top class" (graph contract). The logits at the zero baseline (completeness:
  // f(x) − f(0)) belong to the model, not the record: computed once per session.
  const progressive = deps.onPartial !== undefined && method === 'ig';
  const firstSeed = new Float32Array(numClasses);
  if (progressive) {
    if (job.requestedClass !== null) firstSeed[job.requestedClass] = 1;
    else firstSeed.fill(Number.NaN);
  }
  const first = await session.run({ x: { data: input.data, dims: [1, input.samples, leads] }, seed: { data: firstSeed, dims: [1, numClasses] } }, progressive ? ['logits', 'grad'] : ['logits']);
  const logits = Array.from(first.logits.data.subarray(0, numClasses));
  const baselineLogits = await logitsAtZeroBaseline(session, input.samples, leads, numClasses);
  const probabilities = logits.map(sigmoid);
  // The highest probability is the highest logit (the first of equal ones, as the graph's ArgMax): compared on the
  // logits, which stay distinct where probabilities round to 1.
  const classIndex = job.requestedClass ?? logits.indexOf(Math.max(...logits));
  const tClassify = now();

  const autoSteps = method === 'ig' && request.steps === 'auto';
  const rule = method === 'ig' && (request.steps === undefined || autoSteps) ? 'midpoint' : 'left';
  const steps = method === 'ig' ? (autoSteps ? IG_AUTO_MAX_POINTS : (request.steps as number | undefined) ?? model.defaultIgSteps) : undefined;
  const className = model.classes[classIndex];
  // The signal's analyses (beats, waves) do not depend on the relevance: found once, reused by partial results.
  const signal = analyseSignal(record, input);
  const tSignal = now();
  const baseOptions = {
    method,
    classIndex,
    numClasses,
    input: input.data,
    samples: input.samples,
    leads,
    logitAtInput: logits[classIndex],
    logitAtBaseline: baselineLogits[classIndex],
  };

  if (progressive && deps.onPartial) {
    // A first map in one pass (gradient × input, from the classifying run), then integrated gradients refining it.
    const preview = gradientTimesInput(first.grad!.data, input.data, logits[classIndex], baselineLogits[classIndex]);
    await deps.onPartial(buildResult(preview.relevance, { ...preview, method, steps: steps ?? 0, rule }, { preview: 'gradient-x-input', done: 0, total: steps ?? 0 }));
  }
  deps.onProgress?.({ stage: 'attributing', done: 0, total: steps ?? 1 });
  const attribution = await attribute(session, {
    ...baseOptions,
    steps,
    rule,
    ...(autoSteps ? { autoTolerance: IG_AUTO_TOLERANCE } : {}),
    batchSize: deps.batchSize ?? (deps.runtime.backend === 'wasm' ? WASM_BATCH : NATIVE_BATCH),
    onProgress: (done, total) => deps.onProgress?.({ stage: 'attributing', done, total }),
    ...(deps.onPartial
      ? {
          onPartial: async (done: number, total: number, estimate: () => Pick<Attribution, 'relevance' | 'completeness'>) => {
            // Checkpoints at 4, 8, 16, … points: each is the sub-rule of that size (see progressiveOrder).
            if (done < 4 || done >= total || (done & (done - 1)) !== 0) return;
            const { relevance, completeness } = estimate();
            await deps.onPartial!(buildResult(relevance, { method, steps: steps ?? 0, rule, baseline: 'zeros', completeness }, { done, total }));
          },
        }
      : {}),
  });
  const tAttribute = now();

  deps.onProgress?.({ stage: 'analysing' });
  const final = buildResult(attribution.relevance, attribution, null);
  const tAnalyse = now();
  if (deps.faithfulness === true || deps.faithfulness === undefined) {
    final.analysis.faithfulness = await curvesOf(model, method, deps, {
      input: input.data,
      samples: input.samples,
      signalSamples: input.signalSamples,
      relevance: attribution.relevance,
      classIndex,
      logitAtInput: logits[classIndex],
    });
  } else if (deps.faithfulness === 'later') {
    final.analysis.faithfulnessStatus = 'pending';
  }
  const tFaithfulness = now();
  final.timingsMs = {
    read: job.tRead - job.t0,
    preprocess: tPrep - job.tRead,
    classify: tClassify - tPrep,
    signalAnalysis: tSignal - tClassify,
    attribute: tAttribute - tSignal,
    analyse: tAnalyse - tAttribute,
    ...(deps.faithfulness === true || deps.faithfulness === undefined ? { faithfulness: tFaithfulness - tAnalyse } : {}),
    total: tFaithfulness - job.t0,
  };
  deps.onProgress?.({ stage: 'done' });
  return checkResult(final);

  /** The result JSON for one relevance map: the final one, or a partial one (`progress` set) of a progressive run. */
  function buildResult(
    relevance: Float32Array,
    meta: Pick<Attribution, 'method' | 'steps' | 'rule' | 'baseline' | 'completeness'> & Pick<Partial<Attribution>, 'auto'>,
    progress: { preview?: string; done: number; total: number } | null,
  ): Result {
    const analysis = analyseRelevance(signal, input, relevance, className);
    const byClass = (values: number[]) => Object.fromEntries(model.classes.map((c, i) => [c, values[i]]));
    return {
      schema: RESULT_SCHEMA_VERSION,
      record: resultRecordOf(record),
      model: {
        id: model.id,
        title: model.title,
        classes: model.classes,
        thresholds: model.thresholds,
        weights: model.converted ? { sha256: model.converted.sha256, published: model.converted.published } : null,
        warnings: deps.modelWarnings ?? [],
      },
      input: {
        samplingRateHz: input.samplingRateHz,
        samples: input.samples,
        startS: input.startS,
        signalSamples: input.signalSamples,
        paddedSamples: input.samples - input.signalSamples,
        resampling: input.resampling,
        window: model.input.window,
        // Every step from the file to this input (issue 16, item 7): reading, units, leads, resampling, window, padding.
        steps: [...(record.steps ?? []), ...(input.steps ?? [])],
        /** The window the model saw, so reports draw exactly the model input (same encoding as the relevance). */
        signalMv: encodeFloat32(input.data, [input.samples, leads]),
      },
      prediction: {
        probabilities: byClass(probabilities),
        logits: byClass(logits),
        positive: model.classes.filter((_, i) => probabilities[i] >= model.thresholds[i]),
      },
      attribution: {
        method: meta.method,
        class: className,
        target: 'logit' as const,
        baseline: meta.baseline,
        steps: meta.steps,
        rule: meta.rule,
        relevance: encodeFloat32(relevance, [input.samples, leads]),
        completeness: meta.completeness,
        // `--steps auto`: `steps` is the points used; this says so, with the target and whether it was reached.
        ...(meta.auto ? { stepsAuto: { ...meta.auto, pointsUsed: meta.steps } } : {}),
        ...(progress ? { progress } : {}),
      },
      analysis,
      ...(request.label !== undefined ? { label: request.label } : {}),
      ...(request.cohort !== undefined ? { cohort: request.cohort } : {}),
      timingsMs: {},
    };
  }
}
