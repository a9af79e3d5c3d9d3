/**
 * HL7 v3 annotated ECG (`<AnnotatedECG xmlns="urn:hl7-org:v3">`, HL7 aECG release 1, the FDA submission format).
 *
 * Waveforms live in `component/series/component/sequenceSet/component/sequence`: one sequence with code
 * TIME_ABSOLUTE / TIME_RELATIVE whose GLIST value gives the sampling `increment` (s or ms), and one per lead with
 * code MDC_ECG_LEAD_* whose SLIST_PQ value is `origin + scale × digits` (units nV, µV, mV or V). Rhythm series
 * are preferred; a series' `derivation/derivedSeries` (representative beats) is used only when no rhythm
 * waveform exists, with a warning. Kept metadata: acquisition time (`effectiveTime`), age (`Reported Age`,
 * LOINC 21612-7), sex (`administrativeGenderCode`); never ids, names or birth times.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, type SignalConversion, groupConversions, numberText } from '../record.ts';
import type { EcgReader, ReadOptions } from './types.ts';
import { type XmlElement, DEFAULT_XML_LIMITS, childOf, childrenOf, descendantsOf, parseXml, pathOf, sniffXmlRoot } from './xml.ts';

const ROOT = 'AnnotatedECG';

const TO_MV: Record<string, number> = { nV: 1e-6, uV: 1e-3, 'µV': 1e-3, 'μV': 1e-3, mV: 1, V: 1e3 };
const TO_S: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6 };

function syntax(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The HL7 aECG ${what}; check the export.`);
}

/** HL7 TS (YYYYMMDDHHMMSS[.fff][±ZZZZ]) → ISO 8601 local time without zone conversion. */
function isoFromHl7Ts(ts: string | undefined): string | undefined {
  const m = ts ? /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(?:(\d{2})(\.\d+)?)?)?/u.exec(ts) : null;
  if (!m) return undefined;
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  return m[4] ? `${date}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}` : date;
}

interface SequenceSetData {
  channels: RawChannel[];
  fsHz: number | undefined;
  /** Per channel: origin + scale × digits, in mV (issue 16, item 7). */
  conversions: { label: string; conversion: Omit<SignalConversion, 'channels'> }[];
}

function parseNumberAttr(element: XmlElement | undefined, what: string): number {
  const v = Number(element?.attributes.value);
  if (!element || element.attributes.value === undefined || !Number.isFinite(v)) throw syntax(`has a ${what} without a numeric value`);
  return v;
}

/** Parses the white-space separated integers of `<digits>`, bounded by `maxSamples`. */
function parseDigits(text: string, maxSamples: number, lead: string): Float64Array {
  let out = new Float64Array(Math.min(maxSamples, 1024));
  let n = 0;
  const len = text.length;
  let k = 0;
  while (k < len) {
    let c = text.charCodeAt(k);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      k++;
      continue;
    }
    const start = k;
    while (k < len) {
      c = text.charCodeAt(k);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
      k++;
    }
    const token = text.slice(start, k);
    const v = Number(token);
    if (!/^[+-]?\d{1,12}(\.\d*)?$/u.test(token) || !Number.isFinite(v)) {
      throw new LeadlightError('signal_invalid', `Lead ${lead} has a sample "${token.slice(0, 20)}" that is not a number; check the export.`);
    }
    if (n === out.length) {
      if (n >= maxSamples) {
        throw new LeadlightError('record_too_long', `Lead ${lead} has more than ${maxSamples} samples; upload a shorter excerpt.`);
      }
      const grown = new Float64Array(Math.min(maxSamples, out.length * 2));
      grown.set(out);
      out = grown;
    }
    out[n++] = v;
  }
  return out.subarray(0, n);
}

/** Reads one `sequenceSet`: its time increment and its lead sequences (in mV). */
function readSequenceSet(set: XmlElement, options: ReadOptions, warnings: RecordWarning[]): SequenceSetData {
  const channels: RawChannel[] = [];
  const conversions: SequenceSetData['conversions'] = [];
  let fsHz: number | undefined;
  for (const component of childrenOf(set, 'component')) {
    const sequence = childOf(component, 'sequence');
    const code = childOf(sequence, 'code')?.attributes.code ?? '';
    const value = childOf(sequence, 'value');
    if (!sequence || !value) continue;
    if (code === 'TIME_ABSOLUTE' || code === 'TIME_RELATIVE') {
      const increment = childOf(value, 'increment');
      if (!increment) throw syntax('time sequence is not a GLIST (it has no increment); explicit time lists are not supported');
      const step = parseNumberAttr(increment, 'time increment');
      const unit = increment.attributes.unit ?? 's';
      const toS = TO_S[unit];
      if (toS === undefined) throw syntax(`time increment has the unknown unit "${unit.slice(0, 10)}"`);
      if (step <= 0) throw new LeadlightError('sampling_rate_unsupported', 'The HL7 aECG time increment is not positive; re-export the ECG.');
      fsHz = 1 / (step * toS);
      // Round away floating-point noise (0.002 s → 500 Hz exactly).
      if (Math.abs(fsHz - Math.round(fsHz)) < 1e-6 * fsHz) fsHz = Math.round(fsHz);
      continue;
    }
    if (!/^MDC_ECG_LEAD_/u.test(code)) continue;
    const type = value.attributes['xsi:type'] ?? Object.entries(value.attributes).find(([k]) => k.endsWith(':type'))?.[1] ?? '';
    if (type !== 'SLIST_PQ') {
      throw new LeadlightError('encoding_unsupported', `Lead ${code} is stored as ${type.slice(0, 20) || 'an untyped value'}; Leadlight reads SLIST_PQ waveforms only.`);
    }
    const origin = childOf(value, 'origin');
    const scale = childOf(value, 'scale');
    const scaleValue = parseNumberAttr(scale, 'scale');
    const originValue = origin ? parseNumberAttr(origin, 'origin') : 0;
    const scaleToMv = TO_MV[scale!.attributes.unit ?? ''];
    const originToMv = origin ? TO_MV[origin.attributes.unit ?? ''] : 1;
    if (scaleToMv === undefined || originToMv === undefined) {
      throw new LeadlightError('encoding_unsupported', `Lead ${code} uses amplitude units Leadlight does not know; expected uV or mV.`);
    }
    if (scaleValue === 0) warnings.push({ code: 'scale_zero', message: `Lead ${code} has a scale of 0; it is flat.` });
    const digits = parseDigits(childOf(value, 'digits')?.text ?? '', options.maxSamplesPerChannel, code);
    const samplesMv = new Float32Array(digits.length);
    const a = originValue * originToMv;
    const b = scaleValue * scaleToMv;
    for (let k = 0; k < digits.length; k++) samplesMv[k] = a + b * digits[k];
    channels.push({ label: code, samplesMv });
    const scaleUnit = scale!.attributes.unit ?? '';
    conversions.push({
      label: code,
      conversion: {
        kind: 'gain',
        description: `digits × scale ${numberText(scaleValue)} ${scaleUnit}${originValue ? ` + origin ${numberText(originValue)} ${origin!.attributes.unit ?? ''}` : ''} (SLIST_PQ) → mV`,
        gain: scaleValue === 0 ? 0 : 1 / scaleValue,
        baseline: b === 0 ? 0 : -a / b,
        fromUnit: scaleUnit,
        mvPerValue: b,
      },
    });
  }
  return { channels, fsHz, conversions };
}

function sequenceSetsOf(series: XmlElement): XmlElement[] {
  return childrenOf(series, 'component')
    .map((c) => childOf(c, 'sequenceSet'))
    .filter((s): s is XmlElement => s !== undefined);
}

function ageOf(root: XmlElement): number | undefined {
  for (const observation of descendantsOf(root, 'relatedObservation')) {
    if (childOf(observation, 'code')?.attributes.code !== '21612-7') continue;
    const value = childOf(observation, 'value');
    const v = Number(value?.attributes.value);
    const unit = value?.attributes.unit ?? 'a';
    const years = unit === 'a' ? v : unit === 'mo' ? v / 12 : unit === 'wk' ? v / 52.1775 : unit === 'd' ? v / 365.25 : NaN;
    if (Number.isFinite(years) && years >= 0 && years <= 150) return years;
  }
  return undefined;
}

function sexOf(root: XmlElement): 'M' | 'F' | undefined {
  const code = descendantsOf(root, 'administrativeGenderCode')[0]?.attributes.code;
  return code === 'M' ? 'M' : code === 'F' ? 'F' : undefined;
}

/** Reads an HL7 aECG document into mV channels (HL7 v3 Annotated ECG, ANSI/HL7 V3 ECG R1-2004). */
export async function readHl7Aecg(main: InputFile, options: ReadOptions): Promise<RawRecord> {
  const root = parseXml(main.bytes, { maxBytes: Math.min(DEFAULT_XML_LIMITS.maxBytes, options.maxDecodedBytes) });
  if (root.localName !== ROOT) throw new LeadlightError('unsupported_format', `The XML root is <${root.localName.slice(0, 40)}>, not <AnnotatedECG>; this is not an HL7 aECG.`);
  const warnings: RecordWarning[] = [];
  const seriesList = childrenOf(root, 'component')
    .map((c) => childOf(c, 'series'))
    .filter((s): s is XmlElement => s !== undefined);
  if (seriesList.length === 0) throw new LeadlightError('lead_missing', 'The HL7 aECG has no waveform series; export the ECG with its waveforms.');

  // Rhythm series first (the series' own sequence sets), then derived (representative-beat) series.
  let chosen: SequenceSetData | undefined;
  let chosenTime: string | undefined;
  for (const pass of ['rhythm', 'derived'] as const) {
    for (const series of seriesList) {
      const sources = pass === 'rhythm' ? [series] : childrenOf(series, 'derivation').map((d) => childOf(d, 'derivedSeries')).filter((d): d is XmlElement => d !== undefined);
      for (const source of sources) {
        for (const set of sequenceSetsOf(source)) {
          const data = readSequenceSet(set, options, warnings);
          if (data.channels.length > (chosen?.channels.length ?? 0)) {
            chosen = data;
            chosenTime = pathOf(source, 'effectiveTime/low')?.attributes.value ?? pathOf(source, 'effectiveTime/center')?.attributes.value;
          }
        }
      }
    }
    if (chosen) {
      if (pass === 'derived') {
        warnings.push({ code: 'median_beat_only', message: 'The file holds only representative beats, not the rhythm recording; results describe one averaged beat.' });
      }
      break;
    }
  }
  if (!chosen) throw new LeadlightError('lead_missing', 'The HL7 aECG has no MDC_ECG_LEAD_* waveform sequences; export the ECG with its waveforms.');
  if (chosen.fsHz === undefined) throw new LeadlightError('sampling_rate_unsupported', 'The HL7 aECG waveform has no time sequence with an increment, so its sampling rate is unknown.');
  const record: RawRecord = { name: main.name, format: 'hl7-aecg', samplingRateHz: chosen.fsHz, channels: chosen.channels, warnings, conversions: groupConversions(chosen.conversions) };
  const startTime = isoFromHl7Ts(
    chosenTime ?? pathOf(root, 'effectiveTime/center')?.attributes.value ?? pathOf(root, 'effectiveTime/low')?.attributes.value,
  );
  if (startTime) record.startTime = startTime;
  const age = ageOf(root);
  if (age !== undefined) record.ageYears = age;
  const sex = sexOf(root);
  if (sex) record.sex = sex;
  return record;
}

export const hl7AecgReader: EcgReader = {
  id: 'hl7-aecg',
  label: 'HL7 aECG (FDA annotated ECG XML)',
  sniff: (file) => sniffXmlRoot(file.bytes) === ROOT,
  read: (main, _files, options) => readHl7Aecg(main, options),
};
