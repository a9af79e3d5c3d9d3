/**
 * The CPSC 2018 reader: the original China Physiological Signal Challenge 2018 training files, MATLAB Level 5
 * MAT-files holding a struct `ECG` with fields `sex` ('Male'/'Female'), `age` and `data` (12 × N double, mV),
 * sampled at 500 Hz in the lead order I, II, III, aVR, aVL, aVF, V1–V6 (F. Liu et al., "An Open Access Database
 * for Evaluating the Algorithms of Electrocardiogram Rhythm and Morphology Abnormality Detection", J. Med. Imaging
 * Health Inform. 8(7), 2018).
 *
 * The same layout from other writers (any struct with a 12 × N or N × 12 `data`) often states its sampling rate in
 * a field (`fs`, `Fs`, `freq`, `srate`, `sampleRate`, `samplingRate`, `SamplingFrequency`, `sampling_rate`, …) or
 * in a top-level scalar of such a name: that rate is used. Without one, the rate given in the options is used, else
 * the CPSC 2018 rate of 500 Hz with a `sampling_rate_assumed` warning. A rate field that is not a positive number
 * is refused (`sampling_rate_unsupported`, naming the field) rather than replaced by a guess.
 *
 * A Level 5 file that holds a PhysioNet-style `val` matrix instead is a signal file without its WFDB header:
 * the reader then asks for the `.hea` (`record_incomplete`).
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawRecord, type RecordWarning, unitConversion } from '../record.ts';
import { type MatFile, type MatValue, isMatV5, parseMatV5 } from './matlab.ts';
import type { EcgReader, ReadOptions } from './types.ts';

export const CPSC_LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const;
export const CPSC_SAMPLING_RATE_HZ = 500;

function field(rec: Record<string, MatValue> | undefined, name: string): MatValue | undefined {
  if (!rec) return undefined;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : rec[key];
}

/** Field and variable names that hold a sampling rate in Hz, compared in lower case without `_`. */
const RATE_NAMES = ['fs', 'freq', 'frequency', 'srate', 'samplerate', 'samplingrate', 'samplefrequency', 'samplingfrequency', 'samplingfreq'];
const isRateName = (name: string) => RATE_NAMES.includes(name.toLowerCase().replace(/_/gu, ''));

/** A rate value: a numeric scalar (or equal values, one per lead) or text such as `1000` or `1000 Hz`; else NaN. */
function rateOf(value: MatValue): number {
  if (value.kind === 'numeric' && !value.complex && value.data.length > 0 && value.data.every((x) => x === value.data[0])) return value.data[0];
  if (value.kind === 'char') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:hz)?\s*$/iu.exec(value.text);
    if (m) return Number(m[1]);
  }
  return Number.NaN;
}

/**
 * The sampling rate the file states: a rate field of the struct, else a top-level variable of a rate name.
 * Returns undefined when there is none; refuses a rate that is not a positive finite number.
 */
function statedRate(mat: MatFile, structName: string, rec: Record<string, MatValue>): { hz: number; where: string } | undefined {
  const key = Object.keys(rec).find(isRateName);
  const found = key !== undefined
    ? { value: rec[key], where: `the field "${safe(key)}" of struct "${safe(structName)}"` }
    : (() => {
        const v = mat.variables.find((x) => isRateName(x.name));
        return v ? { value: v.value, where: `the variable "${safe(v.name)}"` } : undefined;
      })();
  if (!found) return undefined;
  const hz = rateOf(found.value);
  if (!(Number.isFinite(hz) && hz > 0)) {
    const v = found.value;
    const shown = v.kind === 'numeric' ? (v.data.length === 1 ? String(v.data[0]) : `${v.dims.join(' × ')} values`) : v.kind === 'char' ? `"${safe(v.text.slice(0, 20))}"` : `a ${v.kind}`;
    throw new LeadlightError(
      'sampling_rate_unsupported',
      `The MATLAB file states its sampling rate in ${found.where}, but its value (${shown}) is not a positive number of Hz; save the rate as a number (e.g. fs = 500).`,
    );
  }
  return { hz, where: found.where };
}

/** A name from the file, safe to show in a message. */
const safe = (name: string) => name.replace(/[^\w.\- ]/gu, '?').slice(0, 64);

function stem(name: string): string {
  return name.replace(/^.*[\\/]/u, '').replace(/\.[^.]*$/u, '').replace(/[^\w.\-~+]/gu, '?').slice(0, 64);
}

export const cpscMatReader: EcgReader = {
  id: 'cpsc-mat',
  label: 'CPSC 2018 MATLAB (.mat with struct ECG)',
  sniff(file: InputFile): boolean {
    try {
      return isMatV5(file.bytes);
    } catch {
      return false;
    }
  },
  async read(main: InputFile, _files: InputFile[], options: ReadOptions): Promise<RawRecord> {
    const mat = parseMatV5(main.bytes, {
      maxElements: Math.max(1, options.maxSamplesPerChannel * CPSC_LEADS.length),
      maxDecodedBytes: options.maxDecodedBytes,
    });
    const struct = mat.variables.find((v) => v.value.kind === 'struct' && v.name === 'ECG') ??
      mat.variables.find((v) => v.value.kind === 'struct' && v.value.elements.length > 0 && field(v.value.elements[0], 'data'));
    if (!struct || struct.value.kind !== 'struct') {
      if (mat.variables.some((v) => v.name === 'val')) {
        throw new LeadlightError(
          'record_incomplete',
          `${stem(main.name)}.mat holds PhysioNet/CinC samples ("val") without their header; upload ${stem(main.name)}.hea together with it.`,
        );
      }
      throw new LeadlightError(
        'unsupported_format',
        'The MATLAB file has no struct "ECG" with a field "data" (CPSC 2018 layout); export the ECG as WFDB, CSV or a CPSC-style .mat.',
      );
    }
    const rec = struct.value.elements[0];
    const data = field(rec, 'data');
    if (!data || data.kind !== 'numeric' || data.dims.length !== 2) {
      throw new LeadlightError('record_incomplete', 'The struct "ECG" has no numeric matrix "data"; the CPSC file is incomplete.');
    }
    if (data.complex) throw new LeadlightError('signal_invalid', 'The samples in "data" are complex numbers; ECG samples are real.');
    const [rows, cols] = data.dims;
    const leads = CPSC_LEADS.length;
    let transposed: boolean;
    if (rows === leads) transposed = false;
    else if (cols === leads) transposed = true;
    else {
      throw new LeadlightError(
        'lead_missing',
        `"data" is ${rows} × ${cols}; a CPSC 2018 record has 12 leads (I, II, III, aVR, aVL, aVF, V1–V6) as rows.`,
      );
    }
    const samples = transposed ? rows : cols;
    if (samples > options.maxSamplesPerChannel) {
      throw new LeadlightError('record_too_long', `The record has ${samples} samples per lead; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`);
    }
    const channels = CPSC_LEADS.map((label, lead) => {
      const out = new Float64Array(samples);
      for (let n = 0; n < samples; n++) out[n] = transposed ? data.data[lead * rows + n] : data.data[n * leads + lead];
      return { label, samplesMv: out };
    });
    const warnings: RecordWarning[] = [];
    const stated = statedRate(mat, struct.name, rec);
    let samplingRateHz: number;
    if (stated) {
      samplingRateHz = stated.hz;
      if (options.samplingRateHz !== undefined && Math.abs(options.samplingRateHz - stated.hz) > 1e-6 * stated.hz) {
        warnings.push({ code: 'sampling_rate_conflict', message: `The file states ${stated.hz} Hz (${stated.where}); the given ${options.samplingRateHz} Hz was ignored.` });
      }
    } else if (options.samplingRateHz !== undefined) {
      samplingRateHz = options.samplingRateHz;
    } else {
      samplingRateHz = CPSC_SAMPLING_RATE_HZ;
      warnings.push({
        code: 'sampling_rate_assumed',
        message: `The MATLAB file states no sampling rate (no field such as "fs" or "samplingRate"); ${CPSC_SAMPLING_RATE_HZ} Hz, the rate of CPSC 2018 files, was assumed. Give the rate if the ECG was recorded at another.`,
      });
    }
    const raw: RawRecord = {
      name: stem(main.name),
      format: 'cpsc-mat',
      samplingRateHz,
      channels,
      warnings,
      // CPSC 2018 `data` holds millivolts (Liu et al. 2018): used as stored.
      conversions: [{ ...unitConversion('mV', 1), description: 'values of "data" in mV (CPSC 2018), used as they are' }],
    };
    const age = field(rec, 'age');
    if (age?.kind === 'numeric' && age.data.length === 1 && Number.isFinite(age.data[0]) && age.data[0] >= 0 && age.data[0] <= 130) {
      raw.ageYears = age.data[0];
    }
    const sex = field(rec, 'sex');
    if (sex?.kind === 'char') {
      const s = sex.text.trim().toLowerCase();
      if (s === 'male' || s === 'm') raw.sex = 'M';
      else if (s === 'female' || s === 'f') raw.sex = 'F';
    }
    return raw;
  },
};
