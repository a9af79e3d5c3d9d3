/**
 * A cohort of ten thousand members (issue 14: "≥ 10 000 members per cohort"): the cohort's Durable Object
 * (functions/worker/cohort.ts) in workerd takes 10 000 members through its own RPC methods — added in one call, each
 * reported done once (and 500 of them twice) — and its aggregate must equal `assembleCohort` computed in memory on
 * the same summaries (the code `leadlight cohort` runs). The summaries are one real CPSC result's (A0003, analysed
 * by the API) with each lead's relevance scaled by a seeded factor and the labels alternating AF / NORM, so the rank
 * tests see 10 000 distinct values; 200 members keep their average beats (SQLite holds ~100 kB a beat pair).
 */
import { env as workerEnv, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { unpackBeat } from '../../functions/core/analysis/beat-codec.ts';
import { assembleCohort, memberReportOf, type CohortMember, type RecordSummaryCache } from '../../functions/core/analysis/cohort-members.ts';
import { seededRandom } from '../../functions/core/random.ts';
import type { Result } from '../../functions/core/result.ts';
import { type CohortMeta, type CohortStub, aggregateKeyOf } from '../../functions/worker/cohort.ts';
import type { Env } from '../../functions/worker/env.ts';

const env = workerEnv as Env;
const ecg = inject('ecgFiles');
const cinc = inject('manifests').find((m) => m.id === 'cinc2020-ai-strollers' && m.status === 'available');
const MEMBERS = 10_000;
const WITH_BEATS = 200;
const NAME = 'ten-thousand';

let result: Result;

beforeAll(async () => {
  if (!cinc) return;
  const form = new FormData();
  for (const ext of ['hea', 'mat']) form.append('file', new File([Uint8Array.from(atob(ecg[`A0003.${ext}`]), (c) => c.charCodeAt(0))], `A0003.${ext}`));
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', 'gradient');
  const created = await exports.default.fetch(new Request('http://localhost/api/records', { method: 'POST', body: form, headers: { 'cf-connecting-ip': '198.18.0.1' } }));
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  result = JSON.parse((await env.RESULTS.get(`result:v1:${id}`, 'text'))!) as Result;
});

/** Member k: the real summary with every lead's relevance (and the mean) scaled by one seeded factor. */
function memberSummary(k: number, base: ReturnType<typeof memberReportOf>): { json: string; summary: RecordSummaryCache; beats: Uint8Array | null } {
  const random = seededRandom(1000 + k);
  const stored = JSON.parse(base.summaryJson) as RecordSummaryCache & { beats: boolean[] };
  const scale = (v: number) => v * (0.5 + random());
  const leadRelevance = Object.fromEntries(Object.entries(stored.leadRelevance).map(([lead, v]) => [lead, scale(v)]));
  const withBeats = k < WITH_BEATS;
  const summary = { ...stored, leadRelevance, meanRelevance: scale(stored.meanRelevance), probability: random(), beats: [withBeats, withBeats] };
  const { beats: _flags, ...rest } = summary;
  return {
    json: JSON.stringify(summary),
    summary: { ...rest, averageBeat: withBeats ? unpackBeat(base.beats, 0) : null, averageBeatRAligned: withBeats ? unpackBeat(base.beats, 1) : null },
    beats: withBeats ? base.beats : new Uint8Array(0),
  };
}

describe.skipIf(!cinc)('a cohort of ten thousand members in one Durable Object', () => {
  it('counts each member once and aggregates them as assembleCohort does in memory', async () => {
    const base = memberReportOf(result, 'AF');
    const meta: CohortMeta = {
      v: 1,
      name: NAME,
      settings: { model: 'cinc2020-ai-strollers', method: 'gradient', class: 'AF', steps: null },
      model: { id: 'cinc2020-ai-strollers', classes: cinc!.classes, thresholds: cinc!.thresholds },
      tokenSha256: 'f'.repeat(64),
      createdAt: new Date().toISOString(),
      expiresAt: null,
      labelsFile: `labels.csv of the cohort ${NAME}`,
    };
    const ns = env.COHORTS as unknown as { idFromName(name: string): unknown; get(id: unknown): unknown };
    const stub = ns.get(ns.idFromName(NAME)) as Parameters<typeof runInDurableObject>[0];
    const labels = Array.from({ length: MEMBERS }, (_, k) => (k % 2 === 0 ? 'AF' : 'NORM'));
    const expected: CohortMember[] = [];
    const timing = await runInDurableObject(stub, async (instance) => {
      const cohort = instance as CohortStub;
      await cohort.create(meta);
      const ids = labels.map((_, k) => `member-${String(k).padStart(5, '0')}`);
      await cohort.addMembers(ids.map((id, k) => ({ id, path: null, numbered: true, label: labels[k], expiresAt: null })));
      for (let k = 0; k < MEMBERS; k++) {
        const m = memberSummary(k, base);
        expect(await cohort.memberDone(ids[k], 'WFDB ECG', m.json, m.beats ?? new Uint8Array(0))).toBe(true);
        // A duplicate report of every twentieth member (another delivery of its message) changes nothing.
        if (k % 20 === 0) expect(await cohort.memberDone(ids[k], 'WFDB ECG', memberSummary(k + 1, base).json, new Uint8Array(0))).toBe(true);
        expected.push({ path: `record ${k + 1}`, label: labels[k], summary: m.summary });
      }
      const started = Date.now();
      const view = await cohort.view();
      return { view, aggregateMs: Date.now() - started };
    });
    expect(timing.view?.progress).toEqual({ done: MEMBERS, failed: 0, total: MEMBERS });
    expect(timing.view?.status).toBe('done');
    const served = JSON.parse(new TextDecoder().decode(await (await env.UPLOADS.get(aggregateKeyOf(NAME)))!.arrayBuffer()));
    const inMemory = assembleCohort({ model: meta.model, method: 'gradient', className: 'AF', steps: null, labelsFile: meta.labelsFile, members: expected, errors: [] });
    expect(served.records.length).toBe(MEMBERS);
    expect(served.records).toEqual(JSON.parse(JSON.stringify(inMemory.records)));
    expect(served.leadTests).toEqual(JSON.parse(JSON.stringify(inMemory.leadTests)));
    expect(served.leadTests[0]).toMatchObject({ nA: MEMBERS / 2, nB: MEMBERS / 2, method: 'normal-approximation' });
    expect(served.averageBeats).toEqual(JSON.parse(JSON.stringify(inMemory.averageBeats)));
    expect(served.averageBeats.AF.V1.records).toBe(WITH_BEATS / 2);
    console.log(`cohort-scale: ${MEMBERS} members aggregated by the Durable Object in ${timing.aggregateMs} ms; cohort.json ${(JSON.stringify(served).length / 1e6).toFixed(1)} MB`);
  }, 900_000);
});
