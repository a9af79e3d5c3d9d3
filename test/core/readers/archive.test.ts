/**
 * ZIP uploads: a zip of a fixture reads exactly as the fixture itself (DICOM, SCP-ECG, CSV, a CinC .hea + .mat
 * pair and a WFDB .hea + .dat pair from LUDB); folders, `__MACOSX` and dot files are ignored; one nested zip is
 * expanded, deeper nesting is refused. Hostile archives (declared and lying zip bombs, too many entries, damaged, encrypted, unknown methods)
 * and oversized uploads yield their stable codes quickly and with bounded memory. Plus seeded fuzzing of a zip.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Zippable, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { EcgRecord, InputFile } from '../../../functions/core/record.ts';
import { expandArchives, isZip } from '../../../functions/core/readers/archive.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { fuzzCaseCount, fuzzReader } from '../../helpers/fuzz-binary.ts';
import { ecgDir } from '../../helpers/paths.ts';

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const LUDB = (name: string) => load(`ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data/${name}`);
const FIXTURES: InputFile[][] = [
  [load('other_formats/dicom_pydicom/waveform_ecg.dcm')],
  [load('other_formats/scp_edf_csv_ecg-contec/examples/Example.scp')],
  [load('other_formats/csv_12lead_DenisMot/data/ECG_12L.csv')],
  [load('cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001.hea'), load('cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001.mat')],
  [LUDB('1.hea'), LUDB('1.dat')],
];
const scp = FIXTURES[1][0];

const zip = (entries: Zippable) => zipSync(entries, { level: 6 });
const zipOf = (files: InputFile[], folder = '') => zip(Object.fromEntries(files.map((f) => [`${folder}${f.name}`, f.bytes])));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof LeadlightError) return e.code;
    throw e;
  }
}

function expectSameRecord(a: EcgRecord, b: EcgRecord) {
  expect({ ...a, signalsMv: [] }).toEqual({ ...b, signalsMv: [] });
  a.signalsMv.forEach((lead, k) => expect(lead).toEqual(b.signalsMv[k]));
}

/** Offsets of the central directory entries of a zip (APPNOTE 4.3.12), for patching fields in tests. */
function centralEntries(bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const out: number[] = [];
  let p = v.getUint32(eocd + 16, true);
  for (let i = 0; i < v.getUint16(eocd + 10, true); i++) {
    out.push(p);
    p += 46 + v.getUint16(p + 28, true) + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}

/** Sets a field of every central entry and of its local header (offsets given for the central header). */
function patch(bytes: Uint8Array, centralField: number, width: 2 | 4, value: number): Uint8Array {
  const b = bytes.slice();
  const v = new DataView(b.buffer);
  const localField = centralField - 4; // local headers lack the 2-byte "version made by" and start 4 bytes earlier
  for (const c of centralEntries(b)) {
    const local = v.getUint32(c + 42, true);
    if (width === 2) {
      v.setUint16(c + centralField, value, true);
      v.setUint16(local + localField + 2, value, true);
    } else {
      v.setUint32(c + centralField, value, true);
      v.setUint32(local + localField + 2, value, true);
    }
  }
  return b;
}
const CENTRAL_FLAGS = 8;
const CENTRAL_METHOD = 10;
const CENTRAL_UNCOMPRESSED = 24;

describe('ZIP uploads', () => {
  for (const files of FIXTURES) {
    it(`reads a zip of ${files.map((f) => f.name).join(' + ')} exactly as the file${files.length > 1 ? 's' : ''} itself`, async () => {
      const direct = await readEcg(files);
      const zipped = await readEcg([{ name: 'upload.zip', bytes: zipOf(files) }]);
      expectSameRecord(zipped, direct);
    });
  }

  it('gives the same refusal for a zipped record as for the record itself (0000050 with empty V leads)', async () => {
    const edf = load('other_formats/scp_edf_csv_ecg-contec/tools/0000050.ECG.edf');
    expect(await codeOf(readEcg([{ name: 'c.zip', bytes: zipOf([edf]) }]))).toBe(await codeOf(readEcg([edf])));
  });

  it('strips folders and ignores directories, __MACOSX and dot files', async () => {
    const bytes = zip({
      'record/': {},
      'record/sub/Example.scp': scp.bytes,
      '__MACOSX/record/._Example.scp': new Uint8Array([0, 5, 22, 7]),
      'record/.DS_Store': new Uint8Array(16),
    });
    const files = expandArchives([{ name: 'r.zip', bytes }], 1e6);
    expect(files.map((f) => f.name)).toEqual(['Example.scp']);
    expectSameRecord(await readEcg([{ name: 'r.zip', bytes }]), await readEcg([scp]));
  });

  it('expands one zip nested in the upload’s zip but refuses deeper nesting quickly', async () => {
    const inner = zipOf([scp]);
    const once = zip({ 'inner.zip': inner });
    expectSameRecord(await readEcg([{ name: 'o.zip', bytes: once }]), await readEcg([scp]));
    let deep = inner;
    for (let level = 0; level < 40; level++) deep = zip({ [`l${level}.zip`]: deep });
    const start = performance.now();
    expect(await codeOf(readEcg([{ name: 'deep.zip', bytes: deep }]))).toBe('archive_invalid');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('recognises zips by their signature, not their name', () => {
    expect(isZip(zipOf([scp]))).toBe(true);
    expect(isZip(scp.bytes)).toBe(false);
  });
});

describe('hostile archives and uploads', () => {
  it('refuses a zip declaring gigabytes before inflating anything (archive_too_large)', async () => {
    const claimed = patch(zipOf([scp, { name: 'b.scp', bytes: scp.bytes }]), CENTRAL_UNCOMPRESSED, 4, 0xfffffff0);
    const start = performance.now();
    expect(await codeOf(readEcg([{ name: 'bomb.zip', bytes: claimed }]))).toBe('archive_too_large');
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('stops inflating a zip bomb that lies about its size (8 MB of zeros claimed as 1 kB) within the budget', async () => {
    const zeros = zip({ 'bomb.csv': new Uint8Array(8 * 1024 * 1024) });
    expect(zeros.length).toBeLessThan(20_000);
    const lying = patch(zeros, CENTRAL_UNCOMPRESSED, 4, 1000);
    const start = performance.now();
    expect(await codeOf(readEcg([{ name: 'lie.zip', bytes: lying }]))).toBe('archive_too_large');
    expect(performance.now() - start).toBeLessThan(1000);
    // claiming 3 MB within a 4 MB budget but inflating to 8 MB: stopped while inflating
    const within = patch(zeros, CENTRAL_UNCOMPRESSED, 4, 3 * 1024 * 1024);
    expect(await codeOf(readEcg([{ name: 'lie3.zip', bytes: within }], { maxDecodedBytes: 4 * 1024 * 1024 }))).toBe('archive_too_large');
    // honest about its size but beyond the decode budget: refused from the central directory
    expect(await codeOf(readEcg([{ name: 'big.zip', bytes: zeros }], { maxDecodedBytes: 4 * 1024 * 1024 }))).toBe('archive_too_large');
  });

  it('refuses archives with too many entries, and uploads expanding to too many files', async () => {
    const many = zip(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}.txt`, new Uint8Array([i & 0xff])])));
    expect(await codeOf(readEcg([{ name: 'many.zip', bytes: many }]))).toBe('archive_too_large');
    const seventy = zip(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`f${i}.txt`, new Uint8Array([i & 0xff])])));
    expect(await codeOf(readEcg([{ name: 'seventy.zip', bytes: seventy }]))).toBe('too_many_files');
  });

  it('refuses damaged, encrypted, empty and unknown-method archives with stable codes', async () => {
    const good = zipOf([scp]);
    expect(await codeOf(readEcg([{ name: 't.zip', bytes: good.slice(0, good.length - 30) }]))).toBe('archive_invalid');
    expect(await codeOf(readEcg([{ name: 't.zip', bytes: good.slice(0, 2000) }]))).toBe('archive_invalid');
    const crc = good.slice();
    crc[100] ^= 0xff; // inside the deflated data
    expect(['archive_invalid']).toContain(await codeOf(readEcg([{ name: 'c.zip', bytes: crc }])));
    expect(await codeOf(readEcg([{ name: 'e.zip', bytes: patch(good, CENTRAL_FLAGS, 2, 1) }]))).toBe('encoding_unsupported');
    expect(await codeOf(readEcg([{ name: 'm.zip', bytes: patch(good, CENTRAL_METHOD, 2, 12) }]))).toBe('encoding_unsupported');
    expect(await codeOf(readEcg([{ name: 'empty.zip', bytes: zip({}) }]))).toBe('archive_invalid');
    const twins = zip({ 'a/Example.scp': scp.bytes, 'b/Example.scp': scp.bytes });
    expect(await codeOf(readEcg([{ name: 'twins.zip', bytes: twins }]))).toBe('archive_invalid');
  });

  it('refuses a 100 MB upload with file_too_large before reading it', async () => {
    const huge: InputFile = { name: 'huge.csv', bytes: new Uint8Array(100 * 1024 * 1024) };
    const start = performance.now();
    expect(await codeOf(readEcg([huge]))).toBe('file_too_large');
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('turns every one of a few hundred seeded mutations of a zip into a record or a LeadlightError', async () => {
    const file: InputFile = { name: 'scp.zip', bytes: zipOf([scp]) };
    const summary = await fuzzReader(file, fuzzCaseCount(200), 0x21b, (f) => readEcg([f]));
    expect(summary.crashes).toEqual([]);
    expect(summary.records).toBeGreaterThan(0);
    expect(summary.slowestMs).toBeLessThan(2000);
  });
});
