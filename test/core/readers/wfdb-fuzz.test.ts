/**
 * Seeded fuzzing of the WFDB reader (formats 16, 212 and every binformats format), the CinC 2020 `.mat` variant
 * and the CPSC 2018 MAT v5 reader: a few hundred damaged copies of real records each, run through readEcg (sniff,
 * read, toEcgRecord) and through the reader itself. Every outcome must be a record or a LeadlightError — never
 * another exception — and no case may take long. More cases: FUZZ_BINARY_CASES=1000 (see test/helpers/fuzz-wfdb.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InputFile } from '../../../functions/core/record.ts';
import { cpscMatReader } from '../../../functions/core/readers/cpsc-mat.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { fuzzReader, readerRun } from '../../helpers/fuzz-binary.ts';
import { fuzzCaseCount, fuzzWfdbRecord } from '../../helpers/fuzz-wfdb.ts';
import { ecgDir } from '../../helpers/paths.ts';

const load = (dir: string, ...names: string[]): InputFile[] => names.map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(ecgDir, dir, name))) }));
const sample = 'wfdb-python_sample-data/sample-data';
const records: [string, InputFile[]][] = [
  ['test01_00s (format 16, 4 signals)', load(sample, 'test01_00s.hea', 'test01_00s.dat')],
  ['binformats (formats 8 … 32, 10 files)', load(sample, 'binformats.hea', ...Array.from({ length: 10 }, (_, k) => `binformats.d${k}`))],
  ['A0001 (CinC 2020, MAT v4 "val")', load('cpsc2018_physionet2020_python-classifier-2020/input_directory', 'A0001.hea', 'A0001.mat')],
  ['LUDB 1 (1716(6)/mV)', load('ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data', '1.hea', '1.dat')],
];
const cases = fuzzCaseCount(300);
// Smaller limits make "too large" paths reachable with small files and keep every case cheap.
const options = { ...DEFAULT_READ_OPTIONS, maxSamplesPerChannel: 200_000, maxDecodedBytes: 32 * 1024 * 1024 };

describe('seeded fuzzing of WFDB records', () => {
  it.each(records)(`ends every one of ${cases} damaged copies of %s in a record or a LeadlightError`, async (_name, files) => {
    const viaRegistry = await fuzzWfdbRecord(files, cases, 1000, (f) => readEcg(f, options));
    expect(viaRegistry.crashes).toEqual([]);
    const viaReader = await fuzzWfdbRecord(files, cases, 50_000, async (f) => {
      const main = f.find((x) => wfdbReader.sniff(x));
      if (!main) return undefined;
      return wfdbReader.read(main, f, options);
    });
    expect(viaReader.crashes).toEqual([]);
    expect(Math.max(viaRegistry.slowestMs, viaReader.slowestMs)).toBeLessThan(2000);
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(viaRegistry.records + viaReader.records).toBeGreaterThan(0);
    expect(Object.keys(viaRegistry.errorsByCode).length).toBeGreaterThan(1);
  });
});

describe('seeded fuzzing of CPSC 2018 MAT v5 files', () => {
  it(`ends every one of ${cases} damaged copies of the original A1980.mat (miCOMPRESSED) in a record or a LeadlightError`, async () => {
    const [file] = load('torch_ecg_sample-data/sample-data/cpsc2018', 'A1980.mat');
    const summary = await fuzzReader(file, cases, 7, readerRun(cpscMatReader, options));
    expect(summary.crashes).toEqual([]);
    expect(summary.slowestMs).toBeLessThan(2000);
    expect(summary.records).toBeGreaterThan(0);
  });

  it(`ends every one of ${cases} damaged copies of a CinC MAT v4 file read alone in a record or a LeadlightError`, async () => {
    const [file] = load('cpsc2018_physionet2020_python-classifier-2020/input_directory', 'A0001.mat');
    const summary = await fuzzReader(file, cases, 11, (f) => readEcg([f], options));
    expect(summary.crashes).toEqual([]);
    // Alone, a CinC .mat never yields a record: it is refused, mostly with a request for its header.
    expect(summary.records).toBe(0);
    expect(summary.errorsByCode.record_incomplete).toBeGreaterThan(cases / 2);
  });
});
