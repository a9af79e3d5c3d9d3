/**
 * Hostile uploads through `readEcg`, one row per category of the "ECG input" issue, each checked for its stable
 * error code AND for bounded time and memory — the per-reader suites check the codes (and some times) but none
 * measures memory, and deep nesting and entity bombs are tested only on the XML parser, not through readEcg.
 * Every hostile upload is built from a real fixture of ../shared/data/ecg (or is plain generated text/zeros),
 * allocated before the measurement starts. Heap growth is heapUsed + arrayBuffers after the call minus a baseline
 * taken after full GCs (switched on with --expose-gc at run time), so it counts everything the call allocated that
 * no GC has yet collected; bounds are generous (tens of MB) next to the gigabytes the headers claim.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { ecgDir } from '../../helpers/paths.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapBytes = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
const MB = 1024 * 1024;

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const text = (name: string, s: string): InputFile => ({ name, bytes: new TextEncoder().encode(s) });
const LUDB = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
const CPSC = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';
const CONTEC = 'other_formats/scp_edf_csv_ecg-contec';

const ludbHea = new TextDecoder().decode(load(`${LUDB}/1.hea`).bytes);
const ludbDat = load(`${LUDB}/1.dat`);
const heaLines = ludbHea.split('\n');
/** LUDB record 1 with its record line's field `index` replaced. */
const ludbWithRecordField = (index: number, value: string) => {
  const fields = heaLines[0].split(' ');
  fields[index] = value;
  return text('1.hea', [fields.join(' '), ...heaLines.slice(1)].join('\n'));
};
const patched = (file: InputFile, at: number, bytes: Uint8Array | number[]): InputFile => {
  const out = file.bytes.slice();
  out.set(bytes, at);
  return { name: file.name, bytes: out };
};
const ascii = (s: string) => new TextEncoder().encode(s);

const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
const csvWith = (cell: string) => `time,${LEADS.join(',')}\n${Array.from({ length: 1000 }, (_, i) => [i / 500, ...LEADS.map(() => (i === 500 ? cell : String(Math.sin(i / 20))))].join(',')).join('\n')}`;
let entities = '<!ENTITY lol0 "lol">';
for (let k = 1; k <= 9; k++) entities += `<!ENTITY lol${k} "${`&lol${k - 1};`.repeat(10)}">`;

/** Central-directory "uncompressed size" of every entry (APPNOTE 4.3.12, offset 24), and the local header's (offset 22). */
function claimUncompressed(zip: Uint8Array, size: number): Uint8Array {
  const out = zip.slice();
  const v = new DataView(out.buffer);
  let eocd = out.length - 22;
  while (v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  let p = v.getUint32(eocd + 16, true);
  for (let i = 0; i < v.getUint16(eocd + 10, true); i++) {
    v.setUint32(p + 24, size, true);
    v.setUint32(v.getUint32(p + 42, true) + 22, size, true);
    p += 46 + v.getUint16(p + 28, true) + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}
const zeroBomb = zipSync({ 'bomb.csv': new Uint8Array(32 * MB) }, { level: 9 });

interface Row {
  category: string;
  upload: () => InputFile[];
  code: string;
  maxMs: number;
  maxHeapMb: number;
}

const ROWS: Row[] = [
  { category: 'a truncated signal file (LUDB 1.dat cut in half)', upload: () => [text('1.hea', ludbHea), { name: '1.dat', bytes: ludbDat.bytes.slice(0, ludbDat.bytes.length >> 1) }], code: 'truncated_signal', maxMs: 1000, maxHeapMb: 48 },
  { category: 'a truncated XML file (GE MUSE cut at 60 %)', upload: () => { const f = load('other_formats/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml'); return [{ name: f.name, bytes: f.bytes.slice(0, Math.floor(f.bytes.length * 0.6)) }]; }, code: 'xml_invalid', maxMs: 1000, maxHeapMb: 48 },
  { category: 'wrong magic (DICOM "DICM" → "DICX")', upload: () => [patched(load('other_formats/dicom_pydicom/waveform_ecg.dcm'), 131, [0x58])], code: 'unsupported_format', maxMs: 500, maxHeapMb: 16 },
  { category: 'a WFDB header claiming 2·10^9 samples per signal', upload: () => [ludbWithRecordField(3, '2000000000'), ludbDat], code: 'record_too_long', maxMs: 500, maxHeapMb: 16 },
  { category: 'a WFDB header claiming 10^12 samples per signal', upload: () => [ludbWithRecordField(3, '1000000000000'), ludbDat], code: 'record_too_long', maxMs: 500, maxHeapMb: 16 },
  { category: 'an EDF header claiming 99 999 999 data records', upload: () => [patched(load(`${CONTEC}/tools/0000050.ECG.edf`), 236, ascii('99999999'))], code: 'record_too_long', maxMs: 500, maxHeapMb: 16 },
  { category: 'a CinC MAT v4 header claiming 2^31−1 columns', upload: () => [load(`${CPSC}/A0001.hea`), (() => { const m = load(`${CPSC}/A0001.mat`); new DataView(m.bytes.buffer).setInt32(8, 0x7fffffff, true); return m; })()], code: 'record_too_long', maxMs: 500, maxHeapMb: 16 },
  { category: 'NaN samples in a CSV', upload: () => [text('nan.csv', csvWith('NaN'))], code: 'signal_invalid', maxMs: 1000, maxHeapMb: 32 },
  { category: 'Infinity samples in a CSV', upload: () => [text('inf.csv', csvWith('-Infinity'))], code: 'signal_invalid', maxMs: 1000, maxHeapMb: 32 },
  { category: 'a WFDB record with zero signals', upload: () => [text('1.hea', `${heaLines[0].replace(/^1 12 /u, '1 0 ')}\n`)], code: 'lead_missing', maxMs: 500, maxHeapMb: 16 },
  { category: 'a WFDB record with one lead (II)', upload: () => [text('1.hea', `${heaLines[0].replace(/^1 12 /u, '1 1 ')}\n${heaLines[2]}\n`), ludbDat], code: 'lead_missing', maxMs: 1000, maxHeapMb: 32 },
  { category: 'a 100 MB upload', upload: () => [{ name: 'huge.csv', bytes: new Uint8Array(100 * MB) }], code: 'file_too_large', maxMs: 200, maxHeapMb: 8 },
  { category: '100 000-deep nested XML under a GE MUSE root', upload: () => [text('deep.xml', `<?xml version="1.0"?><RestingECG>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</RestingECG>`)], code: 'xml_invalid', maxMs: 1000, maxHeapMb: 32 },
  { category: 'a billion-laughs entity bomb under a GE MUSE root', upload: () => [text('lol.xml', `<?xml version="1.0"?><!DOCTYPE RestingECG [${entities}]><RestingECG>&lol9;</RestingECG>`)], code: 'unsupported_format', maxMs: 500, maxHeapMb: 16 },
  { category: 'a zip declaring 4 GB (refused from its central directory)', upload: () => [{ name: 'claim.zip', bytes: claimUncompressed(zipSync({ 'Example.scp': load(`${CONTEC}/examples/Example.scp`).bytes }), 0xfffffff0) }], code: 'archive_too_large', maxMs: 500, maxHeapMb: 16 },
  { category: 'a zip bomb lying about its size (32 MB of zeros claimed as 1 kB)', upload: () => [{ name: 'lie.zip', bytes: claimUncompressed(zeroBomb, 1000) }], code: 'archive_too_large', maxMs: 1000, maxHeapMb: 16 },
];

async function measure(files: InputFile[]): Promise<{ code: string; ms: number; heapMb: number }> {
  // GC, let freed ArrayBuffer backing stores go, GC again: a baseline without earlier rows' garbage.
  gc();
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const before = heapBytes();
  const started = performance.now();
  let code = 'ok';
  try {
    await readEcg(files);
  } catch (e) {
    code = isLeadlightError(e) ? e.code : `unexpected ${e instanceof Error ? e.name : typeof e}`;
  }
  const ms = performance.now() - started;
  return { code, ms, heapMb: (heapBytes() - before) / MB };
}

describe('hostile uploads through readEcg: stable code, bounded time and memory', () => {
  it.each(ROWS.map((r) => [r.category, r] as const))('refuses %s', async (_category, row) => {
    const files = row.upload(); // allocated before the baseline
    const outcome = await measure(files);
    expect(outcome.code).toBe(row.code);
    expect(outcome.ms).toBeLessThan(row.maxMs);
    expect(outcome.heapMb).toBeLessThan(row.maxHeapMb);
  });

  it('sees a large allocation in its heap measurement (the bounds above are not vacuous)', async () => {
    // The honest 32 MB zip inflates fully before its 32 MB of zeros are refused as a CSV: the growth must show it.
    const outcome = await measure([{ name: 'zeros.zip', bytes: zeroBomb }]);
    expect(outcome.code).toMatch(/^(unsupported_format|header_syntax)$/u);
    expect(outcome.heapMb).toBeGreaterThan(24);
  });
});
