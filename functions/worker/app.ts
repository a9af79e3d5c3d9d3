/**
 * The fetch handler: the HTTP API of ../shared/docs/contract.md ("HTTP API", "Additions (2026-12)") and the site
 * around it. Routes:
 *   POST   /api/records            multipart upload → checked → stored (R2) → job (Durable Object) → queue message;
 *                                   waits for the job: 201 {id, url, deleteToken, expiresAt} | the job's error
 *   POST   /api/records?stream=1   same, answering with NDJSON events: first {"type":"accepted", id, url, deleteToken,
 *                                   expiresAt}, then progress and (integrated gradients) partial results, ending in
 *                                   {"type":"result", status: 201, body} or {"type":"error", status, error}
 *   POST   /api/records?async=1    same, answering at once: 202 {id, url, deleteToken, expiresAt, status: "queued"}
 *   GET    /api/jobs/{id}          200 {id, status, progress, error?} | 404; `?stream=1`: the job's NDJSON events
 *   GET    /api/records/{id}       200 result JSON | 404 (also while its job runs)
 *   DELETE /api/records/{id}       Authorization: Bearer {deleteToken} → 204 (result, job and input gone) | 401 | 403 | 404
 *   POST   /api/records/{id}/sanity  the result's sanity check as a job (./sanity.ts) → 202 {status} | 200 when done | 409
 *   GET    /api/records/{id}/sanity  {status, progress?, error?, result?} | 404
 *   POST   /api/results            a result computed in the browser (private mode) → 201 {id, url, deleteToken, expiresAt} (./results.ts)
 *   GET    /api/models             installed models, classes, thresholds, methods, availability
 *   POST   /api/cohorts            multipart labels CSV + records → one job per record → 202 {name, url, deleteToken, members}
 *   POST   /api/cohorts/{name}/records   (with the cohort's token) more records → 202 {name, members, total}
 *   GET    /api/cohorts/{name}     cohort.json with {name, status, progress} (./cohorts.ts) | 404
 *   DELETE /api/cohorts/{name}     Authorization: Bearer {deleteToken} → 204 (cohort, inputs, results gone) | 202 (rest by its alarm)
 *   GET    /r/{id}                 the report page (a static asset) for a result or a job still running
 * Everything else is a static asset of the Astro site. Errors all go through ./errors.ts. The analysis itself runs
 * in the queue consumer (./queue.ts); a job's state lives only in its Durable Object (./analysis-job.ts).
 */
import { LeadlightError } from '../core/errors.ts';
import type { Env } from './env.ts';
import { errorBodyOf, errorResponse, httpStatusOf, jsonResponse } from './errors.ts';
import { addCohortRecords, cohortNameOfResult, createCohort, deleteCohort, joinCohort, leaveCohort, planCohortUpload, readCohortJson } from './cohorts.ts';
import { type AnalysisJobStub, type JobChange, type JobSpec, type JobView, inputKeyOf, packInput, viewOf } from './job.ts';
import { loadModelsIndex } from './models.ts';
import { type Services, jobOf } from './queue.ts';
import { modelsResponse, reportPageResponse, storedResultResponse } from './responses.ts';
import { type ExpiryChoice, checkDeleteToken, deleteResult, getResult, isResultId, newResultIdentity, notFound, resultMetadataOf } from './store.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, type UploadRequest, readUpload } from './upload.ts';
import { shareResult } from './results.ts';
import { readSanity, requestSanity } from './sanity.ts';

/** A watch of the job returns at least this often (keeps the connection and the Durable Object call short). */
const WATCH_MS = 25_000;
/** What a rate-limited client is told to wait (the limiter's period, wrangler.toml). */
const RATE_LIMIT_PERIOD_S = 60;

export async function handleRequest(request: Request, env: Env, services: Services): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  try {
    if (path === '/api/results' || path === '/api/results/') return await shareResult(request, env);
    if (path === '/api/records' || path === '/api/records/') {
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      const mode = url.searchParams.get('async') === '1' ? 'async' : url.searchParams.get('stream') === '1' ? 'stream' : 'wait';
      return await createRecord(request, env, services, mode);
    }
    const record = /^\/api\/records\/([^/]+)$/u.exec(path);
    if (record) {
      const id = idOf(record[1]);
      if (request.method === 'GET' || request.method === 'HEAD') {
        const { json, metadata } = await getResult(env.RESULTS, id).catch((e: unknown) => notFoundOfJob(env, id, e));
        return storedResultResponse(request, json, metadata);
      }
      if (request.method === 'DELETE') {
        await deleteRecord(request, env, id);
        return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
      }
      throw methodNotAllowed('GET, DELETE');
    }
    const sanity = /^\/api\/records\/([^/]+)\/sanity\/?$/u.exec(path);
    if (sanity) {
      const id = idOf(sanity[1]);
      if (request.method === 'POST') {
        await limitUploads(request, env);
        return await requestSanity(env, id);
      }
      if (request.method === 'GET' || request.method === 'HEAD') return await readSanity(env, id);
      throw methodNotAllowed('GET, POST');
    }
    const job = /^\/api\/jobs\/([^/]+)$/u.exec(path);
    if (job) {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET');
      const id = idOf(job[1]);
      const state = isResultId(id) ? await jobOf(env, id).read() : null;
      if (!state) throw new LeadlightError('not_found', 'There is no analysis with that id; it may have ended long ago, been deleted, or never existed.');
      if (url.searchParams.get('stream') === '1') return streamJob(async () => ({ accepted: null, job: jobOf(env, id) }), null);
      return jsonResponse(viewOf(state), 200);
    }
    if (path === '/api/models') {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET');
      return await modelsResponse(env.ASSETS);
    }
    if (path === '/api/cohorts' || path === '/api/cohorts/') {
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      await limitUploads(request, env);
      const created = await createCohort(request, env, (await loadModelsIndex(env.ASSETS)).models, maxUploadBytes(env));
      return jsonResponse(created, 202, { location: `/api/cohorts/${created.name}` });
    }
    const cohortRecords = /^\/api\/cohorts\/([^/]*)\/records\/?$/u.exec(path);
    if (cohortRecords) {
      if (request.method !== 'POST') throw methodNotAllowed('POST');
      await limitUploads(request, env);
      return jsonResponse(await addCohortRecords(request, env, segmentOf(cohortRecords[1]), maxUploadBytes(env)), 202);
    }
    const cohort = /^\/api\/cohorts\/([^/]*)\/?$/u.exec(path);
    if (cohort) {
      const name = segmentOf(cohort[1]);
      if (request.method === 'DELETE') {
        const remaining = await deleteCohort(request, env, name);
        if (remaining === 0) return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
        return jsonResponse({ name, status: 'deleting', remaining }, 202);
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET, DELETE');
      const body = await readCohortJson(env, name);
      return new Response(request.method === 'HEAD' ? null : body, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
    }
    if (path.startsWith('/api/')) {
      throw new LeadlightError('not_found', `There is no API route ${path.slice(0, 80)}; see the API section of the README.`);
    }
    const share = /^\/r\/([A-Za-z0-9_-]+)\/?$/u.exec(path);
    if (share && (request.method === 'GET' || request.method === 'HEAD')) {
      return await reportPageResponse(request, env.ASSETS, url);
    }
    return await env.ASSETS.fetch(request);
  } catch (e) {
    const status = e instanceof MethodNotAllowed ? 405 : undefined;
    const headers: Record<string, string> = e instanceof MethodNotAllowed ? { allow: e.allow } : e instanceof LeadlightError && e.code === 'rate_limited' ? { 'retry-after': String(RATE_LIMIT_PERIOD_S) } : {};
    return errorResponse(e, status, headers);
  }
}

/**
 * A result that is not (yet) there: while its job is queued or running, or after it failed, the 404 says so
 * (the result itself stays 404 until it exists).
 */
async function notFoundOfJob(env: Env, id: string, e: unknown): Promise<never> {
  // Only a missing result is explained by its job; any other failure (KV itself) stays what it was.
  if (!(e instanceof LeadlightError) || e.code !== 'not_found') throw e;
  const state = isResultId(id) ? await jobOf(env, id).read().catch(() => null) : null;
  if (state?.status === 'queued' || state?.status === 'running') {
    throw new LeadlightError('not_found', `The analysis of this record is still ${state.status}; follow it at /api/jobs/${id} (or open /r/${id}), the result is here once it is done.`);
  }
  if (state?.status === 'failed' && state.error) {
    throw new LeadlightError('not_found', `The analysis of this record failed (${state.error.code}): ${state.error.message}`);
  }
  throw e;
}

/** A path segment %-decoded (a malformed escape stays as it is and fails the name check). */
function segmentOf(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Ids are base64url: anything else (including malformed %-escapes) is simply not found. */
function idOf(segment: string): string {
  return /^[A-Za-z0-9_-]+$/u.test(segment) ? segment : '';
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

interface Accepted {
  id: string;
  url: string;
  deleteToken: string;
  expiresAt: string | null;
}

/** Uploads (records and cohort parts) per client address and minute. */
async function limitUploads(request: Request, env: Env): Promise<void> {
  const client = request.headers.get('cf-connecting-ip') ?? 'local';
  if (!(await env.UPLOAD_LIMITER.limit({ key: client })).success) {
    throw new LeadlightError('rate_limited', `This address has sent more uploads in the last minute than Leadlight accepts; wait ${RATE_LIMIT_PERIOD_S} seconds and upload again.`);
  }
}

/** The limiter and the form: refused with a plain 4xx in every mode. */
async function receiveUpload(request: Request, env: Env): Promise<UploadRequest> {
  await limitUploads(request, env);
  return readUpload(request, maxUploadBytes(env));
}

/**
 * Accepts an upload as a job: the cohort fields, the options and the record itself are checked first (bad input is
 * refused at once, nothing stored); then the input goes to R2, the job is created (`queued`) and its message sent.
 * A failure on the way removes what was written.
 */
async function acceptUpload(upload: UploadRequest, env: Env, services: Services, authorization: string | null): Promise<{ accepted: Accepted; job: AnalysisJobStub }> {
  // Cohort fields are checked (and the cohort's settings applied) before any work; null without a cohort.
  const plan = upload.options.cohort !== undefined || upload.options.label !== undefined
    ? await planCohortUpload(env, upload.options, (await loadModelsIndex(env.ASSETS)).models, authorization)
    : null;
  const options = plan?.options ?? upload.options;
  await services.check(upload.files, options, env);

  const identity = await newResultIdentity(upload.expiry as ExpiryChoice);
  const spec: JobSpec = {
    id: identity.id,
    options,
    membership: plan?.membership ?? null,
    expiry: upload.expiry as ExpiryChoice,
    tokenSha256: identity.tokenSha256,
    createdAt: identity.createdAt,
    expiresAt: identity.expiresAt,
  };
  const job = jobOf(env, identity.id);
  await env.UPLOADS.put(inputKeyOf(identity.id), packInput(upload.files));
  try {
    await job.create(spec);
    if (plan) await joinCohort(env, plan, identity.id, identity.expiresAt);
    await env.JOB_QUEUE.send({ v: 1, id: identity.id });
  } catch (e) {
    // Nothing half-written: the job (if created), its input and its cohort membership go again.
    await job.cancel().catch(() => env.UPLOADS.delete(inputKeyOf(identity.id)).catch(() => undefined));
    await leaveCohort(env, identity.id, spec.membership?.name).catch(() => undefined);
    throw e;
  }
  return { accepted: { id: identity.id, url: `/r/${identity.id}`, deleteToken: identity.deleteToken, expiresAt: identity.expiresAt }, job };
}

async function createRecord(request: Request, env: Env, services: Services, mode: 'wait' | 'stream' | 'async'): Promise<Response> {
  const upload = await receiveUpload(request, env);
  // A stream reports the checks of the record (and everything after) as events.
  const authorization = request.headers.get('authorization');
  if (mode === 'stream') return streamJob(() => acceptUpload(upload, env, services, authorization), upload.files.length);
  const { accepted, job } = await acceptUpload(upload, env, services, authorization);
  if (mode === 'async') {
    return jsonResponse({ ...accepted, status: 'queued' }, 202, { location: `/api/jobs/${accepted.id}` });
  }
  const view = await waitForJob(job);
  if (view?.status === 'done') return jsonResponse(accepted, 201, { location: `/api/records/${accepted.id}` });
  return jobErrorResponse(view);
}

/** The job's error as the API's error response (a job deleted meanwhile: `job_cancelled`). */
function jobErrorResponse(view: JobView | null): Response {
  const error = view?.error ?? cancelled();
  return jsonResponse({ error }, httpStatusOf(error.code));
}

function cancelled(): { code: string; message: string } {
  return { code: 'job_cancelled', message: 'The analysis was cancelled because its record was deleted; upload the ECG again for a new report.' };
}

/** Follows a job until it ends; null when it is deleted meanwhile. `onChange` sees every change on the way. */
async function waitForJob(job: AnalysisJobStub, onChange?: (change: JobChange) => Promise<void>): Promise<JobView | null> {
  let version = -1;
  let partialVersion = 0;
  for (;;) {
    const change = await job.watch(version, partialVersion, WATCH_MS);
    if (!change) return null;
    version = change.version;
    partialVersion = change.partialVersion;
    if (onChange) await onChange(change);
    if (change.view.status === 'done' || change.view.status === 'failed') return change.view;
  }
}

/**
 * A job's NDJSON events: for an upload first `accepted` (so a page closed after that line finds its report again)
 * and `received` — or, for a record that fails its checks, only the error — then the job's progress and partial maps as they change, then `result` or `error`. A client that
 * goes away only ends this response; the job goes on in the queue.
 */
function streamJob(start: () => Promise<{ accepted: Accepted | null; job: AnalysisJobStub }>, files: number | null): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 0 }, { highWaterMark: 0 });
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  const sendLine = async (line: string) => {
    await writer.write(encoder.encode(`${line}\n`));
  };
  const send = (event: Record<string, unknown>) => sendLine(JSON.stringify(event));
  const run = async () => {
    try {
      const { accepted, job } = await start();
      if (accepted) await send({ type: 'accepted', ...accepted });
      if (files !== null) await send({ type: 'progress', stage: 'received', files });
      let lastProgress = '';
      const view = await waitForJob(job, async (change) => {
        // The partial map is the stored JSON text: passed on without parsing it again.
        if (change.partial !== undefined) await sendLine(`{"type":"partial","result":${change.partial}}`);
        for (const progress of change.steps) {
          // The end is told by the result or error event.
          if (progress.stage === 'done' || progress.stage === 'failed') continue;
          const line = JSON.stringify(progress);
          if (line === lastProgress) continue;
          lastProgress = line;
          await send({ type: 'progress', ...progress });
        }
      });
      if (view?.status === 'done') {
        const body = accepted ?? { id: view.id, url: `/r/${view.id}` };
        await send({ type: 'result', status: 201, body });
      } else {
        const error = view?.error ?? cancelled();
        await send({ type: 'error', status: httpStatusOf(error.code), error });
      }
    } catch (e) {
      // The client went away (the write failed), or reaching the job failed: the job itself goes on.
      const { status, body } = errorBodyOf(e);
      await send({ type: 'error', status, ...body }).catch(() => undefined);
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

/**
 * Deleting a record with its token: a queued or running job is cancelled (its input and partial map go; a consumer
 * still running sees it gone and stores nothing), and a stored result goes with its cohort membership.
 */
async function deleteRecord(request: Request, env: Env, id: string): Promise<void> {
  const authorization = request.headers.get('authorization');
  const job = isResultId(id) ? jobOf(env, id) : null;
  const state = job ? await job.read() : null;
  const tokenSha256 = state?.tokenSha256 ?? (await resultMetadataOf(env.RESULTS, id))?.tokenSha256;
  if (!tokenSha256) {
    // Without a token the answer is the same whether or not the record exists.
    if (!/^Bearer\s+\S+\s*$/iu.test(authorization ?? '')) await checkDeleteToken(authorization, '');
    throw notFound();
  }
  await checkDeleteToken(authorization, tokenSha256);
  if (job) await job.cancel();
  if (state?.membership) await leaveCohort(env, id, state.membership.name);
  await deleteResult(env.RESULTS, id, (json) => leaveCohort(env, id, cohortNameOfResult(json)));
}
