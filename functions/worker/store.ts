/**
 * Result storage in Cloudflare KV: ONE versioned key per result, `result:v1:{id}`, whose value is the result JSON
 * (exactly what `GET /api/records/{id}` returns) and whose metadata holds the SHA-256 of the delete token, the
 * creation time and the expiry. Expiry uses KV's own TTL (`expirationTtl`), so nothing needs cleaning up.
 *
 * Ids and delete tokens are 128 and 256 random bits from crypto.getRandomValues, base64url (RFC 4648 §5).
 * Only the token's hash is stored; it is compared in constant time.
 */
import { LeadlightError } from '../core/errors.ts';
import type { KvNamespace } from './env.ts';

export const RESULT_KEY_PREFIX = 'result:v1:';
/** 16 bytes → 22 base64url characters. */
export const ID_BYTES = 16;
export const TOKEN_BYTES = 32;
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/u;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/u;

/** Accepted expiry choices (form field `expiry`) and their TTL in seconds; `never` stores without TTL. */
export const EXPIRY_CHOICES = { '1d': 86_400, '7d': 7 * 86_400, '30d': 30 * 86_400, never: null } as const;
export type ExpiryChoice = keyof typeof EXPIRY_CHOICES;
export const DEFAULT_EXPIRY: ExpiryChoice = '30d';

export interface ResultMetadata {
  /** Metadata layout version. */
  v: 1;
  tokenSha256: string;
  createdAt: string;
  /** ISO time the key expires, or null when kept until deleted. */
  expiresAt: string | null;
  bytes: number;
}

export function parseExpiry(value: string | null | undefined): ExpiryChoice {
  if (value === null || value === undefined || value === '') return DEFAULT_EXPIRY;
  if (Object.hasOwn(EXPIRY_CHOICES, value)) return value as ExpiryChoice;
  throw new LeadlightError('option_invalid', `The expiry "${value.slice(0, 20)}" is not accepted; choose one of ${Object.keys(EXPIRY_CHOICES).join(', ')}.`);
}

export function randomBase64Url(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  return base64Url(buf);
}

function base64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/gu, '-').replace(/\//gu, '_').replace(/=+$/u, '');
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Compares two equal-length strings without an early exit. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

export function isResultId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export interface StoredResult {
  id: string;
  deleteToken: string;
  metadata: ResultMetadata;
}

/** Stores one result JSON under a fresh id; returns the id and the delete token (never stored in clear). */
export async function putResult(kv: KvNamespace, json: string, expiry: ExpiryChoice, now = new Date()): Promise<StoredResult> {
  const id = randomBase64Url(ID_BYTES);
  const deleteToken = randomBase64Url(TOKEN_BYTES);
  const ttl = EXPIRY_CHOICES[expiry];
  const metadata: ResultMetadata = {
    v: 1,
    tokenSha256: await sha256Hex(deleteToken),
    createdAt: now.toISOString(),
    expiresAt: ttl === null ? null : new Date(now.getTime() + ttl * 1000).toISOString(),
    bytes: new TextEncoder().encode(json).length,
  };
  await kv.put(RESULT_KEY_PREFIX + id, json, ttl === null ? { metadata } : { expirationTtl: ttl, metadata });
  return { id, deleteToken, metadata };
}

/** The stored JSON text and its metadata, or a `not_found` error. */
export async function getResult(kv: KvNamespace, id: string): Promise<{ json: string; metadata: ResultMetadata | null }> {
  if (!isResultId(id)) throw notFound();
  const { value, metadata } = await kv.getWithMetadata<ResultMetadata>(RESULT_KEY_PREFIX + id, 'text');
  if (value === null) throw notFound();
  return { json: value, metadata };
}

/**
 * Deletes a result when `authorization` carries its delete token (`Bearer <token>`):
 * no token → unauthorized, wrong token → forbidden, unknown id → not_found. `beforeDelete` runs with the stored
 * JSON once the token is accepted and before the result key goes (the Worker removes the cohort membership there).
 */
export async function deleteResult(kv: KvNamespace, id: string, authorization: string | null, beforeDelete?: (json: string) => Promise<void>): Promise<void> {
  const match = /^Bearer\s+(\S+)\s*$/iu.exec(authorization ?? '');
  if (!match) {
    throw new LeadlightError('unauthorized', 'Deleting a result needs its delete token in the header "Authorization: Bearer <token>"; the upload page keeps it in this browser.');
  }
  if (!isResultId(id)) throw notFound();
  const { value, metadata } = await kv.getWithMetadata<ResultMetadata>(RESULT_KEY_PREFIX + id, 'text');
  if (value === null || !metadata) throw notFound();
  const token = match[1];
  const given = TOKEN_PATTERN.test(token) ? await sha256Hex(token) : '';
  if (!constantTimeEqual(given.padEnd(64, '0'), metadata.tokenSha256)) {
    throw new LeadlightError('forbidden', 'The delete token does not match this result; only the browser that uploaded it (or whoever has its token) can delete it.');
  }
  if (beforeDelete) await beforeDelete(value);
  await kv.delete(RESULT_KEY_PREFIX + id);
}

function notFound(): LeadlightError {
  return new LeadlightError('not_found', 'There is no result with that id; it may have expired or been deleted. Upload the ECG again to get a new report.');
}
