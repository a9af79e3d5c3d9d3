/**
 * The sanity check of a stored result as a job (issue 16, item 2; Adebayo et al., NeurIPS 2018, cascading
 * randomisation; functions/worker/sanity.ts): `POST /api/records/{id}/sanity` queues it in the result's own job, the
 * queue consumer runs it on the install step's randomised weights and stores its output next to the result, `GET`
 * reads it. Run by Miniflare in workerd with the real KV, Queue and Durable Objects of wrangler.toml, on a real CPSC
 * record (A0001) with the CinC 2020 model. That the core function's numbers equal `leadlight sanity`'s is
 * test/core/analysis/sanity-of-result.test.ts; here the job stores exactly what that function computes in workerd.
 */
import { env as workerEnv } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import type { SanityCheck } from '../../functions/core/analysis/sanity-of-result.ts';
import type { Result } from '../../functions/core/result.ts';
import { workerServices } from '../../functions/worker/analyze.ts';
import type { Env } from '../../functions/worker/env.ts';
import { SANITY_KEY_PREFIX } from '../../functions/worker/store.ts';
import { wasmMemoryBytes } from '../../functions/platform/ort.ts';
import { call, uploadCpsc } from './uploads.ts';

const env = workerEnv as Env;
const manifests = inject('manifests') as { id: string; status: string; sanity?: { steps: unknown[] } }[];
const cinc = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available' && m.sanity);


type SanityBody = { status: string; progress?: { done: number; total: number }; error?: { code: string; message: string }; result?: SanityCheck };

async function sanityOf(id: string): Promise<{ status: number; body: SanityBody }> {
  const response = await call(`/api/records/${id}/sanity`);
  return { status: response.status, body: (await response.json()) as SanityBody };
}

/** Polls GET until the check ends. */
async function finished(id: string, timeoutMs = 240_000): Promise<SanityBody> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await sanityOf(id);
    expect(status).toBe(200);
    if (body.status === 'done' || body.status === 'failed') return body;
    if (Date.now() > until) throw new Error(`the sanity check of ${id} did not end within ${timeoutMs} ms`);
    await sleep(500);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!cinc)('the sanity check of a server result, run as a job', () => {
  it('runs once from POST, reports progress, and stores what the core function computes (gradient drops below 0.5)', async () => {
    const { id } = await uploadCpsc('A0001', 'gradient');
    const t0 = Date.now();
    const first = await call(`/api/records/${id}/sanity`, { method: 'POST' });
    expect(first.status).toBe(202);
    expect(first.headers.get('location')).toBe(`/api/records/${id}/sanity`);
    expect(['queued', 'running']).toContain(((await first.json()) as SanityBody).status);
    // Asked again while it is queued or running: its state, not a second check.
    const again = await call(`/api/records/${id}/sanity`, { method: 'POST' });
    const againBody = (await again.json()) as SanityBody;
    expect([200, 202]).toContain(again.status);
    expect(['queued', 'running', 'done']).toContain(againBody.status);
    const seen = new Set<string>();
    let done: SanityBody | undefined;
    while (!done) {
      const { body } = await sanityOf(id);
      if (body.progress) seen.add(`${body.progress.done}/${body.progress.total}`);
      if (body.status === 'done' || body.status === 'failed') done = body;
      else await sleep(200);
    }
    const elapsed = Date.now() - t0;
    expect(done.status, JSON.stringify(done.error)).toBe('done');
    const check = done.result!;
    expect(check.method).toBe('gradient');
    expect(check.cascadeSteps).toHaveLength(10);
    expect(check.cascadeSteps.at(-1)!.spearmanAbs!).toBeLessThan(0.5);
    expect(check.cascadeSteps.at(-1)!.ssim).toBeLessThan(0.5);
    expect([...seen].some((p) => p.endsWith('/10'))).toBe(true);

    // The same numbers as the core function run directly on the stored result, here in workerd.
    const result = (await (await call(`/api/records/${id}`)).json()) as Result;
    const direct = await workerServices.sanity(result, env, async () => undefined);
    expect(check.cascadeSteps.map(({ k, layers, spearmanAbs, ssim, logit }) => ({ k, layers, spearmanAbs, ssim, logit }))).toEqual(
      direct.cascadeSteps.map(({ k, layers, spearmanAbs, ssim, logit }) => ({ k, layers, spearmanAbs, ssim, logit })),
    );
    console.log(`sanity job A0001 gradient: ${elapsed} ms from POST to done (check ${check.timingsMs.total} ms, per step ${check.timingsMs.perStep.map((t) => Math.round(t)).join(' ')} ms); rho/SSIM ${check.cascadeSteps.map((s) => `${s.spearmanAbs!.toFixed(3)}/${s.ssim.toFixed(3)}`).join(' ')}; ORT WASM memory after the steps ${(wasmMemoryBytes() / 1048576).toFixed(0)} MiB`);

    // Done: a POST answers the output (200), a duplicate message writes nothing.
    const stored = await env.RESULTS.get(SANITY_KEY_PREFIX + id, 'text');
    const afterDone = await call(`/api/records/${id}/sanity`, { method: 'POST' });
    expect(afterDone.status).toBe(200);
    expect(((await afterDone.json()) as SanityBody).result).toEqual(check);
    await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'sanity' });
    await sleep(5000);
    expect(await env.RESULTS.get(SANITY_KEY_PREFIX + id, 'text')).toBe(stored);
    expect((await sanityOf(id)).body.result).toEqual(check);
  });

  it('stops when the record is deleted during the check and leaves nothing behind', async () => {
    const { id, deleteToken } = await uploadCpsc('A0001', 'gradient');
    expect((await call(`/api/records/${id}/sanity`, { method: 'POST' })).status).toBe(202);
    // Deleted while it runs, between two cascade steps.
    let state = (await sanityOf(id)).body;
    for (let i = 0; i < 600 && state.status === 'queued'; i++) state = (await sanityOf(id)).body;
    expect(state.status).toBe('running');
    const deleted = await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } });
    expect(deleted.status).toBe(204);
    // A duplicate of its message arrives after the delete too.
    await env.FOLLOW_UP_QUEUE.send({ v: 1, id, then: 'sanity' });
    await sleep(15_000);
    expect(await env.RESULTS.get(SANITY_KEY_PREFIX + id, 'text')).toBeNull();
    expect((await call(`/api/records/${id}/sanity`)).status).toBe(404);
    expect((await call(`/api/records/${id}/sanity`, { method: 'POST' })).status).toBe(404);
  });

  it('fails a check with a stable code: at once for a bad result, after the retries for a crash', async () => {
    const { id } = await uploadCpsc('A0001', 'gradient');
    // Wait for the faithfulness follow-up, which writes the result again.
    for (let i = 0; i < 300 && ((await (await call(`/api/records/${id}`)).json()) as Result).analysis.faithfulnessStatus === 'pending'; i++) await sleep(200);
    const { value, metadata } = await env.RESULTS.getWithMetadata<Record<string, unknown>>(`result:v1:${id}`, 'text');
    const result = JSON.parse(value!) as Result;
    // An attribution method Leadlight does not know: the result's own fault, failed at once with its code.
    await env.RESULTS.put(`result:v1:${id}`, JSON.stringify({ ...result, attribution: { ...result.attribution, method: 'no-such-method' } }), { metadata });
    expect((await call(`/api/records/${id}/sanity`, { method: 'POST' })).status).toBe(202);
    const bad = await finished(id, 60_000);
    expect(bad.status).toBe('failed');
    expect(bad.error?.code).toBe('method_unknown');
    // A map whose bytes do not fit its shape: a crash, retried (max_retries 3), then failed by the dead-letter consumer.
    await env.RESULTS.put(`result:v1:${id}`, JSON.stringify({ ...result, attribution: { ...result.attribution, relevance: { ...result.attribution.relevance, data: 'AAAA' } } }), { metadata });
    const retried = await call(`/api/records/${id}/sanity`, { method: 'POST' });
    expect(retried.status).toBe(202);
    expect(((await retried.json()) as SanityBody).status).toBe('queued');
    const crashed = await finished(id, 120_000);
    expect(crashed.status).toBe('failed');
    expect(crashed.error?.code).toBe('analysis_failed');
    expect(crashed.error?.message).not.toMatch(/ at |\/work\/|Error:/u);
    expect(await env.RESULTS.get(SANITY_KEY_PREFIX + id, 'text')).toBeNull();
  });

  it('answers a result shared from the browser with 409 sanity_unavailable, and unknown ids with 404', async () => {
    const { id } = await uploadCpsc('A0001', 'gradient');
    const result = (await (await call(`/api/records/${id}`)).json()) as Result & { analysis: Record<string, unknown> };
    const { faithfulnessStatus: _pending, ...analysis } = result.analysis;
    const shared = { ...result, analysis, provenance: { computedIn: 'browser', engine: { runtime: 'onnxruntime-web', executionProvider: 'wasm', numThreads: 2 } } };
    const created = await call('/api/results', { method: 'POST', body: JSON.stringify(shared), headers: { 'content-type': 'application/json' } });
    expect(created.status).toBe(201);
    const { id: sharedId } = (await created.json()) as { id: string };
    const refused = await call(`/api/records/${sharedId}/sanity`, { method: 'POST' });
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(refused.status).toBe(409);
    expect(body.error.code).toBe('sanity_unavailable');
    expect(body.error.message).toMatch(/browser/u);
    expect(body.error.message).toMatch(/npx leadlight sanity/u);
    // GET says so too, before any POST (the report page shows why the button is off).
    const get = await call(`/api/records/${sharedId}/sanity`);
    expect(get.status).toBe(409);
    expect(((await get.json()) as { error: { code: string } }).error.code).toBe('sanity_unavailable');

    for (const unknown of ['AAAAAAAAAAAAAAAAAAAAAA', 'not-an-id', '%zz']) {
      for (const method of ['GET', 'POST']) {
        const response = await call(`/api/records/${unknown}/sanity`, { method });
        expect(response.status, `${method} ${unknown}`).toBe(404);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
      }
    }
    const wrong = await call(`/api/records/${id}/sanity`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST');
    // GET before any POST: no check was started.
    const none = await call(`/api/records/${id}/sanity`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/POST/u);
  });
});
