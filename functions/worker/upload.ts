/**
 * Reading `POST /api/records` (multipart/form-data, RFC 7578) safely: the size is checked BEFORE parsing — first
 * the declared Content-Length, then a counting read of the body stream that stops at the cap — so an oversized or
 * lying upload costs at most the cap in memory. Then the form's `file` parts become InputFiles (base names only)
 * and its text fields become analysis options.
 */
import { concatBytes } from '../core/bytes.ts';
import { LeadlightError } from '../core/errors.ts';
import type { InputFile } from '../core/record.ts';
import { MAX_FILES_PER_UPLOAD } from '../core/readers/registry.ts';
import { type ExpiryChoice, parseExpiry } from './store.ts';

export const DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
const MAX_FIELD_CHARS = 200;
const TEXT_FIELDS = ['model', 'method', 'class', 'label', 'cohort', 'steps', 'expiry', 'name'] as const;

export interface UploadRequest {
  files: InputFile[];
  options: { model?: string; method?: string; class?: string; steps?: number; label?: string; cohort?: string; name?: string };
  expiry: ExpiryChoice;
}

function tooLarge(bytes: number | null, maxBytes: number): LeadlightError {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return new LeadlightError(
    'file_too_large',
    `The upload${bytes === null ? '' : ` (${mib(bytes)})`} is larger than the ${mib(maxBytes)} Leadlight accepts; upload a single record (or a zip of one record) below that size.`,
  );
}

/** Reads the whole body, refusing more than `maxBytes` (Content-Length first, then while streaming). */
export async function readBodyCapped(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    const n = Number(declared);
    if (!Number.isFinite(n) || n < 0) throw new LeadlightError('request_invalid', 'The Content-Length header is not a number; send the upload as multipart/form-data.');
    if (n > maxBytes) throw tooLarge(n, maxBytes);
  }
  if (!request.body) throw new LeadlightError('request_invalid', 'The request has no body; send the ECG as a multipart/form-data field named "file".');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(null, maxBytes);
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/** Only the last path segment of a client-supplied file name, without control characters. */
export function baseName(name: string): string {
  const last = name.split(/[\\/]/u).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  return last.replace(/[\u0000-\u001f\u007f]/gu, '').slice(0, 255) || 'upload';
}

/** Parses and validates the upload form. Throws LeadlightError (4xx) for anything malformed. */
export async function readUpload(request: Request, maxBytes: number): Promise<UploadRequest> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data\s*;/iu.test(contentType) || !/boundary=/iu.test(contentType)) {
    throw new LeadlightError('request_invalid', 'Send the ECG as multipart/form-data with the file in a field named "file" (a WFDB record as several "file" parts, or a zip).');
  }
  const body = await readBodyCapped(request, maxBytes);
  let form: FormData;
  try {
    form = await new Response(body as BodyInit, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new LeadlightError('request_invalid', 'The multipart body could not be parsed; send it as multipart/form-data with a field named "file".');
  }

  const files: InputFile[] = [];
  const fields: Record<string, string> = {};
  for (const [key, value] of form.entries()) {
    if (key === 'file') {
      if (typeof value === 'string') {
        throw new LeadlightError('request_invalid', 'The "file" field must be a file upload, not text.');
      }
      if (files.length >= MAX_FILES_PER_UPLOAD) {
        throw new LeadlightError('too_many_files', `More than ${MAX_FILES_PER_UPLOAD} files were uploaded; one record has at most ${MAX_FILES_PER_UPLOAD}. Upload one record at a time.`);
      }
      const file = value as File;
      files.push({ name: baseName(file.name), bytes: new Uint8Array(await file.arrayBuffer()) });
      continue;
    }
    if (!(TEXT_FIELDS as readonly string[]).includes(key)) {
      throw new LeadlightError('request_invalid', `The form field "${key.slice(0, 40)}" is not known; accepted: file, ${TEXT_FIELDS.join(', ')}.`);
    }
    if (typeof value !== 'string') throw new LeadlightError('request_invalid', `The field "${key}" must be text, not a file.`);
    if (Object.hasOwn(fields, key)) throw new LeadlightError('request_invalid', `The field "${key}" was given more than once; give it once.`);
    if (value.length > MAX_FIELD_CHARS) {
      throw new LeadlightError('option_invalid', `The field "${key}" is longer than ${MAX_FIELD_CHARS} characters; shorten it.`);
    }
    // The report title (`name`) is shown as given, without control characters.
    fields[key] = (key === 'name' ? value.replace(/[\u0000-\u001f\u007f]/gu, ' ') : value).trim();
  }
  if (files.length === 0) {
    throw new LeadlightError('request_invalid', 'No file was uploaded; add the ECG in a field named "file" (for WFDB, the .hea and its signal files).');
  }

  const options: UploadRequest['options'] = {};
  for (const key of ['model', 'method', 'class', 'label', 'cohort', 'name'] as const) {
    if (fields[key]) options[key] = fields[key];
  }
  if (fields.steps) {
    if (!/^\d{1,4}$/u.test(fields.steps)) {
      throw new LeadlightError('steps_invalid', `The number of steps "${fields.steps.slice(0, 20)}" is not a whole number; give e.g. 64 or leave it empty for the fast default.`);
    }
    options.steps = Number(fields.steps);
  }
  return { files, options, expiry: parseExpiry(fields.expiry) };
}
