/**
 * `leadlight analyze FILE...`: one record through the core pipeline, result JSON to stdout or `--out`.
 */
import { writeFileSync } from 'node:fs';
import { analyzeEcg } from '../core/pipeline.ts';
import { createNodeRuntime, loadInstalledModels } from '../platform/node.ts';
import { modelsWithUserWeights } from '../platform/user-weights.ts';
import { gatherRecordFiles, parseIntegerOption, parseOptions, parseRuntime } from './args.ts';

export async function runAnalyze(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    model: { type: 'string' },
    method: { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
    weights: { type: 'string' },
    runtime: { type: 'string' },
    out: { type: 'string' },
    'batch-size': { type: 'string' },
  });
  const runtime = parseRuntime(values.runtime) as 'wasm' | 'native';
  // `--steps auto` (issue 16): IG refined until its completeness error is within 5 %, or 512 points.
  const steps = values.steps === 'auto' ? ('auto' as const) : parseIntegerOption(values.steps, 'steps');
  const batchSize = parseIntegerOption(values['batch-size'], 'batch-size');
  const files = gatherRecordFiles(positionals);
  const { models, buildDir, warnings } = await modelsWithUserWeights(loadInstalledModels(), values.model, values.weights);
  const result = await analyzeEcg(
    files,
    { model: values.model, method: values.method, class: values.class, steps },
    { runtime: createNodeRuntime(runtime, buildDir), models, batchSize, modelWarnings: warnings },
  );
  const json = `${JSON.stringify(result)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else process.stdout.write(json);
  return 0;
}
