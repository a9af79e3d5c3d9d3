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
/** The finished sanity check of a result (./sanity.ts), next to it with the same expiry; deleted with it. */
export const SANITY_KEY_PREFIX = 'sanity:v1:';
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

/** Lowercase hex SHA-256 of the UTF-8 text (how tokens are kept). */
export async function sha256Hex(text: string): Promise<string> {
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

/** A fresh id and delete token, with the metadata its result will be stored with (expiry counted from `now`). */
export async function newResultIdentity(expiry: ExpiryChoice, now = new Date()): Promise<{ id: string; deleteToken: string; tokenSha256: string; createdAt: string; expiresAt: string | null }> {
  const id = randomBase64Url(ID_BYTES);
  const deleteToken = randomBase64Url(TOKEN_BYTES);
  const ttl = EXPIRY_CHOICES[expiry];
  return {
    id,
    deleteToken,
    tokenSha256: await sha256Hex(deleteToken),
    createdAt: now.toISOString(),
    expiresAt: ttl === null ? null : new Date(now.getTime() + ttl * 1000).toISOString(),
  };
}

/**
 * Stores one result JSON under its id (fixed when the upload was accepted, so a repeated write of the same job
 * writes the same key): the token's hash, creation time and expiry as metadata, expiring at `expiresAt`.
 */
export async function putResultAt(kv: KvNamespace, id: string, json: string, identity: { tokenSha256: string; createdAt: string; expiresAt: string | null }): Promise<ResultMetadata> {
  const metadata: ResultMetadata = { v: 1, tokenSha256: identity.tokenSha256, createdAt: identity.createdAt, expiresAt: identity.expiresAt, bytes: new TextEncoder().encode(json).length };
  // KV wants an expiry at least 60 s ahead.
  const expiration = identity.expiresAt === null ? null : Math.max(Math.floor(Date.parse(identity.expiresAt) / 1000), Math.ceil(Date.now() / 1000) + 60);
  await kv.put(RESULT_KEY_PREFIX + id, json, expiration === null ? { metadata } : { expiration, metadata });
  return metadata;
}

/** Whether `authorization` (`Bearer <token>`) carries the token whose SHA-256 is `tokenSha256`: unauthorized / forbidden otherwise. */
export async function checkDeleteToken(authorization: string | null, tokenSha256: string): Promise<void> {
  const match = /^Bearer\s+(\S+)\s*$/iu.exec(authorization ?? '');
  if (!match) {
    throw new LeadlightError('unauthorized', 'Deleting a result needs its delete token in the header "Authorization: Bearer <token>"; the upload page keeps it in this browser.');
  }
  const token = match[1];
  const given = TOKEN_PATTERN.test(token) ? await sha256Hex(token) : '';
  if (!constantTimeEqual(given.padEnd(64, '0'), tokenSha256)) {
    throw new LeadlightError('forbidden', 'The delete token does not match this result; only the browser that uploaded it (or whoever has its token) can delete it.');
  }
}

/** The stored JSON text and its metadata, or a `not_found` error. */
export async function getResult(kv: KvNamespace, id: string): Promise<{ json: string; metadata: ResultMetadata | null }> {
  if (!isResultId(id)) throw notFound();
  const { value, metadata } = await kv.getWithMetadata<ResultMetadata>(RESULT_KEY_PREFIX + id, 'text');
  if (value === null) throw notFound();
  return { json: value, metadata };
}

/**
 * Deletes a stored result (and, through `beforeDelete` with its JSON, what hangs on it: the cohort membership).
 * The caller has checked the token (`checkDeleteToken`); a result that is not there is nothing to delete.
 */
export async function deleteResult(kv: KvNamespace, id: string, beforeDelete?: (json: string) => Promise<void>): Promise<void> {
  if (!isResultId(id)) return;
  const value = await kv.get(RESULT_KEY_PREFIX + id, 'text');
  if (value !== null && beforeDelete) await beforeDelete(value);
  await kv.delete(RESULT_KEY_PREFIX + id);
  await kv.delete(SANITY_KEY_PREFIX + id);
}

/** Stores a result's finished sanity check next to it, expiring with it (`expiresAt` of the result's metadata). */
export async function putSanityAt(kv: KvNamespace, id: string, json: string, expiresAt: string | null): Promise<void> {
  const expiration = expiresAt === null ? null : Math.max(Math.floor(Date.parse(expiresAt) / 1000), Math.ceil(Date.now() / 1000) + 60);
  await kv.put(SANITY_KEY_PREFIX + id, json, expiration === null ? {} : { expiration });
}

/** The metadata of a stored result, or null. */
export async function resultMetadataOf(kv: KvNamespace, id: string): Promise<ResultMetadata | null> {
  if (!isResultId(id)) return null;
  const { value, metadata } = await kv.getWithMetadata<ResultMetadata>(RESULT_KEY_PREFIX + id, 'text');
  return value === null ? null : metadata;
}

export function notFound(): LeadlightError {
  return new LeadlightError('not_found', 'There is no result with that id; it may have expired or been deleted. Upload the ECG again to get a new report.');
}
