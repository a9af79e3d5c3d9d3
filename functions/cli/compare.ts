/**
 * `leadlight compare FILE... --methods ig,gradient-x-input,lrp-epsilon,…` (issue 16, item 3): one record explained
 * by several attribution methods for the same class; prints JSON with, per method, completeness and the
 * deletion/insertion summaries, and the pairwise Spearman correlations of the maps and of the lead relevances
 * (functions/core/analysis/method-agreement.ts).
 */
import { writeFileSync } from 'node:fs';
import { agreementOfResults, agreementOver } from '../core/analysis/method-agreement.ts';
import { METHODS, parseMethod } from '../core/attribution/attribute.ts';
import { LeadlightError } from '../core/errors.ts';
import { analyzeEcg } from '../core/pipeline.ts';
import type { Result } from '../core/result.ts';
import { createNodeRuntime, loadInstalledModels } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions, parseRuntime } from './args.ts';

/** A `--methods` list: distinct known methods, at least two (`option_invalid` otherwise). Shared with `leadlight cohort --methods`. */
export function parseMethodList(value: string): string[] {
  const methods = [...new Set(value.split(',').map((m) => m.trim()).filter(Boolean))].map(parseMethod);
  if (methods.length < 2) throw new LeadlightError('option_invalid', `--methods needs at least two methods, e.g. --methods ig,gradient-x-input; use some of ${METHODS.join(', ')}.`);
  return methods;
}

export async function runCompare(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    methods: { type: 'string' },
    model: { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
    weights: { type: 'string' },
    runtime: { type: 'string' },
    out: { type: 'string' },
  });
  const methods = parseMethodList(values.methods ?? METHODS.join(','));
  const steps = values.steps === 'auto' ? ('auto' as const) : parseIntegerOption(values.steps, 'steps');
  const runtime = parseRuntime(values.runtime, ['native', 'wasm']) as 'wasm' | 'native';
  const files = gatherRecordFiles(positionals);
  const { models, buildDir, warnings } = await modelsWithUserWeights(loadInstalledModels(), values.model, values.weights);
  const deps = { runtime: createNodeRuntime(runtime, buildDir), models, modelWarnings: warnings };

  const results: Result[] = [];
  let className = values.class;
  for (const method of methods) {
    // One class for all methods: the given one, else the top class the first method found.
    const result = await analyzeEcg(files, { model: values.model, method, class: className, ...(method === 'ig' && steps !== undefined ? { steps } : {}) }, deps);
    className = result.attribution.class;
    results.push(result);
  }
  const { pairs, signalSamples } = agreementOfResults(results);
  const report = {
    record: results[0].record.name,
    model: results[0].model.id,
    class: className,
    probability: results[0].prediction.probabilities[className as string],
    methods: results.map((r) => ({
      method: r.attribution.method,
      steps: r.attribution.steps,
      completeness: r.attribution.completeness,
      faithfulness: r.analysis.faithfulness
        ? { deletionAreaVsRandom: r.analysis.faithfulness.deletion.areaVsRandom, insertionAreaVsRandom: r.analysis.faithfulness.insertion.areaVsRandom }
        : null,
      timingsMs: r.timingsMs,
    })),
    methodAgreement: { spearman: pairs, over: agreementOver(signalSamples) },
  };
  const json = `${JSON.stringify(report, null, 1)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else process.stdout.write(json);
  return 0;
}
