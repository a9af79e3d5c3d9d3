/**
 * Durable analyses (issue 13; ../shared/docs/contract.md, "Additions (2026-12)"): every upload is a job — input in
 * R2, state in its Durable Object, work on the Cloudflare Queue whose consumer is the Worker's own `queue()` — run
 * by Miniflare in workerd with the real KV, R2, Queue, Durable Objects and rate limiter of wrangler.toml. Real CPSC
 * records (A0001 RBBB, A0003 AF; ../shared/data/ecg) with the CinC 2020 model; "equal" means the same logits and
 * the same relevance bytes as an upload analysed alone.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';
import { type JobState, type JobView, inputKeyOf } from '../../functions/worker/job.ts';
import { resultSettled } from './settled.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const manifests = inject('manifests');
const cinc = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available');

interface Accepted {
  id: string;
  url: string;
  deleteToken: string;
  expiresAt: string | null;
  status?: string;
}

let clientNumber = 0;
/** Each call comes from its own address unless one is given (the upload limiter counts per address). */
function call(path: string, init: RequestInit = {}, client = `198.51.100.${(clientNumber++ % 250) + 1}`): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', client);
  return exports.default.fetch(new Request(`http://localhost${path}`, { ...init, headers }));
}

function formOf(record: 'A0001' | 'A0003', method: string, extra: Record<string, string> = {}): FormData {
  const form = new FormData();
  for (const ext of ['hea', 'mat']) {
    const name = `${record}.${ext}`;
    form.append('file', new File([Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0))], name));
  }
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', method);
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  return form;
}

function upload(record: 'A0001' | 'A0003', method: string, query = '', client?: string): Promise<Response> {
  return call(`/api/records${query}`, { method: 'POST', body: formOf(record, method) }, client);
}

async function jobOf(id: string): Promise<JobView> {
  const response = await call(`/api/jobs/${id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as JobView;
}

/** Polls GET /api/jobs/{id} until the job has ended (and a done job's result has its curves: ./settled.ts). */
async function jobEnded(id: string, timeoutMs = 120_000): Promise<JobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const view = await jobOf(id);
    if (view.status === 'done') await resultSettled(id, timeoutMs);
    if (view.status === 'done' || view.status === 'failed') return view;
    if (Date.now() > until) throw new Error(`job ${id} still ${view.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What must not differ between two analyses of the same input: the logits and the relevance bytes. */
async function essenceOf(id: string): Promise<string> {
  const response = await call(`/api/records/${id}`);
  expect(response.status).toBe(200);
  const result = (await response.json()) as { prediction: unknown; attribution: { method: string; relevance?: { data: string } } };
  return JSON.stringify({ prediction: result.prediction, method: result.attribution.method, relevance: result.attribution.relevance?.data });
}

async function readNdjson(response: Response): Promise<Record<string, unknown>[]> {
  return (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

function stubOf(id: string) {
  const ns = env.JOBS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
  return ns.get(ns.idFromName(id)) as Parameters<typeof runDurableObjectAlarm>[0];
}

async function storedState(id: string): Promise<JobState | null> {
  return runInDurableObject(stubOf(id), async (_instance, state) => (await state.storage.get<JobState>('job')) ?? null);
}

/**
 * Rewrites a job's stored state inside its Durable Object (as a consumer that died, or a fresh queued job, leaves
 * it), forgetting the instance's copy; `withAlarm` schedules its watchdog alarm for the test to run at once.
 */
async function rewriteJob(id: string, patch: Partial<JobState>, withAlarm: boolean): Promise<void> {
  await runInDurableObject(stubOf(id), async (instance, state) => {
    const job = (await state.storage.get<JobState>('job'))!;
    await state.storage.put('job', { ...job, ...patch, version: job.version + 1 });
    (instance as { state: unknown }).state = undefined;
    if (withAlarm) await state.storage.setAlarm(Date.now() + 60_000);
  });
}

describe.skipIf(!cinc)('durable analyses: jobs on the queue with their state in a Durable Object', () => {
  it('answers an async upload with 202 at once, runs its job to done and stores the same result as a waited upload', async () => {
    const waited = await upload('A0003', 'gradient');
    expect(waited.status).toBe(201);
    const alone = (await waited.json()) as Accepted;

    const response = await upload('A0003', 'gradient', '?async=1');
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as Accepted;
    expect(Object.keys(accepted).sort()).toEqual(['deleteToken', 'expiresAt', 'id', 'status', 'url']);
    expect(accepted.status).toBe('queued');
    expect(accepted.url).toBe(`/r/${accepted.id}`);
    expect(response.headers.get('location')).toBe(`/api/jobs/${accepted.id}`);

    const view = await jobEnded(accepted.id);
    expect(view).toEqual({ id: accepted.id, status: 'done', progress: { stage: 'done' } });
    expect(await essenceOf(accepted.id)).toBe(await essenceOf(alone.id));
    // The input is gone from R2 once the job has ended.
    expect(await env.UPLOADS.get(inputKeyOf(accepted.id))).toBeNull();
  });

  it('reports 404 for a job that does not exist, and for the result while its job still runs', async () => {
    const unknown = await call('/api/jobs/AAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await call('/api/jobs/not%20an%20id')).status).toBe(404);

    const accepted = (await (await upload('A0001', 'ig', '?async=1')).json()) as Accepted;
    const early = await jobOf(accepted.id);
    expect(['queued', 'running']).toContain(early.status);
    const notYet = await call(`/api/records/${accepted.id}`);
    expect(notYet.status).toBe(404);
    expect(((await notYet.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'not_found', message: expect.stringMatching(/still (queued|running); follow it at \/api\/jobs\//u) });
    expect((await jobEnded(accepted.id)).status).toBe('done');
    expect((await call(`/api/records/${accepted.id}`)).status).toBe(200);
  });

  it('streams "accepted" first, then progress and partial maps, and ends in the 201 body', async () => {
    const events = await readNdjson(await upload('A0001', 'ig', '?stream=1'));
    const first = events[0] as unknown as Accepted & { type: string };
    expect(first.type).toBe('accepted');
    expect(Object.keys(first).sort()).toEqual(['deleteToken', 'expiresAt', 'id', 'type', 'url']);
    const types = events.map((e) => e.type);
    expect(types).toContain('progress');
    expect(types).toContain('partial');
    const last = events.at(-1)!;
    expect(last).toEqual({ type: 'result', status: 201, body: { id: first.id, url: first.url, deleteToken: first.deleteToken, expiresAt: first.expiresAt } });
    expect((await call(`/api/records/${first.id}`)).status).toBe(200);
  });

  it('finishes the report of a streamed upload whose client went away right after "accepted"', async () => {
    const response = await upload('A0003', 'ig', '?stream=1');
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const accepted = JSON.parse(text.split('\n')[0]) as Accepted & { type: string };
    expect(accepted.type).toBe('accepted');
    expect((await jobEnded(accepted.id)).status).toBe('done');
    expect((await call(`/api/records/${accepted.id}`)).status).toBe(200);
  });

  it('runs 8 integrated-gradients jobs in concurrent consumer invocations of one isolate, then a single upload still works', async () => {
    // Issue 13's poisoned isolate: concurrent analyses that shared promises across requests were cancelled as hung,
    // and every later analysis of the isolate failed at once. Each `queue()` call below is its own invocation (its
    // own I/O context) in this isolate, as Cloudflare runs several consumer invocations side by side; the queue's
    // own deliveries of the same messages arrive as duplicates meanwhile.
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(((await (await upload(i % 2 ? 'A0001' : 'A0003', 'ig', '?async=1')).json()) as Accepted).id);
    // `exports.default.queue(batch)` calls the Worker's `queue()` over RPC: each call a new invocation.
    const worker = exports.default as unknown as { queue(batch: unknown): Promise<void> };
    await Promise.all(ids.map((id, i) => worker.queue({
      queue: 'leadlight-jobs',
      messages: [{ id: `direct-${i}`, timestamp: new Date(), body: { v: 1, id }, attempts: 1, ack: () => undefined, retry: () => undefined }],
    })));
    const views = await Promise.all(ids.map((id) => jobEnded(id)));
    expect(views.map((v) => v.status)).toEqual(ids.map(() => 'done'));
    const [a0003, a0001] = await Promise.all([essenceOf(ids[0]), essenceOf(ids[1])]);
    for (let i = 2; i < 8; i++) expect(await essenceOf(ids[i])).toBe(i % 2 ? a0001 : a0003);
    // Each job ran once however often its message came: one analysis per job.
    for (const id of ids) expect((await storedState(id))?.attempts).toBe(1);
    const after = await upload('A0001', 'gradient');
    expect(after.status).toBe(201);
  });

  it('does the work of a duplicate message once: the job is finished and its result stays as it was', async () => {
    const accepted = (await (await upload('A0001', 'gradient', '?async=1')).json()) as Accepted;
    await jobEnded(accepted.id);
    const before = await env.RESULTS.getWithMetadata(`result:v1:${accepted.id}`, 'text');
    await env.JOB_QUEUE.send({ v: 1, id: accepted.id });
    await new Promise((r) => setTimeout(r, 2500));
    const state = await storedState(accepted.id);
    expect(state?.status).toBe('done');
    expect(state?.attempts).toBe(1);
    const after = await env.RESULTS.getWithMetadata(`result:v1:${accepted.id}`, 'text');
    expect(after.value).toBe(before.value);
  });

  it('sends the message of a job whose consumer died again (the alarm watchdog), and the job ends done', async () => {
    const accepted = (await (await upload('A0003', 'gradient', '?async=1')).json()) as Accepted;
    await jobEnded(accepted.id);
    // Turn the finished job back into one whose consumer died mid-analysis: running, lease run out, input still
    // there, no result — what a machine lost with its isolate leaves behind.
    await env.RESULTS.delete(`result:v1:${accepted.id}`);
    await env.UPLOADS.put(inputKeyOf(accepted.id), await inputOf('A0003'));
    await rewriteJob(accepted.id, { status: 'running', progress: { stage: 'attributing' }, leaseUntil: Date.now() - 1 }, true);
    expect(await runDurableObjectAlarm(stubOf(accepted.id))).toBe(true);
    const view = await jobEnded(accepted.id);
    expect(view.status).toBe('done');
    const state = await storedState(accepted.id);
    expect(state?.sends).toBe(2);
    expect(state?.attempts).toBe(2);
    expect((await call(`/api/records/${accepted.id}`)).status).toBe(200);
  });

  it('fails a job with analysis_failed once its message was sent the most times and its consumer never finished', async () => {
    const accepted = (await (await upload('A0001', 'gradient', '?async=1')).json()) as Accepted;
    await jobEnded(accepted.id);
    await env.RESULTS.delete(`result:v1:${accepted.id}`);
    await rewriteJob(accepted.id, { status: 'running', progress: { stage: 'attributing' }, leaseUntil: Date.now() - 1, sends: 4 }, true);
    expect(await runDurableObjectAlarm(stubOf(accepted.id))).toBe(true);
    const view = await jobOf(accepted.id);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('analysis_failed');
    expect(view.error?.message).toMatch(/upload the ECG again/);
  });

  it('sends a queued job that waits in a backlog again after doubling waits, without giving it up, until a day has passed', async () => {
    const accepted = (await (await upload('A0003', 'gradient', '?async=1')).json()) as Accepted;
    await jobEnded(accepted.id);
    await env.RESULTS.delete(`result:v1:${accepted.id}`);
    await env.UPLOADS.put(inputKeyOf(accepted.id), await inputOf('A0003'));
    // Queued, not picked up for 61 minutes after five sends by the watchdog already (a cohort's backlog; the wait
    // has doubled from 2 to its cap of 60 minutes): sent again, not given up although it was sent 6 times before.
    await rewriteJob(accepted.id, { status: 'queued', progress: { stage: 'queued' }, leaseUntil: null, sends: 6, queuedResends: 5, sentAt: Date.now() - 61 * 60_000 }, true);
    expect(await runDurableObjectAlarm(stubOf(accepted.id))).toBe(true);
    const resent = await storedState(accepted.id);
    expect(resent?.status === 'queued' || resent?.status === 'running' || resent?.status === 'done').toBe(true);
    expect(resent?.sends).toBe(7);
    expect(resent?.queuedResends).toBe(6);
    expect((await jobEnded(accepted.id)).status).toBe('done');

    // A job still queued a day after it was accepted is given up.
    await env.RESULTS.delete(`result:v1:${accepted.id}`);
    await rewriteJob(accepted.id, { status: 'queued', progress: { stage: 'queued' }, leaseUntil: null, createdAt: new Date(Date.now() - 25 * 3_600_000).toISOString(), sentAt: Date.now() - 61 * 60_000 }, true);
    expect(await runDurableObjectAlarm(stubOf(accepted.id))).toBe(true);
    const view = await jobOf(accepted.id);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('analysis_failed');
    expect(view.error?.message).toMatch(/waited in Leadlight's queue/u);
  });

  it('retries a job whose analysis crashes (a corrupt stored input), then the dead-letter consumer fails it with analysis_failed', async () => {
    const accepted = (await (await upload('A0001', 'gradient', '?async=1')).json()) as Accepted;
    await jobEnded(accepted.id);
    await env.RESULTS.delete(`result:v1:${accepted.id}`);
    await rewriteJob(accepted.id, { status: 'queued', progress: { stage: 'queued' }, leaseUntil: null, attempts: 0 }, false);
    await env.UPLOADS.put(inputKeyOf(accepted.id), new TextEncoder().encode('LLJ1 not a container'));
    await env.JOB_QUEUE.send({ v: 1, id: accepted.id });
    // max_retries 3 with retry_delay 2 s: four tries, then the dead-letter queue.
    const view = await jobEnded(accepted.id, 60_000);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('analysis_failed');
    expect((await storedState(accepted.id))?.attempts).toBe(4);
    expect((await call(`/api/records/${accepted.id}`)).status).toBe(404);
    expect(await env.UPLOADS.get(inputKeyOf(accepted.id))).toBeNull();
  });

  it('cancels a queued or running job when its record is deleted: nothing of it is stored afterwards', async () => {
    const accepted = (await (await upload('A0003', 'ig', '?async=1')).json()) as Accepted;
    const noToken = await call(`/api/records/${accepted.id}`, { method: 'DELETE' });
    expect(noToken.status).toBe(401);
    const wrong = await call(`/api/records/${accepted.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
    expect(wrong.status).toBe(403);
    const deleted = await call(`/api/records/${accepted.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${accepted.deleteToken}` } });
    expect(deleted.status).toBe(204);
    expect((await call(`/api/jobs/${accepted.id}`)).status).toBe(404);
    // Long enough for a consumer that had begun to reach its next report or the end.
    await new Promise((r) => setTimeout(r, 8000));
    expect((await call(`/api/records/${accepted.id}`)).status).toBe(404);
    expect(await env.RESULTS.get(`result:v1:${accepted.id}`, 'text')).toBeNull();
    expect(await env.UPLOADS.get(inputKeyOf(accepted.id))).toBeNull();
    expect(await storedState(accepted.id)).toBeNull();
  });

  it('answers a waited upload whose job is deleted meanwhile with 410 job_cancelled', async () => {
    const streamed = await upload('A0001', 'ig', '?stream=1');
    const reader = streamed.body!.getReader();
    const { value } = await reader.read();
    const accepted = JSON.parse(new TextDecoder().decode(value).split('\n')[0]) as Accepted;
    const deleted = await call(`/api/records/${accepted.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${accepted.deleteToken}` } });
    expect(deleted.status).toBe(204);
    let rest = new TextDecoder().decode(value);
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      rest += new TextDecoder().decode(next.value);
    }
    const last = JSON.parse(rest.trim().split('\n').at(-1)!) as { type: string; status: number; error: { code: string } };
    expect(last).toMatchObject({ type: 'error', status: 410, error: { code: 'job_cancelled' } });
  });

  it('refuses the 61st upload of one address within a minute with 429 rate_limited and Retry-After', async () => {
    const client = '203.0.113.61';
    const bad = () => {
      const form = new FormData();
      form.append('file', new File([new TextEncoder().encode('not an ecg')], 'x.txt'));
      return call('/api/records', { method: 'POST', body: form }, client);
    };
    const answers = await Promise.all(Array.from({ length: 60 }, bad));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 415));
    const refused = await bad();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toMatch(/wait 60 seconds/);
    // Another address is not affected.
    expect((await upload('A0001', 'gradient', '?async=1')).status).toBe(202);
  });
});

/** The stored input of an upload of `record`, as the Worker packs it (functions/worker/job.ts). */
async function inputOf(record: 'A0001' | 'A0003'): Promise<Uint8Array> {
  const { packInput } = await import('../../functions/worker/job.ts');
  return packInput(['hea', 'mat'].map((ext) => ({ name: `${record}.${ext}`, bytes: Uint8Array.from(atob(ecg[`${record}.${ext}`]), (c) => c.charCodeAt(0)) })));
}
