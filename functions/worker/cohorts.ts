/**
 * Live cohorts (../shared/docs/contract.md, "Cohorts" and `POST /api/records` fields `cohort` and `label`): an upload
 * that names a cohort adds its record's summary (cohort-members.ts `summariseResult`: probability, M_n, M_n,k, average
 * beats, criteria findings — never the full relevance) to that cohort in KV, and `GET /api/cohorts/{name}` aggregates
 * the members with `buildCohort` (Bender et al. 2023, analyses (a), (b), (c)) into cohort.json.
 *
 * KV layout: ONE key per member, `cohort:v1:{name}:{resultId}`, so concurrent uploads never overwrite each other;
 * the value is the member JSON, the metadata the member's label and the cohort settings it was computed with
 * (model, method, class, steps) and its creation time. A member expires with its result (same TTL) and is deleted
 * with it (`DELETE /api/records/{id}`). The first member fixes the settings of a cohort: later uploads that leave
 * them out inherit them, uploads that ask for others are refused before anything is analysed. The class of a new
 * cohort is chosen from the label as `leadlight cohort` does (`chooseCohortClass`).
 */
import { parseMethod } from '../core/attribution/attribute.ts';
import { chooseGroups, type CohortModelInfo } from '../core/analysis/cohort.ts';
import { assembleCohort, chooseCohortClass, summariseResult, type CohortMember, type CohortOutput, type RecordSummaryCache } from '../core/analysis/cohort-members.ts';
import { canonicalClass } from '../core/analysis/criteria.ts';
import { checkCohort } from '../core/cohort-schema.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { checkRequest, selectModel } from '../core/pipeline.ts';
import type { Result } from '../core/result.ts';
import type { KvNamespace } from './env.ts';
import { EXPIRY_CHOICES, type ExpiryChoice } from './store.ts';
import type { UploadRequest } from './upload.ts';

export const COHORT_KEY_PREFIX = 'cohort:v1:';
export const COHORT_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/u;
export const MAX_LABEL_CHARS = 64;
/** Members aggregated per cohort (each GET reads every member's value). */
export const MAX_COHORT_MEMBERS = 500;
const READ_BATCH = 50;

/** What every member of one cohort shares: the record summaries are comparable only under the same settings. */
export interface CohortSettings {
  model: string;
  method: string;
  class: string;
  /** IG steps; null = the default mode (and for other methods). */
  steps: number | null;
}

export interface MemberMetadata extends CohortSettings {
  v: 1;
  label: string;
  createdAt: string;
}

export interface MemberValue {
  v: 1;
  /** The record's name from its file (shown in the cohort's tables). */
  recordName: string;
  label: string;
  settings: CohortSettings;
  model: CohortModelInfo;
  summary: RecordSummaryCache;
  createdAt: string;
}

export interface CohortMembership {
  name: string;
  label: string;
  settings: CohortSettings;
}

/** The cohort name, or `option_invalid` when it is not 1–64 letters, digits, `_` or `-`. */
export function checkCohortName(name: string): string {
  if (!COHORT_NAME_PATTERN.test(name)) {
    throw new LeadlightError('option_invalid', `The cohort name "${name.slice(0, 70)}" is not accepted; use 1 to 64 letters, digits, "_" or "-" (e.g. af-study_2024).`);
  }
  return name;
}

/** The ground-truth label: free text of at most 64 characters without control characters. */
export function checkLabel(label: string): string {
  // eslint-disable-next-line no-control-regex
  if (label.length > MAX_LABEL_CHARS || /[\u0000-\u001f\u007f]/u.test(label)) {
    throw new LeadlightError('option_invalid', `The label is longer than ${MAX_LABEL_CHARS} characters or has control characters; give a short ground-truth label such as AF or NORM.`);
  }
  return label;
}

function memberPrefix(name: string): string {
  return `${COHORT_KEY_PREFIX}${name}:`;
}

/** The member keys of a cohort with their metadata (at most `limit`), oldest first. */
async function listMembers(kv: KvNamespace, name: string, limit = MAX_COHORT_MEMBERS + 1): Promise<{ key: string; metadata: MemberMetadata | null }[]> {
  const out: { key: string; metadata: MemberMetadata | null }[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list<MemberMetadata>({ prefix: memberPrefix(name), cursor, limit: Math.min(1000, limit - out.length) });
    for (const k of page.keys) out.push({ key: k.name, metadata: k.metadata ?? null });
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor && out.length < limit);
  return out.sort((a, b) => (a.metadata?.createdAt ?? '').localeCompare(b.metadata?.createdAt ?? '') || a.key.localeCompare(b.key));
}

function sameSettings(a: CohortSettings, b: CohortSettings): boolean {
  return a.model === b.model && a.method === b.method && a.class === b.class && a.steps === b.steps;
}

function describeSettings(s: CohortSettings): string {
  return `model ${s.model}, method ${s.method}, class ${s.class}${s.steps === null ? '' : `, ${s.steps} steps`}`;
}

/**
 * Checks the cohort fields of an upload BEFORE it is analysed and fixes the options it is analysed with: null when
 * the upload names no cohort; else the membership (name, label, settings) with the settings of the cohort's first
 * member, or for a new cohort the requested model and method and the class chosen from the label. Throws
 * `option_invalid` (bad name or label, no label, a full cohort, settings that differ from the cohort's).
 */
export async function planCohortUpload(kv: KvNamespace, options: UploadRequest['options'], models: InstalledModel[]): Promise<{ options: UploadRequest['options']; membership: CohortMembership } | null> {
  if (options.label !== undefined) checkLabel(options.label);
  if (options.cohort === undefined) return null;
  const name = checkCohortName(options.cohort);
  if (options.label === undefined) {
    throw new LeadlightError('option_invalid', `An upload to the cohort "${name}" needs its ground truth in the field label (e.g. AF or NORM); add it and upload again.`);
  }
  const label = options.label;
  const members = await listMembers(kv, name);
  if (members.length >= MAX_COHORT_MEMBERS) {
    throw new LeadlightError('option_invalid', `The cohort "${name}" already has ${MAX_COHORT_MEMBERS} ECGs, the most a live cohort holds; start a new cohort name or use leadlight cohort for large cohorts.`);
  }
  const first = members.find((m) => m.metadata !== null)?.metadata;
  let settings: CohortSettings;
  if (first) {
    settings = { model: first.model, method: first.method, class: first.class, steps: first.steps };
    const model = selectModel(models, settings.model);
    const asked: Partial<CohortSettings> = {
      model: options.model,
      method: options.method !== undefined ? parseMethod(options.method) : undefined,
      class: options.class,
      steps: options.steps,
    };
    for (const key of ['model', 'method', 'class', 'steps'] as const) {
      if (asked[key] !== undefined && asked[key] !== settings[key]) {
        throw new LeadlightError('option_invalid', `The cohort "${name}" is computed with ${describeSettings(settings)}; this upload asks for ${key} ${String(asked[key])}. Leave ${key} out (or use another cohort name) so all its ECGs are comparable.`);
      }
    }
    checkRequest({ method: settings.method, class: settings.class, steps: settings.steps ?? undefined }, model);
  } else {
    const model = selectModel(models, options.model);
    const { method } = checkRequest(options, model);
    let className = options.class;
    if (className === undefined) {
      try {
        className = chooseCohortClass([label], model.classes);
      } catch {
        throw new LeadlightError('option_invalid', `The class of the new cohort "${name}" cannot be chosen from the label "${label}" (it names no class of ${model.id}, or only the normal control); give the field class with one of ${model.classes.join(', ')}.`);
      }
    }
    settings = { model: model.id, method, class: className, steps: options.steps ?? null };
  }
  return {
    options: { ...options, model: settings.model, method: settings.method, class: settings.class, ...(settings.steps === null ? {} : { steps: settings.steps }) },
    membership: { name, label, settings },
  };
}

/** Adds the analysed record to its cohort: one new key, expiring with the result. */
export async function addMember(kv: KvNamespace, membership: CohortMembership, resultId: string, result: Result, expiry: ExpiryChoice, now = new Date()): Promise<void> {
  const summary = { ...summariseResult(result, membership.settings.class), timingsMs: {} };
  const model = result.model as Result['model'] & { title?: string };
  const value: MemberValue = {
    v: 1,
    recordName: result.record.name,
    label: membership.label,
    settings: membership.settings,
    model: { id: model.id, ...(model.title ? { title: model.title } : {}), classes: model.classes, thresholds: model.thresholds },
    summary,
    createdAt: now.toISOString(),
  };
  const metadata: MemberMetadata = { v: 1, label: membership.label, ...membership.settings, createdAt: value.createdAt };
  const ttl = EXPIRY_CHOICES[expiry];
  await kv.put(`${memberPrefix(membership.name)}${resultId}`, JSON.stringify(value), ttl === null ? { metadata } : { expirationTtl: ttl, metadata });
}

/** Removes a result's cohort membership, given the stored result JSON (its `cohort` field names the cohort). */
export async function removeMember(kv: KvNamespace, resultId: string, resultJson: string): Promise<void> {
  let cohort: unknown;
  try {
    cohort = (JSON.parse(resultJson) as { cohort?: unknown }).cohort;
  } catch {
    return;
  }
  if (typeof cohort === 'string' && COHORT_NAME_PATTERN.test(cohort)) await kv.delete(`${memberPrefix(cohort)}${resultId}`);
}

function parseMember(text: string | null): MemberValue | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as MemberValue;
    return v && v.v === 1 && v.summary && v.settings ? v : null;
  } catch {
    return null;
  }
}

/** Groups of a live cohort: as the CLI (`chooseGroups`), else the group that is still missing stays empty. */
function liveGroups(labels: string[], className: string): { positive: string; control: string } {
  try {
    return chooseGroups(labels, className);
  } catch {
    const distinct = [...new Set(labels)];
    const wanted = canonicalClass(className);
    const positive = distinct.find((l) => l === className) ?? distinct.find((l) => wanted !== null && canonicalClass(l) === wanted) ?? className;
    const control = distinct.find((l) => l !== positive && canonicalClass(l) === 'NORM') ?? (positive === 'NORM' ? 'control' : 'NORM');
    return { positive, control };
  }
}

/**
 * cohort.json of a live cohort: every member computed with the cohort's settings (those of its first member; others
 * are left out with a warning), aggregated as `leadlight cohort` does and checked against the one schema.
 * Throws `option_invalid` for a bad name and `not_found` for a cohort without members.
 */
export async function readLiveCohort(kv: KvNamespace, name: string): Promise<CohortOutput> {
  checkCohortName(name);
  const keys = (await listMembers(kv, name)).slice(0, MAX_COHORT_MEMBERS);
  const values: MemberValue[] = [];
  for (let i = 0; i < keys.length; i += READ_BATCH) {
    const batch = await Promise.all(keys.slice(i, i + READ_BATCH).map((k) => kv.get(k.key, 'text')));
    for (const text of batch) {
      const member = parseMember(text);
      if (member) values.push(member);
    }
  }
  if (values.length === 0) {
    throw new LeadlightError('not_found', `There is no cohort "${name}" (no ECG was uploaded to it, or all have expired or been deleted); upload ECGs with the fields cohort and label.`);
  }
  const settings = values[0].settings;
  const warnings: { code: string; message: string }[] = [];
  const seen = new Map<string, number>();
  const members: CohortMember[] = [];
  for (const v of values) {
    if (!sameSettings(v.settings, settings)) {
      warnings.push({ code: 'record_skipped', message: `${v.recordName}: computed with ${describeSettings(v.settings)}, the cohort uses ${describeSettings(settings)}; the record is left out.` });
      continue;
    }
    const n = (seen.get(v.recordName) ?? 0) + 1;
    seen.set(v.recordName, n);
    members.push({ path: n === 1 ? v.recordName : `${v.recordName} #${n}`, label: v.label, summary: v.summary });
  }
  const cohort = assembleCohort({
    model: values[0].model,
    method: settings.method,
    className: settings.class,
    steps: settings.steps,
    labelsFile: `live cohort ${name}`,
    members,
    groups: liveGroups(members.map((m) => m.label), settings.class),
  });
  cohort.warnings.push(...warnings);
  return checkCohort(cohort, `The live cohort "${name}"`);
}
