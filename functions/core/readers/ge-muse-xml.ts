/**
 * GE MUSE resting-ECG XML (`<RestingECG>`, MUSE 7–9 export; restecg.dtd).
 *
 * Reads the `Rhythm` waveform (or, failing that, the `Median` beat with a warning): `SampleBase` ×
 * 10^`SampleExponent` Hz, one `LeadData` per stored lead with `WaveFormData` = base64 of little-endian int16
 * samples scaled by `LeadAmplitudeUnitsPerBit` in `LeadAmplitudeUnits`. MUSE usually stores 8 leads
 * (I, II, V1–V6); toEcgRecord derives III, aVR, aVL, aVF. `LeadDataCRC32` (CRC-32/ISO-HDLC of the decoded
 * bytes) is checked when present. Only age, sex and the acquisition date/time are kept from the demographics.
 */
import { crc32 } from './archive.ts';
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, type SignalConversion, groupConversions, numberText } from '../record.ts';
import type { EcgReader, ReadOptions } from './types.ts';
import { type XmlElement, DEFAULT_XML_LIMITS, childrenOf, decodeBase64, parseXml, sniffXmlRoot, textAt } from './xml.ts';

const ROOT = 'RestingECG';

const UNIT_TO_MV: Record<string, number> = { MICROVOLTS: 1e-3, MICROVOLT: 1e-3, UV: 1e-3, MILLIVOLTS: 1, MILLIVOLT: 1, MV: 1, NANOVOLTS: 1e-6, VOLTS: 1e3 };

function syntax(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The GE MUSE XML ${what}; re-export the ECG from MUSE as XML.`);
}

function numberAt(element: XmlElement, path: string): number | undefined {
  const t = textAt(element, path);
  if (t === undefined) return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** MUSE dates are MM-DD-YYYY, times HH:MM:SS; returns ISO 8601 without a zone, or undefined. */
function museStartTime(root: XmlElement): string | undefined {
  const date = textAt(root, 'TestDemographics/AcquisitionDate');
  if (!date) return undefined;
  const d = /^(\d{2})-(\d{2})-(\d{4})$/u.exec(date);
  if (!d) return undefined;
  const time = textAt(root, 'TestDemographics/AcquisitionTime');
  const t = time ? /^(\d{2}):(\d{2})(?::(\d{2}))?$/u.exec(time) : null;
  return `${d[3]}-${d[1]}-${d[2]}${t ? `T${t[1]}:${t[2]}:${t[3] ?? '00'}` : ''}`;
}

function museAgeYears(root: XmlElement): number | undefined {
  const age = numberAt(root, 'PatientDemographics/PatientAge');
  if (age === undefined || age < 0 || age > 150) return undefined;
  const units = (textAt(root, 'PatientDemographics/AgeUnits') ?? 'YEARS').toUpperCase();
  if (units === 'YEARS') return age;
  if (units === 'MONTHS') return age / 12;
  if (units === 'WEEKS') return age / 52.1775;
  if (units === 'DAYS') return age / 365.25;
  return undefined;
}

function museSex(root: XmlElement): 'M' | 'F' | undefined {
  const g = (textAt(root, 'PatientDemographics/Gender') ?? '').toUpperCase();
  return g === 'MALE' || g === 'M' ? 'M' : g === 'FEMALE' || g === 'F' ? 'F' : undefined;
}

/** Decodes one `<LeadData>` to mV, checking the declared sample count and CRC. */
function readLead(lead: XmlElement, options: ReadOptions, warnings: RecordWarning[], conversions: { label: string; conversion: Omit<SignalConversion, 'channels'> }[]): RawChannel {
  const label = textAt(lead, 'LeadID');
  if (!label) throw syntax('has a LeadData without LeadID');
  const declared = numberAt(lead, 'LeadSampleCountTotal');
  if (declared !== undefined && (!Number.isInteger(declared) || declared < 0)) throw syntax(`declares an invalid sample count for lead ${label}`);
  if (declared !== undefined && declared > options.maxSamplesPerChannel) {
    throw new LeadlightError('record_too_long', `Lead ${label} declares ${declared} samples; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`);
  }
  const sampleSize = numberAt(lead, 'LeadSampleSize') ?? 2;
  if (sampleSize !== 2) throw new LeadlightError('encoding_unsupported', `Lead ${label} uses ${sampleSize}-byte samples; Leadlight reads MUSE's 2-byte samples only.`);
  const unitsPerBit = numberAt(lead, 'LeadAmplitudeUnitsPerBit');
  if (unitsPerBit === undefined || unitsPerBit <= 0) throw syntax(`lacks a positive LeadAmplitudeUnitsPerBit for lead ${label}`);
  const units = (textAt(lead, 'LeadAmplitudeUnits') ?? 'MICROVOLTS').toUpperCase();
  const toMv = UNIT_TO_MV[units];
  if (toMv === undefined) throw new LeadlightError('encoding_unsupported', `Lead ${label} is in unknown units "${units.slice(0, 30)}"; expected MICROVOLTS.`);
  const data = textAt(lead, 'WaveFormData');
  if (!data) throw new LeadlightError('truncated_signal', `Lead ${label} has no WaveFormData; the export is incomplete.`);
  const byteLimit = Math.min(options.maxDecodedBytes, options.maxSamplesPerChannel * 2);
  const bytes = decodeBase64(data, byteLimit, `lead ${label} waveform`);
  if (bytes.length % 2 !== 0) throw new LeadlightError('truncated_signal', `Lead ${label} has an odd number of data bytes; the export is damaged.`);
  const samples = bytes.length / 2;
  if (declared !== undefined && samples < declared) {
    throw new LeadlightError('truncated_signal', `Lead ${label} holds ${samples} samples but declares ${declared}; the file is truncated or damaged.`);
  }
  const crcText = textAt(lead, 'LeadDataCRC32');
  if (crcText && /^\d+$/u.test(crcText) && crc32(bytes) !== Number(crcText)) {
    warnings.push({ code: 'checksum_mismatch', message: `Lead ${label}'s data does not match its CRC-32; the file may be damaged.` });
  }
  const n = declared ?? samples;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scale = unitsPerBit * toMv;
  const unit = units === 'MICROVOLTS' ? 'µV' : units === 'MILLIVOLTS' ? 'mV' : units.toLowerCase();
  conversions.push({ label, conversion: { kind: 'gain', description: `counts × ${numberText(unitsPerBit)} ${unit} per bit (LeadAmplitudeUnitsPerBit) → mV`, gain: 1 / unitsPerBit, baseline: 0, fromUnit: unit, mvPerValue: scale } });
  const samplesMv = new Float32Array(n);
  for (let k = 0; k < n; k++) samplesMv[k] = view.getInt16(2 * k, true) * scale;
  return { label, samplesMv };
}

/** Reads a GE MUSE XML resting ECG into mV channels (spec: GE MUSE restecg.dtd, as exported by MUSE 7–9). */
export async function readGeMuseXml(main: InputFile, options: ReadOptions): Promise<RawRecord> {
  const root = parseXml(main.bytes, { maxBytes: Math.min(DEFAULT_XML_LIMITS.maxBytes, options.maxDecodedBytes) });
  if (root.localName !== ROOT) throw new LeadlightError('unsupported_format', `The XML root is <${root.localName.slice(0, 40)}>, not <RestingECG>; this is not a GE MUSE export.`);
  const waveforms = childrenOf(root, 'Waveform');
  const rhythm = waveforms.find((w) => textAt(w, 'WaveformType')?.toLowerCase() === 'rhythm');
  const median = waveforms.find((w) => textAt(w, 'WaveformType')?.toLowerCase() === 'median');
  const chosen = rhythm ?? median;
  if (!chosen) throw new LeadlightError('lead_missing', 'The GE MUSE XML has no Rhythm or Median waveform; export the ECG with its waveforms.');
  const warnings: RecordWarning[] = [];
  if (!rhythm) warnings.push({ code: 'median_beat_only', message: 'The file holds only the median beat, not the rhythm recording; results describe one averaged beat.' });
  const base = numberAt(chosen, 'SampleBase');
  const exponent = numberAt(chosen, 'SampleExponent') ?? 0;
  if (base === undefined || base <= 0 || !Number.isInteger(exponent) || Math.abs(exponent) > 6) {
    throw new LeadlightError('sampling_rate_unsupported', 'The GE MUSE XML waveform lacks a valid SampleBase; re-export the ECG.');
  }
  const leads = childrenOf(chosen, 'LeadData');
  if (leads.length === 0) throw new LeadlightError('lead_missing', 'The GE MUSE XML waveform has no LeadData; export the ECG with its waveforms.');
  if (leads.length > 64) throw syntax(`has ${leads.length} leads in one waveform, more than a resting ECG can have`);
  const conversions: { label: string; conversion: Omit<SignalConversion, 'channels'> }[] = [];
  const channels = leads.map((lead) => readLead(lead, options, warnings, conversions));
  const record: RawRecord = {
    name: main.name,
    format: 'ge-muse-xml',
    samplingRateHz: base * 10 ** exponent,
    channels,
    warnings,
    conversions: groupConversions(conversions),
  };
  const startTime = museStartTime(root);
  if (startTime) record.startTime = startTime;
  const age = museAgeYears(root);
  if (age !== undefined) record.ageYears = age;
  const sex = museSex(root);
  if (sex) record.sex = sex;
  return record;
}

export const geMuseXmlReader: EcgReader = {
  id: 'ge-muse-xml',
  label: 'GE MUSE XML',
  sniff: (file) => sniffXmlRoot(file.bytes) === ROOT,
  read: (main, _files, options) => readGeMuseXml(main, options),
};
