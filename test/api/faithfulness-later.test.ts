/**
 * The deletion and insertion curves of a server result come in a second write (issue 16, item 1, and the load
 * finding of 2026-12-07: computed inline they held every report back by ~108 forward passes). The consumer stores
 * the result with `analysis.faithfulnessStatus: "pending"`, completes the job, and sends a follow-up message (on a
 * queue of its own, so the curves never hold back other analyses) that adds the curves — run by Miniflare in workerd with the real KV, Queue and Durable Objects of wrangler.toml, on a
 * real CPSC record (A0001, ../shared/data/ecg) with the CinC 2020 model. "Equal" means the same curves, value for
 * value, as the same pipeline computing them inline.
 */
import { env as workerEnv } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import { type Result, checkResult } from '../../functions/core/result.ts';
import { workerServices } from '../../functions/worker/analyze.ts';
import type { Env } from '../../functions/worker/env.ts';
import { RESULT_KEY_PREFIX } from '../../functions/worker/store.ts';
import { call, filesOf, uploadCpsc } from './uploads.ts';

const env = workerEnv as Env;
const manifests = inject('manifests');
const cinc = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available');


async function storedResult(id: string): Promise<Result | null> {
  const text = await env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text');
  return text === null ? null : (JSON.parse(text) as Result);
}

/** Polls the stored result until its curves are there. */
async function curvesOf(id: string, timeoutMs = 120_000): Promise<Result> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = await storedResult(id);
    if (result?.analysis.faithfulness) return result;
    if (Date.now() > until) throw new Error(`the curves of ${id} did not come within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!cinc)('a server result gets its faithfulness curves after it is stored', () => {
  it('is readable at once, marked pending or complete, and then carries the curves the inline pipeline computes', async () => {
    const { id } = await uploadCpsc('A0001', 'gradient');
    const first = (await (await call(`/api/records/${id}`)).json()) as Result;
    // Either still pending, or the follow-up already ran: never both, never neither.
    expect(first.analysis.faithfulnessStatus === 'pending').toBe(first.analysis.faithfulness === undefined);
    const later = await curvesOf(id);
    expect(later.analysis.faithfulnessStatus).toBeUndefined();
    expect(() => checkResult(later)).not.toThrow();
    // Everything else is as first stored: only the curves were added.
    const { faithfulness, ...laterAnalysis } = later.analysis;
    const { faithfulnessStatus: _pending, ...firstAnalysis } = first.analysis;
    expect(JSON.stringify({ ...later, analysis: laterAnalysis })).toBe(JSON.stringify({ ...first, analysis: firstAnalysis }));

    const inline = (await workerServices.analyze(filesOf('A0001'), { model: 'cinc2020-ai-strollers', method: 'gradient' }, env, () => undefined, undefined, { faithfulness: true })) as Result;
    expect(inline.attribution.relevance.data).toBe(later.attribution.relevance.data);
    expect(faithfulness).toEqual(inline.analysis.faithfulness);
    expect(faithfulness!.deletion.logit).toHaveLength(7);
  });

  it('keeps the same expiry and delete token in the second write', async () => {
    const { id, deleteToken } = await uploadCpsc('A0001', 'gradient');
    const before = await env.RESULTS.getWithMetadata<{ tokenSha256: string; expiresAt: string | null }>(RESULT_KEY_PREFIX + id, 'text');
    await curvesOf(id);
    const after = await env.RESULTS.getWithMetadata<{ tokenSha256: string; expiresAt: string | null }>(RESULT_KEY_PREFIX + id, 'text');
    expect(after.metadata?.tokenSha256).toBe(before.metadata?.tokenSha256);
    expect(after.metadata?.expiresAt).toBe(before.metadata?.expiresAt);
    const deleted = await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } });
    expect(deleted.status).toBe(204);
  });

  it('never brings back a result deleted before or while its curves are computed', async () => {
    const { id, deleteToken } = await uploadCpsc('A0001', 'gradient');
    const deleted = await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } });
    expect(deleted.status).toBe(204);
    // The follow-up (already queued) and a duplicate of it run against the deleted record.
    await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'faithfulness' });
    await sleep(15_000);
    expect(await env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text')).toBeNull();
    expect((await call(`/api/records/${id}`)).status).toBe(404);
  });

  it('turns a duplicate follow-up and one for an unknown record into no write at all', async () => {
    const { id } = await uploadCpsc('A0001', 'gradient');
    const done = await curvesOf(id);
    const text = await env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text');
    await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'faithfulness' });
    const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
    await env.FOLLOW_UP_QUEUE.send({ v: 1, id: unknown, then: 'faithfulness' });
    await sleep(8000);
    expect(await env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text')).toBe(text);
    expect(done.analysis.faithfulness).toBeDefined();
    expect(await env.RESULTS.get(RESULT_KEY_PREFIX + unknown, 'text')).toBeNull();
  });
});
