/**
 * Fuzzing the upload API through HTTP in workerd (issue 17; the long run is `npm run fuzz -- --http`): damaged
 * uploads of real CPSC records (A0001, A0003) and faults of the multipart layer (test/helpers/fuzz-http.ts), each
 * from its own address, through the real Worker with its KV, R2, queue and Durable Objects. No answer may be a 5xx;
 * every refusal is the API's error body; a clean upload afterwards is analysed and stored.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';
import { httpFuzzCase } from '../helpers/fuzz-http.ts';
import { seededRandom } from '../helpers/random.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const CASES = 300;
const SEED = 1713;

const bytesOf = (name: string) => Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0));
const fixtures = [
  ['A0001.hea', 'A0001.mat'].map((name) => ({ name, bytes: bytesOf(name) })),
  ['A0003.hea', 'A0003.mat'].map((name) => ({ name, bytes: bytesOf(name) })),
  [{ name: 'A0003.mat', bytes: bytesOf('A0003.mat') }],
];

describe('the upload API under fuzzed HTTP', () => {
  it(`answers ${CASES} damaged uploads with 2xx or the API's 4xx error body, never a 5xx`, async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    for (let k = 0; k < CASES; k++) {
      const fuzz = httpFuzzCase(fixtures, seededRandom(SEED + k));
      const response = await exports.default.fetch(new Request(`http://localhost/api/records${fuzz.query}`, {
        method: 'POST',
        body: fuzz.body as Uint8Array<ArrayBuffer>,
        headers: { 'content-type': fuzz.contentType, 'cf-connecting-ip': `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}` },
      }));
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const text = await response.text();
      if (response.status >= 500) failures.push(`case ${k} (${fuzz.kind}): ${response.status} ${text.slice(0, 200)}`);
      else if (response.status >= 400) {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        if (!body.error?.code || !body.error.message || /\n\s+at /u.test(body.error.message)) failures.push(`case ${k} (${fuzz.kind}): ${response.status} without the error body`);
      }
    }
    console.log(`http fuzz: ${CASES} cases, statuses ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(', ')}`);
    expect(failures).toEqual([]);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
  });

  it('analyses and stores a clean upload afterwards', async () => {
    const form = new FormData();
    for (const f of fixtures[0]) form.append('file', new File([f.bytes], f.name));
    form.append('model', 'cinc2020-ai-strollers');
    form.append('method', 'gradient');
    const response = await exports.default.fetch(new Request('http://localhost/api/records', { method: 'POST', body: form, headers: { 'cf-connecting-ip': '10.255.255.254' } }));
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    expect(await env.RESULTS.get(`result:v1:${id}`, 'text')).not.toBeNull();
  });
});
