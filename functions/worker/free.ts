/**
 * The Worker entry for the Workers Free plan (wrangler env `free`, issue 15): private mode is the only way to
 * analyse. No analysis engine (the bundle is small), no queue, R2 or Durable Objects — only the static site (pages,
 * engine and model files), the models list (marked `serverAnalysis: false`, so the upload page offers the browser
 * only), sharing a result computed in the browser (`POST /api/results`, ./results.ts) and reading or deleting a
 * shared result (./store.ts, the same keys as the full Worker). An upload for server analysis is refused with 409
 * `server_analysis_unavailable`. Each request is a few milliseconds of CPU (a share: parsing and checking the JSON).
 */
import { LeadlightError } from '../core/errors.ts';
import type { Env } from './env.ts';
import { errorResponse, jsonResponse } from './errors.ts';
import { modelsResponse, reportPageResponse, storedResultResponse } from './responses.ts';
import { shareResult } from './results.ts';
import { checkDeleteToken, deleteResult, getResult, resultMetadataOf } from './store.ts';

export type FreeEnv = Pick<Env, 'ASSETS' | 'RESULTS' | 'UPLOAD_LIMITER'>;

function methodNotAllowed(allow: string): Response {
  return jsonResponse({ error: { code: 'request_invalid', message: `This address accepts ${allow} only.` } }, 405, { allow });
}

export async function handleFreeRequest(request: Request, env: FreeEnv): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  try {
    if (path === '/api/results' || path === '/api/results/') return await shareResult(request, env);
    const record = /^\/api\/records\/([A-Za-z0-9_-]+)$/u.exec(path);
    if (record) {
      const id = record[1];
      if (request.method === 'GET' || request.method === 'HEAD') {
        const { json, metadata } = await getResult(env.RESULTS, id);
        return storedResultResponse(request, json, metadata);
      }
      if (request.method === 'DELETE') {
        const tokenSha256 = (await resultMetadataOf(env.RESULTS, id))?.tokenSha256;
        await checkDeleteToken(request.headers.get('authorization'), tokenSha256 ?? '');
        await deleteResult(env.RESULTS, id);
        return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
      }
      return methodNotAllowed('GET, DELETE');
    }
    if (path === '/api/models') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed('GET');
      return await modelsResponse(env.ASSETS, { serverAnalysis: false });
    }
    if (path === '/api/records' || path === '/api/records/' || path.startsWith('/api/cohorts') || path.startsWith('/api/jobs/')) {
      throw new LeadlightError('server_analysis_unavailable', "This deployment analyses ECGs in the visitor's browser only: open /?where=browser, analyse there, and share the result if you want a link.");
    }
    if (path.startsWith('/api/')) throw new LeadlightError('not_found', `There is no API route ${path.slice(0, 80)}; see the API section of the README.`);
    const share = /^\/r\/([A-Za-z0-9_-]+)\/?$/u.exec(path);
    if (share && (request.method === 'GET' || request.method === 'HEAD')) {
      return await reportPageResponse(request, env.ASSETS, url);
    }
    return await env.ASSETS.fetch(request);
  } catch (e) {
    const headers: Record<string, string> = e instanceof LeadlightError && e.code === 'rate_limited' ? { 'retry-after': '60' } : {};
    return errorResponse(e, undefined, headers);
  }
}

export default {
  fetch(request: Request, env: FreeEnv): Promise<Response> {
    return handleFreeRequest(request, env);
  },
};
