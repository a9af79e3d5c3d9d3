/**
 * WFDB header (`.hea`) parsing: the record line, one signal specification line per signal, and the few
 * structured comments Leadlight keeps (`# Age:`, `# Sex:`, `# Dx:`; every other comment is ignored for privacy).
 *
 * Implements the header format of PhysioNet's WFDB library, header(5) ("WFDB Applications Guide", G. Moody):
 *   record line  `name[/segments] nsig [fs[/counterfreq[(basecounter)]] [nsamp [basetime [basedate]]]]`
 *   signal line  `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero [initval
 *                 [checksum [blocksize [description]]]]]]]`
 * with the CinC Challenge 2020/2021 variants (signal file `.mat`, format `16+24` / `16x1+24`, date before time,
 * `#Dx:` SNOMED codes, lower-case `mv`) and LUDB/PTB-XL variants (`1716(6)/mV`, `1000.0(0)/mV`, checksums written
 * unsigned 0..65535).
 */
import { LeadlightError } from '../errors.ts';

export interface WfdbSignalSpec {
  /** Signal file name as written (may contain a directory part; readers match its base name). */
  fileName: string;
  format: number;
  samplesPerFrame: number;
  skew: number;
  byteOffset: number;
  /** ADC units per physical unit; 0 in the file means the WFDB default 200. */
  adcGain: number;
  baseline: number;
  /** Physical units as written (`mV` when absent). */
  units: string;
  adcResolution: number;
  adcZero: number;
  initialValue: number;
  /** 16-bit checksum as written, or undefined when absent. */
  checksum?: number;
  blockSize: number;
  /** The description field, used as the lead label. */
  description: string;
}

export interface WfdbHeader {
  recordName: string;
  /** Number of segments of a multi-segment record, or undefined for an ordinary record. */
  segments?: number;
  signalCount: number;
  samplingRateHz: number;
  counterFrequencyHz?: number;
  /** Samples per signal (frames); undefined when the header leaves it out. */
  samplesPerSignal?: number;
  /** ISO 8601 local date-time (or time) when the header states a base date and time. */
  startTime?: string;
  signals: WfdbSignalSpec[];
  ageYears?: number;
  sex?: 'M' | 'F';
  /** `# Dx:` codes as written (SNOMED CT codes or CPSC labels). */
  labels: string[];
}

/** Formats whose samples Leadlight decodes (WFDB signal(5)). */
export const WFDB_FORMATS = [8, 16, 24, 32, 61, 80, 160, 212, 310, 311] as const;
const KNOWN_FORMATS = new Set<number>([0, ...WFDB_FORMATS, 508, 516, 524]);

export const MAX_WFDB_SIGNALS = 256;
const MAX_HEADER_BYTES = 1024 * 1024;
const MAX_SAMPLES_PER_FRAME = 64;
const MAX_LABELS = 64;
const MAX_DESCRIPTION_CHARS = 80;

const RECORD_LINE = /^(\S+?)(?:\/(\d+))?\s+(\d+)(?:\s+(\S+))?(?:\s+(\d+))?(?:\s+(\S+))?(?:\s+(\S+))?\s*$/u;
const FS_FIELD = /^(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)(?:\/(\d+(?:\.\d*)?)(?:\((-?\d+(?:\.\d*)?)\))?)?$/u;
const FORMAT_FIELD = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/u;
const GAIN_FIELD = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:\(([+-]?\d+(?:\.\d*)?)\))?(?:\/(\S+))?$/u;
const INT_FIELD = /^[+-]?\d+$/u;

function syntaxError(lineNo: number, line: string, what: string): LeadlightError {
  const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
  return new LeadlightError(
    'header_syntax',
    `Line ${lineNo} of the WFDB header (“${shown.replace(/[^\x20-\x7e]/gu, '?')}”) is not valid: ${what}. Check the .hea file (format: PhysioNet WFDB header(5)).`,
    { line: lineNo },
  );
}

/** Splits header text into lines, accepting LF, CRLF and stray CR line ends. */
function headerLines(text: string): string[] {
  return text.split(/\r\n|\n|\r/u);
}

/** Decodes header bytes as text; refuses binary content and oversized headers. */
export function decodeHeaderText(bytes: Uint8Array): string {
  if (bytes.length > MAX_HEADER_BYTES) {
    throw new LeadlightError('header_syntax', `The WFDB header is ${bytes.length} bytes long; headers are small text files (at most ${MAX_HEADER_BYTES} bytes). Upload the right .hea file.`);
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) throw new LeadlightError('header_syntax', 'The WFDB header contains binary data; upload the .hea text file.');
  }
  return new TextDecoder('utf-8').decode(bytes).replace(/^\ufeff/u, '');
}

/**
 * True when the first line that is neither blank nor a comment is a valid WFDB record line and, for records with
 * signals, the next such line starts like a signal specification. Never throws.
 */
export function looksLikeWfdbHeader(bytes: Uint8Array): boolean {
  try {
    const head = bytes.subarray(0, Math.min(bytes.length, 64 * 1024));
    for (let i = 0; i < head.length; i++) if (head[i] === 0) return false;
    const lines = headerLines(new TextDecoder('utf-8').decode(head)).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    if (!lines.length) return false;
    const m = RECORD_LINE.exec(lines[0]);
    if (!m || !isRecordName(m[1])) return false;
    if (m[4] !== undefined && !FS_FIELD.test(m[4])) return false;
    const nsig = Number(m[3]);
    if (m[2] !== undefined) return true; // multi-segment: segment lines follow, not signal lines
    if (nsig === 0) return true;
    if (lines.length < 2) return false;
    // A signal line: a file name that is not a bare number (numeric text tables look like headers otherwise)
    // and a known format.
    const fields = lines[1].split(/\s+/u);
    const format = fields.length >= 2 ? FORMAT_FIELD.exec(fields[1]) : null;
    return !!format && KNOWN_FORMATS.has(Number(format[1])) && !/^[-+.\d]+$/u.test(fields[0]) && nsig <= MAX_WFDB_SIGNALS;
  } catch {
    return false;
  }
}

function isRecordName(name: string): boolean {
  return /^[\w.\-~+]+$/u.test(name) && name.length <= 255;
}

function parseNumber(s: string): number {
  return Number(s);
}

/** Parses `# Age:`/`# Sex:`/`# Dx:` (and LUDB's `#<age>:`/`#<sex>:`) comments; everything else is dropped. */
function parseComment(line: string, header: WfdbHeader): void {
  // `# Age: 74`, `#Sex: Male`, `#Dx: 164889003,59118001`, LUDB `#<age>: 51`, MIT `# <age>: 25  <sex>: M  <diagnoses>: …`
  const pattern = /(?:^#\s*|<)(age|sex|dx)>?\s*:\s*([^<]*)/giu;
  for (const m of line.matchAll(pattern)) applyComment(m[1].toLowerCase(), m[2].trim(), header);
}

function applyComment(key: string, value: string, header: WfdbHeader): void {
  if (key === 'age') {
    const age = /^(\d{1,3}(?:\.\d+)?)\b/u.exec(value);
    if (age) {
      const years = Number(age[1]);
      if (years >= 0 && years <= 130 && header.ageYears === undefined) header.ageYears = years;
    }
  } else if (key === 'sex') {
    const v = value.toLowerCase();
    if (header.sex === undefined) {
      if (v === 'm' || v === 'male') header.sex = 'M';
      else if (v === 'f' || v === 'female') header.sex = 'F';
    }
  } else {
    for (const code of value.split(/[,;]/u)) {
      const c = code.trim();
      if (c && /^[\w.\- ()]{1,64}$/u.test(c) && !/^unknown$/iu.test(c) && header.labels.length < MAX_LABELS) header.labels.push(c);
    }
  }
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Base time `HH:MM[:SS[.sss]]` and base date `DD/MM/YYYY` (WFDB) or `DD-Mon-YYYY` (CinC), in either order. */
function parseStartTime(a: string | undefined, b: string | undefined): string | undefined {
  let time: string | undefined;
  let date: string | undefined;
  for (const tok of [a, b]) {
    if (!tok) continue;
    const t = /^\[?(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?\]?$/u.exec(tok);
    if (t) {
      const [h, mi, s] = [Number(t[1]), Number(t[2]), Number(t[3] ?? 0)];
      if (h < 24 && mi < 60 && s < 61) time = `${pad(h)}:${pad(mi)}:${pad(s)}${t[4] ?? ''}`;
      continue;
    }
    const d = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/u.exec(tok);
    const c = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/u.exec(tok);
    let day = 0;
    let month = 0;
    let year = 0;
    if (d) [day, month, year] = [Number(d[1]), Number(d[2]), Number(d[3])];
    else if (c) [day, month, year] = [Number(c[1]), MONTHS.indexOf(c[2].toLowerCase()) + 1, Number(c[3])];
    if (day >= 1 && day <= 31 && month >= 1 && month <= 12 && year >= 1) date = `${String(year).padStart(4, '0')}-${pad(month)}-${pad(day)}`;
  }
  if (date && time) return `${date}T${time}`;
  return undefined;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Parses a WFDB header. Throws `header_syntax` naming the offending line for anything the WFDB specification does
 * not allow (or Leadlight cannot represent), and `encoding_unsupported` for formats it does not decode.
 */
export function parseWfdbHeader(text: string): WfdbHeader {
  const lines = headerLines(text);
  let header: WfdbHeader | undefined;
  let recordLineNo = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i];
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      if (header) parseComment(line, header);
      continue;
    }
    if (!header) {
      header = parseRecordLine(line, lineNo);
      recordLineNo = lineNo;
      continue;
    }
    if (header.segments !== undefined) break; // segment lines: not read (multi-segment records are refused)
    if (header.signals.length >= header.signalCount) {
      // WFDB ignores what follows the signal lines only if it is a comment; anything else is an error.
      throw syntaxError(lineNo, raw, `the record line declares ${header.signalCount} signal${header.signalCount === 1 ? '' : 's'} but more signal lines follow`);
    }
    header.signals.push(parseSignalLine(line, lineNo, header.signals.length, header.recordName));
  }
  if (!header) throw new LeadlightError('header_syntax', 'The WFDB header has no record line; upload the record\'s .hea file.');
  if (header.segments === undefined && header.signals.length < header.signalCount) {
    throw syntaxError(recordLineNo, lines[recordLineNo - 1], `it declares ${header.signalCount} signals but only ${header.signals.length} signal line${header.signals.length === 1 ? '' : 's'} follow`);
  }
  // Signals stored in one file must be consecutive and share the format, frame layout and byte offset.
  const seen = new Set<string>();
  for (let s = 0; s < header.signals.length; s++) {
    const sig = header.signals[s];
    const prev = header.signals[s - 1];
    if (prev && prev.fileName === sig.fileName) {
      if (prev.format !== sig.format || prev.byteOffset !== sig.byteOffset) {
        throw new LeadlightError('header_syntax', `Signals ${s} and ${s + 1} share the file ${sig.fileName.slice(0, 64)} but not its format or byte offset; WFDB requires one format per file. Fix the .hea file.`);
      }
      continue;
    }
    if (seen.has(sig.fileName) && sig.fileName !== '~') {
      throw new LeadlightError('header_syntax', `The signals of file ${sig.fileName.slice(0, 64)} are not listed consecutively in the WFDB header; fix the .hea file.`);
    }
    seen.add(sig.fileName);
  }
  return header;
}

function parseRecordLine(line: string, lineNo: number): WfdbHeader {
  const m = RECORD_LINE.exec(line);
  if (!m) throw syntaxError(lineNo, line, 'expected “record-name number-of-signals [sampling-frequency [number-of-samples [base-time [base-date]]]]”');
  const [, name, segs, nsigText, fsText, nsampText, t1, t2] = m;
  if (!isRecordName(name)) throw syntaxError(lineNo, line, 'the record name has characters WFDB does not allow');
  const signalCount = Number(nsigText);
  if (signalCount > MAX_WFDB_SIGNALS) throw syntaxError(lineNo, line, `it declares ${signalCount} signals; Leadlight reads at most ${MAX_WFDB_SIGNALS}`);
  const header: WfdbHeader = { recordName: name, signalCount, samplingRateHz: 250, signals: [], labels: [] };
  if (segs !== undefined) header.segments = Number(segs);
  if (fsText !== undefined) {
    const f = FS_FIELD.exec(fsText);
    if (!f) throw syntaxError(lineNo, line, `the sampling frequency “${fsText.slice(0, 20)}” is not a number`);
    header.samplingRateHz = parseNumber(f[1]);
    if (f[2] !== undefined) header.counterFrequencyHz = parseNumber(f[2]);
    if (!(header.samplingRateHz > 0) || !Number.isFinite(header.samplingRateHz)) throw syntaxError(lineNo, line, 'the sampling frequency must be positive');
  }
  if (nsampText !== undefined) {
    const n = Number(nsampText);
    if (!Number.isSafeInteger(n)) throw syntaxError(lineNo, line, 'the number of samples is not a whole number');
    if (n > 0) header.samplesPerSignal = n;
  }
  const start = parseStartTime(t1, t2);
  if (start) header.startTime = start;
  return header;
}

function parseSignalLine(line: string, lineNo: number, index: number, recordName: string): WfdbSignalSpec {
  const fields = line.split(/\s+/u);
  if (fields.length < 2) throw syntaxError(lineNo, line, 'a signal line needs at least a file name and a format');
  const fileName = fields[0];
  const fm = FORMAT_FIELD.exec(fields[1]);
  if (!fm) throw syntaxError(lineNo, line, `the format “${fields[1].slice(0, 20)}” is not of the form format[xsamples][:skew][+offset]`);
  const format = Number(fm[1]);
  if (!KNOWN_FORMATS.has(format)) throw syntaxError(lineNo, line, `format ${format} is not a WFDB signal format`);
  if (format === 0 || format >= 508) {
    throw new LeadlightError(
      'encoding_unsupported',
      format === 0
        ? `Signal ${index + 1} has WFDB format 0 (a null signal without samples); Leadlight needs stored samples.`
        : `Signal ${index + 1} uses the FLAC-compressed WFDB format ${format}, which Leadlight does not decode; convert the record to format 16 (e.g. wfdb-python wrsamp).`,
    );
  }
  const samplesPerFrame = fm[2] !== undefined ? Number(fm[2]) : 1;
  if (samplesPerFrame < 1 || samplesPerFrame > MAX_SAMPLES_PER_FRAME) throw syntaxError(lineNo, line, `${samplesPerFrame} samples per frame is outside 1–${MAX_SAMPLES_PER_FRAME}`);
  const skew = fm[3] !== undefined ? Number(fm[3]) : 0;
  const byteOffset = fm[4] !== undefined ? Number(fm[4]) : 0;
  if (!Number.isSafeInteger(skew) || !Number.isSafeInteger(byteOffset)) throw syntaxError(lineNo, line, 'the skew or byte offset is too large');

  let adcGain = 200;
  let units = 'mV';
  let baselineText: string | undefined;
  if (fields.length > 2) {
    const g = GAIN_FIELD.exec(fields[2]);
    if (!g) throw syntaxError(lineNo, line, `the gain “${fields[2].slice(0, 30)}” is not of the form gain[(baseline)][/units]`);
    const gain = Number(g[1]);
    if (!Number.isFinite(gain) || gain < 0) throw syntaxError(lineNo, line, 'the gain must be a non-negative number');
    adcGain = gain === 0 ? 200 : gain;
    baselineText = g[2];
    if (g[3] !== undefined) units = g[3];
  }
  const intAt = (k: number, what: string, fallback: number): number => {
    if (fields.length <= k) return fallback;
    if (!INT_FIELD.test(fields[k])) throw syntaxError(lineNo, line, `the ${what} “${fields[k].slice(0, 20)}” is not a whole number`);
    const v = Number(fields[k]);
    if (!Number.isSafeInteger(v)) throw syntaxError(lineNo, line, `the ${what} is out of range`);
    return v;
  };
  const defaultResolution = format === 80 || format === 8 ? 8 : format === 212 ? 12 : format === 310 || format === 311 ? 10 : format === 24 ? 24 : format === 32 ? 32 : 16;
  let adcResolution = intAt(3, 'ADC resolution', defaultResolution);
  if (adcResolution === 0) adcResolution = defaultResolution;
  const adcZero = intAt(4, 'ADC zero', 0);
  const initialValue = intAt(5, 'initial value', adcZero);
  const checksum = fields.length > 6 ? intAt(6, 'checksum', 0) : undefined;
  const blockSize = intAt(7, 'block size', 0);
  const description = (fields.length > 8 ? fields.slice(8).join(' ') : `record ${recordName}, signal ${index}`).slice(0, MAX_DESCRIPTION_CHARS);
  const baseline = baselineText !== undefined ? Number(baselineText) : adcZero;
  if (!Number.isFinite(baseline)) throw syntaxError(lineNo, line, 'the baseline is not a number');
  const spec: WfdbSignalSpec = {
    fileName,
    format,
    samplesPerFrame,
    skew,
    byteOffset,
    adcGain,
    baseline,
    units,
    adcResolution,
    adcZero,
    initialValue,
    blockSize,
    description,
  };
  if (checksum !== undefined) spec.checksum = checksum;
  return spec;
}
