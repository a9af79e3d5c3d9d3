/**
 * `leadlight sanity FILE... [--model ID] [--method METHOD] [--class NAME] [--steps N|auto] [--seed N] [--weights FILE]` (issue 16,
 * item 2): the model-parameter randomisation test of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency
 * maps", §3.1, cascading randomisation). The model's layers with weights are randomised from the output layer
 * downwards, one more at each step (a Conv1D/Dense layer together with the BatchNormalization layers that follow it
 * in the layer list); weights are redrawn from the layer's own Keras initialiser (its `*_initializer` config:
 * VarianceScaling/Glorot/He/Lecun, normal, uniform, constants), seeded. Each randomised Keras file is converted by the
 * install step's own converter, the record is explained again for the same class, and the map is compared with the
 * original: Spearman's ρ of |relevance| and SSIM (functions/core/analysis/sanity-metrics.ts). Prints JSON.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomisedKerasFiles } from './sanity-keras.ts';
import { compareWithReference, sanityReference, sanitySubset, summariseSanitySteps, type SanityReference } from '../core/analysis/sanity-metrics.ts';
import type { CohortSanity } from '../core/analysis/cohort-members.ts';
import type { InputFile } from '../core/record.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import type { ModelRuntime } from '../core/model/runtime.ts';
import { analyzeEcg, selectModel } from '../core/pipeline.ts';
import { type Result, decodeFloat32 } from '../core/result.ts';
import { createNodeRuntime, loadInstalledModels, repoRoot } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { installModel, loadSourceManifest } from '../../models/install.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions, parseRuntime } from './args.ts';

// The pure randomisation lives in the core; re-exported for existing callers (test/core/cli/sanity.test.ts).
export { drawFromInitialiser } from '../core/analysis/sanity-cascade.ts';
export { randomisedKerasFiles, type RandomisedKerasFile } from './sanity-keras.ts';

export interface SanityStep {
  /** Layers randomised so far (this step's first). */
  randomised: string[];
  spearmanAbs: number | null;
  ssim: number;
  completeness: { sum: number; expected: number };
  logit: number;
}

/** One step of the cascade: the randomised model, converted and ready to explain with. */
export interface CascadeStep {
  index: number;
  /** The layer this step randomised first (its BatchNormalization layers go with it). */
  layer: string;
  /** Layers randomised so far, this step's included. */
  randomised: string[];
  model: InstalledModel;
  runtime: ModelRuntime;
}

/** The Keras file the cascade randomises: --weights, else the shared copy the install step found. */
export function kerasFileOf(model: InstalledModel, weights: string | undefined): string {
  const manifest = loadSourceManifest(model.id);
  const path = weights ? resolve(weights) : join(process.env.LEADLIGHT_SHARED ? resolve(process.env.LEADLIGHT_SHARED) : resolve(repoRoot, '../shared'), 'models', model.id, manifest.source.sharedFileName);
  if (!existsSync(path)) throw new LeadlightError('model_unavailable', `The sanity check needs the Keras file of ${model.id}; give it with --weights FILE.`);
  return path;
}

/**
 * The cascading randomisation of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency maps", §3.1): yields the
 * model with its layers randomised from the output layer downwards, one more Conv1D/Dense layer (with its
 * BatchNormalization layers) per step, each weight redrawn from its Keras initialiser with one seeded stream.
 * Each step's Keras file is converted once by the install step's converter; its runtime is released and its files
 * removed when the consumer asks for the next step (or stops).
 */
export async function* randomisedCascade(options: { model: InstalledModel; kerasPath: string; seed: number; runtime: 'wasm' | 'native'; threads?: number }): AsyncGenerator<CascadeStep> {
  const manifest = loadSourceManifest(options.model.id);
  for await (const step of randomisedKerasFiles(options.kerasPath, options.seed)) {
    const buildDir = join(step.workDir, `build-${step.index}`);
    const converted: InstalledModel = await installModel(manifest, { buildDir, weights: { [options.model.id]: step.path } });
    if (converted.status !== 'available') throw new LeadlightError('model_layout_mismatch', converted.reason ?? 'The randomised model could not be converted.');
    const runtime = createNodeRuntime(options.runtime, buildDir, options.threads);
    try {
      yield { index: step.index, layer: step.layer, randomised: step.randomised, model: converted, runtime };
    } finally {
      await runtime.release();
      rmSync(buildDir, { recursive: true, force: true });
    }
  }
}

export const SANITY_CASCADE = 'output layer first; each step randomises one more Conv1D/Dense layer (with its BatchNormalization layers) from its Keras initialiser';
export const SANITY_METRICS = 'spearmanAbs: Spearman ρ of |relevance| against the original map; ssim: SSIM of the maps as |relevance| / max (scikit-image defaults); signal samples × 12 leads, padding excluded';
/** Records a cohort's sanity check runs on by default (each costs one explanation per method and cascade step). */
export const COHORT_SANITY_RECORDS = 5;

/**
 * `leadlight cohort --sanity`: the cascading randomisation of Adebayo et al. (NeurIPS 2018, §3.1) on a seeded subset
 * of the cohort's records (sanitySubset), for each method, summarised per cascade step as the mean and median over
 * the records of Spearman's ρ of |relevance| and of SSIM against the trained model's map. Each randomised model is
 * converted once and explains every record and method of the subset.
 */
export async function cohortSanity(options: {
  /** The cohort's analysed records; only the chosen ones are read. */
  records: readonly { path: string; load: () => InputFile[] }[];
  size: number;
  seed: number;
  methods: readonly string[];
  className: string;
  steps: number | undefined;
  model: InstalledModel;
  models: InstalledModel[];
  buildDir: string;
  kerasPath: string;
  runtime: 'wasm' | 'native';
  threads?: number;
  batchSize?: number;
  log?: (line: string) => void;
}): Promise<CohortSanity> {
  const chosen = sanitySubset(options.records.length, options.size, options.seed).map((i) => ({ path: options.records[i].path, files: options.records[i].load() }));
  const request = (method: string) => ({ model: options.model.id, method, class: options.className, ...(method === 'ig' && options.steps !== undefined ? { steps: options.steps } : {}) });
  const deps = (runtime: ModelRuntime, models: InstalledModel[]) => ({ runtime, models, faithfulness: false, ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) });
  // The trained model's maps: the references (record × method).
  const originalRuntime = createNodeRuntime(options.runtime, options.buildDir, options.threads);
  const references: SanityReference[][] = [];
  const igSteps: (number | null)[] = options.methods.map(() => null);
  try {
    for (const record of chosen) {
      const row: SanityReference[] = [];
      for (const [m, method] of options.methods.entries()) {
        const result = await analyzeEcg(record.files, request(method), deps(originalRuntime, options.models));
        if (method === 'ig') igSteps[m] = result.attribution.steps;
        row.push(sanityReference(decodeFloat32(result.attribution.relevance), (result.input as { signalSamples?: number }).signalSamples ?? result.input.samples));
      }
      references.push(row);
    }
  } finally {
    await originalRuntime.release();
  }
  const stepInfo: { layer: string; layersRandomised: number }[] = [];
  // similarity[m][r][k]: method m, record r, step k.
  const similarity = options.methods.map(() => chosen.map(() => [] as { spearmanAbs: number | null; ssim: number }[]));
  for await (const step of randomisedCascade({ model: options.model, kerasPath: options.kerasPath, seed: options.seed, runtime: options.runtime, threads: options.threads })) {
    stepInfo.push({ layer: step.layer, layersRandomised: step.randomised.length });
    for (const [r, record] of chosen.entries())
      for (const [m, method] of options.methods.entries()) {
        const again = await analyzeEcg(record.files, request(method), deps(step.runtime, [step.model]));
        similarity[m][r].push(compareWithReference(references[r][m], decodeFloat32(again.attribution.relevance)));
      }
    options.log?.(`sanity [${step.index + 1}] randomised down to ${step.layer}: ${options.methods.map((method, m) => `${method} ρ̄ ${summariseSanitySteps([stepInfo[step.index]], similarity[m].map((r) => [r[step.index]]))[0].spearmanAbs.mean?.toFixed(3)}`).join(', ')}`);
  }
  return {
    seed: options.seed,
    records: chosen.map((r) => r.path),
    cascade: SANITY_CASCADE,
    metrics: SANITY_METRICS,
    methods: options.methods.map((method, m) => ({ method, steps: igSteps[m], cascadeSteps: summariseSanitySteps(stepInfo, similarity[m]) })),
  };
}

/** `leadlight sanity`: see the module comment (Adebayo et al. 2018, cascading randomisation). */
export async function runSanity(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    model: { type: 'string' },
    method: { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    weights: { type: 'string' },
    runtime: { type: 'string' },
    out: { type: 'string' },
  });
  const runtimeKind = parseRuntime(values.runtime, ['native', 'wasm']) as 'wasm' | 'native';
  const steps = values.steps === 'auto' ? ('auto' as const) : parseIntegerOption(values.steps, 'steps');
  const seed = parseIntegerOption(values.seed, 'seed') ?? 16;
  const files = gatherRecordFiles(positionals);
  const { models: installed, buildDir: originalBuildDir } = await modelsWithUserWeights(loadInstalledModels(), values.model, values.weights);
  const model = selectModel(installed, values.model);
  const kerasPath = kerasFileOf(model, values.weights);
  const method = values.method ?? 'ig';
  const request = (className: string | undefined) => ({ model: model.id, method, class: className, ...(method === 'ig' && steps !== undefined ? { steps } : {}) });

  const original = await analyzeEcg(files, request(values.class), { runtime: createNodeRuntime(runtimeKind, originalBuildDir), models: installed, faithfulness: false });
  const className = original.attribution.class;
  const signalSamples = (original.input as { signalSamples?: number }).signalSamples ?? original.input.samples;
  const reference = sanityReference(decodeFloat32(original.attribution.relevance), signalSamples);

  const result: SanityStep[] = [];
  for await (const step of randomisedCascade({ model, kerasPath, seed, runtime: runtimeKind })) {
    const again: Result = await analyzeEcg(files, request(className), { runtime: step.runtime, models: [step.model], faithfulness: false });
    const similarity = compareWithReference(reference, decodeFloat32(again.attribution.relevance));
    result.push({
      randomised: step.randomised,
      ...similarity,
      completeness: { sum: again.attribution.completeness.sum, expected: again.attribution.completeness.expected },
      logit: again.prediction.logits[className],
    });
    process.stderr.write(`[${step.index + 1}] randomised down to ${step.layer}: ρ(|R|) ${similarity.spearmanAbs?.toFixed(3)}, SSIM ${similarity.ssim.toFixed(3)}\n`);
  }
  const report = {
    record: original.record.name,
    model: model.id,
    method,
    class: className,
    steps: original.attribution.steps,
    seed,
    cascade: SANITY_CASCADE,
    metrics: SANITY_METRICS,
    original: { logit: original.prediction.logits[className], completeness: original.attribution.completeness },
    cascadeSteps: result,
  };
  const json = `${JSON.stringify(report, null, 1)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else process.stdout.write(json);
  return 0;
}
