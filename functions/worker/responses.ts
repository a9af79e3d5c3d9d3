/**
 * The answers the full Worker (./app.ts) and the Free-plan Worker (./free.ts) give alike: a stored result, the
 * models list, and the report page a share link opens. One place, so both deployments answer the same way.
 */
import { selectModel } from '../core/pipeline.ts';
import type { AssetsFetcher } from './env.ts';
import { jsonResponse } from './errors.ts';
import { describeModel, loadModelsIndex } from './models.ts';
import type { ResultMetadata } from './store.ts';

/** `GET /api/records/{id}`: the stored result JSON as it is, with its creation and expiry times. */
export function storedResultResponse(request: Request, json: string, metadata: ResultMetadata | null): Response {
  return new Response(request.method === 'HEAD' ? null : json, {
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...(metadata?.createdAt ? { 'leadlight-created': metadata.createdAt } : {}),
      'leadlight-expires': metadata?.expiresAt ?? 'never',
    },
  });
}

/** `GET /api/models`: the installed models, the one a request without `model` gets, and what this deployment adds. */
export async function modelsResponse(assets: AssetsFetcher, extra: Record<string, unknown> = {}): Promise<Response> {
  const index = await loadModelsIndex(assets);
  // The model the pipeline picks when a request names none (the paper's model when installed).
  let defaultModel: string | null = null;
  try {
    defaultModel = selectModel(index.models, undefined).id;
  } catch {
    defaultModel = null;
  }
  return jsonResponse({ models: index.models.map(describeModel), defaultModel, defaultMethod: 'ig', ...extra }, 200, { 'cache-control': 'public, max-age=60' });
}

/** `GET /r/{id}`: the report page is one static file that reads the id from the address; never indexed or referred. */
export async function reportPageResponse(request: Request, assets: AssetsFetcher, url: URL): Promise<Response> {
  const page = await assets.fetch(new Request(new URL('/report/', url), { method: 'GET' }));
  const headers = new Headers(page.headers);
  headers.set('referrer-policy', 'no-referrer');
  headers.set('x-robots-tag', 'noindex, nofollow');
  return new Response(request.method === 'HEAD' ? null : page.body, { status: page.status, headers });
}
