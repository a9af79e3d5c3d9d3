/**
 * The CPSC 2018 reader: the original China Physiological Signal Challenge 2018 training files, MATLAB Level 5
 * MAT-files holding a struct `ECG` with fields `sex` ('Male'/'Female'), `age` and `data` (12 × N double, mV),
 * sampled at 500 Hz in the lead order I, II, III, aVR, aVL, aVF, V1–V6 (F. Liu et al., "An Open Access Database
 * for Evaluating the Algorithms of Electrocardiogram Rhythm and Morphology Abnormality Detection", J. Med. Imaging
 * Health Inform. 8(7), 2018).
 *
 * A Level 5 file that holds a PhysioNet-style `val` matrix instead is a signal file without its WFDB header:
 * the reader then asks for the `.hea` (`record_incomplete`).
 */
import { LeadlightError } from '../errors.ts';
import type { InputFile, RawRecord } from '../record.ts';
import { type MatValue, isMatV5, parseMatV5 } from './matlab.ts';
import type { EcgReader, ReadOptions } from './types.ts';

export const CPSC_LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const;
export const CPSC_SAMPLING_RATE_HZ = 500;

function field(rec: Record<string, MatValue> | undefined, name: string): MatValue | undefined {
  if (!rec) return undefined;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : rec[key];
}

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
    const raw: RawRecord = {
      name: stem(main.name),
      format: 'cpsc-mat',
      samplingRateHz: options.samplingRateHz ?? CPSC_SAMPLING_RATE_HZ,
      channels,
      warnings: [],
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
