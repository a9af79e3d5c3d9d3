/**
 * Live cohorts through the HTTP API in workerd with real KV: real CPSC records (A0003, A0004 labelled AF and A0002,
 * A0016 labelled NORM in ../shared/data/ecg/labels.csv) uploaded with the fields cohort and label, then
 * `GET /api/cohorts/{name}` must give a cohort.json (valid against the one schema) whose records are the uploads'
 * results and whose lead tests are the one-sided rank-sum tests of the uploads' lead relevances (rankSumTest, checked
 * against R in test/core/analysis). Expected values come from the results the API returned, never from constants.
 * The members live in the cohort's Durable Object (functions/worker/cohort.ts), one SQL row each. Deleting a record
 * removes its membership; bad names and settings are 4xx with {error:{code,message}} and write nothing.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { rankSumTest } from '../../functions/core/analysis/ranksum.ts';
import { checkCohort } from '../../functions/core/cohort-schema.ts';
import { LEAD_ORDER } from '../../functions/core/record.ts';
import type { Env } from '../../functions/worker/env.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const manifests = inject('manifests');
const model = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available') ?? manifests.find((m) => m.status === 'available');
const COHORT = 'af-vs-norm_live-1';

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
/** The upload of a record, titled with its record name (the field `name`; without it no file name is stored). */
function uploadForm(record: string, fields: Record<string, string>): FormData {
  const form = new FormData();
  form.append('file', fileOf(`${record}.hea`));
  form.append('file', fileOf(`${record}.mat`));
  form.append('name', record);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}
async function keyCount(prefix = ''): Promise<number> {
  return (await env.RESULTS.list({ prefix })).keys.length;
}
interface MemberRow { id: string; label: string; status: string; summary: string | null; beats: ArrayBuffer | null }
/** The member rows of a cohort, read inside its Durable Object. */
async function membersOf(name: string): Promise<MemberRow[]> {
  const ns = env.COHORTS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
  const stub = ns.get(ns.idFromName(name)) as Parameters<typeof runInDurableObject>[0];
  return runInDurableObject(stub, (_instance, state) => {
    const sql = (state.storage as unknown as { sql: { exec(q: string): { toArray(): MemberRow[] } } }).sql;
    try {
      return sql.exec('SELECT id, label, status, summary, beats FROM members ORDER BY seq').toArray();
    } catch {
      return []; // no table: the cohort has never had a member
    }
  });
}
async function expectError(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(20);
  expect(body.error.message).not.toMatch(/\n\s+at |\/work\/|node_modules/);
  return body.error.message;
}

interface Uploaded {
  record: string;
  label: string;
  id: string;
  deleteToken: string;
  result: { record: { name: string }; prediction: { probabilities: Record<string, number> }; attribution: { method: string; class: string }; analysis: { meanRelevance: number; leadRelevance: Record<string, number> } };
}
const uploads: Uploaded[] = [];

beforeAll(async () => {
  expect(model, 'an installed model (npm install)').toBeDefined();
  // The first upload names model and method and leaves the class to the label (AF); the others name only the cohort.
  const plan: { record: string; label: string; extra: Record<string, string> }[] = [
    { record: 'A0003', label: 'AF', extra: { model: model!.id, method: 'gradient-x-input' } },
    { record: 'A0002', label: 'NORM', extra: {} },
    { record: 'A0004', label: 'AF', extra: {} },
    { record: 'A0016', label: 'NORM', extra: {} },
  ];
  for (const p of plan) {
    const created = await call('/api/records', { method: 'POST', body: uploadForm(p.record, { cohort: COHORT, label: p.label, expiry: '1d', ...p.extra }) });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id, deleteToken } = (await created.json()) as { id: string; deleteToken: string };
    const result = (await (await call(`/api/records/${id}`)).json()) as Uploaded['result'];
    uploads.push({ record: p.record, label: p.label, id, deleteToken, result });
  }
});

describe('a live cohort built from uploads', () => {
  it('analyses every upload with the settings of the cohort: the first upload’s model and method, the class of its label', () => {
    for (const u of uploads) {
      expect(u.result.attribution.method).toBe('gradient-x-input');
      expect(u.result.attribution.class).toBe('AF');
      expect(u.result.record.name).toBe(u.record);
    }
  });

  it('keeps one row per member in the cohort’s Durable Object, with a summary much smaller than the result and no relevance map', async () => {
    const rows = await membersOf(COHORT);
    expect(rows.map((r) => r.id)).toEqual(uploads.map((u) => u.id));
    expect(await keyCount('cohort:')).toBe(0);
    for (const u of uploads) {
      const row = rows.find((r) => r.id === u.id)!;
      expect(row).toMatchObject({ label: u.label, status: 'done' });
      const stored = (await env.RESULTS.get(`result:v1:${u.id}`, 'text'))!;
      expect(row.summary!.length + row.beats!.byteLength).toBeLessThan(stored.length / 2);
      expect(row.summary).not.toContain('base64-le');
    }
  });

  it('returns cohort.json whose records are the uploads and whose lead tests are rank-sum tests of their lead relevances', async () => {
    const response = await call(`/api/cohorts/${COHORT}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const cohort = checkCohort(await response.json());
    expect(cohort.class).toBe('AF');
    expect(cohort.method).toBe('gradient-x-input');
    expect(cohort.model.id).toBe(model!.id);
    expect(cohort.groups).toEqual({ positive: 'AF', control: 'NORM' });
    expect(cohort.threshold).toBe(model!.thresholds[model!.classes.indexOf('AF')]);
    expect(cohort.records.map((r) => r.path)).toEqual(uploads.map((u) => u.record));
    for (const u of uploads) {
      const r = cohort.records.find((x) => x.path === u.record)!;
      expect(r.label).toBe(u.label);
      expect(r.probability).toBe(u.result.prediction.probabilities.AF);
      expect(r.meanRelevance).toBe(u.result.analysis.meanRelevance);
      expect(r.leadRelevance).toEqual(u.result.analysis.leadRelevance);
      expect(r.positive).toBe(r.probability >= cohort.threshold);
      expect(r.outcome).toBe(`${r.positive === (u.label === 'AF') ? 'T' : 'F'}${r.positive ? 'P' : 'N'}`);
    }
    expect(cohort.leadTests.map((t) => t.lead)).toEqual([...LEAD_ORDER]);
    const af = uploads.filter((u) => u.label === 'AF');
    const norm = uploads.filter((u) => u.label === 'NORM');
    for (const t of cohort.leadTests) {
      const expected = rankSumTest(af.map((u) => u.result.analysis.leadRelevance[t.lead]), norm.map((u) => u.result.analysis.leadRelevance[t.lead]), { alternative: 'greater' });
      expect(t.pValue).toBe(expected.pValue);
      expect(t.statistic).toBe(expected.statistic);
      expect(t.method).toBe('exact');
      expect([t.nA, t.nB]).toEqual([2, 2]);
    }
    expect(Object.keys(cohort.averageBeats).sort()).toEqual(['AF', 'NORM']);
    expect(cohort.averageBeats.AF.II.records).toBe(2);
    expect(cohort.details.map((d) => d.recordName)).toEqual(uploads.map((u) => u.record));
    expect(cohort.outcomes.TP + cohort.outcomes.FN).toBe(2);
    expect(cohort.outcomes.FP + cohort.outcomes.TN).toBe(2);
  });
});

describe('refusing bad cohort requests without writing anything', () => {
  it('answers 400 option_invalid for names outside [A-Za-z0-9_-]{1,64}', async () => {
    for (const bad of ['bad%20name', 'a.b', 'x'.repeat(65), '%E2%9C%93', '%zz']) {
      await expectError(await call(`/api/cohorts/${bad}`), 400, 'option_invalid');
    }
  });

  it('answers 404 not_found for a cohort nobody uploaded to, and 405 for other methods', async () => {
    const message = await expectError(await call('/api/cohorts/nobody-uploaded-here'), 404, 'not_found');
    expect(message).toContain('cohort');
    const post = await call(`/api/cohorts/${COHORT}`, { method: 'POST' });
    await expectError(post, 405, 'request_invalid');
  });

  it('refuses uploads with a bad cohort name, no label, a long label, other settings or an undecidable class', async () => {
    const before = await keyCount();
    const cases: [Record<string, string>, string][] = [
      [{ cohort: 'a/b', label: 'AF' }, 'option_invalid'],
      [{ cohort: 'x'.repeat(65), label: 'AF' }, 'option_invalid'],
      [{ cohort: COHORT }, 'option_invalid'],
      [{ cohort: COHORT, label: 'L'.repeat(65) }, 'option_invalid'],
      [{ cohort: COHORT, label: 'AF', method: 'gradient' }, 'option_invalid'],
      [{ cohort: COHORT, label: 'AF', class: 'Normal' }, 'option_invalid'],
      [{ cohort: 'only-normal-so-far', label: 'NORM', method: 'gradient-x-input' }, 'option_invalid'],
    ];
    for (const [fields, code] of cases) {
      await expectError(await call('/api/records', { method: 'POST', body: uploadForm('A0003', fields) }), 400, code);
    }
    expect(await keyCount()).toBe(before);
    expect((await membersOf(COHORT)).length).toBe(uploads.length);
    expect(await membersOf('only-normal-so-far')).toEqual([]);
  });
});

describe('deleting a record of a live cohort', () => {
  it('removes its membership with the result, and the cohort is recomputed without it', async () => {
    const gone = uploads.find((u) => u.record === 'A0004')!;
    const deleted = await call(`/api/records/${gone.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${gone.deleteToken}` } });
    expect(deleted.status).toBe(204);
    expect((await membersOf(COHORT)).map((r) => r.id)).toEqual(uploads.filter((u) => u !== gone).map((u) => u.id));
    const cohort = checkCohort(await (await call(`/api/cohorts/${COHORT}`)).json());
    expect(cohort.records.map((r) => r.path)).toEqual(['A0003', 'A0002', 'A0016']);
    const t = cohort.leadTests.find((x) => x.lead === 'V1')!;
    const af = uploads.filter((u) => u.label === 'AF' && u !== gone);
    const norm = uploads.filter((u) => u.label === 'NORM');
    expect(t.pValue).toBe(rankSumTest(af.map((u) => u.result.analysis.leadRelevance.V1), norm.map((u) => u.result.analysis.leadRelevance.V1), { alternative: 'greater' }).pValue);
  });

  it('leaves the membership in place when the delete token is wrong', async () => {
    const kept = uploads.find((u) => u.record === 'A0002')!;
    const wrong = await call(`/api/records/${kept.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${'A'.repeat(43)}` } });
    await expectError(wrong, 403, 'forbidden');
    expect((await membersOf(COHORT)).map((r) => r.id)).toContain(kept.id);
  });
});
