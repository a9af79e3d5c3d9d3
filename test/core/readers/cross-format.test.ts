/**
 * Cross-format agreement: 0000050.ECG.{edf,scp,csv} are one Contec ECG90A recording converted by one tool
 * (../shared/data/ecg/INDEX.md). The three readers must agree sample for sample: same rate (800 Hz), the same
 * integer sample codes in every limb lead, the same length (EDF and CSV: 37855; the SCP writer overflowed its
 * 16-bit byte counts and stored the first 32767), and the same empty V1–V6.
 *
 * The files disagree on the gain, and each reader reports what its file states: the EDF header maps ±32767 to
 * ±1000 mV (2000/65535 mV per unit), SCP section 6 says 5000 nV per unit, the CSV states no unit at all (read here
 * as µV, i.e. 1 µV per unit). So agreement is checked on the codes value / (mV per unit), which must be integers
 * and identical; the quantisation step of each file is that file's mV per unit.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InputFile, RawRecord } from '../../../functions/core/record.ts';
import { readCsv } from '../../../functions/core/readers/csv.ts';
import { readEdf } from '../../../functions/core/readers/edf.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { readScp } from '../../../functions/core/readers/scp-ecg.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { ecgDir } from '../../helpers/paths.ts';

const dir = join(ecgDir, 'other_formats/scp_edf_csv_ecg-contec/tools');
const load = (name: string): InputFile => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) });
const edfFile = load('0000050.ECG.edf');
const scpFile = load('0000050.ECG.scp');
const csvFile = load('0000050.ECG.csv');

const LIMB = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF'];
/** mV per integer unit and the mV of code 0, as each file's header states. */
const EDF_MV_PER_UNIT = 2000 / 65535;
const EDF_ZERO_MV = -1000 + 32768 * EDF_MV_PER_UNIT;
const SCP_MV_PER_UNIT = 5000e-6;
const CSV_MV_PER_UNIT = 1e-3;

function codes(raw: RawRecord, lead: string, mvPerUnit: number, zeroMv = 0): Int32Array {
  const channel = raw.channels.find((c) => c.label === lead)!;
  const out = new Int32Array(channel.samplesMv.length);
  let offGrid = 0;
  channel.samplesMv.forEach((mv, n) => {
    const code = (mv - zeroMv) / mvPerUnit;
    offGrid = Math.max(offGrid, Math.abs(code - Math.round(code)));
    out[n] = Math.round(code);
  });
  // every value sits on the file's quantisation grid
  expect(offGrid).toBeLessThan(1e-6);
  return out;
}

describe('0000050.ECG in EDF, SCP-ECG and CSV', () => {
  const edf = readEdf(edfFile, DEFAULT_READ_OPTIONS);
  const scp = readScp(scpFile, DEFAULT_READ_OPTIONS);
  const csv = readCsv(csvFile, { ...DEFAULT_READ_OPTIONS, samplingRateHz: 800, units: 'uV' });

  it('has one sampling rate in all three files (800 Hz)', () => {
    expect([edf.samplingRateHz, scp.samplingRateHz, csv.samplingRateHz]).toEqual([800, 800, 800]);
  });

  it('has the same lead labels in all three files, with V1–V6 empty in each', () => {
    for (const raw of [edf, scp, csv]) {
      expect(raw.channels.map((c) => c.label)).toEqual([...LIMB, ...['V1', 'V2', 'V3', 'V4', 'V5', 'V6'].map((l) => `${l} (empty)`)]);
    }
  });

  it('has identical sample codes in every limb lead (EDF = CSV over 37855 samples, SCP = both over its 32767)', () => {
    for (const lead of LIMB) {
      const e = codes(edf, lead, EDF_MV_PER_UNIT, EDF_ZERO_MV);
      const s = codes(scp, lead, SCP_MV_PER_UNIT);
      const c = codes(csv, lead, CSV_MV_PER_UNIT);
      expect(e.length).toBe(37855);
      expect(c.length).toBe(37855);
      expect(s.length).toBe(32767);
      expect(c).toEqual(e);
      expect(s).toEqual(e.subarray(0, 32767));
    }
  });

  it('is refused by readEcg in every format because V1–V6 are empty, not analysed with flat leads', async () => {
    for (const [file, options] of [[edfFile, {}], [scpFile, {}], [csvFile, { samplingRateHz: 800, units: 'uV' as const }]] as const) {
      await expect(readEcg([file], options)).rejects.toMatchObject({ code: 'lead_missing' });
    }
  });
});
