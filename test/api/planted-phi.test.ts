/**
 * No patient identifier is stored or logged by the service (issue 17, planted-PHI audit at the edge): a real CPSC
 * record (A0001) whose header comments carry a planted name, record number, birth date, address, physician, clinic
 * and free text, uploaded in a zip and a folder named like a hospital export, to a live cohort — then the stored
 * result (KV value and metadata), the cohort's member key, `GET /api/cohorts/{name}`, the job's Durable Object state
 * and everything the Worker wrote to its log must hold none of them; nor may a cohort uploaded with POST /api/cohorts
 * whose folders, file names and CSV paths carry them. The readers' side, format by format, is
 * test/core/privacy/planted-phi.test.ts.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { zipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { Env } from '../../functions/worker/env.ts';
import { resultSettled } from './settled.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const PLANTED = ['ZZPLANTNAME', 'ZZPLANTFIRST', 'MRN9912345', '1950-02-03', '03.02.1950', 'ZZPLANTSTREET', 'ZZPLANTDOCTOR', 'ZZPLANTCLINIC', 'ZZPLANTNOTE', 'ZZPLANTFILE'];
const COHORT = `phi-${Date.now().toString(36)}`;

const bytesOf = (name: string) => Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0));

/** A0001's header with identifiers in comment lines, as exports from carts and archives write them. */
function plantedHeader(): Uint8Array {
  const header = new TextDecoder().decode(bytesOf('A0001.hea')).trimEnd();
  const comments = [
    '#Name: ZZPLANTNAME^ZZPLANTFIRST',
    '#Patient ID: MRN9912345',
    '#Birth date: 1950-02-03 (03.02.1950)',
    '#Address: 12 ZZPLANTSTREET, Springfield',
    '#Referring physician: Dr ZZPLANTDOCTOR',
    '#Institution: ZZPLANTCLINIC cardiology',
    '#Comment: ZZPLANTNOTE called back on Monday',
  ];
  return new TextEncoder().encode(`${header}\n${comments.join('\n')}\n`);
}

/** Everything found in `text` of the planted strings (case-insensitive), outside base64 arrays. */
function plantedIn(text: string): string[] {
  const plain = text.replace(/"data":"[^"]*"/gu, '').toUpperCase();
  return PLANTED.filter((p) => plain.includes(p.toUpperCase()));
}

let logged: string[] = [];
beforeEach(() => {
  logged = [];
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logged.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('planted identifiers in an upload', () => {
  it('reach neither the stored result, its metadata, the cohort, the job state nor the log', async () => {
    const folder = 'ZZPLANTFILE_ZZPLANTNAME_MRN9912345_1950-02-03';
    const zip = zipSync({ [`${folder}/A0001.hea`]: plantedHeader(), [`${folder}/A0001.mat`]: bytesOf('A0001.mat') });
    const form = new FormData();
    form.append('file', new File([zip], `${folder}.zip`, { type: 'application/zip' }));
    form.append('model', 'cinc2020-ai-strollers');
    form.append('method', 'gradient');
    form.append('cohort', COHORT);
    form.append('label', 'RBBB');
    form.append('class', 'RBBB');
    const created = await exports.default.fetch(new Request('http://localhost/api/records', { method: 'POST', body: form, headers: { 'cf-connecting-ip': '192.0.2.77' } }));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    await resultSettled(id);
    const stored = await env.RESULTS.getWithMetadata(`result:v1:${id}`, 'text');
    expect(stored.value).not.toBeNull();
    expect(plantedIn(stored.value!)).toEqual([]);
    expect(plantedIn(JSON.stringify(stored.metadata))).toEqual([]);
    // The result still says what it may: age and sex, not the birth date.
    const record = (JSON.parse(stored.value!) as { record: { ageYears?: number; sex?: string; name: string } }).record;
    expect(record).toMatchObject({ ageYears: 74, sex: 'M' });
    expect(record.name).toMatch(/^WFDB ECG/u);

    // The cohort's member row in its Durable Object: every column, the packed beats as text too.
    const cohorts = env.COHORTS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
    const rows = await runInDurableObject(cohorts.get(cohorts.idFromName(COHORT)) as Parameters<typeof runInDurableObject>[0], async (_instance, state) => {
      const sql = (state.storage as unknown as { sql: { exec(q: string): { toArray(): Record<string, unknown>[] } } }).sql;
      return { members: sql.exec('SELECT * FROM members').toArray(), meta: sql.exec('SELECT * FROM cohort').toArray() };
    });
    expect(rows.members.length).toBe(1);
    for (const row of rows.members) {
      const text = Object.values(row).map((v) => (v instanceof ArrayBuffer ? new TextDecoder('latin1').decode(v) : String(v))).join('\n');
      expect(plantedIn(text)).toEqual([]);
    }
    expect(rows.meta.length).toBe(1);
    expect(plantedIn(JSON.stringify(rows.meta))).toEqual([]);
    const cohort = await exports.default.fetch(new Request(`http://localhost/api/cohorts/${COHORT}`));
    expect(cohort.status).toBe(200);
    expect(plantedIn(await cohort.text())).toEqual([]);

    const ns = env.JOBS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
    const jobState = await runInDurableObject(ns.get(ns.idFromName(id)) as Parameters<typeof runInDurableObject>[0], async (_instance, state) => state.storage.get<unknown>('job'));
    expect(plantedIn(JSON.stringify(jobState))).toEqual([]);
    expect(await env.UPLOADS.get(`upload:v1:${id}`)).toBeNull();

    expect(plantedIn(logged.join('\n'))).toEqual([]);
  });

  it('reach nothing a cohort stores when they name the folders, files and paths of a labelled set (POST /api/cohorts)', async () => {
    const folder = 'ZZPLANTCLINIC_export/ZZPLANTNAME_MRN9912345';
    const zip = zipSync({
      [`${folder}/A0001.hea`]: plantedHeader(),
      [`${folder}/A0001.mat`]: bytesOf('A0001.mat'),
      [`${folder}/ZZPLANTFILE_1950-02-03.hea`]: bytesOf('A0003.hea'),
    });
    const form = new FormData();
    form.append('labels', new File([`path,label\n${folder}/A0001.hea,RBBB\n${folder}/ZZPLANTFILE_1950-02-03.hea,NORM\n`], 'ZZPLANTNAME labels.csv'));
    form.append('file', new File([zip], 'ZZPLANTCLINIC.zip', { type: 'application/zip' }));
    form.append('name', `${COHORT}-set`);
    form.append('model', 'cinc2020-ai-strollers');
    form.append('method', 'gradient');
    form.append('class', 'RBBB');
    const created = await exports.default.fetch(new Request('http://localhost/api/cohorts', { method: 'POST', body: form, headers: { 'cf-connecting-ip': '192.0.2.79' } }));
    expect(created.status, await created.clone().text()).toBe(202);
    let body = '';
    for (const until = Date.now() + 120_000; Date.now() < until;) {
      body = await (await exports.default.fetch(new Request(`http://localhost/api/cohorts/${COHORT}-set`))).text();
      if ((JSON.parse(body) as { status: string }).status === 'done') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(JSON.parse(body)).toMatchObject({ status: 'done', progress: { total: 2 } });
    expect(plantedIn(body)).toEqual([]);
    const cohorts = env.COHORTS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
    const stored = await runInDurableObject(cohorts.get(cohorts.idFromName(`${COHORT}-set`)) as Parameters<typeof runInDurableObject>[0], async (_instance, state) => {
      const sql = (state.storage as unknown as { sql: { exec(q: string): { toArray(): Record<string, unknown>[] } } }).sql;
      return [...sql.exec('SELECT * FROM members').toArray(), ...sql.exec('SELECT * FROM cohort').toArray()];
    });
    for (const row of stored) {
      const text = Object.values(row).map((v) => (v instanceof ArrayBuffer ? new TextDecoder('latin1').decode(v) : String(v))).join('\n');
      expect(plantedIn(text)).toEqual([]);
    }
    const jobs = env.JOBS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
    for (const id of stored.filter((r) => typeof r.seq === 'number').map((r) => r.id as string)) {
      const jobState = await runInDurableObject(jobs.get(jobs.idFromName(id)) as Parameters<typeof runInDurableObject>[0], async (_instance, state) => state.storage.get<unknown>('job'));
      expect(plantedIn(JSON.stringify(jobState))).toEqual([]);
      const result = await env.RESULTS.getWithMetadata(`result:v1:${id}`, 'text');
      expect(plantedIn(`${result.value ?? ''}${JSON.stringify(result.metadata)}`)).toEqual([]);
    }
    expect(plantedIn(logged.join('\n'))).toEqual([]);
  });

  it('reach no log and nothing stored when the upload is refused (the refusal goes to the uploader only)', async () => {
    const folder = 'ZZPLANTFILE_ZZPLANTNAME_MRN9912345';
    // The header without its signal file: refused as an incomplete record.
    const zip = zipSync({ [`${folder}/A0001.hea`]: plantedHeader() });
    const form = new FormData();
    form.append('file', new File([zip], `${folder}.zip`, { type: 'application/zip' }));
    const refused = await exports.default.fetch(new Request('http://localhost/api/records', { method: 'POST', body: form, headers: { 'cf-connecting-ip': '192.0.2.78' } }));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    const keys = await env.RESULTS.list({ prefix: '' });
    for (const key of keys.keys) expect(plantedIn(key.name + JSON.stringify(key.metadata))).toEqual([]);
    expect(plantedIn(logged.join('\n'))).toEqual([]);
  });
});
