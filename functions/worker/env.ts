/**
 * The Worker's bindings (wrangler.toml) and the few Cloudflare runtime types the edge uses, declared here so the
 * platform code type-checks without the full workers-types package.
 */

import type { CohortStub } from './cohort.ts';
import type { AnalysisJobStub, JobMessage } from './job.ts';

/** Cloudflare KV (https://developers.cloudflare.com/kv/api/): the subset Leadlight uses. */
export interface KvNamespace {
  get(key: string, type: 'text'): Promise<string | null>;
  getWithMetadata<M>(key: string, type: 'text'): Promise<{ value: string | null; metadata: M | null }>;
  put(key: string, value: string, options?: { expirationTtl?: number; expiration?: number; metadata?: unknown }): Promise<void>;
  delete(key: string): Promise<void>;
  list<M = unknown>(options?: { prefix?: string; limit?: number; cursor?: string }): Promise<{
    keys: { name: string; expiration?: number; metadata?: M }[];
    list_complete: boolean;
    cursor?: string;
  }>;
}

/** The static-assets binding (https://developers.cloudflare.com/workers/static-assets/binding/). */
export interface AssetsFetcher {
  fetch(request: Request | string): Promise<Response>;
}

/** R2 (https://developers.cloudflare.com/r2/api/workers/workers-api-reference/): the subset Leadlight uses. */
export interface R2Bucket {
  put(key: string, value: ArrayBuffer | Uint8Array | string): Promise<unknown>;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  delete(key: string | string[]): Promise<void>;
}

/** A Queues producer (https://developers.cloudflare.com/queues/configuration/javascript-apis/). */
export interface Queue<Body> {
  send(body: Body, options?: { delaySeconds?: number }): Promise<void>;
  /** Up to 100 messages (and 256 KB) in one call. */
  sendBatch(messages: readonly { body: Body; delaySeconds?: number }[]): Promise<void>;
}

/** One delivery of a queue message to the consumer. */
export interface QueueMessage<Body> {
  readonly id: string;
  readonly body: Body;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

export interface MessageBatch<Body> {
  readonly queue: string;
  readonly messages: readonly QueueMessage<Body>[];
}

/** The Workers Rate Limiting binding (https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/). */
export interface RateLimit {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** A Durable Object namespace whose objects are reached by name through RPC stubs. */
export interface DurableObjectNamespace<Stub> {
  idFromName(name: string): unknown;
  get(id: unknown): Stub;
}

export interface Env {
  /** Results: one key `result:v1:{id}` per result (functions/worker/store.ts). */
  RESULTS: KvNamespace;
  /** The built site (site/dist) including the installed models under /model-files/. */
  ASSETS: AssetsFetcher;
  /** Inputs of accepted uploads, `upload:v1:{id}`, until their job ends (./job.ts); cohort.json of each cohort, `cohort:v1:{name}` (./cohort.ts). */
  UPLOADS: R2Bucket;
  /** One message `{v, id}` per job to analyse (./queue.ts). */
  JOB_QUEUE: Queue<JobMessage>;
  /**
   * Work that follows a finished job, `{v, id, then}` (./queue.ts): a result's faithfulness curves. Its own queue,
   * with few consumers at once, so that it never holds back the analyses waiting on JOB_QUEUE.
   */
  FOLLOW_UP_QUEUE: Queue<JobMessage>;
  /** One Durable Object per job, named by the result id (./analysis-job.ts): the job's state. */
  JOBS: DurableObjectNamespace<AnalysisJobStub>;
  /** One Durable Object per cohort, named by the cohort's name (./cohort.ts): members, summaries, the aggregate's version. */
  COHORTS: DurableObjectNamespace<CohortStub>;
  /** Uploads per client address and minute (wrangler.toml [[ratelimits]]). */
  UPLOAD_LIMITER: RateLimit;
  /** Optional override of the upload cap in bytes (default 32 MiB). */
  MAX_UPLOAD_BYTES?: string;
}
