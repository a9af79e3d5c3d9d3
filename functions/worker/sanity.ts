/**
 * The sanity check of a stored server result, run as a job (issue 16, item 2; Adebayo et al., NeurIPS 2018, "Sanity
 * checks for saliency maps", §3.1, cascading randomisation; the report page's button):
 *
 *   POST /api/records/{id}/sanity ─ limiter ─ result (KV) ─ checks (server result, model with randomised weights)
 *        ─► AnalysisJob "{id}".sanityRequest() ─► FOLLOW_UP_QUEUE {v: 1, id, then: "sanity"} ─► 202 {status}
 *   queue() ─► runSanityCheck: sanityBegin (lease) → Services.sanity (core sanityOfResult, one runtime per cascade
 *        step on the install step's randomised weights) → KV sanity:v1:{id} (the result's expiry) → sanityComplete
 *   GET  /api/records/{id}/sanity ─► {status, progress?, error?, result?} | 404 none asked for | 409 cannot run here
 *
 * The state lives in the result's own job (./analysis-job.ts, `state.sanity`); the output in KV next to the result,
 * deleted with it. A check already queued, running or done is answered as it is (no second run); a duplicate
 * message finds it running or done and does nothing; a record deleted meanwhile stops it (its job is gone, progress
 * reports return false) and nothing is written after (an output written just before the delete is removed again).
 * Bad input (4xx) fails the check at once with its code; anything else is retried, then the dead-letter consumer
 * fails it with `analysis_failed`.
 */
import { LeadlightError, isLeadlightError } from '../core/errors.ts';
import { type SanityCheck, sanityCheckSchema, sanityTargetOf } from '../core/analysis/sanity-of-result.ts';
import type { Result } from '../core/result.ts';
import type { Env, QueueMessage } from './env.ts';
import { errorBodyOf, httpStatusOf, jsonResponse } from './errors.ts';
import type { JobMessage, SanityView } from './job.ts';
import { sanityViewOf } from './job.ts';
import { loadModelsIndex } from './models.ts';
import { type Services, jobOf } from './queue.ts';
import { SANITY_KEY_PREFIX, getResult, isResultId, notFound, putSanityAt } from './store.ts';

/** What `GET` (and a `POST` of a finished check) answers. */
export type SanityResponse = SanityView & { result?: SanityCheck };

/** The stored result of `id`, or `not_found`. */
async function storedResult(env: Env, id: string): Promise<{ result: Result; expiresAt: string | null }> {
  if (!isResultId(id)) throw notFound();
  const { json, metadata } = await getResult(env.RESULTS, id);
  return { result: JSON.parse(json) as Result, expiresAt: metadata?.expiresAt ?? null };
}

async function responseOf(env: Env, id: string, view: SanityView): Promise<SanityResponse> {
  if (view.status !== 'done') return view;
  const json = await env.RESULTS.get(SANITY_KEY_PREFIX + id, 'text');
  if (json === null) return { status: 'failed', error: { code: 'not_found', message: 'The output of this sanity check is gone; start the check again.' } };
  return { ...view, result: JSON.parse(json) as SanityCheck };
}

/**
 * `POST /api/records/{id}/sanity` (the caller has applied the upload limiter): starts the cascading randomisation
 * test of Adebayo et al. (2018) on the stored result, or answers the check already asked for. 202 {status} while it
 * is queued or running; 200 with the output once it is done.
 */
export async function requestSanity(env: Env, id: string): Promise<Response> {
  const { result } = await storedResult(env, id);
  // A result shared from the browser, or of a model without randomised weights: 409 sanity_unavailable.
  sanityTargetOf(result, (await loadModelsIndex(env.ASSETS)).models);
  const job = jobOf(env, id);
  const asked = await job.sanityRequest();
  if (!asked) {
    throw new LeadlightError('sanity_unavailable', `This result has no analysis job on this server (stored before jobs, or shared); run \`npx leadlight sanity FILE --model ${result.model.id}\` on the ECG file locally.`);
  }
  if (asked.send) {
    try {
      await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'sanity' } satisfies JobMessage);
    } catch (e) {
      await job.sanityFail({ code: 'internal', message: 'The sanity check could not be queued; try again.' }).catch(() => undefined);
      throw e;
    }
  }
  const body = await responseOf(env, id, asked.view);
  return jsonResponse(body, body.status === 'done' ? 200 : 202, { location: `/api/records/${id}/sanity` });
}

/**
 * `GET /api/records/{id}/sanity`: the check's state, with its output once done. None asked for yet: 409
 * `sanity_unavailable` when the check cannot run on this result (so the page can say why), else 404.
 */
export async function readSanity(env: Env, id: string): Promise<Response> {
  if (!isResultId(id)) throw notFound();
  const state = await jobOf(env, id).read();
  if (!state?.sanity) {
    const { result } = await storedResult(env, id);
    sanityTargetOf(result, (await loadModelsIndex(env.ASSETS)).models);
    throw new LeadlightError('not_found', `No sanity check was started for this result; start one with POST /api/records/${id}/sanity (the report page's button).`);
  }
  return jsonResponse(await responseOf(env, id, sanityViewOf(state.sanity)), 200);
}

/** Thrown inside the check when its record was deleted while it ran. */
class CheckGone extends Error {}

/**
 * The queue's `then: "sanity"` message (./queue.ts consumeJobs): runs the cascading randomisation test (Adebayo et
 * al., NeurIPS 2018, §3.1) on the stored result once, stores its output next to the result and marks the check done.
 */
export async function runSanityCheck(message: QueueMessage<JobMessage>, env: Env, services: Services): Promise<void> {
  const { id } = message.body;
  const job = jobOf(env, id);
  try {
    if (!(await job.sanityBegin())) {
      // Done, failed, running under another delivery's lease, never asked for, or the record is gone.
      message.ack();
      return;
    }
    const stored = await storedResult(env, id).catch((e) => (isLeadlightError(e) && e.code === 'not_found' ? null : Promise.reject(e)));
    if (!stored) {
      message.ack();
      return;
    }
    const check = await services.sanity(stored.result, env, async (done, total) => {
      if (!(await job.sanityReport({ done, total }))) throw new CheckGone();
    });
    const json = JSON.stringify(sanityCheckSchema.parse(check));
    if (!(await job.read())) {
      message.ack();
      return;
    }
    await putSanityAt(env.RESULTS, id, json, stored.expiresAt);
    if (!(await job.sanityComplete())) await env.RESULTS.delete(SANITY_KEY_PREFIX + id);
    message.ack();
  } catch (e) {
    if (e instanceof CheckGone) {
      message.ack();
      return;
    }
    if (isLeadlightError(e) && httpStatusOf((e as LeadlightError).code) < 500) {
      await job.sanityFail(errorBodyOf(e).body.error);
      message.ack();
      return;
    }
    console.error('leadlight: the sanity check failed, the message will be retried', e);
    await job.sanityRelease().catch(() => undefined);
    message.retry();
  }
}

/** The dead-letter consumer's end of a check that failed on every try. */
export async function sanityGivenUp(message: QueueMessage<JobMessage>, env: Env): Promise<void> {
  await jobOf(env, message.body.id).sanityFail({ code: 'analysis_failed', message: 'The sanity check failed inside Leadlight on every try; start it again, and if it keeps failing, run `npx leadlight sanity` locally and report it.' });
  message.ack();
}
