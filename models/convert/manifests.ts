/**
 * Reads the committed source manifests (models/manifests/<id>.json, type `ModelManifest` of
 * functions/core/model/manifest.ts) for the converter CLI and the install step.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LeadlightError } from '../../functions/core/errors.ts';
import type { GraphKind, ModelManifest } from '../../functions/core/model/manifest.ts';

/** The graphs the install step builds for every model (all kinds of the graph contract). */
export const INSTALLED_GRAPH_KINDS: GraphKind[] = ['classifier', 'gradient', 'gradient-wasm', 'gradient-lowmem', 'lrp-epsilon', 'lrp-alpha1-beta0'];

export const defaultRepoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const defaultManifestsDir = join(defaultRepoRoot, 'models/manifests');

export function loadSourceManifest(id: string, manifestsDir = defaultManifestsDir): ModelManifest {
  const path = join(manifestsDir, `${id}.json`);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(id) || !existsSync(path)) throw new LeadlightError('model_unknown', `There is no model "${id}"; see models/manifests/ for the model ids.`);
  return JSON.parse(readFileSync(path, 'utf8')) as ModelManifest;
}

export function listSourceManifests(manifestsDir = defaultManifestsDir): ModelManifest[] {
  return readdirSync(manifestsDir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(manifestsDir, n), 'utf8')) as ModelManifest);
}
