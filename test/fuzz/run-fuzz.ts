/**
 * The long seeded fuzz run of the ECG readers (not part of `npm test`):
 *   node test/fuzz/run-fuzz.ts [--cases 1000] [--seed N] [--format all|wfdb|cinc|cpsc|ge-muse|philips|hl7|dicom|scp|edf|csv|zip]
 *                              [--first K] [--max-ms 2000] [--max-retained-mb 64]
 * Each case is a damaged copy of a real fixture from ../shared/data/ecg, made by the suite's own mutators
 * (test/helpers/fuzz-binary.ts, fuzz-xml.ts, fuzz-wfdb.ts), seeded with `seed + k` so case k is reproduced by
 * `--seed N --first k --cases 1`. Every case goes through `readEcg` (sniff → read → toEcgRecord, with the
 * production limits) and, for every format but zip, also through the format's reader directly (`sniff` → `read`),
 * as the suite's fuzz tests do. Every outcome must be a record or a LeadlightError.
 *
 * Prints, per format and path: cases, records, LeadlightErrors by code, unexpected exceptions, the slowest case
 * (ms), the peak heap growth during a case over the row's baseline (heapUsed + arrayBuffers, MB) and what is still
 * retained after a full GC. Exits 1 on any unexpected exception, any case slower than --max-ms, or retained growth
 * above --max-retained-mb. A case that never returns (a hang) stalls the run; the last line printed names it.
 *
 * `--http [--url http://127.0.0.1:8787] [--cases 1000]`: the same fixtures (and multipart faults) as uploads to a
 * running `npm start` instead — see `runHttp`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { zipSync } from 'fflate';
import { isLeadlightError } from '../../functions/core/errors.ts';
import type { InputFile } from '../../functions/core/record.ts';
import { cpscMatReader } from '../../functions/core/readers/cpsc-mat.ts';
import { csvReader } from '../../functions/core/readers/csv.ts';
import { dicomReader } from '../../functions/core/readers/dicom.ts';
import { edfReader } from '../../functions/core/readers/edf.ts';
import { geMuseXmlReader } from '../../functions/core/readers/ge-muse-xml.ts';
import { hl7AecgReader } from '../../functions/core/readers/hl7-aecg.ts';
import { philipsXmlReader } from '../../functions/core/readers/philips-xml.ts';
import { type ReadEcgOptions, readEcg } from '../../functions/core/readers/registry.ts';
import { scpReader } from '../../functions/core/readers/scp-ecg.ts';
import { DEFAULT_READ_OPTIONS, type EcgReader, type ReadOptions } from '../../functions/core/readers/types.ts';
import { wfdbReader } from '../../functions/core/readers/wfdb.ts';
import { mutateBytes } from '../helpers/fuzz-binary.ts';
import { mutateWfdbRecord } from '../helpers/fuzz-wfdb.ts';
import { mutateXmlBytes } from '../helpers/fuzz-xml.ts';
import { ecgDir } from '../helpers/paths.ts';
import { httpFuzzCase } from '../helpers/fuzz-http.ts';
import { seededRandom } from '../helpers/random.ts';

type Mutator = (files: InputFile[], random: () => number) => InputFile[];

/** A format under fuzz: its real fixtures (one upload each, used in turn), how they are damaged, how they are read. */
interface FormatPlan {
  id: string;
  fixtures: InputFile[][];
  mutate: Mutator;
  /** The reader run directly (sniff → read); none for zip, which only readEcg expands. */
  reader?: EcgReader;
  /** Options as the suite passes them (CSV without a time column needs a rate). */
  options?: Partial<ReadOptions>;
}

const binary: Mutator = (files, random) => [{ name: files[0].name, bytes: mutateBytes(files[0].bytes, random) }];
const xml: Mutator = (files, random) => [{ name: files[0].name, bytes: mutateXmlBytes(files[0].bytes, random) }];
const wfdb: Mutator = (files, random) => mutateWfdbRecord(files, random);

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const loadAll = (dir: string, ...names: string[]) => names.map((n) => load(`${dir}/${n}`));
const zipOf = (files: InputFile[]): InputFile[] => [{ name: 'upload.zip', bytes: zipSync(Object.fromEntries(files.map((f) => [f.name, f.bytes])), { level: 6 }) }];

const SAMPLE = 'wfdb-python_sample-data/sample-data';
const LUDB = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
const CPSC = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';
const OTHER = 'other_formats';
const PHILIPS = `${OTHER}/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures`;
const CONTEC = `${OTHER}/scp_edf_csv_ecg-contec`;

function plans(): FormatPlan[] {
  return [
    {
      id: 'wfdb',
      fixtures: [
        loadAll(LUDB, '1.hea', '1.dat'),
        loadAll(SAMPLE, 'test01_00s.hea', 'test01_00s.dat'),
        loadAll(SAMPLE, '100.hea', '100.dat'),
        loadAll(SAMPLE, 'binformats.hea', ...Array.from({ length: 10 }, (_, k) => `binformats.d${k}`)),
      ],
      mutate: wfdb,
      reader: wfdbReader,
    },
    { id: 'cinc', fixtures: [loadAll(CPSC, 'A0001.hea', 'A0001.mat'), loadAll('cinc2020_seb-good_data_pred/data_pred', 'HR00001.hea', 'HR00001.mat')], mutate: wfdb, reader: wfdbReader },
    { id: 'cpsc', fixtures: [[load('torch_ecg_sample-data/sample-data/cpsc2018/A1980.mat')], [load(`${CPSC}/A0001.mat`)]], mutate: binary, reader: cpscMatReader },
    { id: 'ge-muse', fixtures: [[load(`${OTHER}/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml`)], [load(`${OTHER}/ge_muse_xml_BRAVEHEART/Example ECGs/example2.xml`)]], mutate: xml, reader: geMuseXmlReader },
    { id: 'philips', fixtures: [[load(`${PHILIPS}/1_03/129DYPRG.XML`)], [load(`${PHILIPS}/1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml`)]], mutate: xml, reader: philipsXmlReader },
    { id: 'hl7', fixtures: [[load(`${OTHER}/hl7_aecg_FDA-aecg-python/Example aECG.xml`)]], mutate: xml, reader: hl7AecgReader },
    { id: 'dicom', fixtures: [[load(`${OTHER}/dicom_pydicom/waveform_ecg.dcm`)]], mutate: binary, reader: dicomReader },
    { id: 'scp', fixtures: [[load(`${CONTEC}/examples/Example.scp`)], [load(`${CONTEC}/tools/0000050.ECG.scp`)]], mutate: binary, reader: scpReader },
    { id: 'edf', fixtures: [[load(`${CONTEC}/tools/0000050.ECG.edf`)]], mutate: binary, reader: edfReader },
    { id: 'csv', fixtures: [[load(`${OTHER}/csv_12lead_DenisMot/data/ECG_12L.csv`)], [load(`${CONTEC}/tools/0000050.ECG.csv`)]], mutate: binary, reader: csvReader, options: { samplingRateHz: 500 } },
    {
      id: 'zip',
      fixtures: [zipOf([load(`${CONTEC}/examples/Example.scp`)]), zipOf(loadAll(LUDB, '1.hea', '1.dat')), zipOf(loadAll(CPSC, 'A0001.hea', 'A0001.mat'))],
      mutate: binary,
    },
  ];
}

interface Row {
  format: string;
  path: 'readEcg' | 'reader.read';
  cases: number;
  records: number;
  errors: Record<string, number>;
  unexpected: string[];
  slowestMs: number;
  slowestCase: number;
  peakMb: number;
  retainedMb: number;
}

/** A full GC: `--expose-gc` switched on at run time, the `gc` function taken from a fresh context. */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
const heapBytes = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const MB = 1024 * 1024;
/** GC, let freed ArrayBuffer backing stores be released, GC again: a stable reading of what is really retained. */
async function settle(): Promise<void> {
  gc();
  await new Promise((r) => setTimeout(r, 20));
  gc();
}

async function runRow(plan: FormatPlan, path: Row['path'], cases: number, first: number, seed: number): Promise<Row> {
  const row: Row = { format: plan.id, path, cases, records: 0, errors: {}, unexpected: [], slowestMs: 0, slowestCase: -1, peakMb: 0, retainedMb: 0 };
  const options: ReadOptions = { ...DEFAULT_READ_OPTIONS, ...plan.options };
  const readEcgOptions: ReadEcgOptions = { ...plan.options };
  await settle();
  const baseline = heapBytes();
  let peak = 0;
  for (let k = first; k < first + cases; k++) {
    const fixture = plan.fixtures[k % plan.fixtures.length];
    const files = plan.mutate(fixture, seededRandom(seed + k));
    const started = performance.now();
    try {
      if (path === 'readEcg') {
        await readEcg(files, readEcgOptions);
        row.records++;
      } else {
        const main = files.find((f) => plan.reader!.sniff(f));
        if (!main) row.errors.unsupported_format = (row.errors.unsupported_format ?? 0) + 1;
        else {
          await plan.reader!.read(main, files, options);
          row.records++;
        }
      }
    } catch (e) {
      if (isLeadlightError(e)) row.errors[e.code] = (row.errors[e.code] ?? 0) + 1;
      else row.unexpected.push(`--format ${plan.id} --seed ${seed} --first ${k} --cases 1 (${path}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    const ms = performance.now() - started;
    if (ms > row.slowestMs) {
      row.slowestMs = ms;
      row.slowestCase = k;
    }
    peak = Math.max(peak, heapBytes() - baseline);
    if ((k - first) % 250 === 249) gc(); // keep garbage of earlier cases from counting as this case's growth
  }
  await settle();
  row.peakMb = peak / MB;
  row.retainedMb = (heapBytes() - baseline) / MB;
  return row;
}

/**
 * `--http`: `cases` damaged uploads (test/helpers/fuzz-http.ts: the readers' mutations of every format's fixtures and
 * multipart faults) sent to a running `npm start` at `url`, each from its own local address (the upload limiter
 * counts per address); then a clean upload. Exits 1 on any 5xx, any refusal without the API's error body, or a
 * clean upload that is not stored.
 */
async function runHttp(url: string, cases: number, seed: number, formats: FormatPlan[]): Promise<number> {
  const fixtures = formats.flatMap((p) => p.fixtures);
  const statuses = new Map<number, number>();
  const kinds = new Map<string, number>();
  let bad = 0;
  const t0 = performance.now();
  for (let k = 0; k < cases; k++) {
    const fuzz = httpFuzzCase(fixtures, seededRandom(seed + k));
    kinds.set(fuzz.kind, (kinds.get(fuzz.kind) ?? 0) + 1);
    let status = 0;
    let text = '';
    try {
      const response = await fetch(`${url}/api/records${fuzz.query}`, {
        method: 'POST',
        body: fuzz.body as Uint8Array<ArrayBuffer>,
        headers: { 'content-type': fuzz.contentType, 'cf-connecting-ip': `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}` },
      });
      status = response.status;
      text = await response.text();
    } catch (e) {
      console.error(`case ${k} (${fuzz.kind}): no answer (${e instanceof Error ? e.message : String(e)}); is npm start running at ${url}?`);
      return 1;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    let ok = status < 500;
    if (ok && status >= 400) {
      try {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        ok = Boolean(body.error?.code && body.error.message);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      bad++;
      console.error(`case ${k} (${fuzz.kind}; reproduce with --seed ${seed + k} --cases 1): ${status} ${text.slice(0, 300)}`);
    }
  }
  const form = new FormData();
  for (const name of ['A0001.hea', 'A0001.mat']) form.append('file', new Blob([readFileSync(join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory', name))]), name);
  form.append('method', 'gradient');
  const clean = await fetch(`${url}/api/records`, { method: 'POST', body: form, headers: { 'cf-connecting-ip': '10.255.255.254' } });
  console.log(`http fuzz: ${cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s against ${url}`);
  console.log(`  statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s2, n]) => `${s2} × ${n}`).join(', ')}`);
  console.log(`  kinds: ${[...kinds].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${n}`).join('; ')}`);
  console.log(`  answers ≥ 500 or without the error body: ${bad}; a clean upload afterwards: ${clean.status}`);
  return bad === 0 && clean.status === 201 ? 0 : 1;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '20261123' },
      format: { type: 'string', default: 'all' },
      first: { type: 'string', default: '0' },
      'max-ms': { type: 'string', default: '2000' },
      'max-retained-mb': { type: 'string', default: '64' },
      http: { type: 'boolean', default: false },
      url: { type: 'string', default: 'http://127.0.0.1:8787' },
    },
  });
  if (values.http) return runHttp(values.url!.replace(/\/$/u, ''), Number(values.cases), Number(values.seed), plans());
  const cases = Number(values.cases);
  const seed = Number(values.seed);
  const first = Number(values.first);
  const maxMs = Number(values['max-ms']);
  const maxRetainedMb = Number(values['max-retained-mb']);
  if (![cases, seed, first, maxMs, maxRetainedMb].every(Number.isFinite) || cases < 1) {
    console.error('usage: node test/fuzz/run-fuzz.ts [--cases 1000] [--seed N] [--format all|wfdb|…] [--first K] [--max-ms 2000] [--max-retained-mb 64]');
    return 2;
  }
  const all = plans();
  const selected = values.format === 'all' ? all : all.filter((p) => p.id === values.format);
  if (selected.length === 0) {
    console.error(`unknown --format ${values.format}; one of all, ${all.map((p) => p.id).join(', ')}`);
    return 2;
  }
  console.log(`fuzzing ${selected.map((p) => p.id).join(', ')}: ${cases} cases each from case ${first}, seed ${seed}, bounds ${maxMs} ms per case, ${maxRetainedMb} MB retained`);
  const header = ['format', 'path', 'cases', 'records', 'unexpected', 'errors by code', 'slowest ms', 'peak MB', 'retained MB'];
  const rows: Row[] = [];
  const lines: string[] = [];
  for (const plan of selected) {
    for (const path of plan.reader ? (['readEcg', 'reader.read'] as const) : (['readEcg'] as const)) {
      const row = await runRow(plan, path, cases, first, seed);
      rows.push(row);
      const errors = Object.entries(row.errors).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
      const cells = [row.format, row.path, String(row.cases), String(row.records), String(row.unexpected.length), errors, `${row.slowestMs.toFixed(0)} (#${row.slowestCase})`, row.peakMb.toFixed(1), row.retainedMb.toFixed(1)];
      lines.push(cells.join(' | '));
      console.log(`  ${row.format} ${row.path}: done`);
    }
  }
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const line of lines) console.log(`| ${line} |`);
  let failed = false;
  for (const row of rows) {
    for (const u of row.unexpected) {
      failed = true;
      console.error(`UNEXPECTED ${u}`);
    }
    if (row.slowestMs > maxMs) {
      failed = true;
      console.error(`SLOW ${row.format} ${row.path}: case ${row.slowestCase} took ${row.slowestMs.toFixed(0)} ms (bound ${maxMs} ms); rerun with --format ${row.format} --seed ${seed} --first ${row.slowestCase} --cases 1`);
    }
    if (row.retainedMb > maxRetainedMb) {
      failed = true;
      console.error(`RETAINED ${row.format} ${row.path}: ${row.retainedMb.toFixed(1)} MB still held after GC (bound ${maxRetainedMb} MB)`);
    }
  }
  const total = rows.reduce((s, r) => s + r.cases, 0);
  console.log(`\n${total} runs, ${rows.reduce((s, r) => s + r.unexpected.length, 0)} unexpected exceptions: ${failed ? 'FAILED' : 'ok'}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
