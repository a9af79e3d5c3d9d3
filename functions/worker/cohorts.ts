/**
 * Cohorts on the server (../shared/docs/contract.md, "Cohorts" and "Additions (2026-12)"): a labelled set uploaded
 * once (`POST /api/cohorts`: labels.csv + the records, then more with `POST /api/cohorts/{name}/records`) is fanned
 * out as one job per record on the jobs queue (`sendBatch`, 100 messages a call); single uploads that carry the
 * fields `cohort` and `label` join the same kind of cohort. A cohort's state lives in its Durable Object
 * (./cohort.ts): members, summaries, failures, the aggregate's version; its cohort.json (`assembleCohort`, the same
 * code as `leadlight cohort`) is served by `GET /api/cohorts/{name}` with the progress; `DELETE` with the cohort's
 * token removes it, its stored inputs and its members' results.
 *
 * Privacy: a member is named by the CSV's optional column `name`, else by its position (`record 17`); paths and
 * file names of the upload are used to find the records and never stored.
 */
import { parseMethod } from '../core/attribution/attribute.ts';
import { checkLabel, matchLabelledRows, parseLabelsCsv, type LabelledRow } from '../core/analysis/cohort-labels.ts';
import { chooseCohortClass, cohortModelInfoOf } from '../core/analysis/cohort-members.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InstalledModel } from '../core/model/manifest.ts';
import { checkRequest, selectModel } from '../core/pipeline.ts';
import { isZip, unzipEntries, type ArchiveEntry } from '../core/readers/archive.ts';
import type { Result } from '../core/result.ts';
import { memberReportOf } from '../core/analysis/cohort-members.ts';
import type { CohortMeta, CohortSettings, CohortStub, CohortView, NewMember } from './cohort.ts';
import type { Env } from './env.ts';
import { type JobMessage, type JobSpec, inputKeyOf, packInput } from './job.ts';
import { EXPIRY_CHOICES, type ExpiryChoice, ID_BYTES, TOKEN_BYTES, checkDeleteToken, parseExpiry, randomBase64Url, sha256Hex } from './store.ts';
import { type UploadRequest, baseName, readBodyCapped } from './upload.ts';

export { checkLabel } from '../core/analysis/cohort-labels.ts';
export type { CohortSettings } from './cohort.ts';

export const COHORT_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/u;
/** Rows one request may add (each costs an R2 write, a Durable Object call and 1/100 of a queue call). */
export const MAX_MEMBERS_PER_REQUEST = 2000;
/**
 * Members of one cohort at most: its aggregation holds every member's summary (~3.2 kB of JS heap each) and builds
 * cohort.json in one isolate of 128 MB; `npm run memory:cohort` measured 47 MB live at 10 000 members and 104 MB at
 * 21 799 (PTB-XL's size), too close to the limit.
 */
export const MAX_COHORT_MEMBERS = 12_000;
/** Bytes of one cohort request (a part): its zip and its decoded files must fit a 128 MB isolate beside the model. */
export const MAX_COHORT_PART_BYTES = 16 * 1024 * 1024;
/** Decoded bytes of one part's archives. */
const MAX_COHORT_DECODED_BYTES = 32 * 1024 * 1024;
/** Entries of one part's zip. */
const MAX_COHORT_ENTRIES = 20_000;
/** Writes of one request under way at once (Workers allow six open connections). */
const PARALLEL_WRITES = 6;
/** Messages per `sendBatch` (the Queues limit). */
const SEND_BATCH = 100;
/** A DELETE removes this many members itself before it leaves the rest to the cohort's alarm. */
const DELETE_IN_REQUEST = 2000;
const TEXT_FIELDS = ['name', 'model', 'method', 'class', 'steps', 'expiry', 'labels'] as const;

/** A cohort's membership as its jobs carry it: the cohort, the member's ground truth and the cohort's settings. */
export interface CohortMembership {
  name: string;
  label: string;
  settings: CohortSettings;
}

export function cohortOf(env: Env, name: string): CohortStub {
  return env.COHORTS.get(env.COHORTS.idFromName(name));
}

/** The cohort name, or `option_invalid` when it is not 1–64 letters, digits, `_` or `-`. */
export function checkCohortName(name: string): string {
  if (!COHORT_NAME_PATTERN.test(name)) {
    throw new LeadlightError('option_invalid', `The cohort name "${name.slice(0, 70)}" is not accepted; use 1 to 64 letters, digits, "_" or "-" (e.g. af-study_2024).`);
  }
  return name;
}

function describeSettings(s: CohortSettings): string {
  return `model ${s.model}, method ${s.method}, class ${s.class}${s.steps === null ? '' : `, ${s.steps} steps`}`;
}

/** Options that differ from the cohort's settings are refused: all members of a cohort are comparable. */
function checkSameSettings(name: string, settings: CohortSettings, options: UploadRequest['options']): void {
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
}

/** A cohort made by POST /api/cohorts takes records and is deleted only with its token. */
async function checkCohortToken(name: string, meta: CohortMeta, authorization: string | null, action: 'add' | 'delete' = 'add'): Promise<void> {
  if (meta.tokenSha256 === null) {
    throw new LeadlightError('forbidden', action === 'add'
      ? `The cohort "${name}" was grown by single uploads and has no token; add records to it by uploading them with the fields cohort and label.`
      : `The cohort "${name}" was grown by single uploads and has no token; delete its records one by one with their own delete tokens (DELETE /api/records/{id}).`);
  }
  try {
    await checkDeleteToken(authorization, meta.tokenSha256);
  } catch (e) {
    if (!(e instanceof LeadlightError)) throw e;
    throw new LeadlightError(e.code, `The cohort "${name}" takes changes only with its token (the deleteToken POST /api/cohorts answered) in the header "Authorization: Bearer <token>"; ${e.code === 'unauthorized' ? 'add it' : 'the token given is not this cohort’s'}.`);
  }
}

/** A single upload's cohort: its membership, and the cohort to create with it when it is the first upload. */
export interface CohortPlan {
  options: UploadRequest['options'];
  membership: CohortMembership;
  /** The new cohort's description, created only once the upload is accepted (null: the cohort exists). */
  create: CohortMeta | null;
}

/**
 * Checks the cohort fields of a single upload BEFORE it is analysed and fixes the options it is analysed with: null
 * when the upload names no cohort; else the membership with the cohort's settings, or for a new cohort the requested
 * model and method and the class chosen from the label. Throws `option_invalid` (bad name or label, no label,
 * settings that differ from the cohort's) or, for a cohort made by POST /api/cohorts, `unauthorized`/`forbidden`
 * without its token. Nothing is written here (see `joinCohort`).
 */
export async function planCohortUpload(env: Env, options: UploadRequest['options'], models: InstalledModel[], authorization: string | null): Promise<CohortPlan | null> {
  if (options.label !== undefined) checkLabel(options.label);
  if (options.cohort === undefined) return null;
  const name = checkCohortName(options.cohort);
  if (options.label === undefined) {
    throw new LeadlightError('option_invalid', `An upload to the cohort "${name}" needs its ground truth in the field label (e.g. AF or NORM); add it and upload again.`);
  }
  const meta = await cohortOf(env, name).describe();
  let create: CohortMeta | null = null;
  let settings: CohortSettings;
  if (meta) {
    if (meta.tokenSha256 !== null) await checkCohortToken(name, meta, authorization);
    settings = meta.settings;
    checkSameSettings(name, settings, options);
    checkRequest({ method: settings.method, class: settings.class, steps: settings.steps ?? undefined }, selectModel(models, settings.model));
  } else {
    const model = selectModel(models, options.model);
    const { method } = checkRequest(options, model);
    let className = options.class;
    if (className === undefined) {
      try {
        className = chooseCohortClass([options.label], model.classes);
      } catch {
        throw new LeadlightError('option_invalid', `The class of the new cohort "${name}" cannot be chosen from the label "${options.label}" (it names no class of ${model.id}, or only the normal control); give the field class with one of ${model.classes.join(', ')}.`);
      }
    }
    settings = { model: model.id, method, class: className, steps: options.steps ?? null };
    create = { v: 1, name, settings, model: cohortModelInfoOf(model), tokenSha256: null, createdAt: new Date().toISOString(), expiresAt: null, labelsFile: `live cohort ${name}` };
  }
  return {
    options: { ...options, model: settings.model, method: settings.method, class: settings.class, ...(settings.steps === null ? {} : { steps: settings.steps }) },
    membership: { name, label: options.label, settings },
    create,
  };
}

/**
 * An accepted single upload's job joins its cohort (pending until its summary arrives), creating the cohort when
 * the plan says so; when another first upload created it meanwhile with other settings, `option_invalid`.
 */
export async function joinCohort(env: Env, plan: CohortPlan, id: string, expiresAt: string | null): Promise<void> {
  const { name, label, settings } = plan.membership;
  const stub = cohortOf(env, name);
  if (plan.create) {
    const stored = await stub.create(plan.create);
    if (stored.tokenSha256 !== null || JSON.stringify(stored.settings) !== JSON.stringify(settings)) {
      throw new LeadlightError('option_invalid', `The cohort "${name}" was started meanwhile by another upload with ${describeSettings(stored.settings)}; upload again to join it with those settings.`);
    }
  }
  const progress = await stub.addMembers([{ id, path: null, label, expiresAt }]);
  if (progress === null) throw new LeadlightError('not_found', `The cohort "${name}" was deleted meanwhile; upload again to start it anew.`);
  if (progress.total > MAX_COHORT_MEMBERS) {
    await stub.removeMembers([id]);
    throw new LeadlightError('option_invalid', `The cohort "${name}" already has ${MAX_COHORT_MEMBERS} ECGs, the most a cohort holds; start a new cohort name.`);
  }
}

/** The consumer's report of a member whose result is stored: its summary for the cohort's class and its beats. */
export async function reportMemberDone(env: Env, membership: CohortMembership, id: string, result: Result): Promise<void> {
  const { recordName, summaryJson, beats } = memberReportOf(result, membership.settings.class);
  await cohortOf(env, membership.name).memberDone(id, recordName, summaryJson, beats);
}

/** A record deleted with its token (or a job rolled back) leaves its cohort. */
export async function leaveCohort(env: Env, id: string, cohortName: string | null | undefined): Promise<void> {
  if (typeof cohortName === 'string' && COHORT_NAME_PATTERN.test(cohortName)) await cohortOf(env, cohortName).removeMembers([id]);
}

/** The cohort named in a stored result JSON (its field `cohort`), or null. */
export function cohortNameOfResult(json: string): string | null {
  try {
    const cohort = (JSON.parse(json) as { cohort?: unknown }).cohort;
    return typeof cohort === 'string' ? cohort : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// POST /api/cohorts and POST /api/cohorts/{name}/records

interface CohortUpload {
  fields: Partial<Record<(typeof TEXT_FIELDS)[number], string>>;
  labels: Uint8Array | string;
  entries: ArchiveEntry[];
}

/** Reads a cohort part: the labels CSV (field `labels`, a file or text), the records (`file`: zips or files) and the options. */
async function readCohortUpload(request: Request, maxBytes: number): Promise<CohortUpload> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data\s*;/iu.test(contentType) || !/boundary=/iu.test(contentType)) {
    throw new LeadlightError('request_invalid', 'Send a cohort as multipart/form-data: the labels CSV in a field named "labels" and the records in fields named "file" (a zip, or the files).');
  }
  let form: FormData | null;
  try {
    form = await new Response((await readBodyCapped(request, maxBytes)) as BodyInit, { headers: { 'content-type': contentType } }).formData();
  } catch (e) {
    if (e instanceof LeadlightError) {
      if (e.code === 'file_too_large') throw new LeadlightError('file_too_large', `A cohort request is at most ${maxBytes / 1024 / 1024} MiB; send the rest of the records with POST /api/cohorts/{name}/records (npx leadlight cohort --remote splits them itself).`);
      throw e;
    }
    throw new LeadlightError('request_invalid', 'The multipart body could not be parsed; send it as multipart/form-data.');
  }
  const fields: CohortUpload['fields'] = {};
  let labels: Uint8Array | string | null = null;
  const entries: ArchiveEntry[] = [];
  const budget = { remainingBytes: MAX_COHORT_DECODED_BYTES };
  for (const [key, value] of form.entries()) {
    if (key === 'file') {
      if (typeof value === 'string') throw new LeadlightError('request_invalid', 'The "file" field must be a file upload, not text.');
      const bytes = new Uint8Array(await (value as File).arrayBuffer());
      if (isZip(bytes)) entries.push(...unzipEntries(bytes, budget, MAX_COHORT_ENTRIES));
      else entries.push({ path: baseName((value as File).name), bytes });
      continue;
    }
    if (!(TEXT_FIELDS as readonly string[]).includes(key)) {
      throw new LeadlightError('request_invalid', `The form field "${key.slice(0, 40)}" is not known; accepted: labels, file, ${TEXT_FIELDS.filter((f) => f !== 'labels').join(', ')}.`);
    }
    if (key === 'labels') {
      if (labels !== null) throw new LeadlightError('request_invalid', 'The field "labels" was given more than once; give one labels CSV.');
      labels = typeof value === 'string' ? value : new Uint8Array(await (value as File).arrayBuffer());
      continue;
    }
    if (typeof value !== 'string') throw new LeadlightError('request_invalid', `The field "${key}" must be text, not a file.`);
    if (Object.hasOwn(fields, key)) throw new LeadlightError('request_invalid', `The field "${key}" was given more than once; give it once.`);
    if (value.length > 200) throw new LeadlightError('option_invalid', `The field "${key}" is longer than 200 characters; shorten it.`);
    fields[key as keyof CohortUpload['fields']] = value.trim();
  }
  form = null;
  if (labels === null) throw new LeadlightError('request_invalid', 'No labels CSV was sent; add it in a field named "labels" (columns path and label, one row per record).');
  if (entries.length === 0) throw new LeadlightError('request_invalid', 'No records were sent; add them in fields named "file" (a zip of the records, or their files).');
  return { fields, labels, entries };
}

function optionsOf(fields: CohortUpload['fields']): UploadRequest['options'] {
  const options: UploadRequest['options'] = {};
  for (const key of ['model', 'method', 'class'] as const) if (fields[key]) options[key] = fields[key];
  if (fields.steps) {
    if (!/^\d{1,4}$/u.test(fields.steps)) throw new LeadlightError('steps_invalid', `The number of steps "${fields.steps.slice(0, 20)}" is not a whole number; give e.g. 64 or leave it empty for the fast default.`);
    options.steps = Number(fields.steps);
  }
  return options;
}

function readRows(labels: Uint8Array | string): LabelledRow[] {
  const rows = parseLabelsCsv(labels);
  if (rows.length > MAX_MEMBERS_PER_REQUEST) {
    throw new LeadlightError('option_invalid', `One request adds at most ${MAX_MEMBERS_PER_REQUEST} records; this labels CSV has ${rows.length}. Send the rest with POST /api/cohorts/{name}/records.`);
  }
  for (const row of rows) {
    try {
      checkLabel(row.label);
    } catch {
      throw new LeadlightError('option_invalid', `The label on line ${row.line} of the labels CSV is longer than 64 characters or has control characters; give a short ground-truth label such as AF or NORM.`);
    }
  }
  return rows;
}

/** Runs `work` over `items` with at most `limit` under way at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

/**
 * Adds the rows of one part to a cohort: every row becomes a member (pending, or failed at once when the upload has
 * no file for it), every matched row a job (its files in R2, its Durable Object, one message; messages in batches
 * of 100). On any failure the members and jobs of this part are removed again and the error is passed on.
 */
async function addPart(env: Env, meta: CohortMeta, rows: LabelledRow[], entries: ArchiveEntry[]): Promise<number> {
  const stub = cohortOf(env, meta.name);
  const matched = matchLabelledRows(rows, entries);
  const members = matched.map((m) => ({ id: randomBase64Url(ID_BYTES), match: m }));
  const newMembers: NewMember[] = members.map(({ id, match }) => ({
    id,
    path: match.row.name ?? null,
    numbered: match.row.name === undefined,
    label: match.row.label,
    expiresAt: meta.expiresAt,
    ...('error' in match ? { error: match.error } : {}),
  }));
  const progress = await stub.addMembers(newMembers);
  if (progress === null) throw new LeadlightError('not_found', `The cohort "${meta.name}" was deleted meanwhile.`);
  const jobs = members.filter((m) => 'files' in m.match);
  try {
    if (progress.total > MAX_COHORT_MEMBERS) {
      throw new LeadlightError('option_invalid', `A cohort holds at most ${MAX_COHORT_MEMBERS} records; this part would make it ${progress.total}. Start another cohort for the rest.`);
    }
    const { settings } = meta;
    await eachLimited(jobs, PARALLEL_WRITES, async ({ id, match }) => {
      if (!('files' in match)) return;
      const spec: JobSpec = {
        id,
        options: { model: settings.model, method: settings.method, class: settings.class, ...(settings.steps === null ? {} : { steps: settings.steps }), cohort: meta.name, label: match.row.label, ...(match.row.name ? { name: match.row.name } : {}) },
        membership: { name: meta.name, label: match.row.label, settings },
        expiry: expiryOf(meta),
        tokenSha256: meta.tokenSha256 as string,
        createdAt: meta.createdAt,
        expiresAt: meta.expiresAt,
        fanOut: true,
      };
      await env.UPLOADS.put(inputKeyOf(id), packInput(match.files));
      await env.JOBS.get(env.JOBS.idFromName(id)).create(spec);
    });
    for (let i = 0; i < jobs.length; i += SEND_BATCH) {
      await env.JOB_QUEUE.sendBatch(jobs.slice(i, i + SEND_BATCH).map(({ id }): { body: JobMessage } => ({ body: { v: 1, id } })));
    }
  } catch (e) {
    // Nothing half-written: this part's jobs (with their inputs) and members go again.
    await eachLimited(jobs, PARALLEL_WRITES, async ({ id }) => {
      await env.JOBS.get(env.JOBS.idFromName(id)).cancel().catch(() => env.UPLOADS.delete(inputKeyOf(id)).catch(() => undefined));
    });
    await stub.removeMembers(members.map((m) => m.id)).catch(() => undefined);
    throw e;
  }
  return members.length;
}

function expiryOf(meta: CohortMeta): ExpiryChoice {
  if (meta.expiresAt === null) return 'never';
  const ttlS = (Date.parse(meta.expiresAt) - Date.parse(meta.createdAt)) / 1000;
  return (Object.keys(EXPIRY_CHOICES) as ExpiryChoice[]).find((k) => EXPIRY_CHOICES[k] === ttlS) ?? '30d';
}

export interface CohortCreated {
  name: string;
  url: string;
  deleteToken: string;
  members: number;
  expiresAt: string | null;
}

/** `POST /api/cohorts`: a new cohort from a labels CSV and its records; 202 once every job is queued. */
export async function createCohort(request: Request, env: Env, models: InstalledModel[], maxBytes: number): Promise<CohortCreated> {
  const upload = await readCohortUpload(request, Math.min(maxBytes, MAX_COHORT_PART_BYTES));
  const rows = readRows(upload.labels);
  const name = upload.fields.name ? checkCohortName(upload.fields.name) : `cohort-${randomBase64Url(6).replace(/[^A-Za-z0-9]/gu, 'x')}`;
  const options = optionsOf(upload.fields);
  const model = selectModel(models, options.model);
  const { method } = checkRequest(options, model);
  const className = options.class ?? chooseCohortClass(rows.map((r) => r.label), model.classes);
  checkRequest({ ...options, class: className }, model);
  const expiry = parseExpiry(upload.fields.expiry);
  const deleteToken = randomBase64Url(TOKEN_BYTES);
  const now = new Date();
  const ttl = EXPIRY_CHOICES[expiry];
  const meta: CohortMeta = {
    v: 1,
    name,
    settings: { model: model.id, method, class: className, steps: options.steps ?? null },
    model: cohortModelInfoOf(model),
    tokenSha256: await sha256Hex(deleteToken),
    createdAt: now.toISOString(),
    expiresAt: ttl === null ? null : new Date(now.getTime() + ttl * 1000).toISOString(),
    labelsFile: `labels.csv of the cohort ${name}`,
  };
  const stub = cohortOf(env, name);
  const stored = await stub.create(meta);
  if (stored.tokenSha256 !== meta.tokenSha256) {
    throw new LeadlightError('cohort_exists', `There is already a cohort "${name}"; choose another name, or add records to yours with POST /api/cohorts/${name}/records and its token.`);
  }
  try {
    const members = await addPart(env, meta, rows, upload.entries);
    return { name, url: `/cohorts/live/?name=${name}`, deleteToken, members, expiresAt: meta.expiresAt };
  } catch (e) {
    await removeCohort(env, name).catch(() => undefined);
    throw e;
  }
}

/** `POST /api/cohorts/{name}/records` (with the cohort's token): more records and labels for a cohort. */
export async function addCohortRecords(request: Request, env: Env, name: string, maxBytes: number): Promise<{ name: string; members: number; total: number }> {
  checkCohortName(name);
  const meta = await cohortOf(env, name).describe();
  if (!meta) throw noCohort(name);
  await checkCohortToken(name, meta, request.headers.get('authorization'));
  const upload = await readCohortUpload(request, Math.min(maxBytes, MAX_COHORT_PART_BYTES));
  const rows = readRows(upload.labels);
  checkSameSettings(name, meta.settings, optionsOf(upload.fields));
  if (upload.fields.name && upload.fields.name !== name) throw new LeadlightError('option_invalid', `This address adds to the cohort "${name}"; leave the field name out or give the same name.`);
  const members = await addPart(env, meta, rows, upload.entries);
  const view = await cohortOf(env, name).view();
  return { name, members, total: view?.progress.total ?? members };
}

function noCohort(name: string): LeadlightError {
  return new LeadlightError('not_found', `There is no cohort "${name}" (it was never created, has expired or was deleted); create it with POST /api/cohorts, or upload ECGs with the fields cohort and label.`);
}

// ---------------------------------------------------------------------------------------------------------------
// GET and DELETE /api/cohorts/{name}

/**
 * The body of `GET /api/cohorts/{name}`: cohort.json with `name`, `status` ("running" | "done") and `progress`
 * ({done, failed, total}); while no member is done yet, only those three (and `errors` once all failed).
 */
export async function readCohortJson(env: Env, name: string): Promise<string> {
  checkCohortName(name);
  const view: CohortView | null = await cohortOf(env, name).view();
  if (!view || view.status === 'deleting') throw noCohort(name);
  const head = JSON.stringify({ name, status: view.status, progress: view.progress });
  if (view.aggregateKey === null) return view.errors ? JSON.stringify({ name, status: view.status, progress: view.progress, errors: view.errors }) : head;
  const object = await env.UPLOADS.get(view.aggregateKey);
  if (!object) return head;
  const text = new TextDecoder().decode(await object.arrayBuffer());
  // cohort.json as stored, with the three fields in front (its own fields are never these).
  return `${head.slice(0, -1)},${text.slice(1)}`;
}

/** Removes a cohort: at once answers as absent; members (jobs, inputs, results) go in batches here, then by the alarm. */
async function removeCohort(env: Env, name: string): Promise<number> {
  const stub = cohortOf(env, name);
  await stub.startDelete();
  let remaining = Infinity;
  for (let removed = 0; remaining > 0 && removed < DELETE_IN_REQUEST; removed += 200) remaining = await stub.deleteSome(200);
  return remaining;
}

/** `DELETE /api/cohorts/{name}` with the cohort's token: 0 when everything is gone, else the members the alarm still removes. */
export async function deleteCohort(request: Request, env: Env, name: string): Promise<number> {
  checkCohortName(name);
  const meta = await cohortOf(env, name).describe();
  if (!meta) {
    if (!/^Bearer\s+\S+\s*$/iu.test(request.headers.get('authorization') ?? '')) await checkDeleteToken(request.headers.get('authorization'), '');
    throw noCohort(name);
  }
  await checkCohortToken(name, meta, request.headers.get('authorization'), 'delete');
  return removeCohort(env, name);
}

