/**
 * The HTTP API of ../shared/docs/contract.md ("HTTP API") and the site around it. Routes:
 *   POST   /api/records            multipart upload → analyse → store → 201 {id, url, deleteToken}
 *   POST   /api/records?stream=1   same, but answers with NDJSON events — progress, and for integrated gradients the
 *                                   partial results (a first map by gradient × input, then refinements) — ending in
 *                                   the 201 body (or an error)
 *   GET    /api/records/{id}       200 result JSON | 404
 *   DELETE /api/records/{id}       Authorization: Bearer {deleteToken} → 204 | 401 | 403 | 404
 *   GET    /api/models             installed models, classes, thresholds, methods, availability
 *   GET    /api/cohorts/{name}     cohort.json of a live cohort (uploads with the fields cohort and label) | 404
 *   GET    /r/{id}                 the report page (a static asset) for a result
 * Everything else is a static asset of the Astro site. Errors all go through ./errors.ts. Nothing is written to KV
 * unless the whole analysis succeeded and its result passed `checkResult`; an upload to a cohort is checked
 * (./cohorts.ts) before it is analysed, and its result is removed again if its membership cannot be stored.
 */
import { LeadlightError } from '../core/errors.ts';
import { checkResult } from '../core/result.ts';
import { selectModel } from '../core/pipeline.ts';
import type { InputFile } from '../core/record.ts';
import type { Env } from './env.ts';
import { errorBodyOf, errorResponse, jsonResponse } from './errors.ts';
import { addMember, planCohortUpload, readLiveCohort, removeMember } from './cohorts.ts';
import { describeModel, loadModelsIndex } from './models.ts';
import { deleteResult, getResult, putResult, RESULT_KEY_PREFIX, type ExpiryChoice } from './store.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, type UploadRequest, readUpload } from './upload.ts';

/** Progress of one analysis, as the pipeline reports it (plus the edge's own stages). */
export interface ProgressEvent {
  stage: 'received' | 'reading' | 'classifying' | 'attributing' | 'analysing' | 'storing' | 'done';
  done?: number;
  total?: number;
}

/** What the routes need from the rest of Leadlight; index.ts provides the real pipeline and ORT runtime. */
export interface Services {
  /** `onPartial` (streamed uploads): the progressive results of integrated gradients — a first map, then refinements. */
  analyze(files: InputFile[], options: UploadRequest['options'], env: Env, onProgress: (p: ProgressEvent) => void, onPartial?: (partial: unknown) => Promise<void>): Promise<unknown>;
}

/** KV values are limited to 25 MiB. */
const MAX_RESULT_BYTES = 25 * 1024 * 1024;

export async function handleRequest(request: Request, env: Env, services: Services): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  try {
    if (path === '/api/records' || path === '/api/records/') {
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      return await createRecord(request, env, services, url.searchParams.get('stream') === '1');
    }
    const record = /^\/api\/records\/([^/]+)$/u.exec(path);
    if (record) {
      // Ids are base64url: anything else (including malformed %-escapes) is simply not found.
      const id = /^[A-Za-z0-9_-]+$/u.test(record[1]) ? record[1] : '';
      if (request.method === 'GET' || request.method === 'HEAD') {
        const { json, metadata } = await getResult(env.RESULTS, id);
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
      if (request.method === 'DELETE') {
        await deleteResult(env.RESULTS, id, request.headers.get('authorization'), (json) => removeMember(env.RESULTS, id, json));
        return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
      }
      throw methodNotAllowed('GET, DELETE');
    }
    if (path === '/api/models') {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET');
      const index = await loadModelsIndex(env.ASSETS);
      const models = index.models.map(describeModel);
      // The model the pipeline picks when a request names none (the paper's model when installed).
      let defaultModel: string | null = null;
      try {
        defaultModel = selectModel(index.models, undefined).id;
      } catch {
        defaultModel = null;
      }
      return jsonResponse({ models, defaultModel, defaultMethod: 'ig' }, 200, { 'cache-control': 'public, max-age=60' });
    }
    const cohort = /^\/api\/cohorts\/([^/]*)\/?$/u.exec(path);
    if (cohort) {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET');
      let name = cohort[1];
      try {
        name = decodeURIComponent(name);
      } catch {
        // a malformed escape is simply an invalid name
      }
      const body = JSON.stringify(await readLiveCohort(env.RESULTS, name));
      return new Response(request.method === 'HEAD' ? null : body, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
    }
    if (path.startsWith('/api/')) {
      throw new LeadlightError('not_found', `There is no API route ${path.slice(0, 80)}; see the API section of the README.`);
    }
    const share = /^\/r\/([A-Za-z0-9_-]+)\/?$/u.exec(path);
    if (share && (request.method === 'GET' || request.method === 'HEAD')) {
      // The report page is one static file; it reads the id from the address.
      const page = await env.ASSETS.fetch(new Request(new URL('/report/', url), { method: 'GET' }));
      const headers = new Headers(page.headers);
      headers.set('referrer-policy', 'no-referrer');
      headers.set('x-robots-tag', 'noindex, nofollow');
      return new Response(request.method === 'HEAD' ? null : page.body, { status: page.status, headers });
    }
    return await env.ASSETS.fetch(request);
  } catch (e) {
    const status = e instanceof MethodNotAllowed ? 405 : undefined;
    return errorResponse(e, status, e instanceof MethodNotAllowed ? { allow: e.allow } : {});
  }
}

class MethodNotAllowed extends LeadlightError {
  readonly allow: string;
  constructor(allow: string) {
    super('request_invalid', `This address accepts ${allow} only.`);
    this.allow = allow;
  }
}
function methodNotAllowed(allow: string): MethodNotAllowed {
  return new MethodNotAllowed(allow);
}

function maxUploadBytes(env: Env): number {
  const n = Number(env.MAX_UPLOAD_BYTES);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX_UPLOAD_BYTES;
}

/** Runs the analysis, validates and stores the result; returns the 201 body. */
async function analyseAndStore(upload: UploadRequest, env: Env, services: Services, onProgress: (p: ProgressEvent) => void, onPartial?: (partial: unknown) => Promise<void>) {
  // Cohort fields are checked (and the cohort's settings applied) before any work; null without a cohort.
  const plan = upload.options.cohort !== undefined || upload.options.label !== undefined
    ? await planCohortUpload(env.RESULTS, upload.options, (await loadModelsIndex(env.ASSETS)).models)
    : null;
  const result = checkResult(await services.analyze(upload.files, plan?.options ?? upload.options, env, onProgress, onPartial));
  const json = JSON.stringify(result);
  if (json.length > MAX_RESULT_BYTES) {
    throw new LeadlightError('record_too_long', 'The result of this record is too large to store; upload a shorter record.');
  }
  onProgress({ stage: 'storing' });
  const stored = await putResult(env.RESULTS, json, upload.expiry as ExpiryChoice);
  if (plan) {
    try {
      await addMember(env.RESULTS, plan.membership, stored.id, result, upload.expiry as ExpiryChoice);
    } catch (e) {
      await env.RESULTS.delete(RESULT_KEY_PREFIX + stored.id).catch(() => undefined);
      throw e;
    }
  }
  return { id: stored.id, url: `/r/${stored.id}`, deleteToken: stored.deleteToken, expiresAt: stored.metadata.expiresAt };
}

async function createRecord(request: Request, env: Env, services: Services, stream: boolean): Promise<Response> {
  // Size and form checks happen before anything is analysed, and answer with a plain 4xx in both modes.
  const upload = await readUpload(request, maxUploadBytes(env));
  if (!stream) {
    const body = await analyseAndStore(upload, env, services, () => undefined);
    return jsonResponse(body, 201, { location: `/api/records/${body.id}` });
  }
  // No buffering in the stream (high-water marks 0): `writer.ready` then resolves only once the response has taken
  // the last event, which lets a partial result leave before the next WASM run blocks the isolate for a while.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 0 }, { highWaterMark: 0 });
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  let lastProgress = '';
  const send = (event: Record<string, unknown>) => writer.write(encoder.encode(`${JSON.stringify(event)}\n`)).catch(() => undefined);
  const sendAndFlush = async (event: Record<string, unknown>) => {
    await send(event);
    await writer.ready.catch(() => undefined);
    // The response is written out by the runtime between JavaScript turns; a few short waits let it go to the
    // network before the next run holds the isolate (a large event otherwise leaves only a run or two later).
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const run = async () => {
    await send({ type: 'progress', stage: 'received', files: upload.files.length });
    try {
      const body = await analyseAndStore(
        upload,
        env,
        services,
        (p) => {
          const line = JSON.stringify(p);
          if (line === lastProgress) return;
          lastProgress = line;
          void send({ type: 'progress', ...p });
        },
        // Partial results go to this connection only (not stored): the uploading page shows them as they come.
        (partial) => sendAndFlush({ type: 'partial', result: partial }),
      );
      await send({ type: 'result', status: 201, body });
    } catch (e) {
      const { status, body } = errorBodyOf(e);
      if (status === 500) console.error('leadlight internal error', e);
      await send({ type: 'error', status, ...body });
    } finally {
      await writer.close().catch(() => undefined);
    }
  };
  void run();
  return new Response(readable, {
    status: 200,
    headers: { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
  });
}
