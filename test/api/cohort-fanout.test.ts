/**
 * Cohorts past one machine (issue 14; ../shared/docs/contract.md, "Additions (2026-12)"): a labelled set uploaded
 * once with `POST /api/cohorts` is fanned out as one job per record over the real Queue, Durable Objects, R2 and KV
 * of wrangler.toml in workerd, and aggregated by the cohort's Durable Object. The expected values are the real
 * `npx leadlight cohort` run on the same set (test/api/cohort-setup.ts: 10 CPSC records, a file that is no ECG and a
 * missing file), never constants. Faults: every message delivered twice, finished jobs run again, a member's report
 * lost; refusals store nothing; DELETE leaves nothing behind.
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import { checkCohort } from '../../functions/core/cohort-schema.ts';
import { LEAD_ORDER } from '../../functions/core/record.ts';
import type { Env } from '../../functions/worker/env.ts';
import { type JobState, packInput } from '../../functions/worker/job.ts';

const env = workerEnv as Env;
const set = inject('cohortSet');
const manifests = inject('manifests');
const cinc = manifests.find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available');
const cli = JSON.parse(set.cliCohortJson) as ReturnType<typeof checkCohort>;
const zipBytes = Uint8Array.from(atob(set.zipBase64), (c) => c.charCodeAt(0));
const ecg = inject('ecgFiles');
const bytesOf = (name: string) => Uint8Array.from(atob(ecg[name]), (c) => c.charCodeAt(0));

let clientNumber = 0;
function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', `203.0.113.${(clientNumber++ % 250) + 1}`);
  return exports.default.fetch(new Request(`http://localhost${path}`, { ...init, headers }));
}

function cohortForm(fields: Record<string, string>, labelsCsv = set.labelsCsv, zip: Uint8Array<ArrayBuffer> = zipBytes): FormData {
  const form = new FormData();
  form.append('labels', new File([labelsCsv], 'labels.csv', { type: 'text/csv' }));
  form.append('file', new File([zip], 'study.zip', { type: 'application/zip' }));
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

interface Created { name: string; url: string; deleteToken: string; members: number; expiresAt: string | null }
type Served = ReturnType<typeof checkCohort> & { name: string; status: string; progress: { done: number; failed: number; total: number } };

async function createCohort(name: string, labelsCsv = set.labelsCsv): Promise<Created> {
  const response = await call('/api/cohorts', { method: 'POST', body: cohortForm({ name, model: 'cinc2020-ai-strollers', method: 'gradient', expiry: '1d' }, labelsCsv) });
  expect(response.status, await response.clone().text()).toBe(202);
  return (await response.json()) as Created;
}

/** Polls GET /api/cohorts/{name} until no member is pending. */
async function cohortDone(name: string, timeoutMs = 240_000): Promise<Served> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const response = await call(`/api/cohorts/${name}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Served;
    if (body.status === 'done') return body;
    if (Date.now() > until) throw new Error(`cohort ${name} still ${body.status} (${JSON.stringify(body.progress)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stubOf(ns: unknown, name: string): Parameters<typeof runInDurableObject>[0] {
  const n = ns as { idFromName(name: string): unknown; get(id: unknown): unknown };
  return n.get(n.idFromName(name)) as Parameters<typeof runInDurableObject>[0];
}

interface MemberRow { id: string; seq: number; path: string; label: string; status: string }
async function membersOf(name: string): Promise<MemberRow[]> {
  return runInDurableObject(stubOf(env.COHORTS, name), (_instance, state) => {
    const sql = (state.storage as unknown as { sql: { exec(q: string): { toArray(): MemberRow[] } } }).sql;
    try {
      return sql.exec('SELECT id, seq, path, label, status FROM members ORDER BY seq').toArray();
    } catch {
      return [];
    }
  });
}

async function jobState(id: string): Promise<JobState | null> {
  return runInDurableObject(stubOf(env.JOBS, id), async (_instance, state) => (await state.storage.get<JobState>('job')) ?? null);
}

function relativeDifference(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

describe.skipIf(!cinc)('a labelled set uploaded once and fanned out over the queue', () => {
  const name = `fanout-${Date.now().toString(36)}`;
  let created: Created;
  let served: Served;

  it('answers 202 with the cohort’s name, live page, token and member count once every job is queued', async () => {
    created = await createCohort(name);
    expect(created).toMatchObject({ name, url: `/cohorts/live/?name=${name}`, members: set.rows.length });
    expect(created.deleteToken).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    const rows = await membersOf(name);
    expect(rows.map((r) => r.label)).toEqual(set.rows.map((r) => r.label));
    // The row without a file failed at once; every other row is a job of its own.
    expect(rows.filter((r) => r.status === 'failed').map((r) => r.seq)).toEqual([set.rows.findIndex((r) => r.path.includes('A9999')) + 1]);
  });

  it('ends with every member done or failed and none lost', async () => {
    served = await cohortDone(name);
    expect(served.progress).toEqual({ done: cli.records.length, failed: cli.errors.length, total: set.rows.length });
    expect(served.records.length + served.errors.length).toBe(set.rows.length);
    checkCohort(served);
  });

  it('gives the per-record lead relevance and the lead-test p-values of npx leadlight cohort (relative difference ≤ 1e-12)', () => {
    expect(served.records.map((r) => r.label)).toEqual(cli.records.map((r) => r.label));
    let largest = 0;
    for (let i = 0; i < cli.records.length; i++) {
      for (const lead of LEAD_ORDER) largest = Math.max(largest, relativeDifference(served.records[i].leadRelevance[lead], cli.records[i].leadRelevance[lead]));
      expect(relativeDifference(served.records[i].probability, cli.records[i].probability)).toBeLessThanOrEqual(1e-12);
    }
    expect(largest).toBeLessThanOrEqual(1e-12);
    expect(served.leadTests.map((t) => t.lead)).toEqual(cli.leadTests.map((t) => t.lead));
    expect(served.leadTests.length).toBe(12);
    served.leadTests.forEach((t, i) => {
      largest = Math.max(largest, relativeDifference(t.pValue, cli.leadTests[i].pValue));
      expect(relativeDifference(t.pValue, cli.leadTests[i].pValue)).toBeLessThanOrEqual(1e-12);
      expect(t.statistic).toBe(cli.leadTests[i].statistic);
    });
    console.log(`cohort-fanout: largest relative difference to npx leadlight cohort (lead relevance, p-values): ${largest}`);
    expect(served.outcomes).toEqual(cli.outcomes);
    expect(served.groups).toEqual(cli.groups);
    for (const label of Object.keys(cli.averageBeats)) {
      expect(served.averageBeats[label].V1.records).toBe(cli.averageBeats[label].V1.records);
      served.averageBeats[label].V1.relevance.forEach((v, k) => expect(relativeDifference(v, cli.averageBeats[label].V1.relevance[k])).toBeLessThanOrEqual(1e-12));
    }
  });

  it('lists each failing member with its code (as the CLI) and a message naming no file', () => {
    expect(served.errors.map((e) => [e.label, e.code])).toEqual(cli.errors.map((e) => [e.label, e.code]));
    expect(served.errors.map((e) => e.path)).toEqual(set.rows.flatMap((r, i) => (cli.errors.some((e) => e.path === r.path) ? [`record ${i + 1}`] : [])));
    for (const e of served.errors) expect(e.message).not.toMatch(/notes|A9999|other\//u);
    // Paths of the upload are never stored: members are named by their position.
    expect(served.records.map((r) => r.path).every((p) => /^record \d+$/u.test(p))).toBe(true);
  });

  it('stores each member’s result under the cohort’s token and deletes the inputs of finished jobs', async () => {
    const rows = await membersOf(name);
    for (const row of rows.filter((r) => r.status === 'done')) {
      const { value } = await env.RESULTS.getWithMetadata(`result:v1:${row.id}`, 'text');
      expect(value).not.toBeNull();
      const result = JSON.parse(value!) as { cohort: string; attribution: { method: string }; analysis: Record<string, unknown> };
      expect(result).toMatchObject({ cohort: name, attribution: { method: 'gradient' } });
      // A fanned-out member leaves out the deletion/insertion curves (cohort.json does not use them).
      expect(result.analysis.faithfulness).toBeUndefined();
      expect(result.analysis.faithfulnessStatus).toBeUndefined();
      expect(await env.UPLOADS.get(`upload:v1:${row.id}`)).toBeNull();
    }
  });

  it('takes more records with the cohort’s token only, and aggregates them with the others', async () => {
    const labelsCsv = 'path,label\ncpsc/A0003.hea,AF\ncpsc/A0002.hea,NORM\n';
    const without = await call(`/api/cohorts/${name}/records`, { method: 'POST', body: cohortForm({}, labelsCsv) });
    expect(without.status).toBe(401);
    const wrong = await call(`/api/cohorts/${name}/records`, { method: 'POST', body: cohortForm({}, labelsCsv), headers: { authorization: `Bearer ${'B'.repeat(43)}` } });
    expect(wrong.status).toBe(403);
    const otherSettings = await call(`/api/cohorts/${name}/records`, { method: 'POST', body: cohortForm({ method: 'ig' }, labelsCsv), headers: { authorization: `Bearer ${created.deleteToken}` } });
    expect(otherSettings.status).toBe(400);
    expect((await membersOf(name)).length).toBe(set.rows.length);

    const added = await call(`/api/cohorts/${name}/records`, { method: 'POST', body: cohortForm({}, labelsCsv), headers: { authorization: `Bearer ${created.deleteToken}` } });
    expect(added.status, await added.clone().text()).toBe(202);
    expect(await added.json()).toEqual({ name, members: 2, total: set.rows.length + 2 });
    const grown = await cohortDone(name);
    expect(grown.progress).toEqual({ done: cli.records.length + 2, failed: cli.errors.length, total: set.rows.length + 2 });
    // The same files give the same relevance as their first analysis.
    expect(grown.records.at(-2)!.leadRelevance).toEqual(served.records[0].leadRelevance);
  });

  it('deletes the cohort with its token: members’ results, jobs and inputs are gone and the name answers 404', async () => {
    const rows = await membersOf(name);
    const refused = await call(`/api/cohorts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${'C'.repeat(43)}` } });
    expect(refused.status).toBe(403);
    const deleted = await call(`/api/cohorts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${created.deleteToken}` } });
    expect(deleted.status).toBe(204);
    expect((await call(`/api/cohorts/${name}`)).status).toBe(404);
    for (const row of rows) {
      expect(await env.RESULTS.get(`result:v1:${row.id}`, 'text')).toBeNull();
      expect(await jobState(row.id)).toBeNull();
      expect(await env.UPLOADS.get(`upload:v1:${row.id}`)).toBeNull();
    }
    expect(await env.UPLOADS.get(`cohort:v1:${name}`)).toBeNull();
    expect(await membersOf(name)).toEqual([]);
  });
});

describe.skipIf(!cinc)('a cohort under duplicate deliveries and lost reports', () => {
  const name = `dupes-${Date.now().toString(36)}`;
  const labelsCsv = 'path,label\ncpsc/A0003.hea,AF\ncpsc/A0002.hea,NORM\ncpsc/A0004.hea,AF\ncpsc/A0016.hea,NORM\n';

  it('counts each member once when every message is delivered twice and finished jobs run again', async () => {
    await createCohort(name, labelsCsv);
    const ids = (await membersOf(name)).map((r) => r.id);
    // Every message a second time, at once.
    await env.JOB_QUEUE.sendBatch(ids.map((id) => ({ body: { v: 1 as const, id } })));
    const first = await cohortDone(name);
    expect(first.progress).toEqual({ done: 4, failed: 0, total: 4 });

    // Two finished jobs whose end was lost (a consumer that died after its report, before `complete`): queued again
    // with their input back in R2, and delivered again.
    for (const [k, id] of ids.slice(0, 2).entries()) {
      const record = ['A0003', 'A0002'][k];
      await env.UPLOADS.put(`upload:v1:${id}`, packInput([{ name: `${record}.hea`, bytes: bytesOf(`${record}.hea`) }, { name: `${record}.mat`, bytes: bytesOf(`${record}.mat`) }]));
      await runInDurableObject(stubOf(env.JOBS, id), async (instance, state) => {
        const job = (await state.storage.get<JobState>('job'))!;
        await state.storage.put('job', { ...job, status: 'queued', progress: { stage: 'queued' }, version: job.version + 1 });
        (instance as { state: unknown }).state = undefined;
      });
    }
    await env.JOB_QUEUE.sendBatch(ids.slice(0, 2).map((id) => ({ body: { v: 1 as const, id } })));
    for (const id of ids.slice(0, 2)) {
      const until = Date.now() + 120_000;
      while ((await jobState(id))?.status !== 'done' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect((await jobState(id))?.status).toBe('done');
    }
    const again = await cohortDone(name);
    expect(again.progress).toEqual({ done: 4, failed: 0, total: 4 });
    expect(again.records.length).toBe(4);
    expect(again.leadTests.map((t) => t.pValue)).toEqual(first.leadTests.map((t) => t.pValue));
    expect((await membersOf(name)).map((r) => r.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('finishes a member whose report was lost from its stored result (the cohort’s watchdog)', async () => {
    const [row] = await membersOf(name);
    // As if the consumer's report never arrived: the member is pending again and has had no news for 11 minutes.
    await runInDurableObject(stubOf(env.COHORTS, name), (_instance, state) => {
      const sql = (state.storage as unknown as { sql: { exec(q: string, ...b: unknown[]): unknown } }).sql;
      sql.exec("UPDATE members SET status = 'pending', summary = NULL, beats = NULL, updated_at = ? WHERE id = ?", Date.now() - 11 * 60_000, row.id);
    });
    expect((await (await call(`/api/cohorts/${name}`)).json() as Served).progress).toEqual({ done: 3, failed: 0, total: 4 });
    await runInDurableObject(stubOf(env.COHORTS, name), async (_instance, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stubOf(env.COHORTS, name))).toBe(true);
    const healed = await cohortDone(name, 10_000);
    expect(healed.progress).toEqual({ done: 4, failed: 0, total: 4 });
  });
});

describe('refusing bad cohort requests without storing anything', () => {
  async function expectError(response: Response, status: number, code: string): Promise<string> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message).not.toMatch(/\n\s+at |\/work\/|node_modules/u);
    return body.error.message;
  }

  it('answers 400 for a labels CSV without its columns, a request without labels or records, unknown fields and bad options', async () => {
    const before = (await env.RESULTS.list()).keys.length;
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name: 'bad-csv' }, 'file,diagnosis\na.hea,AF\n') }), 400, 'option_invalid');
    const noLabels = new FormData();
    noLabels.append('file', new File([zipBytes], 'study.zip'));
    await expectError(await call('/api/cohorts', { method: 'POST', body: noLabels }), 400, 'request_invalid');
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name: 'bad-field', colour: 'red' }) }), 400, 'request_invalid');
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name: 'bad-method', method: 'magic' }) }), 400, 'method_unknown');
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name: 'bad name' }) }), 400, 'option_invalid');
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name: 'only-normal' }, 'path,label\ncpsc/A0002.hea,NORM\n') }), 400, 'option_invalid');
    expect((await env.RESULTS.list()).keys.length).toBe(before);
    for (const n of ['bad-csv', 'bad-field', 'bad-method', 'only-normal']) expect((await call(`/api/cohorts/${n}`)).status).toBe(404);
  });

  it('answers 409 cohort_exists for a name in use, and 404 for records added to no cohort', async () => {
    const name = `taken-${Date.now().toString(36)}`;
    const first = await createCohort(name, 'path,label\ncpsc/A0003.hea,AF\ncpsc/A0002.hea,NORM\n');
    await expectError(await call('/api/cohorts', { method: 'POST', body: cohortForm({ name }) }), 409, 'cohort_exists');
    expect((await membersOf(name)).length).toBe(2);
    await expectError(await call('/api/cohorts/nobody-made-this/records', { method: 'POST', body: cohortForm({}), headers: { authorization: `Bearer ${first.deleteToken}` } }), 404, 'not_found');
    await cohortDone(name);
    expect((await call(`/api/cohorts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${first.deleteToken}` } })).status).toBe(204);
  });

  it('refuses single uploads to a cohort made with a token unless they carry it', async () => {
    const name = `tokened-${Date.now().toString(36)}`;
    const created = await createCohort(name, 'path,label\ncpsc/A0003.hea,AF\ncpsc/A0002.hea,NORM\n');
    const single = () => {
      const form = new FormData();
      const zip = new File([zipBytes], 'study.zip');
      form.append('file', zip);
      form.append('cohort', name);
      form.append('label', 'AF');
      return form;
    };
    await expectError(await call('/api/records', { method: 'POST', body: single() }), 401, 'unauthorized');
    expect((await membersOf(name)).length).toBe(2);
    await cohortDone(name);
    expect((await call(`/api/cohorts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${created.deleteToken}` } })).status).toBe(204);
  });
});
