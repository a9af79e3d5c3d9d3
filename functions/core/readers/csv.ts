/**
 * CSV / TSV reader for ECG exports: an optional block of `key: value` metadata lines (e.g. `Sampling Rate (Hz): 500`,
 * `Gain (digit/millivolt): 2048`; also `key;value;;;;` rows that Excel pads to the table width), a header row of
 * lead names (aliases such as `DI`, `avr`, `V1-lead` via `leadNameOf`, units such as `I (mV)`, `V1 [uV]`, `II_mV`),
 * an optional units row below it (PhysioNet rdsamp/ATM: `'seconds','mV',…`), an optional time column (s, ms or
 * `hh:mm:ss.fff`), then one row per sample. LabChart text exports (`Interval=`, `ChannelTitle=`, `UnitName=` lines,
 * then rows that start with the time and may end in a `#*` comment) are read too, one block per file. The delimiter (comma, semicolon, tab or runs of spaces) is
 * detected from the first rows; cells may be quoted with `"` (RFC 4180 without quoted line breaks) or `'`, and a
 * quoted cell may hold a decimal comma (`"0,123"`). A table without a header is accepted only with 12 numeric
 * columns, taken in the standard order I, II, III, aVR, aVL, aVF, V1–V6 (with a warning).
 *
 * Sampling rate: from the time column (rounded to the precision its cells are written with, so a millisecond column
 * of a 257 Hz record gives 257), a metadata line that names the sampling rate, frequency or interval (`Sampling rate`,
 * `Sample rate`, `SamplingRate`, `fs`, `Sample interval: 2 ms`, LabChart's `Interval=`; never `Heart rate` or
 * `Notch frequency`), or the `samplingRateHz` option; otherwise the file is refused with `sampling_rate_unsupported`.
 * Units, per column: a resolution or gain line applied to integer counts (`Resolution: 5 uV/bit`, `Gain: 2048
 * digit/mV`), else the column's unit in the header or units row, else a unit in the metadata or the `units` option;
 * otherwise guessed from the amplitude with a warning that states the guess. Empty or constant lead columns are kept
 * as `<lead> (empty)` (not recorded), so a table with blank V1–V6 is refused, not analysed flat. A refusal names the
 * line (and column) that stopped the reader.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, LEAD_ORDER, groupConversions, leadNameOf, numberText, unitConversion } from '../record.ts';
import { markEmptyChannels } from './edf.ts';
import type { EcgReader, ReadOptions } from './types.ts';

type Delimiter = ',' | ';' | '\t' | ' ';
const DELIMITERS: Delimiter[] = [',', ';', '\t', ' '];
const MAX_METADATA_LINES = 40;
/** Longer lines are not metadata lines; a metadata key is at most this long (bounds the work on hostile lines). */
const MAX_METADATA_CHARS = 4096;
const MAX_KEY_CHARS = 100;
/** Longer header cells are not lead or time names. */
const MAX_HEADER_CELL_CHARS = 100;
/** Longer lines are neither header nor metadata lines, nor the rows the layout is detected from. */
const MAX_LAYOUT_LINE_CHARS = 64 * (MAX_HEADER_CELL_CHARS + 1);
const MAX_COLUMNS = 64;
const SNIFF_BYTES = 8192;
/** A longer quoted cell is not taken as quoted (no cell of an ECG table is this long). */
const MAX_QUOTED_CHARS = 4096;
/** Rows split into more cells than this are cut there (they are ragged anyway): bounds the work per line. */
const MAX_CELLS = MAX_COLUMNS + 1;

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

/** A cell without one pair of enclosing quotes (`"…"` with `""` escapes, or `'…'`), trimmed. */
function unquote(cell: string): string {
  const c = cell.trim();
  if (c.length >= 2 && c[0] === '"' && c[c.length - 1] === '"') return c.slice(1, -1).replace(/""/gu, '"').trim();
  if (c.length >= 2 && c[0] === "'" && c[c.length - 1] === "'") return c.slice(1, -1).trim();
  return c;
}

/**
 * Splits one row at `delimiter`. A cell that starts with `"` or `'` runs to its closing quote when that quote is
 * followed by the delimiter or the end of the line (so `"0,123"` is one cell and `Patient's` is not a quote); a
 * quote left open for more than MAX_QUOTED_CHARS is taken as text. At most MAX_CELLS cells are returned, so the scan
 * of a hostile line is linear.
 */
function splitRow(line: string, delimiter: Delimiter): string[] {
  const trimmed = line.trim();
  if (delimiter === ' ') return trimmed.split(/\s+/u, MAX_CELLS).map(unquote);
  const cells: string[] = [];
  const n = trimmed.length;
  let i = 0;
  while (cells.length < MAX_CELLS) {
    let j = i;
    while (j < n && (trimmed[j] === ' ' || trimmed[j] === '\t') && trimmed[j] !== delimiter) j++;
    const q = trimmed[j];
    let end = -1;
    if (q === '"' || q === "'") {
      let k = j + 1;
      for (;;) {
        const close = trimmed.indexOf(q, k);
        if (close < 0 || close - j > MAX_QUOTED_CHARS) break;
        if (q === '"' && trimmed[close + 1] === '"') {
          k = close + 2;
          continue;
        }
        let after = close + 1;
        while (after < n && (trimmed[after] === ' ' || trimmed[after] === '\t') && trimmed[after] !== delimiter) after++;
        if (after >= n || trimmed[after] === delimiter) {
          cells.push(q === '"' ? trimmed.slice(j + 1, close).replace(/""/gu, '"').trim() : trimmed.slice(j + 1, close).trim());
          end = after;
        }
        break;
      }
    }
    if (end < 0) {
      const next = trimmed.indexOf(delimiter, i);
      end = next < 0 ? n : next;
      cells.push(trimmed.slice(i, end).trim());
    }
    if (end >= n) break;
    i = end + 1;
  }
  return cells;
}

const VOLT_UNIT = /^(mv|millivolts?|uv|µv|μv|microvolts?|v|volts?|nv|nanovolts?)$/u;

/** A lead header cell without its unit: `I (mV)` → `I` + `mV`, `V1 [uV]`, `II_mV`, `V2 µV`. */
function cleanHeaderCell(cell: string): { name: string; unit?: string } {
  if (cell.length > MAX_HEADER_CELL_CHARS) return { name: cell };
  const m = /^(.*?)\s*[([{]\s*([^)\]}]*)\s*[)\]}]\s*$/u.exec(cell);
  if (m && m[1]) return { name: m[1].trim(), unit: m[2].trim() };
  const s = /^(.*?)[\s_-]+([a-zµμ]+)$/iu.exec(cell.trim());
  if (s && s[1] && VOLT_UNIT.test(s[2].toLowerCase()) && s[2].toLowerCase() !== 'v' && leadNameOf(s[1])) return { name: s[1].trim(), unit: s[2] };
  return { name: cell.trim() };
}

const TIME_NAMES = /^(t|time|times|timestamp|elapsed\s*time|sec|secs|seconds|ms|msec|milliseconds|time_s|time_ms|time_sec|zeit)$/iu;
const CLOCK_UNIT = /^(hh:)?mm:ss([.,](f+|m+|s+))?$/iu;

type TimeUnit = 's' | 'ms' | 'us' | 'clock';

function timeUnitOf(unit: string): TimeUnit | undefined {
  const u = unit.replace(/[()[\]{}\s]/gu, '').toLowerCase();
  if (u === 'ms' || u === 'msec' || u === 'milliseconds') return 'ms';
  if (u === 'us' || u === 'µs' || u === 'μs' || u === 'microseconds') return 'us';
  if (u === 's' || u === 'sec' || u === 'secs' || u === 'seconds') return 's';
  if (CLOCK_UNIT.test(u)) return 'clock';
  return undefined;
}

function isTimeCell(cell: string): { unit?: TimeUnit } | undefined {
  const { name, unit } = cleanHeaderCell(cell);
  const n = name.replace(/["']/gu, '');
  if (!TIME_NAMES.test(n)) return undefined;
  if (unit) return { unit: timeUnitOf(unit) };
  if (/ms|msec|milli/iu.test(n)) return { unit: 'ms' };
  if (/^(sec|secs|seconds|time_s|time_sec)$/iu.test(n)) return { unit: 's' };
  return {};
}

function unitFactorToMv(unit: string | undefined): number | undefined {
  if (!unit) return undefined;
  const u = unit.replace(/[\s()[\]{}]/gu, '').toLowerCase();
  if (u === 'mv' || u === 'millivolt' || u === 'millivolts') return 1;
  if (u === 'uv' || u === 'µv' || u === 'μv' || u === 'microvolt' || u === 'microvolts') return 1e-3;
  if (u === 'v' || u === 'volt' || u === 'volts') return 1e3;
  if (u === 'nv' || u === 'nanovolt' || u === 'nanovolts') return 1e-6;
  return undefined;
}

function isNumericCell(cell: string): boolean {
  return /^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$/u.test(cell);
}

const CLOCK_CELL = /^(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$/u;

/** `hh:mm:ss.fff` or `m:ss.fff` in seconds; NaN otherwise. */
function clockSeconds(cell: string): number {
  const m = CLOCK_CELL.exec(cell);
  if (!m) return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3].replace(',', '.'));
}

/** Digits after the decimal separator of a plain decimal or clock cell; undefined with an exponent. */
function decimalsOf(cell: string): number | undefined {
  if (/[eE]/u.test(cell)) return undefined;
  const m = /[.,](\d*)$/u.exec(cell);
  return m ? m[1].length : 0;
}

/** True when a row's cells are a units row (`'seconds','mV',…`, `s;mV;uV`): units or blanks, one voltage unit at least. */
function isUnitsRow(cells: string[]): boolean {
  let volts = 0;
  for (const c of cells) {
    if (c === '') continue;
    if (unitFactorToMv(c) !== undefined) volts++;
    else if (timeUnitOf(c) === undefined && !/^(samples?|#|n|index)$/iu.test(c)) return false;
  }
  return volts > 0;
}

interface Metadata {
  samplingRateHz?: number;
  /** 1-based line that set the rate (for messages). */
  samplingRateLine?: number;
  /** mV per integer count, from a resolution or gain line. */
  countToMv?: number;
  unitToMv?: number;
  /** LabChart `ChannelTitle=` and `UnitName=` cells. */
  channelTitles?: string[];
  channelUnits?: string[];
  warnings: RecordWarning[];
}

/** The first number in a metadata value (a decimal comma is accepted), with its digits after the separator. */
function numberIn(value: string): { value: number; decimals?: number } | undefined {
  const m = /[+-]?(\d+(?:[.,]\d+)?|[.,]\d+)(?:[eE][+-]?\d+)?/u.exec(value);
  if (!m) return undefined;
  const v = Number(m[0].replace(',', '.'));
  return Number.isFinite(v) && v > 0 ? { value: v, decimals: decimalsOf(m[0]) } : undefined;
}

/** Keys that name the sampling rate (`Sampling rate`, `Sample rate`, `SamplingRate`, `fs`, `Sampling frequency`). */
const RATE_KEY = /^(sampl(e|es|ing)?(rate|frequency|freq)|fs|srate|samplespersecond|samples\/s(ec|econd)?|abtastrate|abtastfrequenz)$/u;
/** Keys that name the sampling interval (`Sample interval`, `Sampling interval`, `Sampling period`, LabChart `Interval`). */
const INTERVAL_KEY = /^(sampl(e|es|ing)?(interval|period)|interval)$/u;
const SECTION = /^\[[A-Za-z][^\],]*\]$/u;
const GAIN_KEY = /gain|resolution|scale|^lsb|sensitivity/u;
const COUNT_WORD = '(digits?|adu|counts?|units?|lsbs?|bits?|steps?)';
const VOLT_WORD = '(nv|nanovolts?|uv|µv|μv|microvolts?|mv|millivolts?|v|volts?)';

/** The rate that `estimate` is within [lo, hi] at the fewest decimals (so 256.99998 with ±0.03 is 257). */
function roundWithin(estimate: number, lo: number, hi: number): number {
  for (let d = 0; d <= 6; d++) {
    const c = Math.round(estimate * 10 ** d) / 10 ** d;
    if (c >= lo && c <= hi) return c;
  }
  return round(estimate);
}

/** Sets the sampling rate from a rate or interval line; the first line that names it wins, later ones only warn. */
function setRate(meta: Metadata, hz: number, line: number): void {
  if (meta.samplingRateHz === undefined) {
    meta.samplingRateHz = hz;
    meta.samplingRateLine = line;
  } else if (Math.abs(meta.samplingRateHz - hz) > 1e-6 * hz) {
    meta.warnings.push({ code: 'sampling_rate_conflict', message: `Line ${line} states ${hz} Hz; the ${meta.samplingRateHz} Hz of line ${meta.samplingRateLine} was used.` });
  }
}

/** `s` without the blanks and the `;`/`,` padding of a spreadsheet row at either end (a linear scan). */
function stripPadding(s: string): string {
  const pad = (c: string) => c === ';' || c === ',' || c === ' ' || c === '\t';
  let a = 0;
  let b = s.length;
  while (a < b && pad(s[a])) a++;
  while (b > a && pad(s[b - 1])) b--;
  return s.slice(a, b);
}

/**
 * Parses one `key: value` (or `key = value`, `key,value`, `key;value;;;;`) metadata line; unknown keys are
 * ignored (never kept). False when the line is not a metadata line.
 */
function readMetadataLine(line: string, index: number, meta: Metadata): boolean {
  const t = line.trim();
  if (t.length > MAX_METADATA_CHARS) return false;
  if (SECTION.test(t)) return true; // an INI-style section title
  let key = '';
  let value = '';
  const sep = t.search(/[:=]/u);
  const before = sep > 0 ? unquote(t.slice(0, sep)) : '';
  if (/^[A-Za-z][^\t;,"]*$/u.test(before)) {
    key = before;
    value = t.slice(sep + 1);
  } else {
    // `key,value` (or ; or tab), also padded to the table width: `Sampling rate;500;;;;;;`
    let cells: string[] | undefined;
    for (const d of [';', '\t', ','] as const) {
      const c = splitRow(t, d);
      while (c.length > 1 && c[c.length - 1] === '') c.pop();
      if (c.length >= 2) {
        cells = c;
        break;
      }
    }
    if (!cells) {
      // a lone label, possibly padded (`Patient;;;;`)
      const label = stripPadding(t);
      return /^[A-Za-z][A-Za-z0-9 _()/.-]*:?$/u.test(label) && !/[;,\t]/u.test(label) && !leadNameOf(label);
    }
    if (cells.length > 3 || !/^[A-Za-z]/u.test(cells[0]) || cells[1] === '') return false;
    key = cells[0].endsWith(':') || cells[0].endsWith('=') ? cells[0].slice(0, -1).trim() : cells[0];
    value = cells.slice(1).join(' ');
  }
  const lineNo = index + 1;
  // the value without the padding of a spreadsheet row and without quotes
  if (key.length > MAX_KEY_CHARS) return false;
  value = unquote(stripPadding(value).replace(/\s+/gu, ' '));
  const bracket = /^(.*?)\s*[([{]\s*([^)\]}]*)\s*[)\]}]\s*$/u.exec(key);
  const keyUnit = (bracket ? bracket[2] : '').toLowerCase();
  const keyName = (bracket ? bracket[1] : key).toLowerCase().replace(/[\s_.-]+/gu, '');

  if (keyName === 'channeltitle' || keyName === 'unitname') {
    const cells = line.slice(line.indexOf('=') + 1).split('\t', MAX_CELLS).map((c) => c.trim());
    if (cells[0] === '') cells.shift();
    while (cells.length && cells[cells.length - 1] === '') cells.pop();
    if (keyName === 'channeltitle') meta.channelTitles = cells;
    else meta.channelUnits = cells;
    return true;
  }
  const num = numberIn(value);
  const spec = `${value} ${keyUnit}`.toLowerCase();
  // a time unit makes a rate line an interval, unless it is a rate per time (`samples/s`, `per second`)
  const timeSpec = spec.replace(/(samples?|sa)?\s*(\/|per)\s*(s|sec|second)\b/gu, ' hz ');
  const timeUnit = /\b(ms|msec|milliseconds?)\b/u.test(timeSpec) ? 1e-3 : /(\bus\b|µs|μs|microseconds?)/u.test(timeSpec) ? 1e-6 : /\b(s|sec|secs|seconds?)\b/u.test(timeSpec) ? 1 : undefined;
  const isRate = RATE_KEY.test(keyName);
  const isInterval = INTERVAL_KEY.test(keyName) || (isRate && timeUnit !== undefined && !/hz/u.test(timeSpec));
  if (isInterval && num) {
    let unit = timeUnit;
    if (unit === undefined) {
      // 50 Hz–20 kHz is 0.05–20 ms or 0.00005–0.02 s: the two ranges do not overlap
      unit = num.value >= 0.05 ? 1e-3 : 1;
      meta.warnings.push({ code: 'time_unit_assumed', message: `Line ${lineNo} states a sampling interval of ${num.value} without a unit; it was taken as ${unit === 1 ? 'seconds' : 'milliseconds'}.` });
    }
    setRate(meta, round(1 / (num.value * unit)), lineNo);
  } else if (isRate && num) {
    setRate(meta, /khz/u.test(spec) ? round(num.value * 1000) : num.value, lineNo);
  } else if (GAIN_KEY.test(keyName) && num) {
    // a display setting (`Gain: 10 mm/mV`, `Time scale: 25 mm/s`), not the scale of the samples
    if (/\bmm\b|mm\s*(\/|per)/u.test(spec) || timeUnit !== undefined || /time|speed/u.test(keyName)) return true;
    const voltPerCount = new RegExp(`${VOLT_WORD}\\s*(\\/|per)\\s*${COUNT_WORD}\\b`, 'u').exec(spec);
    const countPerVolt = new RegExp(`(${COUNT_WORD}\\s*)?(\\/|per)\\s*${VOLT_WORD}\\b`, 'u').exec(spec);
    const voltOnly = new RegExp(`^[^a-zµμ]*${VOLT_WORD}\\s*$`, 'u').exec(spec.trim());
    if (voltPerCount) meta.countToMv = num.value * unitFactorToMv(voltPerCount[1])!;
    else if (countPerVolt) meta.countToMv = unitFactorToMv(countPerVolt[4])! / num.value;
    else if (voltOnly && !/gain/u.test(keyName)) meta.countToMv = num.value * unitFactorToMv(voltOnly[1])!;
    else if (/resolution|^lsb/u.test(keyName)) {
      // a resolution without a unit: microvolts per count (typical 0.5–10), or millivolts per count below 0.1
      const uv = num.value >= 0.1;
      meta.countToMv = uv ? num.value * 1e-3 : num.value;
      meta.warnings.push({ code: 'units_assumed', message: `Line ${lineNo} states a resolution of ${num.value} without a unit; it was taken as ${uv ? 'microvolts' : 'millivolts'} per count.` });
    } else meta.countToMv = 1 / num.value; // a bare gain is counts per millivolt
  } else if (/^(units?|amplitudeunits?|signalunits?)$/u.test(keyName) && unitFactorToMv(value) !== undefined) {
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

const isDataCell = (c: string): boolean => c === '' || isNumericCell(c) || CLOCK_CELL.test(c);
const isSkippable = (line: string): boolean => line.trim() === '' || line.trim().startsWith('#');

interface TableLayout {
  /** Header cells (lead names, time), without quotes; the standard lead order for a headerless table. */
  header: string[];
  /** A unit per column (from a units row or LabChart's `UnitName=`), when the file has one. */
  units?: string[];
  headerless: boolean;
  /** A LabChart text export: rows may end in a `#*` comment; a second block's `Interval=` … lines are refused. */
  labChart?: boolean;
  /** 0-based index of the header line (-1 when there is none), for messages. */
  headerIndex: number;
  firstDataIndex: number;
  delimiter: Delimiter;
  meta: Metadata;
}

type LayoutResult = { layout: TableLayout } | { stop: number; reason: string };

/** The next `count` non-blank, non-comment lines after `from` with their indices. */
function nextLines(lines: string[], from: number, count: number): { line: string; index: number }[] {
  const out: { line: string; index: number }[] = [];
  for (let i = from; i < lines.length && out.length < count && i < from + 4 * count; i++) if (!isSkippable(lines[i])) out.push({ line: lines[i], index: i });
  return out;
}

const LABCHART_KEY = /^(ChannelTitle|UnitName|Range|TopValue|BottomValue|Interval|ExcelDateTime|TimeFormat|DateFormat)=/iu;

/** The table when line `i` is its header (with or without a units row below it) or its first headerless row. */
function tableAt(line: string, i: number, rows: { line: string; index: number }[], meta: Metadata): TableLayout | undefined {
  // the layout is told from the rows before an overlong one (which the data loop then refuses by its line number)
  const long = rows.findIndex((f) => f.line.length > MAX_LAYOUT_LINE_CHARS);
  const following = long < 0 ? rows : rows.slice(0, long);
  if (following.length === 0) return undefined;
  for (const withUnits of [false, true]) {
    if (withUnits && following.length < 2) break;
    const sample = following.slice(withUnits ? 1 : 0, withUnits ? 6 : 5);
    const delimiter = detectDelimiter([line, ...(withUnits ? [following[0].line] : []), ...sample.map((s) => s.line)]);
    if (!delimiter) continue;
    const units = withUnits ? splitRow(following[0].line, delimiter) : undefined;
    if (units && !isUnitsRow(units)) continue;
    const header = splitRow(line, delimiter).map((c) => c.replace(/["']/gu, ''));
    // numeric cells (`1`, `2`) are WFDB-style lead names but in a table they are data, not a header
    const leadCells = header.filter((c) => !isNumericCell(c) && leadNameOf(cleanHeaderCell(c).name));
    const dataNumeric = sample.every((s) => splitRow(s.line, delimiter).every(isDataCell));
    if (leadCells.length >= 2 && dataNumeric && header.length <= MAX_COLUMNS) {
      return { header, units, headerless: false, headerIndex: i, firstDataIndex: sample[0].index, delimiter, meta };
    }
    const headerNumeric = header.every((c) => c === '' || isNumericCell(c));
    if (!units && headerNumeric && dataNumeric && header.length === 12) {
      return { header: [...LEAD_ORDER], headerless: true, headerIndex: -1, firstDataIndex: i, delimiter, meta };
    }
  }
  return undefined;
}

/** Finds metadata lines, the header row, a units row and the delimiter from the first lines. */
function findLayout(lines: string[]): LayoutResult {
  const meta: Metadata = { warnings: [] };
  const limit = Math.min(lines.length, MAX_METADATA_LINES);
  for (let i = 0; i < limit; i++) {
    const line = lines[i];
    if (isSkippable(line)) continue;
    if (line.length > MAX_LAYOUT_LINE_CHARS) return { stop: i, reason: `is longer than ${MAX_LAYOUT_LINE_CHARS} characters, too long for a header or metadata line` };
    // LabChart: after ChannelTitle= (and UnitName=), the first numeric row starts the data
    if (meta.channelTitles && !/^[A-Za-z]/u.test(line.trim())) {
      const cells = splitRow(line, '\t');
      const titles = meta.channelTitles;
      if (cells.every(isDataCell) && (cells.length === titles.length + 1 || cells.length === titles.length)) {
        const withTime = cells.length === titles.length + 1;
        const units = meta.channelUnits?.length === titles.length ? meta.channelUnits : titles.map(() => '');
        return {
          layout: {
            header: withTime ? ['Time', ...titles] : titles,
            units: withTime ? ['s', ...units] : units,
            headerless: false,
            labChart: true,
            headerIndex: -1,
            firstDataIndex: i,
            delimiter: '\t',
            meta,
          },
        };
      }
      return { stop: i, reason: `has ${cells.length} cells but the ChannelTitle= line names ${titles.length} channels` };
    }
    if (LABCHART_KEY.test(line.trim())) {
      readMetadataLine(line, i, meta);
      continue;
    }
    const following = nextLines(lines, i + 1, 6);
    if (following.length === 0) return { stop: i, reason: 'is not followed by data rows' };
    const table = tableAt(line, i, following, meta);
    if (table) return { layout: table };
    if (!readMetadataLine(line, i, meta)) return { stop: i, reason: diagnose(lines, i) };
  }
  return { stop: -1, reason: `No header row of lead names was found in the first ${MAX_METADATA_LINES} lines` };
}

/** Why line `i` (neither metadata nor an accepted header) stopped the reader, naming the line and column at fault. */
function diagnose(lines: string[], i: number): string {
  let best: { d: Delimiter; header: string[]; leads: number } | undefined;
  for (const d of DELIMITERS) {
    const header = splitRow(lines[i], d);
    const leads = header.filter((c) => !isNumericCell(c) && leadNameOf(cleanHeaderCell(c.replace(/["']/gu, '')).name)).length;
    if (!best || leads > best.leads) best = { d, header, leads };
  }
  if (!best || best.leads < 2) return 'is neither a "key: value" metadata line nor a header row naming at least two leads (e.g. I, II, V1)';
  if (best.header.length > MAX_COLUMNS) return `has more than ${MAX_COLUMNS} columns`;
  for (const { line, index } of nextLines(lines, i + 1, 5)) {
    if (line.length > MAX_LAYOUT_LINE_CHARS) return `is a header row but line ${index + 1} is longer than ${MAX_LAYOUT_LINE_CHARS} characters`;
    const cells = splitRow(line, best.d);
    if (cells.length !== best.header.length) return `is a header of ${best.header.length} columns but line ${index + 1} has ${cells.length}`;
    const k = cells.findIndex((c) => !isDataCell(c));
    if (k >= 0 && !isUnitsRow(cells)) return `is a header row but line ${index + 1}, column ${k + 1} is not a number`;
  }
  return 'is a header row but the rows below it are not a table';
}

function sniffCsv(file: InputFile): boolean {
  const b = file.bytes;
  if (b.length < 16) return false;
  const text = decodeText(b, SNIFF_BYTES);
  if (text === undefined) return false;
  const first = text.trimStart()[0];
  if (first === '<' || first === '{' || (first === '[' && !SECTION.test(text.trimStart().split(/\r?\n/u, 1)[0].trim()))) return false;
  const lines = text.split(/\r\n|\r|\n/u);
  if (b.length > SNIFF_BYTES) lines.pop(); // possibly cut mid-line
  try {
    return 'layout' in findLayout(lines);
  } catch {
    return false;
  }
}

/**
 * A cell's number; NaN for anything but a plain decimal (so `NaN`, `Infinity`, `0x10`, `1,2,3` are refused). A comma
 * is a decimal comma: a cell holds one only with ; or tab or spaces as delimiter (`0,25`) or quoted (`"0,25"`).
 */
function parseCell(cell: string): number {
  return isNumericCell(cell) ? Number(cell.replace(',', '.')) : NaN;
}

/** Reads a delimited ECG table into channels in mV (see the module comment for the rules). */
export function readCsv(file: InputFile, options: ReadOptions): RawRecord {
  const text = decodeText(file.bytes);
  if (text === undefined) throw new LeadlightError('unsupported_format', 'The file is not a text table; upload a CSV or TSV export of the ECG.');
  const lines = text.split(/\r\n|\r|\n/u);
  const found = findLayout(lines);
  if (!('layout' in found)) {
    const where = found.stop >= 0 ? `Line ${found.stop + 1} ${found.reason}` : found.reason;
    throw new LeadlightError(
      'header_syntax',
      `${where}; the table needs a header row of lead names (e.g. I, II, V1) or 12 numeric columns.`,
    );
  }
  const layout = found.layout;
  const { delimiter, meta, header } = layout;
  const warnings: RecordWarning[] = [...meta.warnings];
  if (layout.headerless) {
    warnings.push({
      code: 'lead_order_assumed',
      message: 'The table has no header row; its 12 columns were taken as I, II, III, aVR, aVL, aVF, V1–V6. Add a header row if the order differs.',
    });
  }
  const columns = header.length;
  let timeColumn = -1;
  let timeUnit: TimeUnit | undefined;
  const columnUnitToMv: (number | undefined)[] = header.map(() => undefined);
  const isLead = header.map(() => false);
  const leadColumns: number[] = [];
  header.forEach((cell, k) => {
    const rowUnit = layout.units?.[k] ?? '';
    const time = isTimeCell(cell);
    if (time && timeColumn < 0) {
      timeColumn = k;
      timeUnit = time.unit ?? timeUnitOf(rowUnit);
      return;
    }
    const { name, unit } = cleanHeaderCell(cell);
    if (leadNameOf(name)) {
      leadColumns.push(k);
      isLead[k] = true;
      columnUnitToMv[k] = unitFactorToMv(unit) ?? unitFactorToMv(rowUnit);
    }
  });
  const labels = header.map((cell) => cleanHeaderCell(cell).name);

  // Collect the data rows, bounded by the per-channel sample limit.
  const values: number[][] = header.map(() => []);
  const empty = header.map(() => true);
  /** 0-based line of the first cell per column that is not a number (reported only if the column is not empty). */
  const firstBadLine = header.map(() => -1);
  let timeDecimals: number | undefined = 0;
  let rows = 0;
  const headerWhere = layout.headerless
    ? `the first row (line ${layout.firstDataIndex + 1})`
    : layout.headerIndex >= 0
      ? `the header (line ${layout.headerIndex + 1})`
      : `the first data row (line ${layout.firstDataIndex + 1})`;
  for (let i = layout.firstDataIndex; i < lines.length; i++) {
    let line = lines[i];
    if (isSkippable(line)) continue;
    if (layout.labChart) {
      if (LABCHART_KEY.test(line.trim())) {
        throw new LeadlightError('header_syntax', `Line ${i + 1} starts a second LabChart block; export one block per file.`);
      }
      const comment = line.indexOf('#*');
      if (comment >= 0) line = line.slice(0, comment);
    }
    const cells = splitRow(line, delimiter);
    if (cells.length !== columns) {
      throw new LeadlightError(
        'header_syntax',
        `Line ${i + 1} has ${cells.length >= MAX_CELLS ? `more than ${MAX_COLUMNS}` : cells.length} columns but ${headerWhere} has ${columns}; the table is ragged or truncated.`,
      );
    }
    if (rows >= options.maxSamplesPerChannel) {
      throw new LeadlightError('record_too_long', `The table has more than ${options.maxSamplesPerChannel} rows; upload a shorter excerpt.`);
    }
    for (let k = 0; k < columns; k++) {
      const cell = cells[k];
      if (k === timeColumn) {
        const clock = cell.includes(':');
        const v = clock ? clockSeconds(cell) : parseCell(cell);
        if (clock && timeUnit !== 'clock') timeUnit = 'clock';
        values[k].push(v);
        if (timeDecimals !== undefined && Number.isFinite(v)) {
          const d = decimalsOf(cell);
          timeDecimals = d === undefined ? undefined : Math.max(timeDecimals, d);
        }
        continue;
      }
      if (!isLead[k]) continue;
      if (cell !== '') empty[k] = false;
      const v = parseCell(cell);
      if (!Number.isFinite(v) && firstBadLine[k] < 0) firstBadLine[k] = i;
      values[k].push(v);
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
      const unit = timeUnit === 'clock' ? 's' : timeUnit ?? (1 / step >= 50 && 1 / step <= 20000 ? 's' : 'ms');
      const perSecond = unit === 's' ? 1 : unit === 'ms' ? 1000 : 1e6;
      const estimate = perSecond / step;
      if (!timeUnit) {
        warnings.push({ code: 'time_unit_assumed', message: `The time column states no unit; its steps were taken as ${unit === 's' ? 'seconds' : 'milliseconds'} (${round(estimate)} Hz).` });
      }
      // Each time cell is rounded to its last digit: the span is known to ± one unit of that digit.
      const span = t[n - 1] - t[0];
      const q = timeDecimals === undefined ? 0 : 10 ** -timeDecimals;
      fsHz = q > 0 ? roundWithin(estimate, ((n - 1) * perSecond) / (span + q), span > q ? ((n - 1) * perSecond) / (span - q) : Infinity) : round(estimate);
      if (meta.samplingRateHz !== undefined && Math.abs(meta.samplingRateHz - fsHz) > 0.005 * fsHz) {
        warnings.push({ code: 'sampling_rate_conflict', message: `The time column gives ${fsHz} Hz; the ${meta.samplingRateHz} Hz of line ${meta.samplingRateLine} was ignored.` });
      }
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

  // Units, per column: a resolution or gain applies to integer counts; otherwise each column's own unit.
  const allIntegers = leadColumns.every((k) => values[k].every((v) => !Number.isFinite(v) || Number.isInteger(v)));
  const statedUnits = leadColumns.filter((k) => columnUnitToMv[k] !== undefined);
  const toMv: number[] = header.map(() => 1);
  // Where each column's factor came from, for the record's conversions (issue 16, item 7).
  const source: string[] = header.map(() => '');
  let unitless = leadColumns;
  if (meta.countToMv !== undefined && (allIntegers || statedUnits.length === 0)) {
    for (const k of leadColumns) toMv[k] = meta.countToMv;
    for (const k of leadColumns) source[k] = 'gain';
    unitless = [];
  } else {
    if (meta.countToMv !== undefined) {
      warnings.push({ code: 'gain_ignored', message: 'The table states a resolution or gain but its values are not integer counts; the units of its columns were used instead.' });
    }
    const firstStated = statedUnits.length ? columnUnitToMv[statedUnits[0]] : undefined;
    for (const k of statedUnits) toMv[k] = columnUnitToMv[k]!;
    for (const k of statedUnits) source[k] = "the column's unit";
    unitless = leadColumns.filter((k) => columnUnitToMv[k] === undefined);
    if (firstStated !== undefined) {
      // a column without a unit beside columns with one takes the unit of the first such column
      for (const k of unitless) toMv[k] = firstStated;
      for (const k of unitless) source[k] = 'the unit of the first column with one';
      unitless = [];
    }
  }
  if (unitless.length) {
    let factor: number;
    let from: string;
    if (meta.unitToMv !== undefined) {
      factor = meta.unitToMv;
      from = 'the units line';
    } else if (options.units) {
      factor = unitFactorToMv(options.units)!;
      from = 'the units given with the upload';
    } else {
      from = 'assumed from the values';
      let maxAbs = 0;
      for (const k of unitless) for (const v of values[k]) if (Number.isFinite(v) && Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
      const guess = maxAbs <= 0.05 ? 'V' : maxAbs <= 30 ? 'mV' : 'uV';
      factor = unitFactorToMv(guess)!;
      warnings.push({
        code: 'units_assumed',
        message: `The table states no units; with values up to ${round(maxAbs)} they were taken as ${guess === 'uV' ? 'microvolts' : guess === 'V' ? 'volts' : 'millivolts'}. Give the units with the upload if this is wrong.`,
      });
    }
    for (const k of unitless) toMv[k] = factor;
    for (const k of unitless) source[k] = from;
  }

  const channels: RawChannel[] = [];
  const emptyLabels: string[] = [];
  for (const k of leadColumns) {
    const label = labels[k];
    const samples = new Float64Array(rows);
    if (empty[k]) {
      emptyLabels.push(label);
      channels.push({ label: `${label} (empty)`, samplesMv: samples });
      continue;
    }
    const column = values[k];
    const factor = toMv[k];
    for (let n = 0; n < rows; n++) {
      const v = column[n];
      if (!Number.isFinite(v)) {
        const at = firstBadLine[k] >= 0 ? `Line ${firstBadLine[k] + 1}, column ${k + 1} (${label})` : `Column ${k + 1} (${label}), data row ${n + 1}`;
        throw new LeadlightError('signal_invalid', `${at} is not a finite number; fix or remove that row.`);
      }
      samples[n] = v * factor;
    }
    channels.push({ label, samplesMv: samples });
  }
  if (emptyLabels.length) {
    warnings.push({ code: 'lead_empty', message: `Column${emptyLabels.length > 1 ? 's' : ''} ${emptyLabels.join(', ')} ${emptyLabels.length > 1 ? 'are' : 'is'} empty and treated as not recorded.` });
  }
  const conversions = groupConversions(
    leadColumns.map((k) => ({
      label: labels[k],
      conversion:
        source[k] === 'gain'
          ? { kind: 'gain' as const, description: `integer counts ÷ gain ${numberText(1 / toMv[k])}/mV (the file's resolution or gain line) → mV`, gain: 1 / toMv[k], fromUnit: 'mV', mvPerValue: toMv[k] }
          : (() => {
              const c = unitConversion(UNIT_NAME[toMv[k]] ?? `units of ${numberText(toMv[k])} mV`, toMv[k]);
              return { ...c, description: `${c.description} (${source[k]})` };
            })(),
    })),
  );
  // Filled but constant columns (e.g. all zeros) are treated like empty ones: not recorded.
  return { name: file.name, format: 'csv', samplingRateHz: fsHz, channels: markEmptyChannels(channels, warnings), warnings, conversions };
}

/** Names of the voltage units by their factor to mV. */
const UNIT_NAME: Record<number, string> = { 1: 'mV', 1e-3: 'µV', 1000: 'V', 1e-6: 'nV' };

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
