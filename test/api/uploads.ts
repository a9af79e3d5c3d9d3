/**
 * Requests to the Worker under test and uploads of the shared CPSC records (../shared/data/ecg, served to the tests
 * by test/api/global-setup.ts as `ecgFiles`), shared by the api tests that upload a record and follow its result.
 */
import { exports } from 'cloudflare:workers';
import { expect, inject } from 'vitest';
import type { InputFile } from '../../functions/core/record.ts';

const ecg = inject('ecgFiles');

let clientNumber = 0;
/** A request to the Worker, each from its own address in `prefix` (the upload limiter counts per address). */
export function call(path: string, init: RequestInit = {}, prefix = '203.0.113'): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', `${prefix}.${(clientNumber++ % 250) + 1}`);
  return exports.default.fetch(new Request(`http://localhost${path}`, { ...init, headers }));
}

/** The two files (.hea, .mat) of a shared CPSC record, e.g. `A0001`. */
export function filesOf(record: string): (InputFile & { bytes: Uint8Array<ArrayBuffer> })[] {
  return ['hea', 'mat'].map((ext) => ({ name: `${record}.${ext}`, bytes: Uint8Array.from(atob(ecg[`${record}.${ext}`]), (c) => c.charCodeAt(0)) }));
}

/** Uploads a CPSC record for the CinC 2020 model with `method`, waits for its result, expects 201. */
export async function uploadCpsc(record: string, method: string): Promise<{ id: string; deleteToken: string }> {
  const form = new FormData();
  for (const f of filesOf(record)) form.append('file', new File([f.bytes], f.name));
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', method);
  const response = await call('/api/records', { method: 'POST', body: form });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; deleteToken: string };
}
