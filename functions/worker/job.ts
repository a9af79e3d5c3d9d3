/**
 * The job model of durable analyses (../shared/docs/contract.md, "Additions (2026-12)"): what one job is, the one
 * place its state lives (the job's Durable Object, ./analysis-job.ts), the queue message that asks for it to be run
 * (./queue.ts) and the container its input files wait in (R2, key `upload:v1:{id}`).
 *
 *   POST /api/records ──► R2 upload:v1:{id} ──► AnalysisJob "{id}" (queued) ──► queue message {v, id}
 *        queue() consumer: begin → read R2 → core pipeline (progress, partial maps → the job) → KV result:v1:{id}
 *                          → complete (done) → R2 input deleted
 *        bad input: failed with its 4xx code at once; a crash: retried, then the dead-letter consumer fails it;
 *        a consumer that vanished: the job's alarm (watchdog) sends the message again, then fails it.
 *
 * The page and the API read the job's state (`GET /api/jobs/{id}`) while it runs and the KV result once it is done.
 */
import { LeadlightError } from '../core/errors.ts';
import type { CohortMembership } from './cohorts.ts';
import type { ExpiryChoice } from './store.ts';
import type { UploadRequest } from './upload.ts';

export const JOB_STATUSES = ['queued', 'running', 'done', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Progress as the pipeline reports it (plus the edge's own stages). */
export interface JobProgress {
  stage: 'received' | 'queued' | 'reading' | 'classifying' | 'attributing' | 'analysing' | 'storing' | 'done' | 'failed';
  done?: number;
  total?: number;
}

export interface JobError {
  code: string;
  message: string;
}

/** What the API shows of a job: `GET /api/jobs/{id}`. */
export interface JobView {
  id: string;
  status: JobStatus;
  progress: JobProgress;
  error?: JobError;
}

/** What an accepted upload fixes about its job (written once by `create`). */
export interface JobSpec {
  id: string;
  /** The analysis options after the cohort's settings were applied. */
  options: UploadRequest['options'];
  membership: CohortMembership | null;
  expiry: ExpiryChoice;
  tokenSha256: string;
  createdAt: string;
  expiresAt: string | null;
  /**
   * A member of a cohort uploaded with POST /api/cohorts: nobody watches its job and cohort.json does not use its
   * faithfulness curves, so it sends no partial maps and its result leaves the curves out (108 forward passes).
   */
  fanOut?: boolean;
}

/** The one stored JSON of a job (Durable Object storage key `job`). */
export interface JobState extends JobSpec, JobView {
  v: 1;
  /** Deliveries that started the analysis. */
  attempts: number;
  /** Times the queue message was sent (the first send and the watchdog's). */
  sends: number;
  /** Of those, the watchdog's sends of a job that was still queued (not picked up: lost, or waiting in a backlog). */
  queuedResends?: number;
  /** Epoch ms of the last send. */
  sentAt: number;
  /** Epoch ms until which a running job's consumer counts as alive (renewed by every report). */
  leaseUntil: number | null;
  /** Changes of the state and of the partial map, for watchers. */
  version: number;
  partialVersion: number;
  /** The sanity check of the finished result, once asked for (POST /api/records/{id}/sanity, ./sanity.ts). */
  sanity?: SanityJobState;
}

/**
 * The state of a result's sanity check (issue 16, item 2; Adebayo et al. 2018), kept in the result's own job: asked
 * for (`queued`, its message sent at `sentAt`), `running` under a lease, `done` (the output is in KV
 * `sanity:v1:{id}`) or `failed` with a stable code.
 */
export interface SanityJobState {
  status: JobStatus;
  /** Cascade steps done of the total. */
  progress?: { done: number; total: number };
  error?: JobError;
  /** Deliveries that started the check. */
  attempts: number;
  sentAt: number;
  leaseUntil: number | null;
}

/** What the API shows of a sanity check (`GET /api/records/{id}/sanity`, without its output). */
export interface SanityView {
  status: JobStatus;
  progress?: { done: number; total: number };
  error?: JobError;
}

/** The queue message: the job's id only (everything else is in the job). */
export interface JobMessage {
  v: 1;
  id: string;
  /**
   * `faithfulness`: the job is done and its result stored; add the result's deletion/insertion curves (a second
   * write, sent by the consumer once the result is stored, so the report never waits for them). `sanity`: run the
   * result's sanity check (./sanity.ts), asked for from the report page.
   */
  then?: 'faithfulness' | 'sanity';
}

/** A change a watcher waits for: the view, its versions and the latest partial map when newer than the caller's. */
export interface JobChange {
  view: JobView;
  /** The progress since the caller's version, oldest first (at least the current one). */
  steps: JobProgress[];
  version: number;
  partialVersion: number;
  /** The latest partial result JSON (integrated gradients), when `partialVersion` is newer than the caller's. */
  partial?: string;
}

/** The RPC methods of the job's Durable Object (./analysis-job.ts). */
export interface AnalysisJobStub {
  create(spec: JobSpec): Promise<void>;
  read(): Promise<JobState | null>;
  watch(sinceVersion: number, sincePartialVersion: number, timeoutMs: number): Promise<JobChange | null>;
  begin(): Promise<JobState | null>;
  report(progress: JobProgress): Promise<boolean>;
  reportPartial(json: string): Promise<boolean>;
  release(): Promise<void>;
  complete(): Promise<boolean>;
  fail(error: JobError): Promise<void>;
  cancel(): Promise<void>;
  /** Asks for the sanity check of a done job: its state, and whether the caller must send its message. */
  sanityRequest(): Promise<{ view: SanityView; send: boolean } | null>;
  /** A delivery asks to run the check: true when it may (now `running`, with a lease). */
  sanityBegin(): Promise<boolean>;
  /** Steps done; renews the lease. False when the record (or the check) is gone: the consumer stops. */
  sanityReport(progress: { done: number; total: number }): Promise<boolean>;
  /** The output is stored: the check is done. False when the record is gone (the caller removes the output). */
  sanityComplete(): Promise<boolean>;
  sanityFail(error: JobError): Promise<void>;
  /** The consumer gives the check back (the queue retries it). */
  sanityRelease(): Promise<void>;
}

/** The R2 key of a job's input files. */
export function inputKeyOf(id: string): string {
  return `upload:v1:${id}`;
}

/** The view of a sanity check's state. */
export function sanityViewOf(s: SanityJobState): SanityView {
  return { status: s.status, ...(s.progress ? { progress: s.progress } : {}), ...(s.error ? { error: s.error } : {}) };
}

/** The view of a state: what the API and the page see. */
export function viewOf(state: JobState): JobView {
  return { id: state.id, status: state.status, progress: state.progress, ...(state.error ? { error: state.error } : {}) };
}

export function isJobMessage(body: unknown): body is JobMessage {
  const m = body as JobMessage | null;
  return typeof m === 'object' && m !== null && m.v === 1 && typeof m.id === 'string' && /^[A-Za-z0-9_-]{22}$/u.test(m.id) && (m.then === undefined || m.then === 'faithfulness' || m.then === 'sanity');
}

/**
 * The input container: `LLJ1`, a little-endian u32 with the byte length of a JSON header `{files: [{name, bytes}]}`,
 * the header, then the files' bytes in order. One R2 object per job, written once, deleted when the job ends.
 */
const MAGIC = [0x4c, 0x4c, 0x4a, 0x31];

export function packInput(files: { name: string; bytes: Uint8Array }[]): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ files: files.map((f) => ({ name: f.name, bytes: f.bytes.byteLength })) }));
  const total = 8 + header.byteLength + files.reduce((n, f) => n + f.bytes.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.byteLength, true);
  out.set(header, 8);
  let offset = 8 + header.byteLength;
  for (const f of files) {
    out.set(f.bytes, offset);
    offset += f.bytes.byteLength;
  }
  return out;
}

/** The files of a container; a malformed one is Leadlight's own fault (`internal`), never the uploader's. */
export function unpackInput(bytes: Uint8Array): { name: string; bytes: Uint8Array }[] {
  const corrupt = () => new LeadlightError('internal', 'The stored input of this job is unreadable.');
  if (bytes.byteLength < 8 || MAGIC.some((b, i) => bytes[i] !== b)) throw corrupt();
  const headerBytes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + headerBytes > bytes.byteLength) throw corrupt();
  let header: { files?: { name?: unknown; bytes?: unknown }[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerBytes)));
  } catch {
    throw corrupt();
  }
  const files: { name: string; bytes: Uint8Array }[] = [];
  let offset = 8 + headerBytes;
  for (const f of header.files ?? []) {
    if (typeof f.name !== 'string' || typeof f.bytes !== 'number' || !Number.isInteger(f.bytes) || f.bytes < 0 || offset + f.bytes > bytes.byteLength) throw corrupt();
    files.push({ name: f.name, bytes: bytes.subarray(offset, offset + f.bytes) });
    offset += f.bytes;
  }
  if (offset !== bytes.byteLength || files.length === 0) throw corrupt();
  return files;
}
