/**
 * The one catalogue of stable error codes. Domain code throws `LeadlightError(code, message)`; only the edge
 * (Worker routes, CLI) maps a code to an HTTP status or exit code — see `httpStatusOf` in functions/worker.
 *
 * Codes are part of the public contract (../shared/docs/contract.md): never rename one; add new ones here.
 * Messages say what was wrong and what to do, and never contain a stack trace or file-system path.
 */

export const ERROR_CODES = {
  // Input files
  unsupported_format: 'The file is not an ECG format Leadlight can read.',
  header_syntax: 'A header of the record could not be parsed.',
  truncated_signal: 'The signal data is shorter than its header declares.',
  record_incomplete: 'A file the record needs is missing from the upload.',
  lead_missing: 'The record does not have the leads the model needs.',
  sampling_rate_unsupported: 'The sampling rate is missing or outside the supported range.',
  signal_invalid: 'The signal contains values that are not finite numbers.',
  record_too_short: 'The record is too short to analyse.',
  record_too_long: 'The record is longer than Leadlight accepts.',
  file_too_large: 'The upload is larger than Leadlight accepts.',
  too_many_files: 'The upload has more files than one record can have.',
  archive_invalid: 'The archive could not be read.',
  archive_too_large: 'The archive expands to more data than Leadlight accepts.',
  xml_invalid: 'The XML document is malformed or nested too deeply.',
  encoding_unsupported: 'The file uses an encoding or compression Leadlight cannot decode.',
  // Requests and options
  option_invalid: 'An option has a value Leadlight does not accept.',
  model_unknown: 'There is no model with that id.',
  model_unavailable: 'The model is known but its weights are not installed.',
  method_unknown: 'There is no attribution method with that name.',
  class_unknown: 'The model has no class with that name.',
  steps_invalid: 'The number of integration steps must be a whole number in range.',
  request_invalid: 'The request is malformed.',
  not_found: 'There is no result with that id (it may have expired or been deleted).',
  unauthorized: 'A delete token is needed for this request.',
  forbidden: 'The delete token does not match this result.',
  rate_limited: 'Too many uploads from this address in the last minute.',
  // Shared results (private mode: POST /api/results)
  result_invalid: 'The shared result does not match the result schema or contradicts itself or its model.',
  result_too_large: 'The shared result is larger than Leadlight stores.',
  server_analysis_unavailable: 'This deployment analyses ECGs in the visitor\'s browser only (private mode).',
  // Cohorts on the server (POST /api/cohorts)
  cohort_exists: 'There is already a cohort with that name.',
  // Jobs (durable analyses)
  analysis_failed: 'The analysis failed repeatedly inside Leadlight and was given up.',
  job_cancelled: 'The analysis was cancelled (its record was deleted) before it finished.',
  // The sanity check of a stored result (POST /api/records/{id}/sanity)
  sanity_unavailable: 'The sanity check cannot run on the server for this result; run `npx leadlight sanity` locally.',
  // Model files (install and --weights)
  model_file_invalid: 'The model file is not a readable Keras HDF5 file.',
  model_layout_mismatch: 'The weights file does not have the layout of the model.',
  model_layer_unsupported: 'The model has a layer or layer option the converter does not support.',
  model_hash_mismatch: 'The model file does not match its published hash.',
  // Internal (never caused by user input; reported as 5xx at the edge without details)
  internal: 'Something went wrong inside Leadlight.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A domain error with a stable code. `message` is safe to show to a user. */
export class LeadlightError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CODES[code]);
    this.name = 'LeadlightError';
    this.code = code;
    this.details = details;
  }
}

/** Throws `LeadlightError(code, message)` unless `condition` holds. */
export function ensure(condition: unknown, code: ErrorCode, message: string): asserts condition {
  if (!condition) throw new LeadlightError(code, message);
}

export function isLeadlightError(e: unknown): e is LeadlightError {
  return e instanceof LeadlightError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'LeadlightError' && typeof (e as { code?: unknown }).code === 'string');
}

/** Wraps anything thrown into a LeadlightError; unknown errors become `internal` with a generic message. */
export function toLeadlightError(e: unknown): LeadlightError {
  if (isLeadlightError(e)) return e as LeadlightError;
  return new LeadlightError('internal');
}
