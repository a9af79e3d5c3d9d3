/**
 * The life of a result through the HTTP API (../shared/docs/contract.md): upload a real CPSC record → 201
 * {id, url, deleteToken} → GET returns the result JSON (valid against the one schema) → DELETE needs the token
 * (401 without, 403 wrong) → 204 → 404. KV holds exactly one versioned key per result with the token's hash.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';
import { zipSync } from 'fflate';
import { checkResult, decodeFloat32 } from '../../functions/core/result.ts';
import { resultSettled } from './settled.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const manifests = inject('manifests');
const model = manifests.find((m) => m.status === 'available');

function fileOf(name: string): File {
  return new File([Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0))], name);
}
let clientNumber = 0;
/** Each call from its own address: the upload limiter (60 a minute per address) is tested in jobs.test.ts. */
function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', `192.0.2.${(clientNumber++ % 250) + 1}`);
  return exports.default.fetch(new Request(`http://localhost${path}`, { ...init, headers }));
}
async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

describe('GET /api/models', () => {
  it('lists every installed model with its classes, thresholds and availability', async () => {
    const response = await call('/api/models');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { models: { id: string; available: boolean; classes: string[]; thresholds: number[]; methods: string[] }[]; defaultModel: string | null };
    expect(body.models.map((m) => m.id).sort()).toEqual(manifests.map((m) => m.id).sort());
    for (const m of manifests) {
      const listed = body.models.find((x) => x.id === m.id)!;
      expect(listed.classes).toEqual(m.classes);
      expect(listed.thresholds).toEqual(m.thresholds);
      expect(listed.available).toBe(m.status === 'available');
      if (listed.available) expect(listed.methods).toContain('ig');
      else expect(listed.methods).toEqual([]);
    }
    // The pipeline's default: the paper's model (ribeiro2020) when installed, else the first available one.
    const expected = manifests.find((m) => m.id === 'ribeiro2020' && m.status === 'available') ?? manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available') ?? model;
    expect(body.defaultModel).toBe(expected?.id ?? null);
  });
});

describe('uploading, reading and deleting a result', () => {
  it('stores one result per upload and deletes it only with its token', async () => {
    expect(model, 'an installed model (npm install)').toBeDefined();
    const before = (await env.RESULTS.list()).keys.length;
    const form = new FormData();
    form.append('file', fileOf('A0001.hea'));
    form.append('file', fileOf('A0001.mat'));
    form.append('model', model!.id);
    form.append('method', 'gradient');
    form.append('expiry', '7d');
    form.append('label', 'RBBB');
    const created = await call('/api/records', { method: 'POST', body: form });
    expect(created.status).toBe(201);
    const { id, url, deleteToken } = (await created.json()) as { id: string; url: string; deleteToken: string };
    // ≥ 128 random bits each, base64url.
    expect(id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(deleteToken).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(url).toBe(`/r/${id}`);

    // Exactly one new versioned key, with the hash of the token (not the token) and the chosen expiry.
    const list = await env.RESULTS.list<{ tokenSha256: string; createdAt: string; expiresAt: string }>();
    expect(list.keys.length).toBe(before + 1);
    const key = list.keys.find((k) => k.name === `result:v1:${id}`)!;
    expect(key).toBeDefined();
    expect(key.metadata!.tokenSha256).toBe(await sha256Hex(deleteToken));
    expect(JSON.stringify(key.metadata)).not.toContain(deleteToken);
    const days = (Date.parse(key.metadata!.expiresAt) - Date.parse(key.metadata!.createdAt)) / 86_400_000;
    expect(days).toBeCloseTo(7, 5);
    expect(key.expiration).toBeGreaterThan(Date.now() / 1000 + 6.9 * 86_400);

    // GET returns the stored result: the one schema, this record, this model and method (after its curves came).
    await resultSettled(id);
    const got = await call(`/api/records/${id}`);
    expect(got.status).toBe(200);
    const result = checkResult(await got.json());
    expect(result.record.name).toMatch(/^WFDB ECG/u);
    expect(result.model.id).toBe(model!.id);
    expect(result.attribution.method).toBe('gradient');
    expect(decodeFloat32(result.attribution.relevance).length).toBe(result.input.samples * 12);
    expect((result as Record<string, unknown>).label).toBe('RBBB');
    expect(await env.RESULTS.get(`result:v1:${id}`, 'text')).toBe(JSON.stringify(result));

    // The share link serves the report page.
    const page = await call(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="report"');

    // Delete: no token → 401, wrong token → 403 (result kept), right token → 204, then 404 everywhere.
    expect((await call(`/api/records/${id}`, { method: 'DELETE' })).status).toBe(401);
    const wrong = await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${'A'.repeat(43)}` } });
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    expect((await call(`/api/records/${id}`)).status).toBe(200);
    const deleted = await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } });
    expect(deleted.status).toBe(204);
    expect((await call(`/api/records/${id}`)).status).toBe(404);
    expect((await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } })).status).toBe(404);
    expect((await env.RESULTS.list()).keys.length).toBe(before);
  });

  it('streams progress as NDJSON and ends with the 201 body', async () => {
    const form = new FormData();
    form.append('file', fileOf('A0003.hea'));
    form.append('file', fileOf('A0003.mat'));
    form.append('model', model!.id);
    form.append('method', 'gradient');
    const response = await call('/api/records?stream=1', { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const events = new TextDecoder().decode(await response.arrayBuffer())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; stage?: string; status?: number; body?: { id: string; deleteToken: string } });
    const stages = events.filter((e) => e.type === 'progress').map((e) => e.stage);
    expect(stages[0]).toBe('received');
    expect(stages).toContain('reading');
    expect(stages).toContain('classifying');
    expect(stages.at(-1)).toBe('storing');
    const last = events.at(-1)!;
    expect(last.type).toBe('result');
    expect(last.status).toBe(201);
    const result = checkResult(await (await call(`/api/records/${last.body!.id}`)).json());
    expect(result.record.name).toMatch(/^WFDB ECG/u);
    const expiresAt = Date.parse((await env.RESULTS.list<{ expiresAt: string; createdAt: string }>()).keys.find((k) => k.name.endsWith(last.body!.id))!.metadata!.expiresAt);
    // Default expiry: 30 days.
    expect((expiresAt - Date.now()) / 86_400_000).toBeGreaterThan(29.9);
    await call(`/api/records/${last.body!.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${last.body!.deleteToken}` } });
  });

  it('accepts a zip of one WFDB record and keeps a result marked "never" without expiry', async () => {
    const bytes = (name: string) => Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0));
    const zip = zipSync({ 'A0001/A0001.hea': bytes('A0001.hea'), 'A0001/A0001.mat': bytes('A0001.mat') });
    const form = new FormData();
    form.append('file', new File([zip], 'A0001.zip', { type: 'application/zip' }));
    form.append('model', model!.id);
    form.append('method', 'gradient');
    form.append('expiry', 'never');
    const created = await call('/api/records', { method: 'POST', body: form });
    expect(created.status).toBe(201);
    const { id, deleteToken } = (await created.json()) as { id: string; deleteToken: string; expiresAt: string | null };
    const key = (await env.RESULTS.list<{ expiresAt: string | null }>()).keys.find((k) => k.name === `result:v1:${id}`)!;
    expect(key.expiration).toBeUndefined();
    expect(key.metadata!.expiresAt).toBeNull();
    const got = await call(`/api/records/${id}`);
    expect(got.headers.get('leadlight-expires')).toBe('never');
    expect(checkResult(await got.json()).record.name).toMatch(/^WFDB ECG/u);
    expect((await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } })).status).toBe(204);
  });

  it('stores no part of the uploaded file names: the record is named neutrally, or as the field name says', async () => {
    // Hospital exports are often named after the patient; the stored result must not carry the file name.
    const bytes = (name: string) => Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0));
    const zip = zipSync({ 'DOE^JANE_MRN4711_1950-02-03/A0001.hea': bytes('A0001.hea'), 'DOE^JANE_MRN4711_1950-02-03/A0001.mat': bytes('A0001.mat') });
    const upload = async (extra: Record<string, string>) => {
      const form = new FormData();
      form.append('file', new File([zip], 'DOE^JANE_MRN4711_1950-02-03.zip', { type: 'application/zip' }));
      form.append('model', model!.id);
      form.append('method', 'gradient');
      for (const [k, v] of Object.entries(extra)) form.append(k, v);
      const created = await call('/api/records', { method: 'POST', body: form });
      expect(created.status).toBe(201);
      const { id, deleteToken } = (await created.json()) as { id: string; deleteToken: string };
      const stored = (await env.RESULTS.getWithMetadata(`result:v1:${id}`, 'text')).value!;
      await call(`/api/records/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } });
      return stored;
    };
    const neutral = await upload({});
    expect(checkResult(JSON.parse(neutral)).record.name).toMatch(/^WFDB ECG( of \d{4}-\d{2}-\d{2})?$/u);
    // Searched outside the base64 arrays (where any short string turns up by chance).
    const text = neutral.replace(/"data":"[^"]*"/gu, '');
    for (const part of ['DOE', 'JANE', 'MRN4711', '1950-02-03', 'A0001']) expect(text).not.toContain(part);
    const titled = await upload({ name: 'Ward 3, morning ECG\u0007' });
    expect(checkResult(JSON.parse(titled)).record.name).toBe('Ward 3, morning ECG');
  });

  it('reports analysis errors inside the stream without storing anything', async () => {
    const before = (await env.RESULTS.list()).keys.length;
    const form = new FormData();
    form.append('file', fileOf('A0001.hea'));
    const response = await call('/api/records?stream=1', { method: 'POST', body: form });
    const events = new TextDecoder().decode(await response.arrayBuffer()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: number; error?: { code: string; message: string } });
    const last = events.at(-1)!;
    expect(last.type).toBe('error');
    expect(last.status).toBe(422);
    expect(last.error!.code).toBe('record_incomplete');
    expect((await env.RESULTS.list()).keys.length).toBe(before);
  });
});
