/**
 * Cohort: one Durable Object (SQLite storage) per cohort, named by the cohort's name — the one place a cohort's
 * state lives: its settings, its members (one row each: label, status, the record's summary and its two average
 * beats packed, or the failure's code and message) and the version of its aggregate. Each member is analysed as
 * an ordinary job (./analysis-job.ts, ./queue.ts); the consumer reports the member's summary here (`memberDone`),
 * the job reports its failure (`memberFailed`). When no member is pending any more, the aggregate (Bender et al.
 * 2023, analyses (a), (b), (c): the same `assembleCohort` as `leadlight cohort`) is computed here and stored as
 * cohort.json in R2 (`cohort:v1:{name}`); `GET /api/cohorts/{name}` serves it.
 *
 * At least once: a member counts once however often its summary or failure arrives (the row is keyed by the
 * member's result id and only a pending member changes). The alarm is the cohort's watchdog: a member pending for
 * STALL_MS is looked up at its job (failed → failed here; its result stored → summarised from it; job gone →
 * failed), so a lost report never leaves the cohort unfinished. It also removes expired members, runs a
 * DELETE in batches and computes the aggregate off the consumer's path.
 *
 * Memory: the aggregate holds every member's small summary (~1–2 kB) but one average beat at a time (beats are
 * read from SQLite when needed), so ten thousand members aggregate in a Worker's 128 MB.
 */
import { DurableObject } from 'cloudflare:workers';
import { unpackBeat } from '../core/analysis/beat-codec.ts';
import { chooseGroups, type CohortModelInfo } from '../core/analysis/cohort.ts';
import { assembleCohort, memberReportOf, type CohortError, type CohortMember, type CohortOutput, type MemberSummary, type StoredSummary } from '../core/analysis/cohort-members.ts';
import { canonicalClass } from '../core/analysis/criteria.ts';
import { checkCohort } from '../core/cohort-schema.ts';
import type { Result } from '../core/result.ts';
import type { Env } from './env.ts';
import type { JobError } from './job.ts';
import { RESULT_KEY_PREFIX, SANITY_KEY_PREFIX } from './store.ts';

/** What every member of one cohort shares: the record summaries are comparable only under the same settings. */
export interface CohortSettings {
  model: string;
  method: string;
  class: string;
  /** IG steps; null = the default mode (and for other methods). */
  steps: number | null;
}

/** The cohort's fixed description (storage key `meta`). */
export interface CohortMeta {
  v: 1;
  name: string;
  settings: CohortSettings;
  model: CohortModelInfo;
  /** SHA-256 of the cohort's token (cohorts made by POST /api/cohorts); null for a cohort grown by single uploads. */
  tokenSha256: string | null;
  createdAt: string;
  /** When the cohort and its members' results go (POST cohorts); null: kept until deleted or, for single uploads, until its members expire. */
  expiresAt: string | null;
  /** What cohort.json's `labelsFile` says of where the members came from. */
  labelsFile: string;
}

export interface NewMember {
  /** The member's result id (= its job's id). */
  id: string;
  /** The name cohort.json gives it; null: `record {position}` when `numbered`, else the analysed record's name (single uploads). */
  path: string | null;
  numbered?: boolean;
  label: string;
  expiresAt: string | null;
  /** A member that failed before it became a job (no file for its row). */
  error?: JobError;
}

export interface CohortProgress {
  done: number;
  failed: number;
  total: number;
}

export interface CohortView {
  meta: CohortMeta;
  status: 'running' | 'done' | 'deleting';
  progress: CohortProgress;
  /** The R2 key of the latest cohort.json, or null while none was computed (no member done yet). */
  aggregateKey: string | null;
  /** True when the stored cohort.json already counts every ended member. */
  current: boolean;
  /** The failures, when there is no cohort.json because no member is done (every one failed so far). */
  errors?: CohortError[];
}

/** The RPC methods (./cohorts.ts, ./queue.ts, ./analysis-job.ts call them). */
export interface CohortStub {
  create(meta: CohortMeta): Promise<CohortMeta>;
  describe(): Promise<CohortMeta | null>;
  addMembers(members: NewMember[]): Promise<CohortProgress | null>;
  removeMembers(ids: string[]): Promise<void>;
  memberDone(id: string, recordName: string, summaryJson: string, beats: Uint8Array): Promise<boolean>;
  memberFailed(id: string, error: JobError): Promise<void>;
  view(): Promise<CohortView | null>;
  startDelete(): Promise<void>;
  deleteSome(limit: number): Promise<number>;
}

/** The R2 key of a cohort's cohort.json. */
export function aggregateKeyOf(name: string): string {
  return `cohort:v1:${name}`;
}

/** A member pending this long without news is looked up at its job (jobs give up after ~8 minutes: analysis-job.ts). */
export const STALL_MS = 10 * 60_000;
/** The watchdog's period while members are pending. */
const WATCH_MS = 5 * 60_000;
/** Members looked up per watchdog run, deleted per `deleteSome` of the alarm. */
const BATCH = 100;

interface MemberRow {
  id: string;
  seq: number;
  path: string | null;
  label: string;
  status: 'pending' | 'done' | 'failed';
  summary: string | null;
  error: string | null;
  [key: string]: unknown;
}

export class Cohort extends DurableObject<Env> implements CohortStub {
  private ready = false;
  private metaCache: CohortMeta | null | undefined;

  private get sql() {
    const sql = this.ctx.storage.sql;
    if (!this.ready) {
      sql.exec(`CREATE TABLE IF NOT EXISTS members (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        path TEXT,
        label TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT,
        beats BLOB,
        error TEXT,
        expires_at INTEGER,
        updated_at INTEGER NOT NULL
      )`);
      sql.exec('CREATE INDEX IF NOT EXISTS members_by_status ON members (status, updated_at)');
      // One row: the description and the versions, written in the same SQLite transaction as the members.
      sql.exec(`CREATE TABLE IF NOT EXISTS cohort (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        meta TEXT NOT NULL,
        members_version INTEGER NOT NULL DEFAULT 0,
        aggregate_version INTEGER NOT NULL DEFAULT -1,
        deleting INTEGER NOT NULL DEFAULT 0
      )`);
      sql.exec('CREATE INDEX IF NOT EXISTS members_by_seq ON members (seq)');
      this.ready = true;
    }
    return sql;
  }

  /** The cohort's description (cached: it never changes once created). */
  private meta(): CohortMeta | null {
    if (this.metaCache === undefined) {
      const row = this.sql.exec<{ meta: string }>('SELECT meta FROM cohort').toArray()[0];
      this.metaCache = row ? (JSON.parse(row.meta) as CohortMeta) : null;
    }
    return this.metaCache;
  }

  /** The members' version (bumped by every change of a member), the aggregate's, and whether a DELETE runs. */
  private versions(): { members: number; aggregate: number; deleting: boolean } {
    const row = this.sql.exec<{ members: number; aggregate: number; deleting: number }>('SELECT members_version AS members, aggregate_version AS aggregate, deleting FROM cohort').toArray()[0];
    return row ? { members: row.members, aggregate: row.aggregate, deleting: row.deleting === 1 } : { members: 0, aggregate: -1, deleting: false };
  }

  private bump(): void {
    this.sql.exec('UPDATE cohort SET members_version = members_version + 1');
  }

  /** Forgets everything (the cohort is gone). */
  private async clear(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.ready = false;
    this.metaCache = undefined;
  }

  private progressNow(): CohortProgress {
    const counts = { done: 0, failed: 0, total: 0 };
    for (const row of this.sql.exec<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM members GROUP BY status')) {
      counts.total += row.n;
      if (row.status === 'done') counts.done = row.n;
      if (row.status === 'failed') counts.failed = row.n;
    }
    return counts;
  }

  /** Schedules the alarm at `at` unless one is due sooner. */
  private async alarmBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Stores the cohort's description unless it exists; returns the stored one (the first create wins a race). */
  async create(meta: CohortMeta): Promise<CohortMeta> {
    const existing = this.meta();
    if (existing && !this.versions().deleting) return existing;
    if (existing) throw new Error('cohort is being deleted');
    this.sql.exec('INSERT INTO cohort (id, meta) VALUES (1, ?)', JSON.stringify(meta));
    this.metaCache = meta;
    if (meta.expiresAt !== null) await this.alarmBy(Date.parse(meta.expiresAt));
    return meta;
  }

  /** The cohort's description; null for no cohort (or one being deleted). */
  async describe(): Promise<CohortMeta | null> {
    const meta = this.meta();
    return meta && !this.versions().deleting ? meta : null;
  }

  /** Adds members (pending, or failed at once); a member already there is left as it is. Null: no such cohort. */
  async addMembers(members: NewMember[]): Promise<CohortProgress | null> {
    if (!(await this.describe())) return null;
    const now = Date.now();
    const sql = this.sql;
    this.ctx.storage.transactionSync(() => {
      let seq = (sql.exec<{ m: number | null }>('SELECT MAX(seq) AS m FROM members').one().m ?? 0);
      for (const m of members) {
        seq += 1;
        sql.exec(
          'INSERT OR IGNORE INTO members (id, seq, path, label, status, error, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          m.id, seq, m.path ?? (m.numbered ? `record ${seq}` : null), m.label, m.error ? 'failed' : 'pending', m.error ? JSON.stringify(m.error) : null, m.expiresAt === null ? null : Date.parse(m.expiresAt), now,
        );
      }
    });
    this.bump();
    const earliest = members.reduce((t, m) => (m.expiresAt === null ? t : Math.min(t, Date.parse(m.expiresAt))), now + WATCH_MS);
    await this.alarmBy(Math.min(now + WATCH_MS, earliest));
    return this.progressNow();
  }

  /** Members whose record was deleted (with its own token) or whose acceptance was rolled back. */
  async removeMembers(ids: string[]): Promise<void> {
    if (!(this.meta())) return;
    for (const id of ids) this.sql.exec('DELETE FROM members WHERE id = ?', id);
    this.bump();
    await this.afterChange();
  }

  /**
   * A member's analysis is stored: its summary (without beats, JSON) and its packed beats. False when the cohort or
   * the member is gone (deleted meanwhile): the caller removes the result it stored. A member that already ended
   * stays as it is (a duplicate delivery).
   */
  async memberDone(id: string, recordName: string, summaryJson: string, beats: Uint8Array): Promise<boolean> {
    if (!(await this.describe())) return false;
    const row = this.sql.exec<{ status: string }>('SELECT status FROM members WHERE id = ?', id).toArray()[0];
    if (!row) return false;
    if (row.status !== 'pending') return true;
    this.sql.exec(
      "UPDATE members SET status = 'done', summary = ?, beats = ?, path = COALESCE(path, ?), updated_at = ? WHERE id = ? AND status = 'pending'",
      summaryJson, beats, recordName, Date.now(), id,
    );
    this.bump();
    await this.afterChange();
    return true;
  }

  /** A member's job failed (its code and message, which name no uploaded file). Only a pending member changes. */
  async memberFailed(id: string, error: JobError): Promise<void> {
    if (!(await this.describe())) return;
    const changed = this.sql.exec("UPDATE members SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status = 'pending'", JSON.stringify({ code: error.code, message: error.message }), Date.now(), id).rowsWritten;
    if (changed === 0) return;
    this.bump();
    await this.afterChange();
  }

  /** With no member pending, the aggregate is computed next, by the alarm (off the consumer's path). */
  private async afterChange(): Promise<void> {
    const pending = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members WHERE status = 'pending'").one().n;
    if (pending === 0) await this.alarmBy(Date.now());
  }

  /**
   * The cohort's state for GET: its progress and the key of its cohort.json. With no member pending and a stale
   * (or no) cohort.json, it is computed first, so a cohort that has ended is always served current.
   */
  async view(): Promise<CohortView | null> {
    const meta = this.meta();
    if (!meta) return null;
    let versions = this.versions();
    if (versions.deleting) return { meta, status: 'deleting', progress: this.progressNow(), aggregateKey: null, current: false };
    await this.dropExpired();
    versions = this.versions();
    const progress = this.progressNow();
    // A cohort of single uploads without members (all deleted or expired) is no cohort.
    if (progress.total === 0 && meta.tokenSha256 === null) return null;
    const running = progress.done + progress.failed < progress.total;
    if (!running && versions.aggregate !== versions.members && progress.total > 0) {
      await this.storeAggregate(meta);
      versions = this.versions();
    }
    const aggregateKey = versions.aggregate >= 0 ? aggregateKeyOf(meta.name) : null;
    return {
      meta,
      status: running ? 'running' : 'done',
      progress,
      aggregateKey,
      current: versions.aggregate === versions.members,
      ...(aggregateKey === null && progress.failed > 0 ? { errors: this.failures() } : {}),
    };
  }

  /** Computes cohort.json from the members that are done (the failed ones listed as errors) and stores it in R2. */
  private async storeAggregate(meta: CohortMeta): Promise<void> {
    const version = this.versions().members;
    const cohort = this.aggregate(meta);
    if (cohort) await this.env.UPLOADS.put(aggregateKeyOf(meta.name), JSON.stringify(cohort));
    else await this.env.UPLOADS.delete(aggregateKeyOf(meta.name));
    this.sql.exec('UPDATE cohort SET aggregate_version = ?', cohort ? version : -1);
  }

  /** cohort.json of the members now ended; null while none is done. */
  private aggregate(meta: CohortMeta): CohortOutput | null {
    const rows = this.sql.exec<MemberRow>("SELECT id, seq, path, label, status, summary, error FROM members WHERE status != 'pending' ORDER BY seq").toArray();
    const members: CohortMember[] = [];
    const errors: CohortError[] = [];
    const seen = new Map<string, number>();
    const unique = (path: string) => {
      const n = (seen.get(path) ?? 0) + 1;
      seen.set(path, n);
      return n === 1 ? path : `${path} #${n}`;
    };
    for (const row of rows) {
      const path = unique(row.path ?? 'record');
      if (row.status === 'failed') {
        const error = JSON.parse(row.error ?? '{}') as JobError;
        errors.push({ path, label: row.label, code: error.code ?? 'analysis_failed', message: error.message ?? '' });
        continue;
      }
      const stored = JSON.parse(row.summary as string) as StoredSummary;
      const { beats, ...rest } = stored;
      const loader = (slot: 0 | 1) => () => {
        const blob = this.sql.exec<{ beats: ArrayBuffer }>('SELECT beats FROM members WHERE id = ?', row.id).one().beats;
        return unpackBeat(new Uint8Array(blob), slot) as NonNullable<ReturnType<typeof unpackBeat>>;
      };
      const summary: MemberSummary = { ...rest, averageBeat: beats[0] ? loader(0) : null, averageBeatRAligned: beats[1] ? loader(1) : null };
      members.push({ path, label: row.label, summary });
    }
    if (members.length === 0) return null;
    const labels = rows.map((r) => r.label);
    const cohort = assembleCohort({
      model: meta.model,
      method: meta.settings.method,
      className: meta.settings.class,
      steps: meta.settings.steps,
      labelsFile: meta.labelsFile,
      members,
      errors,
      groups: cohortGroups(labels, meta.settings.class),
    });
    return checkCohort(cohort, `The cohort "${meta.name}"`);
  }

  /** The failed members with their codes and messages (the first thousand), in cohort order. */
  private failures(): CohortError[] {
    return this.sql.exec<MemberRow>("SELECT path, label, error FROM members WHERE status = 'failed' ORDER BY seq LIMIT 1000").toArray().map((row) => {
      const error = JSON.parse(row.error ?? '{}') as JobError;
      return { path: row.path ?? 'record', label: row.label, code: error.code ?? 'analysis_failed', message: error.message ?? '' };
    });
  }

  /** Members whose results have expired leave the cohort (single uploads expire one by one). */
  private async dropExpired(): Promise<void> {
    const removed = this.sql.exec('DELETE FROM members WHERE expires_at IS NOT NULL AND expires_at <= ?', Date.now()).rowsWritten;
    if (removed > 0) this.bump();
  }

  /** DELETE /api/cohorts/{name}: from now on the cohort answers as absent; its members go in batches. */
  async startDelete(): Promise<void> {
    const meta = this.meta();
    if (!meta || this.versions().deleting) return;
    this.sql.exec('UPDATE cohort SET deleting = 1');
    await this.env.UPLOADS.delete(aggregateKeyOf(meta.name));
    await this.alarmBy(Date.now() + 1000);
  }

  /**
   * Deletes up to `limit` members of a cohort being deleted — their jobs (with their stored inputs) and results —
   * and, with the last, the cohort itself. Returns how many members remain.
   */
  async deleteSome(limit: number): Promise<number> {
    if (!this.versions().deleting) return (this.meta()) ? this.progressNow().total : 0;
    const ids = this.sql.exec<{ id: string }>('SELECT id FROM members ORDER BY seq LIMIT ?', limit).toArray().map((r) => r.id);
    await Promise.all(ids.map(async (id) => {
      await this.env.JOBS.get(this.env.JOBS.idFromName(id)).cancel();
      await this.env.RESULTS.delete(RESULT_KEY_PREFIX + id);
      await this.env.RESULTS.delete(SANITY_KEY_PREFIX + id);
    }));
    for (const id of ids) this.sql.exec('DELETE FROM members WHERE id = ?', id);
    const remaining = this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM members').one().n;
    if (remaining === 0) await this.clear();
    return remaining;
  }

  /** The watchdog: deletion batches, expiry, the aggregate once nothing is pending, stalled members looked up. */
  async alarm(): Promise<void> {
    const meta = this.meta();
    if (!meta) return;
    const now = Date.now();
    if (this.versions().deleting) {
      if ((await this.deleteSome(BATCH)) > 0) await this.ctx.storage.setAlarm(Date.now() + 1000);
      return;
    }
    if (meta.expiresAt !== null && Date.parse(meta.expiresAt) <= now) {
      // Results expire by KV's own TTL and jobs by their alarms: the cohort's own state and cohort.json go.
      await this.env.UPLOADS.delete(aggregateKeyOf(meta.name));
      await this.clear();
      return;
    }
    await this.dropExpired();
    if (this.progressNow().total === 0 && meta.tokenSha256 === null) {
      // A cohort of single uploads whose members have all expired or been deleted is gone.
      await this.env.UPLOADS.delete(aggregateKeyOf(meta.name));
      await this.clear();
      return;
    }
    await this.lookUpStalled(now);
    const progress = this.progressNow();
    const versions = this.versions();
    if (progress.done + progress.failed === progress.total && versions.aggregate !== versions.members && progress.total > 0) await this.storeAggregate(meta);
    const next = this.sql.exec<{ t: number | null }>('SELECT MIN(expires_at) AS t FROM members').one().t;
    const pending = progress.done + progress.failed < progress.total;
    const at = Math.min(pending ? now + WATCH_MS : Infinity, next ?? Infinity, meta.expiresAt !== null ? Date.parse(meta.expiresAt) : Infinity);
    if (Number.isFinite(at)) await this.ctx.storage.setAlarm(at);
  }

  /** Pending members without news for STALL_MS: their job tells what became of them. */
  private async lookUpStalled(now: number): Promise<void> {
    const meta = this.meta() as CohortMeta;
    const stalled = this.sql.exec<{ id: string }>("SELECT id FROM members WHERE status = 'pending' AND updated_at <= ? ORDER BY updated_at LIMIT ?", now - STALL_MS, BATCH).toArray();
    for (const { id } of stalled) {
      const job = await this.env.JOBS.get(this.env.JOBS.idFromName(id)).read();
      if (job?.status === 'queued' || job?.status === 'running') {
        this.sql.exec('UPDATE members SET updated_at = ? WHERE id = ?', now, id);
      } else if (job?.status === 'failed') {
        await this.memberFailed(id, job.error ?? { code: 'analysis_failed', message: 'The analysis failed.' });
      } else {
        const json = await this.env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text');
        if (json !== null) {
          const { recordName, summaryJson, beats } = memberReportOf(JSON.parse(json) as Result, meta.settings.class);
          await this.memberDone(id, recordName, summaryJson, beats);
        } else {
          await this.memberFailed(id, { code: 'analysis_failed', message: 'The analysis of this record was lost inside Leadlight; add the record to the cohort again.' });
        }
      }
    }
  }
}

/** The groups of a cohort from all its members' labels (as `leadlight cohort` from its CSV); a missing group stays empty. */
export function cohortGroups(labels: string[], className: string): { positive: string; control: string } {
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
