/**
 * `POST /api/results` (private mode's Share, issue 15) in workerd with real KV: a result JSON computed elsewhere —
 * here the Worker's own result of a real CPSC record, marked `provenance.computedIn: "browser"` — is stored exactly
 * like a server result (one key `result:v1:{id}`, token hash, expiry; readable, deletable with its token); a
 * tampered, inconsistent, unmarked, foreign-model, non-JSON or oversized one is refused with its stable 4xx code and
 * nothing is stored. The Free-plan entry (functions/worker/free.ts) shares and serves results the same way and
 * refuses server analysis.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';
import { asciiJsonText } from '../../functions/core/json-ascii.ts';
import { checkResult, decodeFloat32, encodeFloat32 } from '../../functions/core/result.ts';
import { MAX_SHARED_RESULT_BYTES } from '../../functions/worker/results.ts';
import { handleFreeRequest } from '../../functions/worker/free.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const manifests = inject('manifests');
const model = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available') ?? manifests.find((m) => m.status === 'available');

let clientNumber = 0;
function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', `198.51.100.${(clientNumber++ % 250) + 1}`);
  return exports.default.fetch(new Request(`http://localhost${path}`, { ...init, headers }));
}
function fileOf(name: string): File {
  return new File([Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0))], name);
}
async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}
const keyCount = async () => (await env.RESULTS.list({ prefix: 'result:v1:' })).keys.length;

/** A real result (the Worker's analysis of CPSC A0001), as a browser would share it. */
let shared: Record<string, unknown>;

beforeAll(async () => {
  expect(model, 'an installed model (npm install)').toBeDefined();
  const form = new FormData();
  form.append('file', fileOf('A0001.hea'));
  form.append('file', fileOf('A0001.mat'));
  form.append('model', model!.id);
  form.append('method', 'gradient');
  form.append('name', 'A0001 shared from a browser');
  const created = await call('/api/records', { method: 'POST', body: form });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const result = (await (await call(`/api/records/${id}`)).json()) as Record<string, unknown> & { analysis: Record<string, unknown> };
  // The server stores its result before adding the faithfulness curves; a browser's result is whole (here: without them).
  const { faithfulnessStatus: _pending, ...analysis } = result.analysis;
  shared = { ...result, analysis, provenance: { computedIn: 'browser', engine: { runtime: 'onnxruntime-web', executionProvider: 'wasm', numThreads: 2 } } };
});

function post(body: BodyInit, query = '', headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Response> {
  return call(`/api/results${query}`, { method: 'POST', body, headers });
}

/** Posts `body` and expects a refusal with `status` and `code`, and no new stored key. */
async function refused(body: BodyInit, status: number, code: string): Promise<string> {
  const before = await keyCount();
  const response = await post(body);
  const answer = (await response.json()) as { error: { code: string; message: string } };
  expect(response.status, answer.error?.message).toBe(status);
  expect(answer.error.code).toBe(code);
  expect(await keyCount()).toBe(before);
  return answer.error.message;
}

const clone = () => JSON.parse(JSON.stringify(shared)) as Record<string, any>;

describe('POST /api/results: sharing a result computed in the browser', () => {
  it('stores it exactly like a server result: one key, token hash, expiry; readable and deletable', async () => {
    const before = await keyCount();
    const text = JSON.stringify(shared);
    const response = await post(text, '?expiry=7d');
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string; url: string; deleteToken: string; expiresAt: string };
    expect(body.id).toMatch(/^[A-Za-z0-9_-]{22}$/u);
    expect(body.url).toBe(`/r/${body.id}`);
    expect(body.deleteToken).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    const days = (Date.parse(body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    expect(await keyCount()).toBe(before + 1);

    const { value, metadata } = await env.RESULTS.getWithMetadata<{ tokenSha256: string; expiresAt: string; bytes: number }>(`result:v1:${body.id}`, 'text');
    expect(value).toBe(text);
    expect(metadata!.tokenSha256).toBe(await sha256Hex(body.deleteToken));
    expect(metadata!.expiresAt).toBe(body.expiresAt);
    const read = await call(`/api/records/${body.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('leadlight-expires')).toBe(body.expiresAt);
    const stored = checkResult(await read.json());
    expect(stored.provenance?.computedIn).toBe('browser');
    expect(await (await call(`/r/${body.id}`)).text()).toContain('id="report"');

    expect((await call(`/api/records/${body.id}`, { method: 'DELETE', headers: { authorization: 'Bearer wrong' } })).status).toBe(403);
    expect((await call(`/api/records/${body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${body.deleteToken}` } })).status).toBe(204);
    expect((await call(`/api/records/${body.id}`)).status).toBe(404);
  });

  it('refuses a result that fails the schema (422 result_invalid), storing nothing', async () => {
    const noAttribution = clone();
    delete noAttribution.attribution;
    expect(await refused(JSON.stringify(noAttribution), 422, 'result_invalid')).toMatch(/schema/u);
    const badSchema = clone();
    badSchema.schema = 2;
    await refused(JSON.stringify(badSchema), 422, 'result_invalid');
  });

  it('refuses tampered results that contradict themselves or their model (422 result_invalid)', async () => {
    const probability = clone();
    const first = Object.keys(probability.prediction.probabilities)[0]!;
    probability.prediction.probabilities[first] = Math.min(1, probability.prediction.probabilities[first] + 0.2);
    expect(await refused(JSON.stringify(probability), 422, 'result_invalid')).toMatch(/sigmoid/u);

    const positive = clone();
    positive.prediction.positive = positive.prediction.positive.length ? [] : [positive.model.classes[0]];
    expect(await refused(JSON.stringify(positive), 422, 'result_invalid')).toMatch(/positive/u);

    // One relevance value changed: the sums and means stored with it no longer hold.
    const relevance = clone();
    const map = decodeFloat32(relevance.attribution.relevance);
    map[100] += 1;
    relevance.attribution.relevance = encodeFloat32(map, relevance.attribution.relevance.shape);
    expect(await refused(JSON.stringify(relevance), 422, 'result_invalid')).toMatch(/sum of the relevance/u);

    const shape = clone();
    shape.attribution.relevance = encodeFloat32(new Float32Array(12 * 10), [10, 12]);
    expect(await refused(JSON.stringify(shape), 422, 'result_invalid')).toMatch(/shape/u);

    const thresholds = clone();
    thresholds.model.thresholds = thresholds.model.thresholds.map((t: number) => t / 2);
    expect(await refused(JSON.stringify(thresholds), 422, 'result_invalid')).toMatch(/thresholds/u);

    const foreign = clone();
    foreign.model.id = 'no-such-model';
    expect(await refused(JSON.stringify(foreign), 422, 'result_invalid')).toMatch(/does not have/u);

    const partial = clone();
    partial.attribution.progress = { done: 4, total: 64 };
    expect(await refused(JSON.stringify(partial), 422, 'result_invalid')).toMatch(/partial/u);

    // Only the server adds curves later; a shared result that waits for them would wait forever.
    const pending = clone();
    pending.analysis.faithfulnessStatus = 'pending';
    expect(await refused(JSON.stringify(pending), 422, 'result_invalid')).toMatch(/faithfulnessStatus/u);

    // A model-input signal that is no encoded array (it is drawn, so it must decode).
    const signal = clone();
    signal.input.signalMv = { data: 'é'.repeat(16) };
    expect(await refused(JSON.stringify(signal), 422, 'result_invalid')).toMatch(/signal/u);
  });

  it('takes the ASCII form the share client sends (non-ASCII as \\u escapes) as the same result', async () => {
    const named = clone();
    named.record.name = 'Ruhe-EKG – Ärztin Ø 12 µV 🫀';
    const response = await post(asciiJsonText(JSON.stringify(named)));
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const stored = (await (await call(`/api/records/${id}`)).json()) as { record: { name: string } };
    expect(stored.record.name).toBe(named.record.name);
  });

  it('refuses a result that does not say it was computed in the browser, or joins a cohort', async () => {
    const unmarked = clone();
    delete unmarked.provenance;
    expect(await refused(JSON.stringify(unmarked), 422, 'result_invalid')).toMatch(/computedIn/u);
    const server = clone();
    server.provenance = { computedIn: 'server' };
    await refused(JSON.stringify(server), 422, 'result_invalid');
    const cohort = clone();
    cohort.cohort = 'af-study';
    await refused(JSON.stringify(cohort), 422, 'result_invalid');
  });

  it('refuses an oversized body (413 result_too_large) and a body that is no JSON (400), storing nothing', async () => {
    const padded = clone();
    padded.padding = 'x'.repeat(MAX_SHARED_RESULT_BYTES);
    await refused(JSON.stringify(padded), 413, 'result_too_large');
    // Without a Content-Length (a stream), counted while it arrives.
    const bytes = new TextEncoder().encode(JSON.stringify(padded));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1 << 20) controller.enqueue(bytes.subarray(i, i + (1 << 20)));
        controller.close();
      },
    });
    await refused(stream, 413, 'result_too_large');
    await refused('{"schema": 1, ', 400, 'request_invalid');
    await refused(new Uint8Array([0xff, 0xfe, 0x00]), 400, 'request_invalid');
  });

  it('answers 405 to other methods and refuses a bad expiry before reading the body', async () => {
    const get = await call('/api/results');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const before = await keyCount();
    const response = await post(JSON.stringify(shared), '?expiry=forever');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('option_invalid');
    expect(await keyCount()).toBe(before);
  });
});

describe('the Free-plan Worker (functions/worker/free.ts): private mode only', () => {
  const free = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('cf-connecting-ip', `203.0.113.${(clientNumber++ % 250) + 1}`);
    return handleFreeRequest(new Request(`http://localhost${path}`, { ...init, headers }), env);
  };

  it('lists the models with serverAnalysis false and refuses server analysis (409), storing nothing', async () => {
    const models = (await (await free('/api/models')).json()) as { serverAnalysis: boolean; models: { id: string }[] };
    expect(models.serverAnalysis).toBe(false);
    expect(models.models.map((m) => m.id)).toContain(model!.id);
    const before = await keyCount();
    const form = new FormData();
    form.append('file', fileOf('A0001.hea'));
    form.append('file', fileOf('A0001.mat'));
    const upload = await free('/api/records', { method: 'POST', body: form });
    expect(upload.status).toBe(409);
    expect(((await upload.json()) as { error: { code: string } }).error.code).toBe('server_analysis_unavailable');
    expect(await keyCount()).toBe(before);
  });

  it('shares, serves and deletes a result like the full Worker; the share link is the report page', async () => {
    const response = await free('/api/results', { method: 'POST', body: JSON.stringify(shared), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string; deleteToken: string };
    expect(await (await free(`/api/records/${body.id}`)).text()).toBe(JSON.stringify(shared));
    // The full Worker reads the same key.
    expect((await call(`/api/records/${body.id}`)).status).toBe(200);
    const page = await free(`/r/${body.id}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="report"');
    expect((await free(`/api/records/${body.id}`, { method: 'DELETE' })).status).toBe(401);
    expect((await free(`/api/records/${body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${body.deleteToken}` } })).status).toBe(204);
    expect((await free(`/api/records/${body.id}`)).status).toBe(404);
    const tampered = clone();
    tampered.prediction.positive = [];
    tampered.prediction.probabilities[tampered.model.classes[0]] = 0.5;
    expect((await free('/api/results', { method: 'POST', body: JSON.stringify(tampered) })).status).toBe(422);
  });
});
