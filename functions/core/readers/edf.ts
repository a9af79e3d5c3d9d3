/**
 * EDF, EDF+ and BDF reader. Implements the European Data Format (Kemp et al. 1992, Clin Neurophysiol 82:391),
 * EDF+ (Kemp & Olivan 2003, Clin Neurophysiol 114:1755) and BioSemi's 24-bit BDF variant: a 256-byte ASCII header,
 * 256 bytes of ASCII header per signal, then data records holding `samples per record` little-endian integers
 * per signal. Physical value = (digital − digital min) × (physical max − physical min) / (digital max − digital min)
 * + physical min, in the signal's physical dimension (uV, mV or V, converted to mV; `µV` also in UTF-8 or as Greek
 * mu, as many writers store it although EDF requires ASCII). A dimension that names no voltage is judged from the
 * physical range (µV above a span of 1000, V below 1, else mV) with a `units_assumed` warning saying so. Labels
 * map through `leadOf` (record.ts): `ECG I` (the EDF+ standard texts), `EKG I`, `ECG-I`, `-aVR`.
 *
 * EDF+ annotation signals are skipped; EDF+D (discontinuous) records are refused. Only the ECG leads must share
 * one sampling rate (other signals at other rates are ignored). Channels whose samples are all identical (e.g. the
 * empty V1–V6 of a limb-lead-only export) are kept under the label `<lead> (empty)`, so the record model reports
 * those leads as missing instead of analysing flat lines. Privacy: only sex and age (from the EDF+ patient field)
 * and the start time are kept; patient code, name and birth date are dropped.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, type SignalConversion, gainConversion, groupConversions, leadNameOf } from '../record.ts';
import type { EcgReader, ReadOptions } from './types.ts';

const MAX_SIGNALS = 512;

interface EdfSignalHeader {
  label: string;
  physicalDimension: string;
  physicalMin: number;
  physicalMax: number;
  digitalMin: number;
  digitalMax: number;
  samplesPerRecord: number;
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length && i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s.trim();
}

function isBdf(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0xff && ascii(bytes, 1, 7) === 'BIOSEMI';
}

/** Cheap check of the fixed header: version `0` (or BDF's 0xFF BIOSEMI) and a header size of 256 × (signals + 1). */
function sniffEdf(file: InputFile): boolean {
  const b = file.bytes;
  if (b.length < 256) return false;
  const versionOk = isBdf(b) || (b[0] === 0x30 && ascii(b, 0, 8) === '0');
  if (!versionOk) return false;
  const headerBytes = Number(ascii(b, 184, 8));
  const ns = Number(ascii(b, 252, 4));
  return Number.isInteger(ns) && ns > 0 && headerBytes === 256 * (ns + 1);
}

function parseNumber(text: string, what: string): number {
  const v = Number(text);
  if (text === '' || !Number.isFinite(v)) {
    throw new LeadlightError('header_syntax', `The EDF header field "${what}" is not a number ("${text.slice(0, 20)}"); the file is damaged or not EDF.`);
  }
  return v;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A text field that EDF requires to be ASCII (Kemp 1992) but writers fill with UTF-8 (`µV` as C2 B5, `−aVR`
 * with U+2212): decoded as UTF-8 when the bytes are valid UTF-8, else byte for byte (Latin-1, where B5 is `µ`).
 */
function headerText(bytes: Uint8Array, start: number, length: number): string {
  const field = bytes.subarray(start, Math.min(bytes.length, start + length));
  let nonAscii = false;
  for (const c of field) if (c >= 0x80) nonAscii = true;
  if (nonAscii) {
    try {
      return UTF8.decode(field).trim();
    } catch {
      // not UTF-8: fall through to one character per byte
    }
  }
  return ascii(bytes, start, length);
}

/**
 * Physical dimension (EDF+, Kemp 2003 §2.1.3 and its standard texts: `uV`, `mV`, `V`) → factor to millivolts, or
 * undefined when the dimension is not a voltage. Also accepted: the micro sign U+00B5 (UTF-8 or Latin-1), Greek mu
 * U+03BC (UTF-8), `æV` (code page 437's micro sign E6 read as Latin-1), spelled-out and plural units.
 */
function toMvFactor(dimension: string): number | undefined {
  const d = dimension
    .replace(/\s/gu, '')
    .toLowerCase()
    .replace(/^[\u00b5\u03bc\u00e6]/u, 'u')
    .replace(/s$/u, '');
  if (d === 'uv' || d === 'uvolt' || d === 'microv' || d === 'microvolt') return 1e-3;
  if (d === 'mv' || d === 'mvolt' || d === 'millivolt') return 1;
  if (d === 'v' || d === 'volt') return 1e3;
  if (d === 'nv' || d === 'nanovolt') return 1e-6;
  return undefined;
}

/**
 * Units of a signal whose dimension names no voltage, judged from its physical range: an ECG front end spans a few
 * to a few hundred mV, so a span above 1000 is taken as µV and one below 1 as V; the caller says so in a warning.
 */
function guessMvFactor(s: EdfSignalHeader): { factor: number; unit: string } {
  const span = Math.abs(s.physicalMax - s.physicalMin);
  if (span > 1000) return { factor: 1e-3, unit: 'µV' };
  if (span < 1) return { factor: 1e3, unit: 'V' };
  return { factor: 1, unit: 'mV' };
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** EDF start date dd.mm.yy + time hh.mm.ss → ISO 8601; the EDF+ recording field's `Startdate dd-MMM-yyyy` fixes the century. */
function startTimeOf(date: string, time: string, recording: string): string | undefined {
  const d = /^(\d\d)\.(\d\d)\.(\d\d)$/u.exec(date);
  const t = /^(\d\d)\.(\d\d)\.(\d\d)$/u.exec(time);
  if (!d || !t) return undefined;
  const yy = Number(d[3]);
  let year = yy >= 85 ? 1900 + yy : 2000 + yy;
  const plus = /^Startdate (\d\d)-([A-Z]{3})-(\d{4})\b/u.exec(recording);
  if (plus && MONTHS.includes(plus[2])) year = Number(plus[3]);
  const month = Number(d[2]);
  const day = Number(d[1]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(t[1]) > 23 || Number(t[2]) > 59 || Number(t[3]) > 60) return undefined;
  return `${String(year).padStart(4, '0')}-${d[2]}-${d[1]}T${t[1]}:${t[2]}:${t[3]}`;
}

/** EDF+ patient field: `code sex birthdate name` (sex M/F, birthdate dd-MMM-yyyy). Only sex and age are kept. */
function patientOf(patient: string, startTime: string | undefined): { sex?: 'M' | 'F'; ageYears?: number } {
  const parts = patient.split(/\s+/u);
  const out: { sex?: 'M' | 'F'; ageYears?: number } = {};
  if (parts[1] === 'M' || parts[1] === 'F') out.sex = parts[1];
  const birth = /^(\d\d)-([A-Z]{3})-(\d{4})$/u.exec(parts[2] ?? '');
  if (birth && startTime && MONTHS.includes(birth[2])) {
    const by = Number(birth[3]);
    const bm = MONTHS.indexOf(birth[2]) + 1;
    const bd = Number(birth[1]);
    const sy = Number(startTime.slice(0, 4));
    const sm = Number(startTime.slice(5, 7));
    const sd = Number(startTime.slice(8, 10));
    let age = sy - by;
    if (sm < bm || (sm === bm && sd < bd)) age--;
    if (age >= 0 && age < 150) out.ageYears = age;
  }
  return out;
}

/**
 * Marks channels whose samples are all identical as empty (label `<label> (empty)`), so `toEcgRecord` reports
 * the lead as missing instead of analysing a flat line; adds one warning naming them.
 */
export function markEmptyChannels(channels: RawChannel[], warnings: RecordWarning[]): RawChannel[] {
  const empty: string[] = [];
  const out = channels.map((c) => {
    if (c.label.endsWith(' (empty)')) return c;
    const s = c.samplesMv;
    let constant = true;
    for (let i = 1; i < s.length; i++) {
      if (s[i] !== s[0]) {
        constant = false;
        break;
      }
    }
    if (!constant || s.length === 0) return c;
    empty.push(c.label);
    return { label: `${c.label} (empty)`, samplesMv: c.samplesMv };
  });
  if (empty.length) {
    warnings.push({
      code: 'lead_empty',
      message: `Channel${empty.length > 1 ? 's' : ''} ${empty.join(', ')} hold${empty.length > 1 ? '' : 's'} no signal (every sample is the same value) and ${empty.length > 1 ? 'are' : 'is'} treated as not recorded.`,
    });
  }
  return out;
}

/** Reads an EDF/EDF+/BDF file (Kemp 1992, Kemp 2003) into channels in mV. */
export function readEdf(file: InputFile, options: ReadOptions): RawRecord {
  const b = file.bytes;
  if (!sniffEdf(file)) {
    throw new LeadlightError('header_syntax', 'The file does not start with a valid EDF header; export the ECG again as EDF or EDF+.');
  }
  const bdf = isBdf(b);
  const bytesPerSample = bdf ? 3 : 2;
  const reserved = ascii(b, 192, 44);
  if (reserved.startsWith('EDF+D') || reserved.startsWith('BDF+D')) {
    throw new LeadlightError('encoding_unsupported', 'The file is a discontinuous EDF+ recording (EDF+D); export one continuous segment (EDF+C) instead.');
  }
  const ns = parseNumber(ascii(b, 252, 4), 'number of signals');
  if (ns > MAX_SIGNALS) {
    throw new LeadlightError('header_syntax', `The EDF header declares ${ns} signals; at most ${MAX_SIGNALS} are accepted.`);
  }
  const headerBytes = 256 * (ns + 1);
  if (b.length < headerBytes) {
    throw new LeadlightError('truncated_signal', 'The EDF file ends inside its signal headers; the file is truncated.');
  }
  const recordDurationS = parseNumber(ascii(b, 244, 8), 'duration of a data record');
  let recordCount = parseNumber(ascii(b, 236, 8), 'number of data records');

  const field = (offset: number, width: number, i: number) => ascii(b, 256 + offset * ns + width * i, width);
  const text = (offset: number, width: number, i: number) => headerText(b, 256 + offset * ns + width * i, width);
  const signals: EdfSignalHeader[] = [];
  for (let i = 0; i < ns; i++) {
    signals.push({
      label: text(0, 16, i),
      physicalDimension: text(96, 8, i),
      physicalMin: parseNumber(field(104, 8, i), 'physical minimum'),
      physicalMax: parseNumber(field(112, 8, i), 'physical maximum'),
      digitalMin: parseNumber(field(120, 8, i), 'digital minimum'),
      digitalMax: parseNumber(field(128, 8, i), 'digital maximum'),
      samplesPerRecord: parseNumber(field(216, 8, i), 'number of samples in each data record'),
    });
  }
  let recordBytes = 0;
  for (const s of signals) {
    if (!Number.isInteger(s.samplesPerRecord) || s.samplesPerRecord < 0 || s.samplesPerRecord > 1e7) {
      throw new LeadlightError('header_syntax', `Signal "${s.label}" declares ${s.samplesPerRecord} samples per data record, which is not a valid count.`);
    }
    recordBytes += s.samplesPerRecord * bytesPerSample;
  }
  if (recordBytes === 0) throw new LeadlightError('header_syntax', 'The EDF header declares no samples in its data records.');
  const available = Math.floor((b.length - headerBytes) / recordBytes);
  if (recordCount === -1) recordCount = available; // still being recorded when written: count what is there
  if (!Number.isInteger(recordCount) || recordCount < 0) {
    throw new LeadlightError('header_syntax', `The EDF header declares ${recordCount} data records, which is not a valid count.`);
  }
  if (!(recordDurationS > 0)) {
    throw new LeadlightError('sampling_rate_unsupported', 'The EDF header gives no positive data-record duration, so the sampling rate is unknown; export the file again.');
  }

  const isAnnotation = (s: EdfSignalHeader) => /^(EDF|BDF) Annotations$/u.test(s.label);
  const dataSignals = signals.map((s, index) => ({ s, index })).filter(({ s }) => !isAnnotation(s) && s.samplesPerRecord > 0);
  const leadSignals = dataSignals.filter(({ s }) => leadNameOf(s.label));
  const chosen = leadSignals.length ? leadSignals : dataSignals;
  if (chosen.length === 0) throw new LeadlightError('lead_missing', 'The EDF file holds no signal channels; Leadlight needs a 12-lead ECG.');
  const spr = chosen[0].s.samplesPerRecord;
  if (chosen.some(({ s }) => s.samplesPerRecord !== spr)) {
    const rates = [...new Set(chosen.map(({ s }) => s.samplesPerRecord / recordDurationS))].join(', ');
    throw new LeadlightError(
      'sampling_rate_unsupported',
      `The ECG leads of this EDF file are sampled at different rates (${rates} Hz); export all leads at one rate.`,
    );
  }
  const samplesPerChannel = spr * recordCount;
  if (samplesPerChannel > options.maxSamplesPerChannel) {
    throw new LeadlightError(
      'record_too_long',
      `The EDF file declares ${samplesPerChannel} samples per lead; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`,
    );
  }
  if (recordCount > available) {
    throw new LeadlightError(
      'truncated_signal',
      `The EDF header declares ${recordCount} data records but the file holds only ${available}; the file is truncated.`,
    );
  }

  const warnings: RecordWarning[] = [];
  const offsets: number[] = [];
  let acc = 0;
  for (const s of signals) {
    offsets.push(acc);
    acc += s.samplesPerRecord * bytesPerSample;
  }
  const channels: RawChannel[] = [];
  const conversions: { label: string; conversion: Omit<SignalConversion, 'channels'> }[] = [];
  for (const { s, index } of chosen) {
    if (s.digitalMax <= s.digitalMin) {
      throw new LeadlightError('header_syntax', `Signal "${s.label}" has digital maximum ${s.digitalMax} not above its minimum ${s.digitalMin}; the header is damaged.`);
    }
    let toMv = toMvFactor(s.physicalDimension);
    let unit = toMv === 1 ? 'mV' : toMv === 1e-3 ? 'µV' : toMv === 1e3 ? 'V' : toMv === 1e-6 ? 'nV' : `${toMv} mV`;
    if (toMv === undefined) {
      const guess = guessMvFactor(s);
      toMv = guess.factor;
      unit = guess.unit;
      warnings.push({
        code: 'units_assumed',
        message: `Signal "${s.label}" has physical dimension "${s.physicalDimension}", which is not a voltage unit, so its units could not be determined; from its physical range ${s.physicalMin} to ${s.physicalMax} it was taken as ${guess.unit}. Check the amplitudes.`,
      });
    }
    const gain = ((s.physicalMax - s.physicalMin) / (s.digitalMax - s.digitalMin)) * toMv;
    const offsetMv = s.physicalMin * toMv - s.digitalMin * gain;
    // As counts through a gain (Kemp 1992): physical = (d − baseline) / countsPerUnit, baseline the count of 0 units.
    const countsPerUnit = (s.digitalMax - s.digitalMin) / (s.physicalMax - s.physicalMin);
    conversions.push({ label: s.label, conversion: gainConversion(countsPerUnit, s.digitalMin - s.physicalMin * countsPerUnit, unit, toMv) });
    const out = new Float64Array(samplesPerChannel);
    let n = 0;
    for (let r = 0; r < recordCount; r++) {
      let p = headerBytes + r * recordBytes + offsets[index];
      for (let k = 0; k < spr; k++, p += bytesPerSample) {
        let digital: number;
        if (bdf) {
          digital = b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
          if (digital & 0x800000) digital -= 0x1000000;
        } else {
          digital = (b[p] | (b[p + 1] << 8)) << 16 >> 16;
        }
        out[n++] = digital * gain + offsetMv;
      }
    }
    channels.push({ label: s.label, samplesMv: out });
  }
  const startTime = startTimeOf(ascii(b, 168, 8), ascii(b, 176, 8), ascii(b, 88, 80));
  const record: RawRecord = {
    name: file.name,
    format: 'edf',
    samplingRateHz: spr / recordDurationS,
    channels: markEmptyChannels(channels, warnings),
    warnings,
    conversions: groupConversions(conversions),
  };
  if (startTime) record.startTime = startTime;
  if (reserved.startsWith('EDF+') || reserved.startsWith('BDF+')) Object.assign(record, patientOf(ascii(b, 8, 80), startTime));
  return record;
}

/** EDF / EDF+ / BDF reader (Kemp 1992; Kemp 2003). */
export const edfReader: EcgReader = {
  id: 'edf',
  label: 'EDF / EDF+ / BDF',
  sniff: sniffEdf,
  read: async (main, _files, options) => readEdf(main, options),
};
