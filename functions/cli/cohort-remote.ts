/**
 * `leadlight cohort --labels LABELS.csv --out DIR --remote URL` (../shared/docs/contract.md, "Additions (2026-12)"):
 * instead of analysing on this machine, uploads the labelled set to a Leadlight deployment (or the local
 * `npm start`) with `POST /api/cohorts` — in parts of at most PART_BYTES and PART_ROWS, the rest with
 * `POST /api/cohorts/{name}/records` and the cohort's token — follows its progress with a progress bar, and writes
 * the same DIR/cohort.json and report as a local run. The server never sees the local paths: records travel as
 * `r{row}/{file name}` and come back named `record {n}`, which are mapped back to the CSV's paths here.
 * DIR/remote.json keeps the cohort's address, name and token: a rerun follows the same cohort instead of uploading
 * it again, and the token deletes it (`DELETE /api/cohorts/{name}`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { zipSync } from 'fflate';
import { chooseCohortClass, type CohortOutput } from '../core/analysis/cohort-members.ts';
import { checkCohort } from '../core/cohort-schema.ts';
import { LeadlightError } from '../core/errors.ts';
import type { LeadName } from '../core/record.ts';
import { gatherRecordFiles } from './args.ts';
import type { LabelRow } from './cohort.ts';
import { writeCohortReport } from './cohort-report.ts';

/** Raw bytes of the files of one part (the server takes 16 MiB a request; zipped WFDB/MAT data shrinks little). */
export const PART_BYTES = 12 * 1024 * 1024;
/** Rows of one part (the server takes 2000). */
export const PART_ROWS = 1000;
/** How often the progress is asked for. */
const POLL_MS = 2000;

export interface RemoteOptions {
  url: string;
  rows: LabelRow[];
  labelsFile: string;
  outDir: string;
  name?: string;
  model?: string;
  method?: string;
  class?: string;
  steps?: number;
  expiry?: string;
  /** The leads whose average beats index.html shows first (`--beat-leads`; default V1 and V6). */
  beatLeads?: LeadName[];
}

interface RemoteState {
  url: string;
  name: string;
  deleteToken: string;
  rows: number;
}

type Served = CohortOutput & { name: string; status: 'running' | 'done'; progress: { done: number; failed: number; total: number } };

/** An API error as the server phrased it (`{error: {code, message}}`), or a plain one for anything else. */
async function apiError(response: Response, what: string): Promise<LeadlightError> {
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code && body.error.message) return new LeadlightError(body.error.code as 'request_invalid', `${what}: ${body.error.message}`);
  } catch {
    // not an API error body
  }
  return new LeadlightError('request_invalid', `${what}: the server answered ${response.status} ${response.statusText}; check --remote (the address of a Leadlight server).`);
}

async function fetchFrom(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new LeadlightError('request_invalid', `The server at ${new URL(url).origin} could not be reached (${(e as Error).message}); check --remote and that the server runs.`);
  }
}

/** One part: the CSV rows (paths inside the zip) and the zip of their files; rows whose files are missing go without. */
interface Part {
  csv: string;
  zip: Uint8Array;
  rows: number;
}

function csvField(text: string): string {
  return /[",\r\n]/u.test(text) ? `"${text.replace(/"/gu, '""')}"` : text;
}

/** Splits the rows into parts below PART_BYTES and PART_ROWS; each row's files go under `r{row}/`. */
function partsOf(rows: LabelRow[]): Part[] {
  const parts: Part[] = [];
  let lines: string[] = [];
  let files: Record<string, Uint8Array> = {};
  let bytes = 0;
  const flush = () => {
    if (lines.length === 0) return;
    parts.push({ csv: `path,label\n${lines.join('\n')}\n`, zip: zipSync(files, { level: 6 }), rows: lines.length });
    lines = [];
    files = {};
    bytes = 0;
  };
  rows.forEach((row, i) => {
    let recordFiles: { name: string; bytes: Uint8Array }[] = [];
    try {
      recordFiles = gatherRecordFiles([row.file]);
    } catch {
      // A missing or unreadable file: the row goes without files and the server lists it as failed, as a local run does.
    }
    const size = recordFiles.reduce((n, f) => n + f.bytes.byteLength, 0);
    if (lines.length > 0 && (bytes + size > PART_BYTES || lines.length >= PART_ROWS)) flush();
    const first = recordFiles[0]?.name ?? basename(row.file);
    for (const f of recordFiles) files[`r${i + 1}/${f.name}`] = f.bytes;
    lines.push(`${csvField(`r${i + 1}/${first}`)},${csvField(row.label)}`);
    bytes += size;
  });
  flush();
  return parts;
}

function formFor(part: Part, fields: Record<string, string | undefined>): FormData {
  const form = new FormData();
  form.append('labels', new Blob([part.csv], { type: 'text/csv' }), 'labels.csv');
  form.append('file', new Blob([part.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }), 'records.zip');
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') form.append(k, v);
  return form;
}

/** Uploads the set (first part creates the cohort, the rest are added with its token). */
async function uploadCohort(options: RemoteOptions, className: string): Promise<RemoteState> {
  const parts = partsOf(options.rows);
  const name = options.name ?? `${basename(resolve(options.outDir)).replace(/[^A-Za-z0-9_-]/gu, '-').slice(0, 40) || 'cohort'}-${Date.now().toString(36)}`;
  let state: RemoteState | null = null;
  for (const [k, part] of parts.entries()) {
    process.stderr.write(`cohort --remote: uploading part ${k + 1} of ${parts.length} (${part.rows} ECGs, ${(part.zip.byteLength / 1024 / 1024).toFixed(1)} MiB)\n`);
    if (!state) {
      const response = await fetchFrom(`${options.url}/api/cohorts`, {
        method: 'POST',
        body: formFor(part, { name, model: options.model, method: options.method, class: className, steps: options.steps?.toString(), expiry: options.expiry }),
      });
      if (response.status !== 202) throw await apiError(response, 'The cohort could not be created');
      const created = (await response.json()) as { name: string; deleteToken: string };
      state = { url: options.url, name: created.name, deleteToken: created.deleteToken, rows: options.rows.length };
      writeAtomically(join(options.outDir, 'remote.json'), `${JSON.stringify(state, null, 2)}\n`);
    } else {
      const response = await fetchFrom(`${options.url}/api/cohorts/${state.name}/records`, { method: 'POST', body: formFor(part, {}), headers: { authorization: `Bearer ${state.deleteToken}` } });
      if (response.status !== 202) throw await apiError(response, `Part ${k + 1} could not be added to the cohort ${state.name} (delete it with DELETE ${options.url}/api/cohorts/${state.name} and its token in ${join(options.outDir, 'remote.json')}, then rerun)`);
    }
  }
  return state as RemoteState;
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Draws the server's progress on stderr: a redrawn bar on a terminal, else a line whenever it changes. */
function progressLine(p: Served['progress'], startedMs: number, tty: boolean, last: string): string {
  const width = 30;
  const ended = p.done + p.failed;
  const filled = p.total > 0 ? Math.round((ended / p.total) * width) : 0;
  const elapsedS = (Date.now() - startedMs) / 1000;
  const eta = ended > 0 && ended < p.total ? ` ETA ${Math.round((elapsedS / ended) * (p.total - ended))} s` : '';
  const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${ended}/${p.total} (${p.failed} failed)${eta}`;
  if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  else if (line.replace(/ ETA.*$/u, '') !== last.replace(/ ETA.*$/u, '')) process.stderr.write(`${line}\n`);
  return line;
}

/** Follows the cohort until no member is pending; returns cohort.json as the server gives it. */
async function followCohort(state: RemoteState): Promise<Served> {
  const started = Date.now();
  const tty = Boolean(process.stderr.isTTY);
  let last = '';
  for (;;) {
    const response = await fetchFrom(`${state.url}/api/cohorts/${state.name}`, { headers: { 'cache-control': 'no-store' } });
    if (response.status !== 200) throw await apiError(response, `The cohort ${state.name} could not be read`);
    const served = (await response.json()) as Served;
    last = progressLine(served.progress, started, tty, last);
    if (served.status === 'done') {
      if (tty) process.stderr.write('\n');
      return served;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * The server's cohort.json as a local run writes it: members named `record {n}` get the n-th CSV row's path back,
 * `labelsFile` is the local CSV, and the serving fields (name, status, progress) are left out.
 */
export function localCohortOf(served: Served, rows: readonly LabelRow[], labelsFile: string): CohortOutput {
  const pathOf = (p: string) => {
    const m = /^record (\d+)$/u.exec(p);
    const row = m ? rows[Number(m[1]) - 1] : undefined;
    return row ? row.path : p;
  };
  const { name: _name, status: _status, progress: _progress, ...cohort } = served;
  const local: CohortOutput = {
    ...cohort,
    labelsFile,
    records: cohort.records.map((r) => ({ ...r, path: pathOf(r.path) })),
    scatter: { ...cohort.scatter, points: cohort.scatter.points.map((p) => ({ ...p, path: pathOf(p.path) })) },
    errors: cohort.errors.map((e) => ({ ...e, path: pathOf(e.path) })),
    details: cohort.details.map((d) => ({ ...d, path: pathOf(d.path) })),
  };
  return checkCohort(local, 'The cohort the server computed');
}

/** `leadlight cohort … --remote URL`: see the module comment. */
export async function runRemoteCohort(options: RemoteOptions): Promise<number> {
  const url = options.url.replace(/\/+$/u, '');
  if (!/^https?:\/\/[^/]+/u.test(url)) throw new LeadlightError('option_invalid', `--remote must be the address of a Leadlight server, e.g. http://localhost:8787; got "${options.url}".`);
  mkdirSync(options.outDir, { recursive: true });
  const statePath = join(options.outDir, 'remote.json');
  let state: RemoteState | null = null;
  if (existsSync(statePath) && statSync(statePath).isFile()) {
    const kept = JSON.parse(readFileSync(statePath, 'utf8')) as RemoteState;
    if (kept.url === url && kept.rows === options.rows.length && (options.name === undefined || options.name === kept.name)) {
      const probe = await fetchFrom(`${url}/api/cohorts/${kept.name}`);
      if (probe.status === 200) {
        state = kept;
        process.stderr.write(`cohort --remote: following the cohort ${kept.name} uploaded before (${statePath})\n`);
      }
    }
  }
  if (!state) {
    const modelsResponse = await fetchFrom(`${url}/api/models`);
    if (modelsResponse.status !== 200) throw await apiError(modelsResponse, 'The server’s models could not be read');
    const models = (await modelsResponse.json()) as { models: { id: string; classes: string[]; available?: boolean }[]; defaultModel: string | null };
    const modelId = options.model ?? models.defaultModel ?? undefined;
    const model = models.models.find((m) => m.id === modelId);
    if (!model) throw new LeadlightError('model_unknown', `The server has no model "${modelId}"; it has ${models.models.map((m) => m.id).join(', ')}.`);
    // The class from every row's label, as a local run chooses it (the first part alone may hold one group only).
    const className = options.class ?? chooseCohortClass(options.rows.map((r) => r.label), model.classes);
    state = await uploadCohort({ ...options, url, model: model.id }, className);
  }
  const served = await followCohort(state);
  if (!served.records) {
    const first = served.errors?.[0];
    throw new LeadlightError('request_invalid', `None of the ${options.rows.length} ECGs could be analysed on the server (first error: ${first?.code}: ${first?.message}); fix the paths or files and rerun.`);
  }
  const cohort = localCohortOf(served, options.rows, options.labelsFile);
  writeAtomically(join(options.outDir, 'cohort.json'), `${JSON.stringify(cohort)}\n`);
  writeCohortReport(join(options.outDir, 'index.html'), cohort, options.beatLeads ? { beatLeads: options.beatLeads } : {});
  process.stderr.write(
    `cohort --remote: ${cohort.records.length} of ${options.rows.length} ECGs analysed on ${url} (${cohort.errors.length} failed) in the cohort ${state.name}; ` +
      `${cohort.outcomes.TP} TP, ${cohort.outcomes.FP} FP, ${cohort.outcomes.FN} FN, ${cohort.outcomes.TN} TN. Delete it with its token in ${statePath}.\n`,
  );
  return 0;
}
