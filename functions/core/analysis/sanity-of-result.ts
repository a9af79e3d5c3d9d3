/**
 * The sanity check of a stored result (issue 16, item 2; Adebayo et al., NeurIPS 2018, "Sanity checks for saliency
 * maps", §3.1, cascading randomisation), without the ECG file: a result carries the exact model input
 * (`input.signalMv`) and the trained model's map (`attribution.relevance`), method, class and steps. For every step of
 * the cascade the install step wrote (models/install.ts `installSanitySteps`: the same randomised Keras files as
 * `leadlight sanity`, converted by the same converter, only the weights files kept), the input is explained again
 * on the randomised model and compared with the stored map: Spearman's ρ of |relevance| and SSIM
 * (./sanity-metrics.ts). A method that passes gives maps that change with the weights: both fall far below 1.
 *
 * The randomised models are the installed graphs with other external data: a runtime per step whose file loader
 * maps the weights files to the step's folder (`stepFilePath`), released after its step (one at a time: the
 * Worker's 128 MB isolate). The output has one schema (`sanityCheckSchema`), stored next to the result.
 */
import { z } from 'zod';
import { IG_AUTO_MAX_POINTS, IG_AUTO_TOLERANCE, attribute, graphOf, parseMethod } from '../attribution/attribute.ts';
import { LeadlightError } from '../errors.ts';
import type { InstalledModel } from '../model/manifest.ts';
import type { ModelRuntime } from '../model/runtime.ts';
import { NATIVE_BATCH, WASM_BATCH, selectModel } from '../pipeline.ts';
import { type EncodedArray, type Result, decodeFloat32 } from '../result.ts';
import { compareWithReference, sanityReference } from './sanity-metrics.ts';

/** What the install step records in a model's manifest about its randomised weights (`InstalledModel.sanity`). */
export interface ModelSanity {
  seed: number;
  /** Folder in the model's build folder (and under /model-files/<id>/) holding `step-<k>/<weights file>`. */
  dir: string;
  /** The weights files every step folder holds. */
  weightsFiles: string[];
  steps: { k: number; layer: string; layers: string[] }[];
}

/** The randomised weights of an installed model, or undefined when the install step wrote none (too large, no Keras file). */
export function sanityOf(model: InstalledModel): ModelSanity | undefined {
  const s = (model as InstalledModel & { sanity?: ModelSanity }).sanity;
  return s && Array.isArray(s.steps) && s.steps.length > 0 && Array.isArray(s.weightsFiles) ? s : undefined;
}

/**
 * The file a step's runtime loads for `path` (`<modelId>/<file>`, as createOrtRuntime asks): a weights file of the
 * model comes from `<modelId>/<dir>/step-<k>/`, everything else (the graphs) is the installed file itself.
 */
export function stepFilePath(model: InstalledModel, sanity: ModelSanity, k: number, path: string): string {
  const prefix = `${model.id}/`;
  const file = path.startsWith(prefix) ? path.slice(prefix.length) : null;
  return file !== null && sanity.weightsFiles.includes(file) ? `${prefix}${sanity.dir}/step-${k}/${file}` : path;
}

export const SANITY_CHECK_VERSION = 1;

const finite = z.number().refine(Number.isFinite, 'must be finite');

/** The finished check as stored next to its result (KV `sanity:v1:{id}`) and returned by `GET /api/records/{id}/sanity`. */
export const sanityCheckSchema = z.object({
  v: z.literal(SANITY_CHECK_VERSION),
  model: z.string(),
  method: z.string(),
  class: z.string(),
  /** Integration points of IG (as the result), 1 otherwise. */
  steps: z.number().int().nonnegative(),
  seed: z.number().int(),
  cascade: z.string(),
  metrics: z.string(),
  cascadeSteps: z.array(
    z.object({
      k: z.number().int().nonnegative(),
      /** The layer this step randomised first (its BatchNormalization layers go with it). */
      layer: z.string(),
      /** Layers randomised so far, this step's included. */
      layers: z.array(z.string()),
      spearmanAbs: finite.nullable(),
      ssim: finite,
      /** The explained class's logit on the randomised model. */
      logit: finite,
    }),
  ),
  timingsMs: z.object({ total: finite, perStep: z.array(finite) }),
});
export type SanityCheck = z.infer<typeof sanityCheckSchema>;

export const SANITY_CASCADE_TEXT = 'output layer first; each step randomises one more Conv1D/Dense layer (with its BatchNormalization layers) from its Keras initialiser';
export const SANITY_METRICS_TEXT = 'spearmanAbs: Spearman ρ of |relevance| against the original map; ssim: SSIM of the maps as |relevance| / max (scikit-image defaults); signal samples × 12 leads, padding excluded';

/**
 * The model and its randomised weights a result's check needs, or a `sanity_unavailable` error saying why not: a
 * result computed in the browser, a model without the install step's steps, or installed again with other weights.
 */
export function sanityTargetOf(result: Result, models: InstalledModel[]): { model: InstalledModel; sanity: ModelSanity } {
  const local = `run \`npx leadlight sanity FILE --model ${result.model.id} --method ${result.attribution.method} --class ${result.attribution.class}\` on the ECG file locally`;
  if (result.provenance?.computedIn === 'browser') {
    throw new LeadlightError('sanity_unavailable', `This result was computed in the visitor's browser and shared; the sanity check runs on results analysed on the server — upload the ECG for a server analysis, or ${local}.`);
  }
  let model: InstalledModel;
  try {
    model = selectModel(models, result.model.id);
  } catch {
    throw new LeadlightError('sanity_unavailable', `Model ${result.model.id} is not installed on this server any more; ${local}.`);
  }
  const sanity = sanityOf(model);
  if (!sanity) {
    throw new LeadlightError('sanity_unavailable', `This server has no randomised weights of ${model.id} (the install step writes them for models small enough for the Worker); ${local}.`);
  }
  const sha = (result.model as { weights?: { sha256?: string } | null }).weights?.sha256;
  if (sha !== undefined && model.converted?.sha256 !== undefined && sha !== model.converted.sha256) {
    throw new LeadlightError('sanity_unavailable', `The weights of ${model.id} on this server are not those this result was computed with; ${local}.`);
  }
  return { model, sanity };
}

export interface SanityDeps {
  models: InstalledModel[];
  /** A fresh runtime for cascade step k, loading the step's weights (see `stepFilePath`); released after the step. */
  runtimeForStep: (k: number) => ModelRuntime;
  /** After each step: steps done and the total. */
  onStep?: (done: number, total: number) => void | Promise<void>;
  now?: () => number;
}

/**
 * The cascading randomisation test of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency maps", §3.1) on a
 * stored result: per step of the installed cascade, the result's model input explained again with the same method,
 * class and integration rule on the randomised model, compared with the result's own map (Spearman's ρ of
 * |relevance|, SSIM). The numbers are those `leadlight sanity` computes for the same record, method and class.
 */
export async function sanityOfResult(result: Result, deps: SanityDeps): Promise<SanityCheck> {
  const now = deps.now ?? (() => Date.now());
  const t0 = now();
  const { model, sanity } = sanityTargetOf(result, deps.models);
  const method = parseMethod(result.attribution.method);
  const input = result.input as Result['input'] & { signalMv?: EncodedArray; signalSamples?: number };
  const classIndex = model.classes.indexOf(result.attribution.class);
  const leads = model.input.leads.length;
  const numClasses = model.classes.length;
  if (!input.signalMv || classIndex < 0) throw new LeadlightError('sanity_unavailable', 'This result does not carry the model input the check needs; upload the ECG again.');
  const data = decodeFloat32(input.signalMv);
  const samples = input.samples;
  if (data.length !== samples * leads) throw new LeadlightError('sanity_unavailable', 'The model input stored with this result does not have the model\'s shape; upload the ECG again.');
  const reference = sanityReference(decodeFloat32(result.attribution.relevance), input.signalSamples ?? samples);
  const attributionOf = result.attribution as Result['attribution'] & { rule?: 'left' | 'midpoint' | null; stepsAuto?: unknown };
  const auto = method === 'ig' && attributionOf.stepsAuto !== undefined;
  const steps = method === 'ig' ? (auto ? IG_AUTO_MAX_POINTS : result.attribution.steps) : undefined;
  const rule = method === 'ig' ? (auto ? 'midpoint' : (attributionOf.rule ?? 'midpoint')) : 'left';

  const cascadeSteps: SanityCheck['cascadeSteps'] = [];
  const perStep: number[] = [];
  for (const step of sanity.steps) {
    const tStep = now();
    const runtime = deps.runtimeForStep(step.k);
    try {
      // As the pipeline explains a record (functions/core/pipeline.ts): classify (zero seed), the logits at the zero
      // baseline, then the attribution with those logits, batched as on this runtime.
      const session = await runtime.session(model, graphOf(method));
      const zeroSeed = { data: new Float32Array(numClasses), dims: [1, numClasses] };
      const logits = (await session.run({ x: { data, dims: [1, samples, leads] }, seed: zeroSeed }, ['logits'])).logits.data;
      const baseline = (await session.run({ x: { data: new Float32Array(samples * leads), dims: [1, samples, leads] }, seed: zeroSeed }, ['logits'])).logits.data;
      const again = await attribute(session, {
        method,
        classIndex,
        numClasses,
        input: data,
        samples,
        leads,
        steps,
        rule,
        ...(auto ? { autoTolerance: IG_AUTO_TOLERANCE } : {}),
        batchSize: runtime.backend === 'wasm' ? WASM_BATCH : NATIVE_BATCH,
        logitAtInput: logits[classIndex],
        logitAtBaseline: baseline[classIndex],
      });
      cascadeSteps.push({ k: step.k, layer: step.layer, layers: step.layers, ...compareWithReference(reference, again.relevance), logit: logits[classIndex] });
    } finally {
      await runtime.release();
    }
    perStep.push(now() - tStep);
    await deps.onStep?.(cascadeSteps.length, sanity.steps.length);
  }
  return sanityCheckSchema.parse({
    v: SANITY_CHECK_VERSION,
    model: model.id,
    method,
    class: result.attribution.class,
    steps: result.attribution.steps,
    seed: sanity.seed,
    cascade: SANITY_CASCADE_TEXT,
    metrics: SANITY_METRICS_TEXT,
    cascadeSteps,
    timingsMs: { total: now() - t0, perStep },
  });
}
