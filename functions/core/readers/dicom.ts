/**
 * DICOM waveform reader (12-Lead ECG, General ECG and related Waveform Storage SOP classes). Implements DICOM
 * PS3.10 (128-byte preamble, `DICM`, file meta group in explicit VR little endian), PS3.5 §7 (data elements in
 * explicit or implicit VR little endian, sequences and items of defined or undefined length; deflated explicit
 * VR little endian is inflated within the decode budget) and PS3.3 C.10.9 (Waveform module): the first multiplex
 * rhythm group of the Waveform Sequence (5400,0100) — the first group not labelled as a median beat — with its channel count,
 * sample count, sampling frequency, channel definitions (source code → lead, sensitivity with units, correction
 * factor, baseline), bits allocated and sample interpretation (SS/US/SB/UB), and interleaved Waveform Data.
 * Physical value = raw × sensitivity × correction factor + baseline, in the sensitivity units, converted to mV.
 *
 * Constant channels are kept as `<lead> (empty)` (see `markEmptyChannels`). Big endian files are refused (`encoding_unsupported`). Privacy: only Patient's Age and Sex and the acquisition
 * time are read; every other attribute (names, ids, birth date, institution) is skipped unread.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, type SignalConversion, groupConversions, numberText } from '../record.ts';
import { inflateBounded } from './archive.ts';
import { markEmptyChannels } from './edf.ts';
import { SCP_LEAD_NAMES } from './scp-ecg.ts';
import type { EcgReader, ReadOptions } from './types.ts';

const MAX_DEPTH = 8;
const MAX_ELEMENTS = 200_000;
const UNDEFINED_LENGTH = 0xffffffff;

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
/** Sequences Leadlight descends into when the VR is implicit. */
const SEQUENCE_TAGS = new Set([0x54000100, 0x003a0200, 0x003a0208, 0x003a0211]);

const tag = (group: number, element: number) => ((group << 16) | element) >>> 0;
const T = {
  transferSyntax: tag(0x0002, 0x0010),
  patientAge: tag(0x0010, 0x1010),
  patientSex: tag(0x0010, 0x0040),
  acquisitionDateTime: tag(0x0008, 0x002a),
  contentDate: tag(0x0008, 0x0023),
  contentTime: tag(0x0008, 0x0033),
  acquisitionDate: tag(0x0008, 0x0022),
  acquisitionTime: tag(0x0008, 0x0032),
  waveformSequence: tag(0x5400, 0x0100),
  channelCount: tag(0x003a, 0x0005),
  sampleCount: tag(0x003a, 0x0010),
  samplingFrequency: tag(0x003a, 0x001a),
  groupLabel: tag(0x003a, 0x0020),
  channelDefinitions: tag(0x003a, 0x0200),
  channelSource: tag(0x003a, 0x0208),
  sensitivity: tag(0x003a, 0x0210),
  sensitivityUnits: tag(0x003a, 0x0211),
  correctionFactor: tag(0x003a, 0x0212),
  baseline: tag(0x003a, 0x0213),
  codeValue: tag(0x0008, 0x0100),
  codingScheme: tag(0x0008, 0x0102),
  codeMeaning: tag(0x0008, 0x0104),
  bitsAllocated: tag(0x5400, 0x1004),
  sampleInterpretation: tag(0x5400, 0x1006),
  waveformData: tag(0x5400, 0x1010),
  itemStart: tag(0xfffe, 0xe000),
  itemEnd: tag(0xfffe, 0xe00d),
  sequenceEnd: tag(0xfffe, 0xe0dd),
};
/** Attributes whose values are kept (everything else is skipped by length without decoding). */
const KEPT = new Set(Object.values(T));

interface Element {
  vr: string;
  value: Uint8Array;
  items?: Dataset[];
}
type Dataset = Map<number, Element>;

interface ParseState {
  bytes: Uint8Array;
  view: DataView;
  explicit: boolean;
  elements: number;
}

function sniffDicom(file: InputFile): boolean {
  const b = file.bytes;
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

function damaged(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The DICOM file is damaged (${what}); export it again.`);
}

/**
 * Parses data elements from `pos` until `end` (or a delimitation item when `end` is undefined length).
 * Returns the dataset and the position after it. Depth and element count are bounded.
 */
function parseDataset(st: ParseState, pos: number, end: number, depth: number, untilDelimiter: boolean): { ds: Dataset; pos: number } {
  if (depth > MAX_DEPTH) throw damaged('sequences nested too deeply');
  const ds: Dataset = new Map();
  const { view, bytes } = st;
  while (pos < end) {
    if (pos + 8 > end) throw damaged('element header cut short');
    if (++st.elements > MAX_ELEMENTS) throw damaged('too many elements');
    const group = view.getUint16(pos, true);
    const element = view.getUint16(pos + 2, true);
    const t = tag(group, element);
    if (t === T.itemEnd || t === T.sequenceEnd) {
      if (!untilDelimiter) throw damaged('unexpected delimiter');
      return { ds, pos: pos + 8 };
    }
    let vr: string;
    let length: number;
    let headerLength: number;
    const explicit = st.explicit || group === 0x0002;
    if (explicit && t !== T.itemStart) {
      vr = String.fromCharCode(bytes[pos + 4], bytes[pos + 5]);
      if (!/^[A-Z]{2}$/u.test(vr)) throw damaged('invalid value representation');
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > end) throw damaged('element header cut short');
        length = view.getUint32(pos + 8, true);
        headerLength = 12;
      } else {
        length = view.getUint16(pos + 6, true);
        headerLength = 8;
      }
    } else {
      length = view.getUint32(pos + 4, true);
      headerLength = 8;
      vr = SEQUENCE_TAGS.has(t) || length === UNDEFINED_LENGTH ? 'SQ' : 'UN';
    }
    pos += headerLength;
    if (vr === 'SQ' || (length === UNDEFINED_LENGTH && vr === 'UN')) {
      const items: Dataset[] = [];
      const seqEnd = length === UNDEFINED_LENGTH ? end : pos + length;
      if (seqEnd > end) throw damaged('sequence longer than its container');
      while (pos < seqEnd) {
        if (pos + 8 > seqEnd) throw damaged('item header cut short');
        const it = tag(view.getUint16(pos, true), view.getUint16(pos + 2, true));
        const itemLength = view.getUint32(pos + 4, true);
        pos += 8;
        if (it === T.sequenceEnd) break;
        if (it !== T.itemStart) throw damaged('sequence without item');
        if (++st.elements > MAX_ELEMENTS) throw damaged('too many elements');
        if (itemLength === UNDEFINED_LENGTH) {
          const r = parseDataset(st, pos, seqEnd, depth + 1, true);
          items.push(r.ds);
          pos = r.pos;
        } else {
          if (pos + itemLength > seqEnd) throw damaged('item longer than its sequence');
          items.push(parseDataset(st, pos, pos + itemLength, depth + 1, false).ds);
          pos += itemLength;
        }
      }
      if (length !== UNDEFINED_LENGTH) pos = seqEnd;
      if (!ds.has(t)) ds.set(t, { vr: 'SQ', value: new Uint8Array(0), items });
      continue;
    }
    if (length === UNDEFINED_LENGTH) throw new LeadlightError('encoding_unsupported', 'The DICOM file holds encapsulated (compressed) data, which Leadlight does not decode.');
    if (pos + length > end) throw damaged('element value longer than the file');
    if (KEPT.has(t) && !ds.has(t)) ds.set(t, { vr, value: bytes.subarray(pos, pos + length) });
    pos += length;
  }
  if (untilDelimiter && end !== st.bytes.length) throw damaged('missing delimitation item');
  return { ds, pos };
}

const latin1 = (bytes: Uint8Array) => {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
};
const text = (ds: Dataset, t: number) => {
  const e = ds.get(t);
  return e ? latin1(e.value).replace(/[\0\s]+$/u, '').trim() : undefined;
};
const decimal = (ds: Dataset, t: number) => {
  const s = text(ds, t);
  if (s === undefined || s === '') return undefined;
  const v = Number(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
};
const uint = (ds: Dataset, t: number, bytes: 2 | 4, little = true) => {
  const e = ds.get(t);
  if (!e || e.value.length < bytes) return undefined;
  const v = new DataView(e.value.buffer, e.value.byteOffset, e.value.byteLength);
  return bytes === 2 ? v.getUint16(0, little) : v.getUint32(0, little);
};

/** Lead name from a channel source code: SCP-ECG / MDC code values (`5.6.3-9-1`, `2:1`) or the code meaning. */
function channelLabel(def: Dataset, index: number): string {
  const source = def.get(T.channelSource)?.items?.[0];
  if (source) {
    const value = text(source, T.codeValue) ?? '';
    const scheme = (text(source, T.codingScheme) ?? '').toUpperCase();
    const m = /^(?:5\.6\.3-9-|2:)(\d+)$/u.exec(value);
    if (m && (scheme === 'SCPECG' || scheme === 'MDC' || scheme === '')) {
      const name = SCP_LEAD_NAMES[Number(m[1])];
      if (name) return name;
    }
    const meaning = text(source, T.codeMeaning);
    if (meaning) return meaning.replace(/\s*\(.*\)\s*$/u, '').trim();
  }
  return `channel ${index + 1}`;
}

function unitToMv(def: Dataset): number | undefined {
  const unit = def.get(T.sensitivityUnits)?.items?.[0];
  const code = unit ? (text(unit, T.codeValue) ?? '') : '';
  switch (code) {
    case 'uV':
      return 1e-3;
    case 'mV':
      return 1;
    case 'V':
      return 1e3;
    case 'nV':
      return 1e-6;
    default:
      return undefined;
  }
}

/** DICOM Age String `nnnY` / `nnnM` / `nnnW` / `nnnD` → whole years. */
function ageYearsOf(age: string | undefined): number | undefined {
  const m = /^(\d{3})([DWMY])$/u.exec(age ?? '');
  if (!m) return undefined;
  const n = Number(m[1]);
  const years = m[2] === 'Y' ? n : m[2] === 'M' ? n / 12 : m[2] === 'W' ? n / 52.1775 : n / 365.25;
  return Math.floor(years);
}

/** DICOM DA + TM (or DT) → ISO 8601 without time zone. */
function isoTime(dateTime: string | undefined): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?/u.exec(dateTime ?? '');
  if (!m) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}${m[4] ? `T${m[4]}:${m[5] ?? '00'}:${m[6] ?? '00'}` : ''}`;
}

/** Multiplex group labels of median / representative beats (not a rhythm ECG). */
const MEDIAN_LABEL = /median|average|represent|template/iu;

/** One multiplex group of a waveform object: raw integer samples and their values in mV per channel. */
export interface DicomMultiplexGroup {
  label?: string;
  samplingRateHz: number;
  samples: number;
  channels: { label: string; raw: Int32Array; samplesMv: Float64Array }[];
  warnings: RecordWarning[];
  /** Per channel, how its counts became mV (PS3.3 C.10.9.1.4: value = count × sensitivity × correction + baseline). */
  conversions?: { label: string; conversion: Omit<SignalConversion, 'channels'> }[];
}

/**
 * Parses a DICOM waveform object (PS3.10, PS3.5 §7) and decodes its multiplex groups (PS3.3 C.10.9): all of them,
 * or with `which = 'rhythm'` only the first one not labelled as a median / representative beat.
 */
export function readDicomWaveforms(
  file: InputFile,
  options: ReadOptions,
  which: 'rhythm' | 'all' = 'all',
): { groups: DicomMultiplexGroup[]; startTime?: string; ageYears?: number; sex?: 'M' | 'F' } {
  const bytes = file.bytes;
  if (!sniffDicom(file)) throw new LeadlightError('unsupported_format', 'The file lacks the DICM signature of a DICOM file.');
  const meta = parseMetaGroup(bytes);
  const ts = meta.transferSyntax;
  let body = bytes.subarray(meta.end);
  let explicit: boolean;
  if (ts === '1.2.840.10008.1.2') explicit = false;
  else if (ts === '1.2.840.10008.1.2.1' || ts === undefined) explicit = true;
  else if (ts === '1.2.840.10008.1.2.1.99') {
    explicit = true;
    body = inflateBounded(body, options.maxDecodedBytes, 'the deflated DICOM dataset');
  } else if (ts === '1.2.840.10008.1.2.2') {
    throw new LeadlightError('encoding_unsupported', 'The DICOM file is big endian (a retired transfer syntax); convert it to explicit VR little endian.');
  } else {
    throw new LeadlightError('encoding_unsupported', `The DICOM transfer syntax ${ts.slice(0, 64)} is not supported; convert the file to explicit VR little endian.`);
  }
  const st: ParseState = { bytes: body, view: new DataView(body.buffer, body.byteOffset, body.byteLength), explicit, elements: 0 };
  const { ds } = parseDataset(st, 0, body.length, 0, false);

  const items = ds.get(T.waveformSequence)?.items ?? [];
  if (items.length === 0) {
    throw new LeadlightError('unsupported_format', 'The DICOM file holds no waveform (no Waveform Sequence); upload a DICOM ECG waveform object.');
  }
  const out: { groups: DicomMultiplexGroup[]; startTime?: string; ageYears?: number; sex?: 'M' | 'F' } = {
    groups: [],
  };
  if (which === 'rhythm') {
    const rhythm = items.find((group) => !MEDIAN_LABEL.test(text(group, T.groupLabel) ?? ''));
    if (!rhythm) {
      throw new LeadlightError('record_incomplete', 'The DICOM file holds only median or representative beats, no rhythm waveform; export the full rhythm ECG.');
    }
    out.groups.push(decodeGroup(rhythm, options));
  } else out.groups = items.map((group) => decodeGroup(group, options));
  const startTime =
    isoTime(text(ds, T.acquisitionDateTime)) ??
    isoTime(`${text(ds, T.acquisitionDate) ?? ''}${text(ds, T.acquisitionTime) ?? ''}`) ??
    isoTime(`${text(ds, T.contentDate) ?? ''}${text(ds, T.contentTime) ?? ''}`);
  if (startTime) out.startTime = startTime;
  const age = ageYearsOf(text(ds, T.patientAge));
  if (age !== undefined) out.ageYears = age;
  const sex = text(ds, T.patientSex);
  if (sex === 'M' || sex === 'F') out.sex = sex;
  return out;
}

const SAMPLE_FORMATS: Record<string, { bytes: number; read: (v: DataView, p: number) => number }> = {
  SS16: { bytes: 2, read: (v, p) => v.getInt16(p, true) },
  US16: { bytes: 2, read: (v, p) => v.getUint16(p, true) },
  SB8: { bytes: 1, read: (v, p) => v.getInt8(p) },
  UB8: { bytes: 1, read: (v, p) => v.getUint8(p) },
};

function decodeGroup(group: Dataset, options: ReadOptions): DicomMultiplexGroup {
  const nChannels = uint(group, T.channelCount, 2) ?? 0;
  const nSamples = uint(group, T.sampleCount, 4) ?? 0;
  const fsHz = decimal(group, T.samplingFrequency);
  const bits = uint(group, T.bitsAllocated, 2);
  const interpretation = text(group, T.sampleInterpretation) ?? '';
  const data = group.get(T.waveformData)?.value;
  const defs = group.get(T.channelDefinitions)?.items ?? [];
  if (nChannels < 1 || nChannels > 256) throw damaged(`${nChannels} waveform channels`);
  if (defs.length !== nChannels) throw damaged('channel definitions do not match the channel count');
  if (nSamples > options.maxSamplesPerChannel) {
    throw new LeadlightError('record_too_long', `The waveform has ${nSamples} samples per channel; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`);
  }
  if (fsHz === undefined || !(fsHz > 0)) throw new LeadlightError('sampling_rate_unsupported', 'The DICOM waveform states no valid sampling frequency; export it again.');
  const format = SAMPLE_FORMATS[`${interpretation}${bits}`];
  if (!format) {
    throw new LeadlightError('encoding_unsupported', `Waveform samples with interpretation ${interpretation.slice(0, 8) || 'unknown'} and ${bits ?? '?'} bits are not supported (SS/US 16 bit and SB/UB 8 bit are).`);
  }
  if (!data || data.length < nSamples * nChannels * format.bytes) {
    throw new LeadlightError('truncated_signal', 'The DICOM waveform data is shorter than its channel and sample counts declare; the file is truncated.');
  }
  const warnings: RecordWarning[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const channels: DicomMultiplexGroup['channels'] = [];
  const conversions: NonNullable<DicomMultiplexGroup['conversions']> = [];
  for (let c = 0; c < nChannels; c++) {
    const def = defs[c];
    const sensitivity = decimal(def, T.sensitivity) ?? 1;
    const correction = decimal(def, T.correctionFactor) ?? 1;
    const baseline = decimal(def, T.baseline) ?? 0;
    let toMv = unitToMv(def);
    const unit = toMv === undefined ? 'µV' : toMv === 1e-3 ? 'µV' : toMv === 1 ? 'mV' : toMv === 1e3 ? 'V' : 'nV';
    if (toMv === undefined) {
      toMv = 1e-3;
      warnings.push({ code: 'units_assumed', message: `Channel ${c + 1} states no sensitivity units; microvolts were assumed.` });
    }
    const raw = new Int32Array(nSamples);
    const mv = new Float64Array(nSamples);
    const scale = sensitivity * correction;
    for (let n = 0; n < nSamples; n++) {
      raw[n] = format.read(view, (n * nChannels + c) * format.bytes);
      mv[n] = (raw[n] * scale + baseline) * toMv;
    }
    channels.push({ label: channelLabel(def, c), raw, samplesMv: mv });
    conversions.push({
      label: channelLabel(def, c),
      conversion: {
        kind: 'gain',
        description:
          `counts × sensitivity ${numberText(sensitivity)} ${unit}${correction !== 1 ? ` × correction ${numberText(correction)}` : ''}${baseline ? ` + baseline ${numberText(baseline)} ${unit}` : ''}` +
          `${toMv !== 1 ? `, × ${numberText(toMv)} mV/${unit}` : ''} → mV`,
        gain: 1 / scale,
        baseline: -baseline / scale,
        fromUnit: unit,
        mvPerValue: scale * toMv,
      },
    });
  }
  const out: DicomMultiplexGroup = { samplingRateHz: fsHz, samples: nSamples, channels, warnings, conversions };
  const label = text(group, T.groupLabel);
  if (label) out.label = label;
  return out;
}

/**
 * Reads the rhythm group of a DICOM waveform object into channels in mV: the first multiplex group whose label
 * does not name a median / representative beat (the 12-lead ECG IOD puts the rhythm group first).
 */
export function readDicom(file: InputFile, options: ReadOptions): RawRecord {
  const { groups, startTime, ageYears, sex } = readDicomWaveforms(file, options, 'rhythm');
  const group = groups[0];
  const channels: RawChannel[] = group.channels.map((c) => ({ label: c.label, samplesMv: c.samplesMv }));
  const warnings = [...group.warnings];
  const record: RawRecord = { name: file.name, format: 'dicom', samplingRateHz: group.samplingRateHz, channels: markEmptyChannels(channels, warnings), warnings };
  if (group.conversions) record.conversions = groupConversions(group.conversions);
  if (startTime) record.startTime = startTime;
  if (ageYears !== undefined) record.ageYears = ageYears;
  if (sex) record.sex = sex;
  return record;
}

/** File meta information (group 0002, always explicit VR little endian; PS3.10 §7.1). */
function parseMetaGroup(bytes: Uint8Array): { transferSyntax?: string; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 132;
  let transferSyntax: string | undefined;
  while (pos + 8 <= bytes.length && view.getUint16(pos, true) === 0x0002) {
    const element = view.getUint16(pos + 2, true);
    const vr = String.fromCharCode(bytes[pos + 4], bytes[pos + 5]);
    let length: number;
    if (LONG_VRS.has(vr)) {
      if (pos + 12 > bytes.length) throw damaged('file meta cut short');
      length = view.getUint32(pos + 8, true);
      pos += 12;
    } else {
      length = view.getUint16(pos + 6, true);
      pos += 8;
    }
    if (pos + length > bytes.length) throw damaged('file meta element longer than the file');
    if (element === 0x0010) transferSyntax = latin1(bytes.subarray(pos, pos + length)).replace(/[\0\s]+$/u, '');
    pos += length;
  }
  return { transferSyntax, end: pos };
}

/** DICOM waveform reader (PS3.10, PS3.5 §7, PS3.3 C.10.9). */
export const dicomReader: EcgReader = {
  id: 'dicom',
  label: 'DICOM ECG waveform',
  sniff: sniffDicom,
  read: async (main, _files, options) => readDicom(main, options),
};
