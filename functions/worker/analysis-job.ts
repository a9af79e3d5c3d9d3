/**
 * AnalysisJob: one Durable Object (SQLite storage) per job, named by the result id — the one place a job's state
 * lives (./job.ts): status, progress, the latest partial map of integrated gradients, the error. The fetch routes
 * create it and watch it; the queue consumer begins, reports, completes or fails it; its alarm is the watchdog.
 *
 * Leases: `begin` lets one delivery run the job and gives it LEASE_MS; every report renews it. A running job whose
 * lease ran out (its consumer died with its machine or isolate) is sent to the queue again, at most MAX_SENDS times
 * in all, then the job ends `failed` with `analysis_failed`. A queued job whose message was not picked up is sent
 * again after QUEUED_MS, then after doubling waits (a cohort's backlog is no lost message), and given up after
 * MAX_QUEUED_MS. A finished job keeps its small state (no input, no partial map) until its result expires.
 * Delivery is at least once: `begin` refuses a job that is finished or held by a live lease, so a duplicate message
 * does no work, and the result key is fixed by the id.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from './env.ts';
import { cohortOf } from './cohorts.ts';
import { type AnalysisJobStub, type JobChange, type JobError, type JobProgress, type JobSpec, type JobState, type SanityView, inputKeyOf, sanityViewOf, viewOf } from './job.ts';

/** A running job whose consumer has not reported for this long is presumed dead. */
export const LEASE_MS = 120_000;
/** A queued job whose message has not been picked up for this long is sent again. */
export const QUEUED_MS = 120_000;
/** Sends of one job's message at most when its consumer keeps dying (the first and the watchdog's). */
export const MAX_SENDS = 4;
/** The longest wait between two sends of a queued job's message (the wait doubles from QUEUED_MS). */
export const MAX_QUEUED_WAIT_MS = 60 * 60_000;
/** A job still queued this long after it was accepted is given up. */
export const MAX_QUEUED_MS = 24 * 60 * 60_000;
/** How long a queued job waits after its `resends`-th resend by the watchdog: 2, 4, 8 … 60 minutes. */
function queuedWaitMs(resends: number): number {
  return Math.min(QUEUED_MS * 2 ** resends, MAX_QUEUED_WAIT_MS);
}
/** Progress writes at most this often (a report still renews the lease in memory). */
const PROGRESS_WRITE_MS = 500;
/** The partial map is stored in pieces below SQLite storage's 2 MB value limit. */
const PARTIAL_PIECE_CHARS = 512 * 1024;

type Waiter = () => void;

export class AnalysisJob extends DurableObject<Env> implements AnalysisJobStub {
  private state: JobState | null | undefined;
  private partialCache: string | null = null;
  private waiters = new Set<Waiter>();
  private lastWrite = 0;
  /** The recent progress of this instance with the version it came with, so a watcher misses no stage. */
  private history: { version: number; progress: JobProgress }[] = [];

  private async load(): Promise<JobState | null> {
    if (this.state === undefined) this.state = (await this.ctx.storage.get<JobState>('job')) ?? null;
    return this.state;
  }

  /** Stores the state (and wakes the watchers) after a change. */
  private async save(state: JobState, alarmAt: number | null): Promise<void> {
    state.version += 1;
    this.state = state;
    this.history.push({ version: state.version, progress: state.progress });
    if (this.history.length > 64) this.history.shift();
    await this.ctx.storage.put('job', state);
    this.lastWrite = Date.now();
    if (alarmAt === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(alarmAt);
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** Drops the inputs and the partial map of a job that has ended. */
  private async dropWorkingData(id: string): Promise<void> {
    this.partialCache = null;
    await this.ctx.storage.delete(await this.partialKeys());
    await this.env.UPLOADS.delete(inputKeyOf(id)).catch(() => undefined);
  }

  private async partialKeys(): Promise<string[]> {
    const pieces = (await this.ctx.storage.get<number>('partialPieces')) ?? 0;
    return ['partialPieces', ...Array.from({ length: pieces }, (_, i) => `partial:${i}`)];
  }

  /** When a finished job's state goes: with its result (never for results kept until deleted). */
  private expiryAlarm(state: JobState): number | null {
    return state.expiresAt === null ? null : Date.parse(state.expiresAt);
  }

  /** Creates the job as `queued` (the caller sends the message next); a second create of the same job is a no-op. */
  async create(spec: JobSpec): Promise<void> {
    if (await this.load()) return;
    const now = Date.now();
    const state: JobState = {
      v: 1,
      ...spec,
      status: 'queued',
      progress: { stage: 'queued' },
      attempts: 0,
      sends: 1,
      sentAt: now,
      leaseUntil: null,
      version: 0,
      partialVersion: 0,
    };
    await this.save(state, now + QUEUED_MS);
  }

  async read(): Promise<JobState | null> {
    return this.load();
  }

  /**
   * The job's view once its version is newer than `sinceVersion` (or its partial map newer than
   * `sincePartialVersion`), waiting up to `timeoutMs`; null for a job that does not exist (or was cancelled).
   */
  async watch(sinceVersion: number, sincePartialVersion: number, timeoutMs: number): Promise<JobChange | null> {
    let state = await this.load();
    if (state && state.version <= sinceVersion && state.partialVersion <= sincePartialVersion && state.status !== 'done' && state.status !== 'failed') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, Math.min(timeoutMs, 30_000)));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(() => done());
      });
      state = await this.load();
    }
    if (!state) return null;
    const steps = this.history.filter((h) => h.version > sinceVersion).map((h) => h.progress);
    const change: JobChange = { view: viewOf(state), version: state.version, partialVersion: state.partialVersion, steps: steps.length > 0 ? steps : [state.progress] };
    if (state.partialVersion > sincePartialVersion && state.status !== 'done') {
      const partial = await this.readPartial();
      if (partial !== null) change.partial = partial;
    }
    return change;
  }

  private async readPartial(): Promise<string | null> {
    if (this.partialCache !== null) return this.partialCache;
    const pieces = (await this.ctx.storage.get<number>('partialPieces')) ?? 0;
    if (pieces === 0) return null;
    const keys = Array.from({ length: pieces }, (_, i) => `partial:${i}`);
    const stored = await this.ctx.storage.get<string>(keys);
    this.partialCache = keys.map((k) => stored.get(k) ?? '').join('');
    return this.partialCache;
  }

  /** A delivery asks to run the job: the state when it may (now `running`, with a lease), else null. */
  async begin(): Promise<JobState | null> {
    const state = await this.load();
    if (!state || state.status === 'done' || state.status === 'failed') return null;
    const now = Date.now();
    if (state.status === 'running' && state.leaseUntil !== null && state.leaseUntil > now) return null;
    state.status = 'running';
    state.attempts += 1;
    state.leaseUntil = now + LEASE_MS;
    state.progress = { stage: 'reading' };
    await this.save(state, state.leaseUntil);
    return state;
  }

  /** Progress from the consumer; renews its lease. False when the job is gone (cancelled): the consumer stops. */
  async report(progress: JobProgress): Promise<boolean> {
    const state = await this.load();
    if (!state) return false;
    if (state.status !== 'running') return state.status !== 'done' && state.status !== 'failed';
    const now = Date.now();
    const stageChanged = state.progress.stage !== progress.stage;
    state.progress = { stage: progress.stage, ...(progress.done !== undefined ? { done: progress.done } : {}), ...(progress.total !== undefined ? { total: progress.total } : {}) };
    state.leaseUntil = now + LEASE_MS;
    if (stageChanged || now - this.lastWrite >= PROGRESS_WRITE_MS) await this.save(state, state.leaseUntil);
    return true;
  }

  /** The latest partial result JSON (integrated gradients); replaces the previous one. */
  async reportPartial(json: string): Promise<boolean> {
    const state = await this.load();
    if (!state) return false;
    if (state.status !== 'running') return state.status !== 'done' && state.status !== 'failed';
    const pieces = Math.ceil(json.length / PARTIAL_PIECE_CHARS);
    const entries: Record<string, unknown> = { partialPieces: pieces };
    for (let i = 0; i < pieces; i++) entries[`partial:${i}`] = json.slice(i * PARTIAL_PIECE_CHARS, (i + 1) * PARTIAL_PIECE_CHARS);
    await this.ctx.storage.put(entries);
    this.partialCache = json;
    state.partialVersion += 1;
    state.leaseUntil = Date.now() + LEASE_MS;
    await this.save(state, state.leaseUntil);
    return true;
  }

  /** The consumer gives the job back (it will be retried by the queue): queued again, lease released. */
  async release(): Promise<void> {
    const state = await this.load();
    if (!state || state.status !== 'running') return;
    state.status = 'queued';
    state.progress = { stage: 'queued' };
    state.leaseUntil = null;
    state.sentAt = Date.now();
    await this.save(state, state.sentAt + QUEUED_MS);
  }

  /** The result is stored: the job is done. False when the job is gone (cancelled meanwhile): the caller removes the result. */
  async complete(): Promise<boolean> {
    const state = await this.load();
    if (!state) return false;
    if (state.status === 'failed') return false;
    if (state.status !== 'done') {
      state.status = 'done';
      state.progress = { stage: 'done' };
      state.leaseUntil = null;
      delete state.error;
      await this.dropWorkingData(state.id);
      await this.save(state, this.expiryAlarm(state));
    }
    return true;
  }

  /** The job ends `failed` with this error (a bad input's 4xx code, or `analysis_failed`). Finished jobs stay as they are. */
  async fail(error: JobError): Promise<void> {
    const state = await this.load();
    if (!state || state.status === 'done' || state.status === 'failed') return;
    state.status = 'failed';
    state.progress = { stage: 'failed' };
    state.error = { code: error.code, message: error.message };
    state.leaseUntil = null;
    await this.dropWorkingData(state.id);
    await this.save(state, this.expiryAlarm(state));
    // Its cohort lists the failure; were this call lost, the cohort's watchdog would ask this job (cohort.ts).
    if (state.membership) await cohortOf(this.env, state.membership.name).memberFailed(state.id, state.error).catch(() => undefined);
  }

  /** Deleting the record: the job, its input and its partial map go; a consumer still running sees it gone. */
  async cancel(): Promise<void> {
    const state = await this.load();
    if (state) await this.env.UPLOADS.delete(inputKeyOf(state.id)).catch(() => undefined);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.state = null;
    this.partialCache = null;
    this.wake();
  }

  /**
   * The result's sanity check (issue 16, item 2; Adebayo et al. 2018; ./sanity.ts), kept in `state.sanity` of a done
   * job. Asked for again, a check queued, running under a live lease or done is answered as it is; a failed one, one
   * whose message was not picked up within QUEUED_MS or whose consumer's lease ran out is queued again (the caller
   * sends its message). A check has no alarm of its own: asking again is its watchdog.
   */
  async sanityRequest(): Promise<{ view: SanityView; send: boolean } | null> {
    const state = await this.load();
    if (!state || state.status !== 'done') return null;
    const now = Date.now();
    const s = state.sanity;
    const alive = s && (s.status === 'done' || (s.status === 'queued' && now - s.sentAt < QUEUED_MS) || (s.status === 'running' && (s.leaseUntil ?? 0) > now));
    if (s && alive) return { view: sanityViewOf(s), send: false };
    state.sanity = { status: 'queued', attempts: s?.attempts ?? 0, sentAt: now, leaseUntil: null };
    await this.save(state, this.expiryAlarm(state));
    return { view: sanityViewOf(state.sanity), send: true };
  }

  async sanityBegin(): Promise<boolean> {
    const state = await this.load();
    const s = state?.sanity;
    if (!state || !s || s.status === 'done' || s.status === 'failed') return false;
    const now = Date.now();
    if (s.status === 'running' && (s.leaseUntil ?? 0) > now) return false;
    state.sanity = { ...s, status: 'running', attempts: s.attempts + 1, leaseUntil: now + LEASE_MS };
    await this.save(state, this.expiryAlarm(state));
    return true;
  }

  async sanityReport(progress: { done: number; total: number }): Promise<boolean> {
    const state = await this.load();
    const s = state?.sanity;
    if (!state || !s || s.status !== 'running') return false;
    state.sanity = { ...s, progress: { done: progress.done, total: progress.total }, leaseUntil: Date.now() + LEASE_MS };
    await this.save(state, this.expiryAlarm(state));
    return true;
  }

  async sanityComplete(): Promise<boolean> {
    const state = await this.load();
    const s = state?.sanity;
    if (!state || !s) return false;
    if (s.status !== 'done') {
      const { error: _error, ...rest } = s;
      state.sanity = { ...rest, status: 'done', leaseUntil: null };
      await this.save(state, this.expiryAlarm(state));
    }
    return true;
  }

  async sanityFail(error: JobError): Promise<void> {
    const state = await this.load();
    const s = state?.sanity;
    if (!state || !s || s.status === 'done' || s.status === 'failed') return;
    state.sanity = { ...s, status: 'failed', error: { code: error.code, message: error.message }, leaseUntil: null };
    await this.save(state, this.expiryAlarm(state));
  }

  async sanityRelease(): Promise<void> {
    const state = await this.load();
    const s = state?.sanity;
    if (!state || !s || s.status !== 'running') return;
    state.sanity = { ...s, status: 'queued', sentAt: Date.now(), leaseUntil: null };
    await this.save(state, this.expiryAlarm(state));
  }

  /** The watchdog, and the end of a finished job's state when its result expires. */
  async alarm(): Promise<void> {
    const state = await this.load();
    if (!state) return;
    const now = Date.now();
    if (state.status === 'done' || state.status === 'failed') {
      if (state.expiresAt !== null && Date.parse(state.expiresAt) <= now) await this.cancel();
      return;
    }
    const queuedResends = state.queuedResends ?? 0;
    const nextQueuedCheck = state.sentAt + queuedWaitMs(queuedResends);
    const stale = state.status === 'running' ? (state.leaseUntil ?? 0) <= now : nextQueuedCheck <= now;
    if (!stale) {
      await this.ctx.storage.setAlarm(state.status === 'running' ? state.leaseUntil! : nextQueuedCheck);
      return;
    }
    if (state.status === 'running') {
      // Its consumer died (machine or isolate lost): sent again, at most MAX_SENDS times in all.
      if (state.sends - queuedResends >= MAX_SENDS) {
        await this.fail({ code: 'analysis_failed', message: `The analysis did not finish after ${state.sends - queuedResends} tries (its worker stopped each time); upload the ECG again, and if it keeps failing, report it.` });
        return;
      }
    } else {
      // Not picked up: a lost message, or a backlog (a large cohort queues thousands). Sent again after doubling
      // waits (2, 4, 8 … 60 min), so a lost message is found in minutes and a backlog costs a few duplicates, which
      // `begin` turns away; given up only after MAX_QUEUED_MS in the queue.
      if (now - Date.parse(state.createdAt) >= MAX_QUEUED_MS) {
        await this.fail({ code: 'analysis_failed', message: `The analysis waited in Leadlight's queue for more than ${MAX_QUEUED_MS / 3_600_000} hours and was given up; upload the ECG again.` });
        return;
      }
      state.queuedResends = queuedResends + 1;
    }
    state.status = 'queued';
    state.progress = { stage: 'queued' };
    state.leaseUntil = null;
    state.sends += 1;
    state.sentAt = now;
    await this.env.JOB_QUEUE.send({ v: 1, id: state.id });
    await this.save(state, now + queuedWaitMs(state.queuedResends ?? 0));
  }
}
