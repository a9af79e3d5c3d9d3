/**
 * The one ECG record model. Every reader produces a `RawRecord` (its channels as stored, in mV); `toEcgRecord`
 * maps lead aliases, negates inverted leads (`-aVR`, as Cabrera displays store it), derives missing limb leads from I and II (Einthoven/Goldberger: III = II − I,
 * aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2), checks plausibility and returns the 12 leads in the fixed
 * order I, II, III, aVR, aVL, aVF, V1–V6.
 *
 * Privacy: only age, sex, diagnostic codes from structured fields and the acquisition time are carried; names,
 * patient ids, birth dates and free text never enter a record.
 */
import { LeadlightError } from './errors.ts';

export const LEAD_ORDER = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const;
export type LeadName = (typeof LEAD_ORDER)[number];

/** One uploaded file: its name (base name only, no directories) and bytes. */
export interface InputFile {
  name: string;
  bytes: Uint8Array;
}

/** A channel as a reader found it: its label as written in the file and its samples in millivolts. */
export interface RawChannel {
  label: string;
  samplesMv: Float32Array | Float64Array;
}

/** What a reader returns: channels as stored (any labels, any count), all in mV, one sampling rate. */
export interface RawRecord {
  name: string;
  /** Reader id, e.g. `wfdb`, `cinc-mat`, `cpsc-mat`, `csv`, `ge-muse-xml`, `philips-xml`, `hl7-aecg`, `dicom`, `scp-ecg`, `edf`. */
  format: string;
  samplingRateHz: number;
  channels: RawChannel[];
  /** ISO 8601 acquisition time when the file states it (no time zone conversion). */
  startTime?: string;
  ageYears?: number;
  sex?: 'M' | 'F';
  /** Diagnostic codes/labels from structured header fields (e.g. WFDB `# Dx:`), never free text. */
  labels?: string[];
  warnings: RecordWarning[];
  /** How the reader turned the stored values into mV (issue 16, item 7), when it knows; see `groupConversions`. */
  conversions?: SignalConversion[];
}

/**
 * One conversion a reader applied to reach millivolts, for a group of channels (issue 16, item 7, "what the model
 * saw"): integer counts through a gain (`(d − baseline) / gain`, WFDB signal(5); EDF's physical/digital range;
 * DICOM PS3.3 C.10.9 sensitivity), values in another unit (µV, V), or values already in mV.
 */
export interface SignalConversion {
  /** `gain`: integer counts scaled by a gain or resolution (and offset); `units`: values in another unit; `none`: already mV. */
  kind: 'gain' | 'units' | 'none';
  /** One sentence, e.g. "ADC counts − baseline 0, ÷ gain 1000/mV → mV". */
  description: string;
  /** Channel labels as written in the file; absent when the conversion applies to every channel. */
  channels?: string[];
  /** Counts per physical unit (`gain`). */
  gain?: number;
  /** Counts subtracted before dividing by the gain (`gain`); an offset in the stored unit otherwise. */
  baseline?: number;
  /** Unit of the stored values after the gain (`mV`, `µV`, `V`, `nV`), or of the values themselves (`units`). */
  fromUnit?: string;
  /** Millivolts per stored value (counts or physical values): the overall factor applied. */
  mvPerValue?: number;
}

/**
 * Groups per-channel conversions that are identical into one entry each, in the order first met; an entry that
 * covers every channel carries no `channels`.
 */
export function groupConversions(perChannel: readonly { label: string; conversion: Omit<SignalConversion, 'channels'> }[]): SignalConversion[] {
  const groups = new Map<string, { conversion: Omit<SignalConversion, 'channels'>; channels: string[] }>();
  for (const { label, conversion } of perChannel) {
    const key = JSON.stringify(conversion);
    const group = groups.get(key);
    if (group) group.channels.push(label);
    else groups.set(key, { conversion, channels: [label] });
  }
  return [...groups.values()].map(({ conversion, channels }) => (groups.size === 1 ? { ...conversion } : { ...conversion, channels }));
}

/** A number for descriptions: up to 6 significant digits, no trailing zeros. */
export function numberText(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** The conversion of counts through a gain (counts per `unit`) and a baseline in counts, into mV. */
export function gainConversion(gain: number, baseline: number, unit: string, mvPerUnit: number): Omit<SignalConversion, 'channels'> {
  const toMv = unit === 'mV' ? '' : `, × ${numberText(mvPerUnit)} mV/${unit}`;
  return {
    kind: 'gain',
    description: `ADC counts${baseline ? ` − baseline ${numberText(baseline)}` : ''} ÷ gain ${numberText(gain)}/${unit}${toMv} → mV`,
    gain,
    baseline,
    fromUnit: unit,
    mvPerValue: mvPerUnit / gain,
  };
}

/** The conversion of values in `unit` (µV, V, mV, …) into mV by `mvPerUnit`. */
export function unitConversion(unit: string, mvPerUnit: number): Omit<SignalConversion, 'channels'> {
  if (mvPerUnit === 1) return { kind: 'none', description: `values in ${unit}, used as they are`, fromUnit: unit, mvPerValue: 1 };
  return { kind: 'units', description: `${unit} × ${numberText(mvPerUnit)} → mV`, fromUnit: unit, mvPerValue: mvPerUnit };
}

export interface RecordWarning {
  code: string;
  message: string;
}

/** The record every later stage uses: exactly 12 leads in LEAD_ORDER, samples in mV. */
export interface EcgRecord {
  name: string;
  format: string;
  samplingRateHz: number;
  /** Samples per lead. */
  samples: number;
  leads: readonly LeadName[];
  /** One array per lead, in LEAD_ORDER, each `samples` long, in mV. */
  signalsMv: Float32Array[];
  startTime?: string;
  ageYears?: number;
  sex?: 'M' | 'F';
  labels?: string[];
  /** Leads computed from others (e.g. III and the augmented leads of an 8-lead file). */
  derivedLeads: LeadName[];
  warnings: RecordWarning[];
  /** The reader's conversions to mV, when it reported them (RawRecord.conversions). */
  conversions?: SignalConversion[];
  /** What was done from the file to these 12 leads, in order (issue 16, item 7); the model-input steps follow. */
  steps?: PreprocessingStep[];
}

/** The kinds of step between the file and the model input, in the order they happen. */
export type PreprocessingStepKind = 'read' | 'units' | 'leads' | 'invert' | 'trim' | 'derive' | 'resample' | 'window' | 'pad' | 'layout';

/**
 * One step between the file and the model input (`input.steps` of the result; issue 16, item 7): a sentence and
 * the step's numbers. `warnings` names the codes of record warnings that belong to the step.
 */
export type PreprocessingStep = {
  step: PreprocessingStepKind;
  description: string;
  warnings?: string[];
  format?: string;
  channels?: string[];
  leads?: string[];
  samplingRateHz?: number;
  samples?: number;
  durationS?: number;
  /** `units`: the reader's conversion (SignalConversion without its description). */
  kind?: SignalConversion['kind'] | 'unreported';
  gain?: number;
  baseline?: number;
  fromUnit?: string;
  mvPerValue?: number;
  /** `leads`: channels taken as a lead under another label, and channels left out. */
  mapped?: { channel: string; lead: LeadName }[];
  ignored?: string[];
  /** `derive`: the formula of each derived lead. */
  formulas?: Partial<Record<LeadName, string>>;
  /** `resample`: rates, the integer ratio and the anti-aliasing filter. */
  fromHz?: number;
  toHz?: number;
  up?: number;
  down?: number;
  filter?: { design: string; window: string; beta: number; taps: number; cutoffHz: number } | null;
  /** `window`/`pad`: samples of the model input (0-based, end exclusive) and seconds of the recording. */
  fromSample?: number;
  toSample?: number;
  startS?: number;
  endS?: number;
  /** `window`: seconds of the recording after the window, which the model does not see. */
  unseenS?: number;
  /** `pad`: the relevance on these samples is left out of every summary. */
  masked?: boolean;
  /** `layout`: the input tensor's shape and units. */
  shape?: number[];
  units?: string;
};

export function durationS(record: Pick<EcgRecord, 'samples' | 'samplingRateHz'>): number {
  return record.samples / record.samplingRateHz;
}

const ALIASES: Record<string, LeadName> = (() => {
  const map: Record<string, LeadName> = {};
  for (const lead of LEAD_ORDER) map[normaliseLabel(lead)] = lead;
  const extra: Record<string, LeadName> = {
    di: 'I', dii: 'II', diii: 'III', lead1: 'I', lead2: 'II', lead3: 'III', leadi: 'I', leadii: 'II', leadiii: 'III',
    mlii: 'II', ml2: 'II', '1': 'I', '2': 'II', '3': 'III',
    vr: 'aVR', vl: 'aVL', vf: 'aVF', avr: 'aVR', avl: 'aVL', avf: 'aVF', leadavr: 'aVR', leadavl: 'aVL', leadavf: 'aVF',
    c1: 'V1', c2: 'V2', c3: 'V3', c4: 'V4', c5: 'V5', c6: 'V6',
  };
  for (let k = 1; k <= 6; k++) {
    extra[`lead${'v'}${k}`] = `V${k}` as LeadName;
    extra[`v${k}lead`] = `V${k}` as LeadName;
  }
  return { ...map, ...extra };
})();

function normaliseLabel(label: string): string {
  return label
    .toLowerCase()
    .replace(/^(ecg|ekg|lead|ableitung|derivation|deriv)[\s_:-]*/u, (m) => (m.startsWith('lead') ? 'lead' : ''))
    .replace(/[\s_\-.:()]/gu, '');
}

/** A channel label's lead and whether the channel holds that lead inverted (`-aVR`: the negated aVR). */
export interface LeadOf {
  lead: LeadName;
  inverted: boolean;
}

/** A minus sign (hyphen-minus, U+2212 minus sign, U+2013 en dash) touching a lead name, before or after it. */
const LEADING_MINUS = /^[-\u2212\u2013]\S/u;
const TRAILING_MINUS = /\S[-\u2212\u2013]$/u;
const PREFIX = /^(ecg|ekg|lead|ableitung|derivation|deriv)([\s_:]*)(.*)$/isu;

/**
 * The sign of a label: `-aVR`, `−aVR`, `aVR-`, `ECG -aVR`, `EKG−V1` and MDC `aVRneg` (IEEE 11073-10102's
 * MDC_ECG_LEAD_aVRneg) name inverted leads. A hyphen or en dash directly after a prefix is a separator
 * (`ECG-I` is lead I, as before); a sign must touch the lead name (`ECG - aVR` is aVR, not −aVR).
 */
function signOf(label: string): { body: string; inverted: boolean } {
  let s = label.trim();
  const prefix = PREFIX.exec(s);
  if (prefix && prefix[3] !== '') {
    s = prefix[3];
    if (prefix[2] === '' && /^[-\u2013]/u.test(s)) s = s.slice(1);
  }
  if (LEADING_MINUS.test(s)) return { body: s.slice(1), inverted: true };
  if (TRAILING_MINUS.test(s)) return { body: s.slice(0, -1), inverted: true };
  if (/\Sneg$/iu.test(s)) return { body: s.slice(0, -3), inverted: true };
  return { body: label, inverted: false };
}

/**
 * Maps a channel label as written in a file (`DI`, `avr`, `V1-lead`, `MDC_ECG_LEAD_V1`, `EKG V1`, …) to its lead,
 * and says whether the channel is that lead inverted (`-aVR`, `−aVR`, `aVR-`, `MDC_ECG_LEAD_aVRneg`: Cabrera
 * displays store −aVR, SCP-ECG lead id 65 per EN 1064 Table 19).
 */
export function leadOf(label: string): LeadOf | undefined {
  const mdc = /^MDC_ECG_LEAD_(.+)$/iu.exec(label.trim());
  const text = mdc ? mdc[1] : label;
  const plain = ALIASES[normaliseLabel(text)];
  const { body, inverted } = signOf(text);
  if (inverted) {
    const lead = ALIASES[normaliseLabel(body)];
    if (lead) return { lead, inverted: true };
  }
  return plain ? { lead: plain, inverted: false } : undefined;
}

/** The lead a channel label names, inverted or not (see `leadOf`); undefined when it names none. */
export function leadNameOf(label: string): LeadName | undefined {
  return leadOf(label)?.lead;
}

/** Bounds a record must respect; the edge may pass tighter ones. */
export interface RecordLimits {
  minSamplingRateHz: number;
  maxSamplingRateHz: number;
  minDurationS: number;
  maxSamplesPerLead: number;
}

export const DEFAULT_RECORD_LIMITS: RecordLimits = {
  minSamplingRateHz: 50,
  maxSamplingRateHz: 20_000,
  minDurationS: 1,
  maxSamplesPerLead: 2_000_000,
};

/**
 * Plausibility bounds on robust peak-to-peak amplitudes (0.5th to 99.5th percentile). On the shared real records
 * the median lead spans 0.36–2.7 mV and no lead exceeds 9 mV; CinC 2020 headers that declare 200/mV for data
 * stored at 1000/mV give 3–12 mV medians and leads up to 24 mV.
 */
const PLAUSIBLE = { leadFlatMv: 0.05, medianLowMv: 0.02, medianHighMv: 5, medianRaisedMv: 2.5, leadHighMv: 15 };

/** Robust peak-to-peak of a lead: 99.5th minus 0.5th percentile of (at most 20 000 evenly spaced) samples. */
function robustPeakToPeak(x: ArrayLike<number>): number {
  const n = x.length;
  if (n === 0) return 0;
  const step = Math.max(1, Math.floor(n / 20_000));
  const sample = new Float64Array(Math.ceil(n / step));
  for (let i = 0, j = 0; i < n; i += step, j++) sample[j] = x[i];
  sample.sort();
  return sample[Math.floor((sample.length - 1) * 0.995)] - sample[Math.floor((sample.length - 1) * 0.005)];
}

/**
 * Turns a reader's channels into the 12-lead record: maps aliases, negates inverted leads (`-aVR` → aVR, with a
 * `lead_inverted` warning), derives III, aVR, aVL, aVF from I and II
 * where missing, refuses records without enough leads, flags non-finite values and implausible amplitudes.
 */
export function toEcgRecord(raw: RawRecord, limits: RecordLimits = DEFAULT_RECORD_LIMITS): EcgRecord {
  const fs = raw.samplingRateHz;
  if (!Number.isFinite(fs) || fs < limits.minSamplingRateHz || fs > limits.maxSamplingRateHz) {
    throw new LeadlightError(
      'sampling_rate_unsupported',
      `The sampling rate ${Number.isFinite(fs) ? `${fs} Hz` : 'is missing or'} is outside ${limits.minSamplingRateHz}–${limits.maxSamplingRateHz} Hz; give the rate explicitly or export the ECG at a standard rate (e.g. 500 Hz).`,
    );
  }
  const warnings = [...raw.warnings];
  const byLead = new Map<LeadName, Float32Array | Float64Array>();
  const inverted: { label: string; lead: LeadName }[] = [];
  const mapped: { channel: string; lead: LeadName }[] = [];
  const ignored: string[] = [];
  for (const channel of raw.channels) {
    const found = leadOf(channel.label);
    if (!found) {
      ignored.push(channel.label);
      continue;
    }
    const { lead } = found;
    if (byLead.has(lead)) {
      warnings.push({ code: 'duplicate_lead', message: `Lead ${lead} appears more than once; the first one is used.` });
      ignored.push(channel.label);
      continue;
    }
    if (channel.label !== lead && !found.inverted) mapped.push({ channel: channel.label, lead });
    if (found.inverted) {
      const source = channel.samplesMv;
      const negated = source instanceof Float32Array ? new Float32Array(source.length) : new Float64Array(source.length);
      for (let n = 0; n < source.length; n++) negated[n] = -source[n];
      byLead.set(lead, negated);
      inverted.push({ label: channel.label, lead });
      continue;
    }
    byLead.set(lead, channel.samplesMv);
  }
  if (inverted.length) {
    const labels = inverted.map((c) => `"${c.label}"`).join(', ');
    const leads = inverted.map((c) => c.lead).join(', ');
    const many = inverted.length > 1;
    warnings.push({
      code: 'lead_inverted',
      message: `Channel${many ? 's' : ''} ${labels} hold${many ? '' : 's'} lead${many ? 's' : ''} ${leads} inverted (as Cabrera displays show −aVR); ${many ? 'they were' : 'it was'} negated to give ${leads}.`,
    });
  }
  const lengths = [...byLead.values()].map((s) => s.length);
  const samples = lengths.length ? Math.min(...lengths) : 0;
  if (lengths.some((n) => n !== samples)) {
    warnings.push({ code: 'unequal_lead_lengths', message: `Leads have different lengths; all are cut to ${samples} samples.` });
  }

  const derivedLeads: LeadName[] = [];
  const I = byLead.get('I');
  const II = byLead.get('II');
  const derive = (lead: LeadName, f: (i: number, ii: number) => number) => {
    if (byLead.has(lead) || !I || !II) return;
    const out = new Float32Array(samples);
    for (let n = 0; n < samples; n++) out[n] = f(I[n], II[n]);
    byLead.set(lead, out);
    derivedLeads.push(lead);
  };
  derive('III', (i, ii) => ii - i);
  derive('aVR', (i, ii) => -(i + ii) / 2);
  derive('aVL', (i, ii) => i - ii / 2);
  derive('aVF', (i, ii) => ii - i / 2);

  const missing = LEAD_ORDER.filter((lead) => !byLead.has(lead));
  if (missing.length) {
    const found = raw.channels.map((c) => c.label).join(', ') || 'none';
    throw new LeadlightError(
      'lead_missing',
      `The record lacks lead${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (channels found: ${found}). Leadlight needs a 12-lead ECG, or at least I, II and V1–V6.`,
      { missing },
    );
  }
  if (samples / fs < limits.minDurationS) {
    throw new LeadlightError('record_too_short', `The record lasts ${(samples / fs).toFixed(3)} s; at least ${limits.minDurationS} s is needed.`);
  }
  if (samples > limits.maxSamplesPerLead) {
    throw new LeadlightError(
      'record_too_long',
      `The record has ${samples} samples per lead; at most ${limits.maxSamplesPerLead} are accepted. Upload a shorter excerpt.`,
    );
  }

  const signalsMv: Float32Array[] = [];
  const peakToPeak: number[] = [];
  for (const lead of LEAD_ORDER) {
    const source = byLead.get(lead)!;
    const out = source instanceof Float32Array && source.length === samples ? source : Float32Array.from(source.subarray(0, samples));
    for (let n = 0; n < samples; n++) {
      if (!Number.isFinite(out[n])) {
        throw new LeadlightError(
          'signal_invalid',
          `Lead ${lead} has a value that is not a finite number at sample ${n}; check the export or the file's integrity.`,
        );
      }
    }
    const p2p = robustPeakToPeak(out);
    peakToPeak.push(p2p);
    if (p2p > PLAUSIBLE.leadHighMv) {
      warnings.push({
        code: 'amplitude_implausible',
        message: `Lead ${lead} spans ${p2p.toFixed(1)} mV peak to peak, far above a normal ECG: an artefact or a wrong gain of that lead.`,
      });
    } else if (p2p < PLAUSIBLE.leadFlatMv && !derivedLeads.includes(lead)) {
      warnings.push({
        code: 'amplitude_flat',
        message: `Lead ${lead} is almost flat (${p2p.toFixed(3)} mV peak to peak); it may be disconnected or its gain wrong.`,
      });
    }
    signalsMv.push(out);
  }
  const medianP2p = [...peakToPeak].sort((a, b) => a - b)[Math.floor(peakToPeak.length / 2)];
  const maxP2p = Math.max(...peakToPeak);
  if (medianP2p > PLAUSIBLE.medianHighMv || (maxP2p > PLAUSIBLE.leadHighMv && medianP2p > PLAUSIBLE.medianRaisedMv)) {
    warnings.push({
      code: 'gain_implausible',
      message: `The leads span ${medianP2p.toFixed(1)} mV peak to peak (median; largest ${maxP2p.toFixed(1)} mV), several times a normal 12-lead ECG: the file's gain or units are probably wrong (some CinC 2020 headers declare 200/mV for data stored at 1000/mV). Results use the amplitudes as read.`,
    });
  } else if (medianP2p < PLAUSIBLE.medianLowMv) {
    warnings.push({
      code: 'gain_implausible',
      message: `The leads span only ${(medianP2p * 1000).toFixed(2)} µV peak to peak (median), far below a 12-lead ECG: the file's gain or units are probably wrong. Results use the amplitudes as read.`,
    });
  }
  if (derivedLeads.length) {
    warnings.push({ code: 'leads_derived', message: `Leads ${derivedLeads.join(', ')} were computed from I and II.` });
  }
  const record: EcgRecord = {
    name: raw.name,
    format: raw.format,
    samplingRateHz: fs,
    samples,
    leads: LEAD_ORDER,
    signalsMv,
    derivedLeads,
    warnings,
  };
  if (raw.startTime) record.startTime = raw.startTime;
  if (raw.ageYears !== undefined) record.ageYears = raw.ageYears;
  if (raw.sex) record.sex = raw.sex;
  if (raw.labels?.length) record.labels = raw.labels;
  if (raw.conversions) record.conversions = raw.conversions;
  record.steps = recordSteps(raw, { samples, mapped, ignored, inverted, derivedLeads, warnings });
  return record;
}

/** The formulas of derived limb leads (Einthoven's law and Goldberger's augmented leads), as `toEcgRecord` computes them. */
const DERIVATION: Partial<Record<LeadName, string>> = { III: 'II − I', aVR: '−(I + II)/2', aVL: 'I − II/2', aVF: 'II − I/2' };

/**
 * A channel label as the steps quote it: labels that name a lead (`DI`, `avr`, `-aVR`, `MDC_ECG_LEAD_V1`), at most 32
 * characters; any other label (free text a writer put there) is never quoted.
 */
const shortLabel = (label: string) => (leadOf(label) === undefined ? 'another channel' : label.length > 32 ? `${label.slice(0, 31)}…` : label);

/**
 * The steps from the file to the 12 leads of a record (issue 16, item 7): what the reader read, its conversion to mV,
 * the channel-to-lead mapping, inversions, cutting to a common length and derived leads, each with the codes of its
 * warnings. Channel labels are the file's lead labels (no names or ids).
 */
function recordSteps(
  raw: RawRecord,
  done: { samples: number; mapped: { channel: string; lead: LeadName }[]; ignored: string[]; inverted: { label: string; lead: LeadName }[]; derivedLeads: LeadName[]; warnings: RecordWarning[] },
): PreprocessingStep[] {
  const fs = raw.samplingRateHz;
  const codes = new Set(done.warnings.map((w) => w.code));
  const present = (...wanted: string[]) => {
    const found = wanted.filter((c) => codes.has(c));
    return found.length ? { warnings: found } : {};
  };
  const labels = raw.channels.map((c) => shortLabel(c.label));
  const readSamples = raw.channels.length ? Math.max(...raw.channels.map((c) => c.samplesMv.length)) : 0;
  const steps: PreprocessingStep[] = [
    {
      step: 'read',
      description: `Read as ${raw.format}: ${raw.channels.length} channel${raw.channels.length === 1 ? '' : 's'} (${labels.join(', ')}) at ${numberText(fs)} Hz, ${readSamples} samples (${numberText(readSamples / fs)} s).`,
      format: raw.format,
      channels: labels,
      samplingRateHz: fs,
      samples: readSamples,
      durationS: readSamples / fs,
      ...present('samples_missing', 'samples_rounded', 'samples_per_frame_averaged', 'sampling_rate_conflict', 'sampling_rate_assumed', 'time_unit_assumed', 'signal_truncated', 'checksum_mismatch', 'initial_value_mismatch', 'calibration_removed', 'median_beat_only', 'lead_empty'),
    },
  ];
  const unitCodes = ['units_assumed', 'units_unknown', 'gain_ignored', 'scale_zero', 'gain_implausible', 'amplitude_implausible'];
  if (raw.conversions?.length) {
    for (const c of raw.conversions) {
      const { description, channels, ...numbers } = c;
      const which = channels ? ` (channel${channels.length === 1 ? '' : 's'} ${channels.map(shortLabel).join(', ')})` : ' (all channels)';
      steps.push({ step: 'units', description: `${description}${which}.`, ...numbers, ...(channels ? { channels: channels.map(shortLabel) } : {}), ...present(...unitCodes) });
    }
  } else {
    steps.push({ step: 'units', kind: 'unreported', description: `Values in mV as the ${raw.format} reader gave them (it reports no conversion).`, ...present(...unitCodes) });
  }
  const mapping = done.mapped.map((m) => `${shortLabel(m.channel)} → ${m.lead}`);
  const ignored = done.ignored.map(shortLabel);
  const unnamed = ignored.filter((l) => l === 'another channel').length;
  const repeated = ignored.filter((l) => l !== 'another channel');
  const leftOut = [...repeated.map((l) => `${l} (a lead seen before)`), ...(unnamed ? [`${unnamed} channel${unnamed > 1 ? 's' : ''} naming no standard lead`] : [])];
  steps.push({
    step: 'leads',
    description:
      (mapping.length ? `Channels taken as leads: ${mapping.join(', ')}.` : 'Channels named as the standard leads, used as they are.') +
      (leftOut.length ? ` Left out: ${leftOut.join(', ')}.` : '') +
      ` Leads put in the order ${LEAD_ORDER.join(', ')}.`,
    mapped: done.mapped.map((m) => ({ channel: shortLabel(m.channel), lead: m.lead })),
    ignored,
    leads: [...LEAD_ORDER],
    ...present('duplicate_lead', 'lead_order_assumed', 'lead_order_unusual'),
  });
  for (const { label, lead } of done.inverted) {
    steps.push({ step: 'invert', description: `Channel ${shortLabel(label)} holds −${lead}; negated to give ${lead}.`, channels: [shortLabel(label)], leads: [lead], ...present('lead_inverted') });
  }
  if (codes.has('unequal_lead_lengths')) {
    steps.push({ step: 'trim', description: `Leads of different lengths cut to the shortest: ${done.samples} samples (${numberText(done.samples / fs)} s).`, samples: done.samples, warnings: ['unequal_lead_lengths'] });
  }
  if (done.derivedLeads.length) {
    const formulas = Object.fromEntries(done.derivedLeads.map((l) => [l, DERIVATION[l]!])) as Partial<Record<LeadName, string>>;
    steps.push({
      step: 'derive',
      description: `Computed from I and II (Einthoven, Goldberger): ${done.derivedLeads.map((l) => `${l} = ${DERIVATION[l]}`).join(', ')}.`,
      leads: [...done.derivedLeads],
      formulas,
      ...present('leads_derived'),
    });
  }
  return steps;
}
