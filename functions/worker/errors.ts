/**
 * The one place where error codes become HTTP responses (../shared/docs/contract.md, "Errors"): every error the
 * API returns is `{"error": {"code", "message"}}` with a 4xx status; anything that is not a LeadlightError becomes
 * `500 internal` with a generic message and no stack, path or detail (the cause goes to the Worker's log only).
 */
import { ERROR_CODES, type ErrorCode, LeadlightError, isLeadlightError } from '../core/errors.ts';

/** HTTP status of each code; codes appended to the catalogue later default to 400 (they describe bad input). */
const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  // The upload itself is too big (RFC 9110 §15.5.14).
  file_too_large: 413,
  archive_too_large: 413,
  too_many_files: 413,
  result_too_large: 413,
  // Not a format Leadlight reads (RFC 9110 §15.5.16).
  unsupported_format: 415,
  encoding_unsupported: 415,
  // Readable request, but the record in it cannot be analysed (RFC 9110 §15.5.21).
  header_syntax: 422,
  truncated_signal: 422,
  record_incomplete: 422,
  lead_missing: 422,
  sampling_rate_unsupported: 422,
  signal_invalid: 422,
  record_too_short: 422,
  record_too_long: 422,
  archive_invalid: 422,
  xml_invalid: 422,
  model_file_invalid: 422,
  model_layout_mismatch: 422,
  model_layer_unsupported: 422,
  model_hash_mismatch: 422,
  // A shared result (POST /api/results) that fails the schema or contradicts itself.
  result_invalid: 422,
  // Bad options or request shape.
  option_invalid: 400,
  model_unknown: 400,
  method_unknown: 400,
  class_unknown: 400,
  steps_invalid: 400,
  request_invalid: 400,
  // The model exists but its weights are not installed on this deployment.
  model_unavailable: 409,
  // The Free-plan deployment (functions/worker/free.ts) analyses in the browser only.
  server_analysis_unavailable: 409,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  // Too many uploads from one client (RFC 6585 §4), with Retry-After.
  rate_limited: 429,
  // The record was deleted while its analysis was queued or running (RFC 9110 §15.5.11).
  job_cancelled: 410,
  cohort_exists: 409,
  // A result the server-side sanity check cannot run on (computed in the browser, or a model without its steps).
  sanity_unavailable: 409,
  // Leadlight's own failure (the dead-letter consumer or the watchdog gave the job up), never the input's.
  analysis_failed: 500,
  internal: 500,
};

export function httpStatusOf(code: ErrorCode | string): number {
  return STATUS_OF[code as ErrorCode] ?? 400;
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The JSON body for an error; unknown errors are reduced to `internal` without details. */
export function errorBodyOf(e: unknown): { status: number; body: ErrorBody } {
  if (isLeadlightError(e) && e.code !== 'internal') {
    const err = e as LeadlightError;
    return { status: httpStatusOf(err.code), body: { error: { code: err.code, message: safeMessage(err) } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: `${ERROR_CODES.internal} Try again later; if it persists, report it.` } } };
}

/** Messages are written for users already; this caps their length and strips anything that looks like a stack. */
function safeMessage(e: LeadlightError): string {
  const first = (e.message || ERROR_CODES[e.code] || e.code).split('\n    at ')[0];
  return first.length > 500 ? `${first.slice(0, 497)}...` : first;
}

/** Turns anything thrown into the API's error response (logging unknown errors for the operator only). */
export function errorResponse(e: unknown, statusOverride?: number, headers: Record<string, string> = {}): Response {
  const { status, body } = errorBodyOf(e);
  if (status === 500) console.error('leadlight internal error', e);
  return jsonResponse(body, statusOverride && status !== 500 ? statusOverride : status, headers);
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

export { LeadlightError };
