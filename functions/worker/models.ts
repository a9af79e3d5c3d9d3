/**
 * Installed models as the Worker sees them. The install step writes models/build/<id>/ (manifest.json, graphs,
 * weights); `site/scripts/copy-models.mjs` copies that folder into the static assets under /model-files/, writes
 * /model-files/index.json ({ models: InstalledModel[], parts: { "<id>/<file>": ["<file>.part0", ...] } }) and splits
 * files above the 25 MiB static-asset limit into parts. The weights therefore never enter the Worker bundle: the
 * Worker reads them through the ASSETS binding when a model is first used in an isolate.
 */
import { LeadlightError } from '../core/errors.ts';
import { METHODS, graphOf } from '../core/attribution/attribute.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import type { AssetsFetcher } from './env.ts';
import { concatBytes } from '../core/bytes.ts';
import { SharedValue } from '../platform/shared-value.ts';

export interface ModelsIndex {
  models: InstalledModel[];
  /** Files stored in parts: key `<id>/<file>`, value the part paths (relative to /model-files/) in order. */
  parts: Record<string, string[]>;
}

const ASSET_ORIGIN = 'https://assets.invalid';
let cachedIndex: SharedValue<ModelsIndex> | undefined;

/** The models index from the static assets (kept per isolate; an empty index when nothing is installed). */
export function loadModelsIndex(assets: AssetsFetcher): Promise<ModelsIndex> {
  cachedIndex ??= new SharedValue(async () => {
    const response = await assets.fetch(`${ASSET_ORIGIN}/model-files/index.json`);
    if (!response.ok) return { models: [], parts: {} };
    const index = (await response.json()) as ModelsIndex;
    return { models: index.models ?? [], parts: index.parts ?? {} };
  });
  return cachedIndex.get();
}

async function fetchAsset(assets: AssetsFetcher, path: string): Promise<Uint8Array> {
  const response = await assets.fetch(`${ASSET_ORIGIN}/model-files/${path}`);
  if (!response.ok) throw new LeadlightError('model_unavailable', 'A file of the model is missing from this deployment; reinstall the models and deploy again.');
  return new Uint8Array(await response.arrayBuffer());
}

/** `loadFile` for createOrtRuntime: reads `<modelId>/<file>` from the assets, joining parts when split. */
export async function loadModelFile(assets: AssetsFetcher, path: string): Promise<Uint8Array> {
  const index = await loadModelsIndex(assets);
  const parts = index.parts[path];
  if (!parts) return fetchAsset(assets, path);
  return concatBytes(await Promise.all(parts.map((p) => fetchAsset(assets, p))));
}

/** What `GET /api/models` returns for one model: enough for the upload form and the models page. */
export function describeModel(model: InstalledModel) {
  const methods = METHODS.filter((method) => model.status === 'available' && Boolean(model.graphs?.[graphOf(method)]));
  return {
    id: model.id,
    title: model.title,
    description: model.description,
    citation: model.citation,
    licence: model.licence,
    source: model.source?.url,
    status: model.status,
    ...(model.reason ? { reason: model.reason } : {}),
    available: model.status === 'available',
    classes: model.classes,
    thresholds: model.thresholds,
    input: model.input,
    methods,
    defaultIgSteps: model.defaultIgSteps,
    ...(model.parameters !== undefined ? { parameters: model.parameters } : {}),
    ...(model.converted ? { weights: { published: model.converted.published, sha256: model.converted.sha256 } } : {}),
  };
}
