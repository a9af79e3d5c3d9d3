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
}

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
  for (const channel of raw.channels) {
    const found = leadOf(channel.label);
    if (!found) continue;
    const { lead } = found;
    if (byLead.has(lead)) {
      warnings.push({ code: 'duplicate_lead', message: `Lead ${lead} appears more than once; the first one is used.` });
      continue;
    }
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
  return record;
}
