/**
 * The queue consumer (wrangler.toml [[queues.consumers]]): one job message per invocation runs the unchanged core
 * pipeline on the job's stored input and writes the result to KV exactly as an upload always has (`result:v1:{id}`,
 * the one result schema), reporting progress and partial maps to the job's Durable Object (./analysis-job.ts).
 *
 * Failures: bad input (any LeadlightError with a 4xx status) fails the job once with its code and is acknowledged;
 * anything else gives the job back and retries the message (max_retries), after which the dead-letter queue's
 * consumer — this same handler, for `batch.queue` = the dead-letter queue — fails the job with `analysis_failed`.
 * A duplicate delivery finds the job finished or leased and does nothing. Messages with `then` (the follow-ups of a
 * finished job, on FOLLOW_UP_QUEUE) add to its stored result (`addCurves`) or run its sanity check (./sanity.ts).
 */
import { LeadlightError, isLeadlightError } from '../core/errors.ts';
import type { InputFile } from '../core/record.ts';
import { withoutFileNames } from '../core/pipeline.ts';
import { type Result, checkResult } from '../core/result.ts';
import { cohortNameOfResult, leaveCohort, reportMemberDone } from './cohorts.ts';
import type { Env, MessageBatch, QueueMessage } from './env.ts';
import { errorBodyOf, httpStatusOf } from './errors.ts';
import { type AnalysisJobStub, type JobMessage, type JobProgress, type JobState, inputKeyOf, isJobMessage, unpackInput } from './job.ts';
import { RESULT_KEY_PREFIX, getResult, putResultAt } from './store.ts';
import { runSanityCheck, sanityGivenUp } from './sanity.ts';
import type { SanityCheck } from '../core/analysis/sanity-of-result.ts';
import type { UploadRequest } from './upload.ts';

/** The dead-letter queue of the jobs queue (wrangler.toml). */
export const DEAD_LETTER_QUEUE = 'leadlight-jobs-dead';
/** KV values are limited to 25 MiB. */
const MAX_RESULT_BYTES = 25 * 1024 * 1024;
/** Short waits after each partial map (see `onPartial`). */
const PARTIAL_FLUSH_WAITS = 3;
/** Progress goes to the job at most this often (stage changes always). */
const REPORT_MS = 250;
/** The same for a cohort's fanned-out member, which nobody watches: the reports only renew its lease (LEASE_MS). */
const FAN_OUT_REPORT_MS = 30_000;

/** What the consumer needs from the rest of Leadlight; ./analyze.ts provides the real pipeline and ORT runtime. */
export interface Services {
  /** Checks an upload before it is accepted (options, and that the files read as a record the model takes). */
  check(files: InputFile[], options: UploadRequest['options'], env: Env): Promise<void>;
  /** `onPartial`: the progressive results of integrated gradients — a first map, then refinements. */
  /**
   * `faithfulness`: false leaves the deletion/insertion curves out (a cohort's members: cohort.json does not use
   * them); `later` marks them pending, for `addFaithfulness` after the result is stored.
   */
  analyze(files: InputFile[], options: UploadRequest['options'], env: Env, onProgress: (p: JobProgress) => void, onPartial?: (partial: unknown) => Promise<void>, extras?: { faithfulness: boolean | 'later' }): Promise<unknown>;
  /** The stored result with its deletion/insertion curves added (functions/core/pipeline.ts `addFaithfulness`). */
  addFaithfulness(result: Result, env: Env): Promise<Result>;
  /**
   * The stored result's sanity check (functions/core/analysis/sanity-of-result.ts `sanityOfResult`, Adebayo et al.
   * 2018): one runtime per cascade step on the install step's randomised weights; `onStep` after each step.
   */
  sanity(result: Result, env: Env, onStep: (done: number, total: number) => Promise<void>): Promise<SanityCheck>;
}

export function jobOf(env: Env, id: string): AnalysisJobStub {
  return env.JOBS.get(env.JOBS.idFromName(id));
}

/** Thrown inside the pipeline when the job was deleted while it ran. */
class JobGone extends Error {}

export async function consumeJobs(batch: MessageBatch<unknown>, env: Env, services: Services): Promise<void> {
  for (const message of batch.messages) {
    if (!isJobMessage(message.body)) {
      console.error('leadlight: a queue message that is not a job was dropped');
      message.ack();
      continue;
    }
    if (message.body.then === 'faithfulness') {
      // A follow-up that keeps failing ends in the dead-letter queue like a job; its result stays as stored (the
      // report says the curves are missing), since the job itself succeeded.
      if (batch.queue !== DEAD_LETTER_QUEUE) await addCurves(message as QueueMessage<JobMessage>, env, services);
      else message.ack();
      continue;
    }
    if (message.body.then === 'sanity') {
      // The result's sanity check (./sanity.ts); one that keeps failing ends `failed` in the dead-letter queue.
      if (batch.queue !== DEAD_LETTER_QUEUE) await runSanityCheck(message as QueueMessage<JobMessage>, env, services);
      else await sanityGivenUp(message as QueueMessage<JobMessage>, env);
      continue;
    }
    if (batch.queue === DEAD_LETTER_QUEUE) {
      await jobOf(env, message.body.id).fail({ code: 'analysis_failed', message: 'The analysis failed inside Leadlight on every try; upload the ECG again, and if it keeps failing, report it.' });
      message.ack();
      continue;
    }
    await runJob(message as QueueMessage<JobMessage>, env, services);
  }
}

async function runJob(message: QueueMessage<JobMessage>, env: Env, services: Services): Promise<void> {
  const { id } = message.body;
  const job = jobOf(env, id);
  const state = await job.begin();
  if (!state) {
    // Finished, cancelled, unknown, or running under another delivery's live lease: nothing to do.
    message.ack();
    return;
  }
  const fileNames: string[] = [];
  try {
    const json = await analyse(state, env, services, job, fileNames);
    await putResultAt(env.RESULTS, id, json, state);
    // A cohort member reports its summary before its job is done (a crash in between repeats both; the cohort counts it once).
    if (state.membership) await reportMemberDone(env, state.membership, id, JSON.parse(json));
    if (!(await job.complete())) await removeStored(env, id, json);
    else if (!state.fanOut) {
      // The curves follow in a second write (addCurves). Were this send lost, the result stays without them.
      await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'faithfulness' }).catch((e) => console.error('leadlight: the faithfulness follow-up was not sent', e));
    }
    message.ack();
  } catch (e) {
    if (e instanceof JobGone) {
      message.ack();
      return;
    }
    if (isLeadlightError(e) && httpStatusOf((e as LeadlightError).code) < 500) {
      // The input's fault: final, with its stable code, never retried. The message is kept with the job (readable
      // by its id), so it names no uploaded file: file names are often a patient's name or number.
      const { code, message: text } = errorBodyOf(e).body.error;
      await job.fail({ code, message: withoutFileNames(text, fileNames) });
      message.ack();
      return;
    }
    console.error('leadlight: analysis failed, the message will be retried', e);
    await job.release().catch(() => undefined);
    message.retry();
  }
}

/**
 * The follow-up of a finished job: its stored result gets its deletion/insertion curves (issue 16, item 1) in a
 * second write with the same metadata and expiry. Nothing is written for a job that is gone (its record deleted), a
 * result that has its curves already (a duplicate message) or none pending; the job is read again before the write
 * and after it, and a record deleted (or a job no longer done) by then is deleted again, so a deleted result never
 * comes back.
 */
async function addCurves(message: QueueMessage<JobMessage>, env: Env, services: Services): Promise<void> {
  const { id } = message.body;
  const job = jobOf(env, id);
  try {
    const state = await job.read();
    const stored = state?.status === 'done' ? await getResult(env.RESULTS, id).catch((e) => (isLeadlightError(e) && e.code === 'not_found' ? null : Promise.reject(e))) : null;
    const result = stored?.metadata ? (JSON.parse(stored.json) as Result) : null;
    if (!stored?.metadata || !result || result.analysis.faithfulnessStatus !== 'pending') {
      message.ack();
      return;
    }
    const json = JSON.stringify(await services.addFaithfulness(result, env));
    const stillDone = async () => (await job.read())?.status === 'done';
    if (!(await stillDone())) {
      message.ack();
      return;
    }
    await putResultAt(env.RESULTS, id, json, stored.metadata);
    if (!(await stillDone())) await env.RESULTS.delete(RESULT_KEY_PREFIX + id);
    message.ack();
  } catch (e) {
    console.error('leadlight: adding the faithfulness curves failed, the message will be retried', e);
    message.retry();
  }
}

/** A job cancelled between its result's write and `complete`: its result and membership go again. */
async function removeStored(env: Env, id: string, json: string): Promise<void> {
  await leaveCohort(env, id, cohortNameOfResult(json));
  await env.RESULTS.delete(RESULT_KEY_PREFIX + id);
}

/** Runs the pipeline on the job's input; returns the checked result JSON. */
async function analyse(state: JobState, env: Env, services: Services, job: AnalysisJobStub, fileNames: string[]): Promise<string> {
  const object = await env.UPLOADS.get(inputKeyOf(state.id));
  if (!object) throw new JobGone();
  const files = unpackInput(new Uint8Array(await object.arrayBuffer()));
  fileNames.push(...files.map((f) => f.name));
  let gone = false;
  let lastReport = 0;
  let lastStage = '';
  let reports: Promise<unknown> = Promise.resolve();
  const send = (p: JobProgress) => {
    reports = reports.then(() => job.report(p)).then((alive) => {
      if (!alive) gone = true;
    }, () => undefined);
  };
  const onProgress = (p: JobProgress) => {
    if (gone) throw new JobGone();
    // The pipeline's own `done` is not the job's: the result is stored (`storing`) before the job is done.
    if (p.stage === 'done') return;
    const now = Date.now();
    if (p.stage === lastStage && now - lastReport < (state.fanOut ? FAN_OUT_REPORT_MS : REPORT_MS)) return;
    lastStage = p.stage;
    lastReport = now;
    send(p);
  };
  const onPartial = async (partial: unknown) => {
    await reports;
    if (gone || !(await job.reportPartial(JSON.stringify(partial)))) {
      gone = true;
      throw new JobGone();
    }
    // A watcher of the job (a streamed upload, a report page) may share this isolate (always under wrangler dev):
    // a few short waits let it take the partial map and send it on before the next WASM run holds the isolate.
    for (let i = 0; i < PARTIAL_FLUSH_WAITS; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const result = checkResult(await services.analyze(files, state.options, env, onProgress, state.fanOut ? undefined : onPartial, { faithfulness: state.fanOut ? false : 'later' }));
  await reports;
  if (gone) throw new JobGone();
  const json = JSON.stringify(result);
  if (json.length > MAX_RESULT_BYTES) {
    throw new LeadlightError('record_too_long', 'The result of this record is too large to store; upload a shorter record.');
  }
  send({ stage: 'storing' });
  await reports;
  return json;
}
