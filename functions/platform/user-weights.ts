/**
 * `--weights FILE` (contract.md): use a Keras file the user has for a model id. The file is converted once by the
 * install step's own code into models/build/.user/<sha256 prefix>/ and reused; a file whose layout does not match
 * the model is refused, one whose hash differs from the published file is used with a warning.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { DEFAULT_MODEL_ORDER } from '../core/pipeline.ts';
import { hashFile, installModel, loadSourceManifest } from '../../models/install.ts';
import { modelsBuildDir } from './node.ts';

export interface ModelChoice {
  models: InstalledModel[];
  buildDir: string;
  warnings: { code: string; message: string }[];
}

/** The installed models, or — with `weightsPath` — the one model converted from the user's file. */
export async function modelsWithUserWeights(installed: InstalledModel[], modelId: string | undefined, weightsPath: string | undefined): Promise<ModelChoice> {
  if (!weightsPath) return { models: installed, buildDir: modelsBuildDir, warnings: [] };
  const id = modelId ?? DEFAULT_MODEL_ORDER[0];
  const manifest = loadSourceManifest(id);
  const path = resolve(weightsPath);
  if (!existsSync(path)) throw new LeadlightError('model_file_invalid', `There is no weights file "${weightsPath}".`);
  const { sha256 } = hashFile(path);
  const buildDir = join(modelsBuildDir, '.user', sha256.slice(0, 16));
  const model = await installModel(manifest, { buildDir, weights: { [id]: path } });
  if (model.status !== 'available') {
    throw new LeadlightError('model_layout_mismatch', model.reason ?? `The weights file cannot be used for ${id}.`);
  }
  const warnings = model.converted?.published
    ? []
    : [{ code: 'weights_not_published', message: `The weights file is not the published ${id} file (sha256 ${sha256.slice(0, 12)}…); results are those of the given weights.` }];
  return { models: [model], buildDir, warnings };
}
