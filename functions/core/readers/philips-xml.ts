/**
 * Philips resting-ECG XML (`<restingecgdata>`): SierraECG 1.03 and PhilipsECG 1.04 / 1.04.x (the latter
 * usually UTF-16 LE with BOM).
 *
 * The rhythm waveforms sit in `waveforms/parsedwaveforms` as base64 text. 1.04 states the layout in attributes
 * (`compression`, `numberofleads`, `leadlabels`, `durationperchannel` in ms, `samplespersecond`, `resolution` in
 * µV per LSB); 1.03 uses `compressflag`/`compressmethod` there and keeps rate and resolution in
 * `dataacquisition/signalcharacteristics`. XLI-compressed leads are decoded with ./xli.ts, after which III, aVR,
 * aVL and aVF are restored from I, II and the stored residuals, and the trailing calibration pulse is cut. Uncompressed waveforms are refused (no sample
 * file was available to confirm their layout). Only age, sex and the acquisition date/time are kept.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawRecord, type RecordWarning, numberText } from '../record.ts';
import type { EcgReader, ReadOptions } from './types.ts';
import { decodeXli, restoreLimbLeads } from './xli.ts';
import { type XmlElement, DEFAULT_XML_LIMITS, decodeBase64, parseXml, pathOf, sniffXmlRoot, textAt } from './xml.ts';

const ROOT = 'restingecgdata';
const STANDARD_LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];

function syntax(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The Philips ECG XML ${what}; re-export the ECG from the Philips system.`);
}

function positiveNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text.trim());
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Acquisition date/time from `dataacquisition@date` (YYYY-MM-DD) and `@time` (HH:MM:SS). */
function philipsStartTime(root: XmlElement): string | undefined {
  const acq = pathOf(root, 'dataacquisition');
  const date = acq?.attributes.date;
  if (!date || !/^\d{4}-\d{2}-\d{2}$/u.test(date)) return undefined;
  const time = acq?.attributes.time;
  return time && /^\d{2}:\d{2}:\d{2}$/u.test(time) ? `${date}T${time}` : date;
}

/** Age in years from `age/years`, or from the birth date and the acquisition date (the birth date is not kept). */
function philipsAgeYears(root: XmlElement, startTime: string | undefined): number | undefined {
  const age = pathOf(root, 'patient/generalpatientdata/age');
  const years = textAt(age, 'years');
  if (years !== undefined && /^\d{1,3}$/u.test(years) && Number(years) <= 150) return Number(years);
  const dob = textAt(age, 'dateofbirth');
  const b = dob ? /^(\d{4})-(\d{2})-(\d{2})$/u.exec(dob) : null;
  const a = startTime ? /^(\d{4})-(\d{2})-(\d{2})/u.exec(startTime) : null;
  if (!b || !a) return undefined;
  let y = Number(a[1]) - Number(b[1]);
  if (Number(a[2]) * 100 + Number(a[3]) < Number(b[2]) * 100 + Number(b[3])) y--;
  return y >= 0 && y <= 150 ? y : undefined;
}

function philipsSex(root: XmlElement): 'M' | 'F' | undefined {
  const s = (textAt(root, 'patient/generalpatientdata/sex') ?? '').toLowerCase();
  return s === 'male' ? 'M' : s === 'female' ? 'F' : undefined;
}

/**
 * Philips carts append a calibration segment to the waveforms (zero, a 1 mV square pulse, zero; the same in
 * every lead). Returns the number of samples before it: the first zero of the longest tail, at most 1 s long,
 * in which all leads carry identical values that are either 0 or one common non-zero level, provided the
 * pulse follows that zero. Returns the full length when there is no such tail.
 */
export function samplesBeforeCalibration(leads: Int16Array[], fsHz: number): number {
  const n = Math.min(...leads.map((l) => l.length));
  if (leads.length < 2 || n === 0) return n;
  const maxTail = Math.min(n - 1, Math.round(fsHz));
  let level = 0;
  let start = n;
  for (let i = n - 1; i >= n - maxTail; i--) {
    const v = leads[0][i];
    let same = true;
    for (let k = 1; k < leads.length && same; k++) same = leads[k][i] === v;
    if (!same || (v !== 0 && level !== 0 && v !== level)) break;
    if (v !== 0) level = v;
    start = i;
  }
  if (level === 0) return n;
  // Start the cut at the first zero of the tail, and cut only if the pulse follows that zero.
  while (start < n && leads[0][start] !== 0) start++;
  let pulseFollows = false;
  for (let i = start; i < n && !pulseFollows; i++) pulseFollows = leads[0][i] !== 0;
  return pulseFollows ? start : n;
}

/** The stored rhythm waveforms of a Philips ECG as integers (limb leads restored), before calibration removal. */
export interface PhilipsWaveforms {
  /** `documenttype documentversion`, e.g. `SierraECG 1.03`, `PhilipsECG 1.04`. */
  documentVersion: string;
  labels: string[];
  fsHz: number;
  resolutionUv: number;
  /** One int16 array per lead, `durationperchannel × fs` samples each. */
  leads: Int16Array[];
  warnings: RecordWarning[];
}

/**
 * Decodes `waveforms/parsedwaveforms` of a parsed Philips document (Philips XML schema 1.03/1.04): base64,
 * XLI decompression, limb-lead restoration.
 */
export function decodePhilipsWaveforms(root: XmlElement, options: ReadOptions): PhilipsWaveforms {
  if (root.localName !== ROOT) throw new LeadlightError('unsupported_format', `The XML root is <${root.localName.slice(0, 40)}>, not <restingecgdata>; this is not a Philips ECG export.`);
  const version = textAt(root, 'documentinfo/documentversion') ?? '';
  const documentVersion = `${textAt(root, 'documentinfo/documenttype') ?? ''} ${version}`.trim();
  const waveforms = pathOf(root, 'waveforms/parsedwaveforms');
  if (!waveforms) throw new LeadlightError('lead_missing', 'The Philips ECG XML has no parsedwaveforms element; export the ECG with its waveforms.');
  const attrs = waveforms.attributes;
  const signal = pathOf(root, 'dataacquisition/signalcharacteristics');

  const encoding = (attrs.dataencoding ?? 'Base64').toLowerCase();
  if (encoding !== 'base64') throw new LeadlightError('encoding_unsupported', `The waveforms use the "${encoding.slice(0, 30)}" data encoding; Leadlight reads Base64 only.`);
  const compression = (attrs.compression ?? (attrs.compressflag?.toLowerCase() === 'true' ? attrs.compressmethod ?? 'XLI' : 'none')).toUpperCase();
  if (compression !== 'XLI') {
    throw new LeadlightError('encoding_unsupported', `The waveforms use compression "${compression.slice(0, 30)}"; Leadlight reads XLI-compressed Philips waveforms only. Export with XLI compression (the default).`);
  }
  const fs = positiveNumber(attrs.samplespersecond) ?? positiveNumber(textAt(signal, 'samplingrate'));
  if (fs === undefined) throw new LeadlightError('sampling_rate_unsupported', 'The Philips ECG XML states no sampling rate; re-export the ECG.');
  const resolutionUv = positiveNumber(attrs.resolution) ?? positiveNumber(textAt(signal, 'signalresolution')) ?? positiveNumber(textAt(signal, 'resolution'));
  if (resolutionUv === undefined) throw syntax('states no signal resolution (µV per unit)');
  const offset = Number(attrs.signaloffset ?? textAt(signal, 'signaloffset') ?? '0');
  if (offset !== 0) throw new LeadlightError('encoding_unsupported', `The waveforms have a signal offset of ${String(offset).slice(0, 20)}; Leadlight reads offset-free Philips waveforms only.`);
  const bits = Number(attrs.bitspersample ?? attrs.nbitspersample ?? textAt(signal, 'bitspersample') ?? '16');
  if (bits !== 16) throw new LeadlightError('encoding_unsupported', `The waveforms use ${bits}-bit samples; Leadlight reads 16-bit Philips waveforms only.`);
  const durationMs = positiveNumber(attrs.durationperchannel);
  if (durationMs === undefined) throw syntax('states no durationperchannel');
  const samplesPerLead = Math.round((durationMs * fs) / 1000);
  if (samplesPerLead > options.maxSamplesPerChannel) {
    throw new LeadlightError('record_too_long', `The record declares ${samplesPerLead} samples per lead; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`);
  }
  const labels = attrs.leadlabels ? attrs.leadlabels.trim().split(/\s+/u) : STANDARD_LEADS;
  const leadCount = positiveNumber(attrs.numberofleads) ?? positiveNumber(textAt(signal, 'numberchannelsvalid')) ?? labels.length;
  if (!Number.isInteger(leadCount) || leadCount > 64) throw syntax(`declares ${leadCount} leads`);
  if (leadCount !== labels.length) throw syntax(`declares ${leadCount} leads but labels ${labels.length}`);
  if (samplesPerLead * leadCount * 2 > options.maxDecodedBytes) {
    throw new LeadlightError('file_too_large', `The waveforms would decode to more than ${options.maxDecodedBytes} bytes; upload a shorter record.`);
  }

  const compressed = decodeBase64(waveforms.text, options.maxDecodedBytes, 'XLI waveform');
  const ints = decodeXli(compressed, leadCount, samplesPerLead, options.maxDecodedBytes);
  const warnings: RecordWarning[] = [];
  const standardOrder = STANDARD_LEADS.slice(0, 6).every((lead, k) => labels[k] === lead);
  if (standardOrder) {
    restoreLimbLeads(ints);
  } else {
    warnings.push({ code: 'lead_order_unusual', message: 'The leads are not in the standard order; limb leads were taken as stored.' });
  }
  if (version && !/^1\.0[34]/u.test(version)) {
    warnings.push({ code: 'format_version_untested', message: `Philips XML version ${version.slice(0, 20)} was not tested; check the waveforms.` });
  }
  return { documentVersion, labels, fsHz: fs, resolutionUv, leads: ints, warnings };
}

/** Reads a Philips SierraECG/PhilipsECG XML resting ECG into mV channels (Philips XML schema 1.03/1.04). */
export async function readPhilipsXml(main: InputFile, options: ReadOptions): Promise<RawRecord> {
  const root = parseXml(main.bytes, { maxBytes: Math.min(DEFAULT_XML_LIMITS.maxBytes, options.maxDecodedBytes) });
  const { labels, fsHz: fs, resolutionUv, leads: ints, warnings } = decodePhilipsWaveforms(root, options);
  const samplesPerLead = ints[0]?.length ?? 0;
  const keep = samplesBeforeCalibration(ints, fs);
  if (keep < samplesPerLead) {
    warnings.push({
      code: 'calibration_removed',
      message: `The last ${((samplesPerLead - keep) / fs).toFixed(2)} s hold the device's calibration pulse, not ECG; they were left out.`,
    });
  }
  const toMv = resolutionUv / 1000;
  const channels = ints.map((lead, k) => {
    const samplesMv = new Float32Array(keep);
    for (let i = 0; i < keep; i++) samplesMv[i] = lead[i] * toMv;
    return { label: labels[k], samplesMv };
  });
  const record: RawRecord = {
    name: main.name,
    format: 'philips-xml',
    samplingRateHz: fs,
    channels,
    warnings,
    conversions: [{ kind: 'gain', description: `counts × resolution ${numberText(resolutionUv)} µV → mV`, gain: 1 / resolutionUv, baseline: 0, fromUnit: 'µV', mvPerValue: toMv }],
  };
  const startTime = philipsStartTime(root);
  if (startTime) record.startTime = startTime;
  const age = philipsAgeYears(root, startTime);
  if (age !== undefined) record.ageYears = age;
  const sex = philipsSex(root);
  if (sex) record.sex = sex;
  return record;
}

export const philipsXmlReader: EcgReader = {
  id: 'philips-xml',
  label: 'Philips ECG XML (SierraECG 1.03, PhilipsECG 1.04)',
  sniff: (file) => sniffXmlRoot(file.bytes) === ROOT,
  read: (main, _files, options) => readPhilipsXml(main, options),
};
