/**
 * Every refusal of the API is a 4xx with `{"error": {"code", "message"}}` (../shared/docs/contract.md, "Errors"),
 * decided before or during analysis, and writes nothing to KV. Runs the real Worker (wrangler.toml) in workerd.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const manifests = inject('manifests');

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

function upload(parts: [string, string | File][], query = ''): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of parts) form.append(k, v);
  return call(`/api/records${query}`, { method: 'POST', body: form });
}

async function keys(): Promise<string[]> {
  return (await env.RESULTS.list({ prefix: '' })).keys.map((k) => k.name);
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(10);
  expect(body.error.message).not.toMatch(/\n\s+at |\/work\/|node_modules/);
  return body.error.message;
}

const A0001 = (): [string, File][] => [
  ['file', fileOf('A0001.hea')],
  ['file', fileOf('A0001.mat')],
];
const unavailable = manifests.find((m) => m.status !== 'available');
const available = manifests.find((m) => m.status === 'available');

describe('refused uploads write nothing and answer 4xx JSON', () => {
  const cases: [string, () => Promise<Response>, number, string][] = [
    // FormData bodies declare their Content-Length: refused before reading, and the message gives the size.
    ['a 33 MiB upload', () => upload([['file', new File([new Uint8Array(33 * 1024 * 1024)], 'big.dat')]]), 413, 'file_too_large'],
    [
      'a streamed body without Content-Length that grows past the cap',
      () => {
        let sent = 0;
        const chunk = new Uint8Array(1024 * 1024);
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ >= 40) controller.close();
            else controller.enqueue(chunk);
          },
        });
        return call('/api/records', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body });
      },
      413,
      'file_too_large',
    ],
    ['a JSON body instead of a form', () => call('/api/records', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 400, 'request_invalid'],
    ['a form without a file', () => upload([['model', 'cinc2020-ai-strollers']]), 400, 'request_invalid'],
    ['a broken multipart body', () => call('/api/records', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zzz' }, body: '--zzz\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end' }), 400, 'request_invalid'],
    ['"file" given as text', () => upload([['file', 'not a file']]), 400, 'request_invalid'],
    ['an unknown form field', () => upload([...A0001(), ['colour', 'red']]), 400, 'request_invalid'],
    ['an expiry that is not offered', () => upload([...A0001(), ['expiry', '999d']]), 400, 'option_invalid'],
    ['steps that are not a number', () => upload([...A0001(), ['steps', 'many']]), 400, 'steps_invalid'],
    ['a label longer than 200 characters', () => upload([...A0001(), ['label', 'x'.repeat(201)]]), 400, 'option_invalid'],
    ['65 files', () => upload(Array.from({ length: 65 }, (_, i) => ['file', new File(['x'], `f${i}.txt`)] as [string, File])), 413, 'too_many_files'],
    ['a model id nobody knows', () => upload([...A0001(), ['model', 'no-such-model']]), 400, 'model_unknown'],
    ['an attribution method nobody knows', () => upload([...A0001(), ['method', 'astrology']]), 400, 'method_unknown'],
    ['a class the model does not have', () => upload([...A0001(), ['model', available?.id ?? ''], ['class', 'Martian']]), 400, 'class_unknown'],
    ['a file that is no ECG', () => upload([['file', new File(['hello, this is not an ECG'], 'notes.txt')]]), 415, 'unsupported_format'],
    ['a WFDB header without its signal file', () => upload([['file', fileOf('A0001.hea')]]), 422, 'record_incomplete'],
  ];
  if (unavailable) {
    cases.push([`a model whose weights are not installed (${unavailable.id})`, () => upload([...A0001(), ['model', unavailable.id]]), 409, 'model_unavailable']);
  }

  for (const [what, send, status, code] of cases) {
    it(`refuses ${what} with ${status} ${code}`, async () => {
      const before = await keys();
      const message = await expectError(await send(), status, code);
      if (what === 'a 33 MiB upload') expect(message).toContain('(33.0 MiB)');
      expect(await keys()).toEqual(before);
    });
  }
});

describe('reading and deleting results that do not exist', () => {
  it('answers 404 not_found for an unknown id', async () => {
    await expectError(await call('/api/records/AAAAAAAAAAAAAAAAAAAAAA'), 404, 'not_found');
  });
  it('answers 404 not_found for a malformed id without touching KV', async () => {
    await expectError(await call('/api/records/..%2F..%2Fetc'), 404, 'not_found');
    await expectError(await call('/api/records/%E0%A4%A'), 404, 'not_found');
  });
  it('asks for a token before deleting (401), then says the id is unknown (404)', async () => {
    await expectError(await call('/api/records/AAAAAAAAAAAAAAAAAAAAAA', { method: 'DELETE' }), 401, 'unauthorized');
    await expectError(await call('/api/records/AAAAAAAAAAAAAAAAAAAAAA', { method: 'DELETE', headers: { authorization: 'Bearer abc' } }), 404, 'not_found');
  });
  it('answers 404 for an unknown API route and 405 for a wrong method', async () => {
    await expectError(await call('/api/nothing-here'), 404, 'not_found');
    const put = await call('/api/records', { method: 'PUT' });
    expect(put.headers.get('allow')).toBe('POST');
    await expectError(put, 405, 'request_invalid');
    await expectError(await call('/api/models', { method: 'POST' }), 405, 'request_invalid');
  });
});
