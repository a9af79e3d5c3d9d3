/**
 * The labels of a cohort (../shared/docs/contract.md, "Cohorts"): LABELS.csv — a header with at least the columns
 * `path` and `label`, then one ECG per row — read from text (`leadlight cohort` reads the file, the Worker the
 * upload's `labels` part), and the rows of an uploaded cohort matched to the files of its upload (`path` names a
 * file or a WFDB record inside the zip, or an uploaded file). Pure: no file system; the CLI resolves paths itself.
 */
import { LeadlightError } from '../errors.ts';
import type { ArchiveEntry } from '../readers/archive.ts';
import type { InputFile } from '../record.ts';

/** One labelled row: the path as written, the ground truth, an optional display name and the 1-based CSV line. */
export interface LabelledRow {
  path: string;
  label: string;
  /** The optional column `name`: how the record is named in a cohort stored on a server (never its path). */
  name?: string;
  line: number;
}

/** Longest label (free text, shown in tables). */
export const MAX_LABEL_CHARS = 64;
/** Longest optional record name. */
export const MAX_ROW_NAME_CHARS = 200;

/** The ground-truth label: free text of at most 64 characters without control characters (`option_invalid`). */
export function checkLabel(label: string): string {
  // eslint-disable-next-line no-control-regex
  if (label.length > MAX_LABEL_CHARS || /[\u0000-\u001f\u007f]/u.test(label)) {
    throw new LeadlightError('option_invalid', `The label is longer than ${MAX_LABEL_CHARS} characters or has control characters; give a short ground-truth label such as AF or NORM.`);
  }
  return label;
}

/**
 * Parses CSV text as RFC 4180 does: comma-separated, fields optionally in double quotes with `""` for a quote,
 * CRLF or LF line ends, a UTF-8 BOM ignored, blank lines skipped. Returns the rows with their 1-based line numbers.
 * Throws `request_invalid` for an unterminated quote or text after a closing quote.
 */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quotedField = false;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0].trim() === '' && !quotedField)) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
    quotedField = false;
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '"' && field.trim() === '' && !quotedField) {
      const startLine = line;
      field = '';
      quotedField = true;
      i++;
      for (;;) {
        if (i >= src.length) throw new LeadlightError('request_invalid', `The labels CSV has a quote opened on line ${startLine} that is never closed; close it or remove it.`);
        const d = src[i];
        if (d === '"') {
          if (src[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        if (d === '\n') line++;
        field += d;
        i++;
      }
      while (src[i] === ' ' || src[i] === '\t') i++;
      if (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') {
        throw new LeadlightError('request_invalid', `The labels CSV has text after a closing quote on line ${line}; put the whole field in quotes.`);
      }
      continue;
    }
    if (c === ',') { fields.push(field); field = ''; quotedField = false; i++; continue; }
    if (c === '\r' || c === '\n') {
      endRow();
      if (c === '\r' && src[i + 1] === '\n') i++;
      i++;
      line++;
      rowLine = line;
      continue;
    }
    field += c;
    i++;
  }
  if (field !== '' || fields.length > 0 || quotedField) endRow();
  return rows;
}

/**
 * Reads LABELS.csv text (UTF-8 bytes or a string): the columns `path` and `label` (any order, case-insensitive,
 * other columns ignored; an optional `name`), then one ECG per row. Throws `encoding_unsupported` for bytes that are
 * not UTF-8, `option_invalid` for a missing column or no rows, `request_invalid` for a row without path or label.
 */
export function parseLabelsCsv(input: Uint8Array | string): LabelledRow[] {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      throw new LeadlightError('encoding_unsupported', 'The labels CSV is not UTF-8 text; save it as UTF-8.');
    }
  }
  const rows = parseCsv(text);
  if (rows.length === 0) throw new LeadlightError('option_invalid', 'The labels CSV is empty; it needs a header with the columns path and label and one row per ECG.');
  const header = rows[0].fields.map((h) => h.trim().toLowerCase());
  const pathCol = header.indexOf('path');
  const labelCol = header.indexOf('label');
  const nameCol = header.indexOf('name');
  const missing = [pathCol < 0 ? 'path' : null, labelCol < 0 ? 'label' : null].filter((x) => x !== null);
  if (missing.length > 0) {
    throw new LeadlightError('option_invalid', `The labels CSV has no column ${missing.join(' and no column ')} (its header is: ${rows[0].fields.join(', ').slice(0, 200) || 'empty'}); add a header with the columns path and label.`);
  }
  const out: LabelledRow[] = [];
  for (const row of rows.slice(1)) {
    const path = (row.fields[pathCol] ?? '').trim();
    const label = (row.fields[labelCol] ?? '').trim();
    if (path === '' || label === '') {
      throw new LeadlightError('request_invalid', `Line ${row.line} of the labels CSV has no ${path === '' ? 'path' : 'label'}; fill it in or delete the line.`);
    }
    const name = nameCol >= 0 ? (row.fields[nameCol] ?? '').replace(/[\u0000-\u001f\u007f]/gu, ' ').trim() : '';
    out.push({ path, label, ...(name !== '' ? { name: name.slice(0, MAX_ROW_NAME_CHARS) } : {}), line: row.line });
  }
  if (out.length === 0) throw new LeadlightError('option_invalid', 'The labels CSV has a header but no ECGs; add one row per ECG.');
  return out;
}

/** A path as the matcher compares it: `/` separators, no leading `/` or `./`, no empty or `.` segments. */
function normalisePath(path: string): string {
  return path.split(/[\\/]/u).filter((part) => part !== '' && part !== '.').join('/');
}

function baseNameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** The files of one labelled row, or why it has none (a member that fails with `request_invalid`). */
export type MatchedRow = { row: LabelledRow; files: InputFile[] } | { row: LabelledRow; error: { code: string; message: string } };

/**
 * Finds each row's record among the upload's files (`entries`: a zip's files by their path inside it, and files
 * uploaded directly by their name): the entry whose path is the row's path, else the one entry whose path ends
 * with it at a folder boundary (a zip of the CSV's folder, or of its parent); a path without extension also names
 * a WFDB record (`A0001` → `A0001.hea`). A `.hea` brings the files beside it with the same stem (its signal files),
 * as `leadlight cohort` does on disk. Files are handed on under their base names.
 */
export function matchLabelledRows(rows: readonly LabelledRow[], entries: readonly ArchiveEntry[]): MatchedRow[] {
  const byPath = new Map<string, ArchiveEntry>();
  const byFolder = new Map<string, ArchiveEntry[]>();
  for (const e of entries) {
    const path = normalisePath(e.path);
    byPath.set(path, e);
    const folder = path.slice(0, Math.max(0, path.lastIndexOf('/')));
    let list = byFolder.get(folder);
    if (!list) byFolder.set(folder, (list = []));
    list.push({ path, bytes: e.bytes });
  }
  const paths = [...byPath.keys()];
  const find = (wanted: string): string[] => {
    if (byPath.has(wanted)) return [wanted];
    return paths.filter((p) => p.endsWith(`/${wanted}`));
  };
  return rows.map((row): MatchedRow => {
    const wanted = normalisePath(row.path);
    let found = wanted === '' || wanted.split('/').includes('..') ? [] : find(wanted);
    if (found.length === 0 && !/\.[A-Za-z0-9]{1,8}$/u.test(wanted) && wanted !== '') found = find(`${wanted}.hea`);
    if (found.length !== 1) {
      const message = found.length === 0
        ? `There is no file for this row in the upload; add the record's files to the zip under the path the labels CSV gives (line ${row.line}).`
        : `The path of this row matches ${found.length} files of the upload; give its folder too (line ${row.line}).`;
      return { row, error: { code: 'request_invalid', message } };
    }
    const path = found[0];
    const files: InputFile[] = [{ name: baseNameOf(path), bytes: (byPath.get(path) as ArchiveEntry).bytes }];
    if (/\.hea$/iu.test(path)) {
      const stem = baseNameOf(path).replace(/\.hea$/iu, '');
      const folder = path.slice(0, Math.max(0, path.lastIndexOf('/')));
      for (const e of byFolder.get(folder) ?? []) {
        const name = baseNameOf(e.path);
        if (e.path !== path && name.startsWith(`${stem}.`)) files.push({ name, bytes: e.bytes });
      }
    }
    return { row, files };
  });
}
