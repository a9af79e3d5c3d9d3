/** Loads the real records the signal tests use, through the product's own readers (no Python, no temp files). */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { matVariable, parseMat } from '../../../functions/core/readers/matlab.ts';
import { readWfdbAnnotations, type WfdbAnnotation } from '../../../functions/core/readers/wfdb-annotation.ts';
import type { RawRecord } from '../../../functions/core/record.ts';
import { ecgDir } from '../../helpers/paths.ts';

export const MIT_DIR = join(ecgDir, 'wfdb-python_sample-data/sample-data');
export const LUDB_DIR = join(ecgDir, 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data');
export const CPSC2019_DIR = join(ecgDir, 'torch_ecg_sample-data/sample-data/cpsc2019');
export const LUDB_LEADS = ['i', 'ii', 'iii', 'avr', 'avl', 'avf', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6'] as const;

const file = (path: string) => ({ name: basename(path), bytes: new Uint8Array(readFileSync(path)) });

/** Reads a WFDB record (header + .dat) with the product's WFDB reader. */
export async function readWfdbRecord(dir: string, record: string): Promise<RawRecord> {
  const files = [file(join(dir, `${record}.hea`)), file(join(dir, `${record}.dat`))];
  return wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
}

export function readAnnotations(path: string): WfdbAnnotation[] {
  return readWfdbAnnotations(new Uint8Array(readFileSync(path)));
}

/** LUDB records present in the shared folder (1–150 here; some are withheld on purpose). */
export function ludbRecords(): number[] {
  const out: number[] = [];
  for (let r = 1; r <= 200; r++) if (existsSync(join(LUDB_DIR, `${r}.hea`))) out.push(r);
  return out;
}

export interface AnnotatedWave {
  onset: number;
  peak: number;
  offset: number;
}

/** LUDB waves of one lead: `(` onset, peak symbol (`p`, `N`, `t`), `)` offset. */
export function ludbWaves(record: number, lead: string): Record<'p' | 'N' | 't', AnnotatedWave[]> {
  const a = readAnnotations(join(LUDB_DIR, `${record}.${lead}`));
  const out: Record<'p' | 'N' | 't', AnnotatedWave[]> = { p: [], N: [], t: [] };
  for (let i = 1; i + 1 < a.length; i++) {
    const s = a[i].symbol;
    if ((s === 'p' || s === 'N' || s === 't') && a[i - 1].symbol === '(' && a[i + 1].symbol === ')') {
      out[s].push({ onset: a[i - 1].sample, peak: a[i].sample, offset: a[i + 1].sample });
    }
  }
  return out;
}

/** CPSC 2019 record (MAT v5, variable `ecg`, 500 Hz, mV) and its reference R-peaks (`R_peak`). */
export function readCpsc2019(id: string): { ecg: Float64Array; rPeaks: number[] } {
  const limits = { maxElements: 1_000_000, maxDecodedBytes: 64 * 1024 * 1024 };
  const data = parseMat(new Uint8Array(readFileSync(join(CPSC2019_DIR, 'data', `data_${id}.mat`))), limits);
  const ref = parseMat(new Uint8Array(readFileSync(join(CPSC2019_DIR, 'ref', `R_${id}.mat`))), limits);
  const ecg = matVariable(data, 'ecg');
  const r = matVariable(ref, 'R_peak');
  if (ecg?.kind !== 'numeric' || r?.kind !== 'numeric') throw new Error(`CPSC 2019 record ${id} lacks ecg or R_peak`);
  return { ecg: ecg.data, rPeaks: Array.from(r.data) };
}

/** Sensitivity and positive predictivity from true positives, false negatives and false positives. */
export function sePpv(s: { tp: number; fn: number; fp: number }): { se: number; ppv: number } {
  return { se: s.tp / (s.tp + s.fn), ppv: s.tp / (s.tp + s.fp) };
}

/** One-to-one matching of detections to reference beats within `tol` samples (nearest first, as wfdb compareannotations). */
export function matchBeats(reference: ArrayLike<number>, detected: ArrayLike<number>, tol: number): { tp: number; fn: number; fp: number } {
  const used = new Uint8Array(detected.length);
  let tp = 0;
  let j = 0;
  for (let i = 0; i < reference.length; i++) {
    while (j < detected.length && detected[j] < reference[i] - tol) j++;
    let best = -1;
    for (let k = j; k < detected.length && detected[k] <= reference[i] + tol; k++) {
      if (!used[k] && (best < 0 || Math.abs(detected[k] - reference[i]) < Math.abs(detected[best] - reference[i]))) best = k;
    }
    if (best >= 0) {
      used[best] = 1;
      tp++;
    }
  }
  return { tp, fn: reference.length - tp, fp: detected.length - tp };
}
