/**
 * The Worker's bindings (wrangler.toml) and the few Cloudflare runtime types the edge uses, declared here so the
 * platform code type-checks without the full workers-types package.
 */

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

export interface Env {
  /** Results: one key `result:v1:{id}` per result (functions/worker/store.ts). */
  RESULTS: KvNamespace;
  /** The built site (site/dist) including the installed models under /model-files/. */
  ASSETS: AssetsFetcher;
  /** Optional override of the upload cap in bytes (default 32 MiB). */
  MAX_UPLOAD_BYTES?: string;
}
