/**
 * CSV / TSV reader for ECG exports: an optional block of `key: value` metadata lines (e.g. `Sampling Rate (Hz): 500`,
 * `Gain (digit/millivolt): 2048`), a header row of lead names (aliases such as `DI`, `avr`, `V1-lead` via
 * `leadNameOf`, units in brackets such as `I (mV)`), an optional time column, then one row per sample. The
 * delimiter (comma, semicolon, tab or runs of spaces) is detected from the first rows (RFC 4180 without quoted
 * line breaks). A table without a header is accepted only with 12 numeric columns, taken in the standard order
 * I, II, III, aVR, aVL, aVF, V1–V6 (with a warning).
 *
 * Sampling rate: from the time column (s or ms), a metadata line or the `samplingRateHz` option; otherwise the
 * file is refused with `sampling_rate_unsupported`. Units: a gain line, a unit in the header or metadata, or the
 * `units` option; otherwise guessed from the amplitude with a warning that states the guess. Empty or constant lead
 * columns are kept as `<lead> (empty)` (not recorded), so a table with blank V1–V6 is refused, not analysed flat.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, LEAD_ORDER, leadNameOf } from '../record.ts';
import { markEmptyChannels } from './edf.ts';
import type { EcgReader, ReadOptions } from './types.ts';

type Delimiter = ',' | ';' | '\t' | ' ';
const DELIMITERS: Delimiter[] = [',', ';', '\t', ' '];
const MAX_METADATA_LINES = 40;
const MAX_COLUMNS = 64;
const SNIFF_BYTES = 8192;

/** Decodes text (UTF-8, or UTF-16 with a byte-order mark); undefined when the bytes are not text. */
function decodeText(bytes: Uint8Array, limit = bytes.length): string | undefined {
  const head = bytes.subarray(0, Math.min(limit, bytes.length));
  let text: string;
  try {
    if (head[0] === 0xff && head[1] === 0xfe) text = new TextDecoder('utf-16le').decode(head.subarray(2));
    else if (head[0] === 0xfe && head[1] === 0xff) text = new TextDecoder('utf-16be').decode(head.subarray(2));
    else {
      for (let i = 0; i < Math.min(head.length, SNIFF_BYTES); i++) if (head[i] === 0) return undefined;
      text = new TextDecoder('utf-8').decode(head);
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
  } catch {
    return undefined;
  }
  return text;
}

function splitRow(line: string, delimiter: Delimiter): string[] {
  const trimmed = line.trim();
  if (delimiter === ' ') return trimmed.split(/\s+/u);
  return trimmed.split(delimiter).map((c) => c.trim().replace(/^"(.*)"$/su, '$1').trim());
}

/** A lead header cell without its unit in brackets: `I (mV)` → `I`, `"V1 [uV]"` → `V1`. */
function cleanHeaderCell(cell: string): { name: string; unit?: string } {
  const m = /^(.*?)\s*[([{]\s*([^)\]}]*)\s*[)\]}]\s*$/u.exec(cell);
  if (m && m[1]) return { name: m[1].trim(), unit: m[2].trim() };
  return { name: cell.trim() };
}

const TIME_NAMES = /^(t|time|times|timestamp|elapsed\s*time|sec|secs|seconds|ms|msec|milliseconds|time_s|time_ms|zeit)$/iu;

function isTimeCell(cell: string): { unit?: 's' | 'ms' } | undefined {
  const { name, unit } = cleanHeaderCell(cell);
  const n = name.replace(/["']/gu, '');
  if (!TIME_NAMES.test(n)) return undefined;
  const u = (unit ?? (/ms|msec|milli/iu.test(n) ? 'ms' : /^(sec|secs|seconds|time_s)$/iu.test(n) ? 's' : '')).toLowerCase();
  if (u === 'ms' || u === 'msec') return { unit: 'ms' };
  if (u === 's' || u === 'sec' || u === 'seconds') return { unit: 's' };
  return {};
}

function unitFactorToMv(unit: string | undefined): number | undefined {
  if (!unit) return undefined;
  const u = unit.replace(/\s/gu, '').toLowerCase();
  if (u === 'mv' || u === 'millivolt' || u === 'millivolts') return 1;
  if (u === 'uv' || u === 'µv' || u === 'μv' || u === 'microvolt' || u === 'microvolts') return 1e-3;
  if (u === 'v' || u === 'volt' || u === 'volts') return 1e3;
  if (u === 'nv') return 1e-6;
  return undefined;
}

function isNumericCell(cell: string): boolean {
  return /^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$/u.test(cell);
}

interface Metadata {
  samplingRateHz?: number;
  gainPerMv?: number;
  unitToMv?: number;
}

/** Parses one `key: value` (or `key = value`, `key,value`) metadata line; unknown keys are ignored (never kept). */
function readMetadataLine(line: string, meta: Metadata): boolean {
  let m = /^\s*"?([A-Za-z][^:=]*?)"?\s*[:=]\s*"?([^"]*)"?\s*$/u.exec(line);
  if (!m) {
    // `key,value` (or ; or tab): exactly two cells
    const cells = line.trim().split(/[,;\t]/u).map((c) => c.trim().replace(/^"(.*)"$/su, '$1'));
    if (cells.length !== 2 || !/^[A-Za-z]/u.test(cells[0]) || cells[1] === '') return false;
    m = ['', cells[0], cells[1]] as unknown as RegExpExecArray;
  }
  const key = m[1].toLowerCase();
  const value = m[2].trim();
  const num = Number((/[+-]?\d+(\.\d+)?([eE][+-]?\d+)?/u.exec(value) ?? [''])[0]);
  if (/sampl|frequen|^fs\b|rate/u.test(key) && Number.isFinite(num) && num > 0) {
    const kilo = /khz/iu.test(key + value);
    meta.samplingRateHz = kilo ? num * 1000 : num;
  } else if (/gain|resolution|scale/u.test(key) && Number.isFinite(num) && num > 0) {
    // `digit/millivolt`, `adu/mV`, `units per mV` are counts per mV; `mV/digit`, `uV/LSB` are the inverse.
    const spec = `${key} ${value}`.toLowerCase();
    const perMv = /(digit|adu|count|units?|lsb)\s*(\/|per)\s*(mv|millivolt)/u.test(spec);
    const uvPerDigit = /(uv|µv|microvolt)\s*(\/|per)\s*(digit|adu|count|lsb|unit)/u.test(spec);
    const mvPerDigit = /(mv|millivolt)\s*(\/|per)\s*(digit|adu|count|lsb|unit)/u.test(spec);
    if (perMv) meta.gainPerMv = num;
    else if (uvPerDigit) meta.gainPerMv = 1000 / num;
    else if (mvPerDigit) meta.gainPerMv = 1 / num;
    else meta.gainPerMv = num;
  } else if (/^units?$/u.test(key) && unitFactorToMv(value) !== undefined) {
    meta.unitToMv = unitFactorToMv(value);
  }
  return true;
}

function detectDelimiter(lines: string[]): Delimiter | undefined {
  let best: { d: Delimiter; cols: number } | undefined;
  for (const d of DELIMITERS) {
    const counts = lines.map((l) => splitRow(l, d).length);
    const cols = counts[0];
    if (cols < 2 || counts.some((c) => c !== cols)) continue;
    if (!best || cols > best.cols) best = { d, cols };
  }
  return best?.d;
}

interface TableLayout {
  /** Index of the header row in `lines`, or -1 for a headerless table. */
  headerIndex: number;
  firstDataIndex: number;
  delimiter: Delimiter;
  meta: Metadata;
}

/** Finds metadata lines, the header row and the delimiter from the first lines; undefined when not a lead table. */
function findLayout(lines: string[]): TableLayout | undefined {
  const meta: Metadata = {};
  const limit = Math.min(lines.length, MAX_METADATA_LINES);
  for (let i = 0; i < limit; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const sample = lines.slice(i + 1, i + 6).filter((l) => l.trim() !== '');
    if (sample.length === 0) return undefined;
    const delimiter = detectDelimiter([line, ...sample]);
    if (delimiter) {
      const header = splitRow(line, delimiter);
      // numeric cells (`1`, `2`) are WFDB-style lead names but in a table they are data, not a header
      const leadCells = header.filter((c) => !isNumericCell(c) && leadNameOf(cleanHeaderCell(c).name.replace(/["']/gu, '')));
      const dataNumeric = sample.every((l) => splitRow(l, delimiter).every((c) => c === '' || isNumericCell(c)));
      if (leadCells.length >= 2 && dataNumeric && header.length <= MAX_COLUMNS) {
        return { headerIndex: i, firstDataIndex: i + 1, delimiter, meta };
      }
      const headerNumeric = header.every((c) => c === '' || isNumericCell(c));
      if (headerNumeric && dataNumeric && header.length === 12) {
        return { headerIndex: -1, firstDataIndex: i, delimiter, meta };
      }
    }
    if (!readMetadataLine(line, meta)) return undefined;
  }
  return undefined;
}

function sniffCsv(file: InputFile): boolean {
  const b = file.bytes;
  if (b.length < 16) return false;
  const text = decodeText(b, SNIFF_BYTES);
  if (text === undefined) return false;
  const first = text.trimStart()[0];
  if (first === '<' || first === '{' || first === '[') return false;
  const lines = text.split(/\r\n|\r|\n/u);
  if (b.length > SNIFF_BYTES) lines.pop(); // possibly cut mid-line
  try {
    return findLayout(lines) !== undefined;
  } catch {
    return false;
  }
}

/** A cell's number; NaN for anything but a plain decimal (so `NaN`, `Infinity`, `0x10`, `1,2,3` are refused). */
function parseCell(cell: string, decimalComma: boolean): number {
  if (!isNumericCell(cell) || (!decimalComma && cell.includes(','))) return NaN;
  return Number(decimalComma ? cell.replace(',', '.') : cell);
}

/** Reads a delimited ECG table into channels in mV (see the module comment for the rules). */
export function readCsv(file: InputFile, options: ReadOptions): RawRecord {
  const text = decodeText(file.bytes);
  if (text === undefined) throw new LeadlightError('unsupported_format', 'The file is not a text table; upload a CSV or TSV export of the ECG.');
  const lines = text.split(/\r\n|\r|\n/u);
  const layout = findLayout(lines);
  if (!layout) {
    throw new LeadlightError(
      'header_syntax',
      'The table has no header row of lead names (e.g. I, II, V1) and is not a 12-column numeric table; add a header row naming the leads.',
    );
  }
  const { delimiter, meta } = layout;
  const warnings: RecordWarning[] = [];
  let header: string[];
  if (layout.headerIndex >= 0) {
    header = splitRow(lines[layout.headerIndex], delimiter).map((c) => c.replace(/["']/gu, ''));
  } else {
    header = [...LEAD_ORDER];
    warnings.push({
      code: 'lead_order_assumed',
      message: 'The table has no header row; its 12 columns were taken as I, II, III, aVR, aVL, aVF, V1–V6. Add a header row if the order differs.',
    });
  }
  const columns = header.length;
  let timeColumn = -1;
  let timeUnit: 's' | 'ms' | undefined;
  let headerUnitToMv: number | undefined;
  const leadColumns: number[] = [];
  header.forEach((cell, k) => {
    const time = isTimeCell(cell);
    if (time && timeColumn < 0) {
      timeColumn = k;
      timeUnit = time.unit;
      return;
    }
    const { name, unit } = cleanHeaderCell(cell);
    if (leadNameOf(name)) {
      leadColumns.push(k);
      headerUnitToMv ??= unitFactorToMv(unit);
    }
  });

  // Collect the data rows, bounded by the per-channel sample limit.
  // With ; or tab or spaces as delimiter, a comma in a number is a decimal comma (`0,25`).
  const decimalComma = delimiter !== ',';
  const values: number[][] = header.map(() => []);
  const empty = header.map(() => true);
  let rows = 0;
  for (let i = layout.firstDataIndex; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const cells = splitRow(line, delimiter);
    if (cells.length !== columns) {
      throw new LeadlightError(
        'header_syntax',
        `Row ${i + 1} has ${cells.length} columns but the header has ${columns}; the table is ragged or truncated.`,
      );
    }
    if (rows >= options.maxSamplesPerChannel) {
      throw new LeadlightError('record_too_long', `The table has more than ${options.maxSamplesPerChannel} rows; upload a shorter excerpt.`);
    }
    for (let k = 0; k < columns; k++) {
      if (k !== timeColumn && !leadColumns.includes(k)) continue;
      const cell = cells[k];
      if (cell !== '') empty[k] = false;
      values[k].push(parseCell(cell, decimalComma));
    }
    rows++;
  }
  if (rows === 0) throw new LeadlightError('record_too_short', 'The table has a header but no data rows.');

  // Sampling rate.
  let fsHz: number | undefined;
  if (timeColumn >= 0) {
    const t = values[timeColumn];
    const n = t.length;
    if (n >= 2 && Number.isFinite(t[0]) && Number.isFinite(t[n - 1]) && t[n - 1] > t[0]) {
      const step = (t[n - 1] - t[0]) / (n - 1);
      const unit = timeUnit ?? (1 / step >= 50 && 1 / step <= 20000 ? 's' : 'ms');
      fsHz = unit === 's' ? 1 / step : 1000 / step;
      if (!timeUnit) {
        warnings.push({ code: 'time_unit_assumed', message: `The time column states no unit; its steps were taken as ${unit === 's' ? 'seconds' : 'milliseconds'} (${round(fsHz)} Hz).` });
      }
      fsHz = round(fsHz);
    }
  }
  fsHz ??= meta.samplingRateHz ?? options.samplingRateHz;
  if (fsHz === undefined) {
    throw new LeadlightError(
      'sampling_rate_unsupported',
      'The table states no sampling rate (no time column or "Sampling rate" line); give the sampling rate in Hz with the upload.',
    );
  }
  if (options.samplingRateHz !== undefined && Math.abs(options.samplingRateHz - fsHz) > 1e-6 * fsHz) {
    warnings.push({ code: 'sampling_rate_conflict', message: `The file states ${fsHz} Hz; the given ${options.samplingRateHz} Hz was ignored.` });
  }

  // Units.
  let toMv: number;
  if (meta.gainPerMv !== undefined) toMv = 1 / meta.gainPerMv;
  else if (headerUnitToMv !== undefined) toMv = headerUnitToMv;
  else if (meta.unitToMv !== undefined) toMv = meta.unitToMv;
  else if (options.units) toMv = unitFactorToMv(options.units)!;
  else {
    let maxAbs = 0;
    for (const k of leadColumns) for (const v of values[k]) if (Number.isFinite(v) && Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
    const guess = maxAbs <= 0.05 ? 'V' : maxAbs <= 30 ? 'mV' : 'uV';
    toMv = unitFactorToMv(guess)!;
    warnings.push({
      code: 'units_assumed',
      message: `The table states no units; with values up to ${round(maxAbs)} they were taken as ${guess === 'uV' ? 'microvolts' : guess === 'V' ? 'volts' : 'millivolts'}. Give the units with the upload if this is wrong.`,
    });
  }

  const channels: RawChannel[] = [];
  const emptyLabels: string[] = [];
  for (const k of leadColumns) {
    const label = cleanHeaderCell(header[k]).name;
    const samples = new Float64Array(rows);
    if (empty[k]) {
      emptyLabels.push(label);
      channels.push({ label: `${label} (empty)`, samplesMv: samples });
      continue;
    }
    const column = values[k];
    for (let n = 0; n < rows; n++) {
      const v = column[n];
      if (!Number.isFinite(v)) {
        throw new LeadlightError(
          'signal_invalid',
          `Column ${label}, data row ${n + 1} is not a finite number; fix or remove that row.`,
        );
      }
      samples[n] = v * toMv;
    }
    channels.push({ label, samplesMv: samples });
  }
  if (emptyLabels.length) {
    warnings.push({ code: 'lead_empty', message: `Column${emptyLabels.length > 1 ? 's' : ''} ${emptyLabels.join(', ')} ${emptyLabels.length > 1 ? 'are' : 'is'} empty and treated as not recorded.` });
  }
  // Filled but constant columns (e.g. all zeros) are treated like empty ones: not recorded.
  return { name: file.name, format: 'csv', samplingRateHz: fsHz, channels: markEmptyChannels(channels, warnings), warnings };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** CSV / TSV reader (delimited text; RFC 4180 without quoted line breaks). */
export const csvReader: EcgReader = {
  id: 'csv',
  label: 'CSV / TSV table',
  sniff: sniffCsv,
  read: async (main, _files, options) => readCsv(main, options),
};
