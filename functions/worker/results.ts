/**
 * `POST /api/results` — sharing a result computed in the visitor's browser (private mode, issue 15). The body is the
 * result JSON itself (never the ECG), at most MAX_SHARED_RESULT_BYTES; `?expiry=1d|7d|30d|never` (default 30d).
 * It must pass the one schema, carry `provenance.computedIn: "browser"`, name an installed model and agree with
 * itself and that model (functions/core/result-consistency.ts `parseSharedResult`); then it is
 * stored exactly like a server result (./store.ts: same key, delete token, expiry) and answered
 * `201 {id, url, deleteToken, expiresAt}`. Refused: 413 `result_too_large`, 422 `result_invalid` (400
 * `request_invalid` for a body that is no JSON) — and nothing is stored. Uploads count against the same rate limit.
 * The server checks but does not compute: the report says the numbers were computed in the visitor's browser.
 */
import { LeadlightError } from '../core/errors.ts';
import { parseSharedResult } from '../core/result-consistency.ts';
import type { Env } from './env.ts';
import { jsonResponse } from './errors.ts';
import { loadModelsIndex } from './models.ts';
import { newResultIdentity, parseExpiry, putResultAt } from './store.ts';
import { readBodyCapped } from './upload.ts';

/** The largest shared result: a CinC result (30 000 samples, relevance and signal) is ~4 MB of JSON. */
export const MAX_SHARED_RESULT_BYTES = 8 * 1024 * 1024;

/** Handles `POST /api/results` (the route in ./app.ts). */
export async function shareResult(request: Request, env: Pick<Env, 'ASSETS' | 'RESULTS' | 'UPLOAD_LIMITER'>): Promise<Response> {
  if (request.method !== 'POST') {
    return jsonResponse({ error: { code: 'request_invalid', message: 'This address accepts POST only.' } }, 405, { allow: 'POST' });
  }
  const url = new URL(request.url);
  const expiry = parseExpiry(url.searchParams.get('expiry'));
  const client = request.headers.get('cf-connecting-ip') ?? 'local';
  if (!(await env.UPLOAD_LIMITER.limit({ key: client })).success) {
    throw new LeadlightError('rate_limited', 'This address has sent more uploads in the last minute than Leadlight accepts; wait 60 seconds and share again.');
  }
  let body: Uint8Array;
  try {
    body = await readBodyCapped(request, MAX_SHARED_RESULT_BYTES);
  } catch (e) {
    if (e instanceof LeadlightError && e.code === 'file_too_large') {
      throw new LeadlightError('result_too_large', `The result is larger than the ${MAX_SHARED_RESULT_BYTES / 1024 / 1024} MiB Leadlight stores; a result of an installed model is far smaller.`);
    }
    throw e;
  }
  const { models } = await loadModelsIndex(env.ASSETS);
  const { json } = parseSharedResult(body, models);

  // Stored as received (the text the browser computed), under a fresh id and token, like a server result.
  const identity = await newResultIdentity(expiry);
  await putResultAt(env.RESULTS, identity.id, json, identity);
  const created = { id: identity.id, url: `/r/${identity.id}`, deleteToken: identity.deleteToken, expiresAt: identity.expiresAt };
  return jsonResponse(created, 201, { location: `/api/records/${identity.id}` });
}
