/**
 * The pure core's readers run unchanged in the browser: esbuild bundles `readEcg` (functions/core/readers/registry.ts
 * with record.ts and every reader) for platform `browser` with a guard that fails the build on any Node built-in,
 * a tiny 127.0.0.1 server hands the bundle and real fixtures of every format to a blank page in Debian's Chromium,
 * and the page's records must equal Node's — format, rate, length, leads, warnings, a checksum of the Float32
 * samples — and its refusals must carry the same codes and messages. (workerd runs the same readers in test/api.)
 */
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { zipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InputFile } from '../../functions/core/record.ts';
import { ecgDir, repoRoot } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';
import { type UploadSummary, summariseUpload } from './reader-summary.ts';

const NODE_BUILTIN = /^(node:.*|assert|buffer|child_process|crypto|dns|events|fs|fs\/promises|http|https|module|net|os|path|perf_hooks|process|stream|string_decoder|timers|tls|url|util|v8|vm|worker_threads|zlib)$/;

/** Fails the build on any import of a Node built-in, so a core module reaching for Node cannot slip through. */
const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: NODE_BUILTIN }, (args) => ({ errors: [{ text: `the pure core must not import the Node built-in "${args.path}" (from ${args.importer})` }] }));
  },
};

/** Bundles `entry` (module source, resolved from the repository root) for the browser as one ES module. */
async function bundleForBrowser(entry: string) {
  return build({
    stdin: { contents: entry, resolveDir: repoRoot, sourcefile: 'browser-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
}

const ENTRY = `import { summariseUpload } from './test/site/reader-summary.ts';\nglobalThis.leadlightReaders = { summariseUpload };\n`;

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const CPSC = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';
const SAMPLE = 'wfdb-python_sample-data/sample-data';
const LUDB = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
const OTHER = 'other_formats';
const PHILIPS = `${OTHER}/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures`;
const CONTEC = `${OTHER}/scp_edf_csv_ecg-contec`;

/** One upload per case; `expect` is what Node gives (a record, or the documented refusal code). */
const CASES: { label: string; files: InputFile[]; expect: 'record' | string }[] = [
  { label: 'WFDB format 16 (.hea + .dat, LUDB 1)', files: [load(`${LUDB}/1.hea`), load(`${LUDB}/1.dat`)], expect: 'record' },
  { label: 'WFDB format 16 with a companion .xyz (PTB s0010_re, 15 signals)', files: [load(`${SAMPLE}/s0010_re.hea`), load(`${SAMPLE}/s0010_re.dat`), load(`${SAMPLE}/s0010_re.xyz`)], expect: 'record' },
  { label: 'WFDB format 212 with two leads (MIT-BIH 100)', files: [load(`${SAMPLE}/100.hea`), load(`${SAMPLE}/100.dat`)], expect: 'lead_missing' },
  { label: 'CinC 2020 .hea + .mat (CPSC A0001)', files: [load(`${CPSC}/A0001.hea`), load(`${CPSC}/A0001.mat`)], expect: 'record' },
  { label: 'CinC 2020 .hea + .mat (PTB-XL HR00001)', files: [load('cinc2020_seb-good_data_pred/data_pred/HR00001.hea'), load('cinc2020_seb-good_data_pred/data_pred/HR00001.mat')], expect: 'record' },
  { label: 'CinC .mat without its header', files: [load(`${CPSC}/A0002.mat`)], expect: 'record_incomplete' },
  { label: 'CPSC 2018 MAT v5 (A1980, miCOMPRESSED)', files: [load('torch_ecg_sample-data/sample-data/cpsc2018/A1980.mat')], expect: 'record' },
  { label: 'GE MUSE XML (example1)', files: [load(`${OTHER}/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml`)], expect: 'record' },
  { label: 'GE MUSE XML (example2)', files: [load(`${OTHER}/ge_muse_xml_BRAVEHEART/Example ECGs/example2.xml`)], expect: 'record' },
  { label: 'Philips XML 1.03 (129DYPRG, XLI)', files: [load(`${PHILIPS}/1_03/129DYPRG.XML`)], expect: 'record' },
  { label: 'Philips XML 1.04 (3191723)', files: [load(`${PHILIPS}/1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml`)], expect: 'record' },
  { label: 'HL7 aECG (FDA example)', files: [load(`${OTHER}/hl7_aecg_FDA-aecg-python/Example aECG.xml`)], expect: 'record' },
  { label: 'HL7 aECG (minimal schema example, one 13-sample lead)', files: [load(`${OTHER}/hl7_aecg_FDA-aecg-python/src/aecg/data/examples/minimum_aecg.xml`)], expect: 'lead_missing' },
  { label: 'DICOM 12-lead waveform', files: [load(`${OTHER}/dicom_pydicom/waveform_ecg.dcm`)], expect: 'record' },
  { label: 'SCP-ECG (Contec Example.scp)', files: [load(`${CONTEC}/examples/Example.scp`)], expect: 'record' },
  { label: 'SCP-ECG with empty V leads (0000050)', files: [load(`${CONTEC}/tools/0000050.ECG.scp`)], expect: 'lead_missing' },
  { label: 'EDF with empty V leads (0000050, its documented refusal)', files: [load(`${CONTEC}/tools/0000050.ECG.edf`)], expect: 'lead_missing' },
  { label: 'CSV 12-lead (DenisMot)', files: [load(`${OTHER}/csv_12lead_DenisMot/data/ECG_12L.csv`)], expect: 'record' },
  { label: 'CSV without a time column and no rate given (0000050)', files: [load(`${CONTEC}/tools/0000050.ECG.csv`)], expect: 'sampling_rate_unsupported' },
  { label: 'a zip of a CinC record made by the test', files: [{ name: 'A0001.zip', bytes: zipSync({ 'A0001/A0001.hea': load(`${CPSC}/A0001.hea`).bytes, 'A0001/A0001.mat': load(`${CPSC}/A0001.mat`).bytes }) }], expect: 'record' },
  { label: 'a zip of an SCP-ECG file made by the test', files: [{ name: 'scp.zip', bytes: zipSync({ 'Example.scp': load(`${CONTEC}/examples/Example.scp`).bytes }) }], expect: 'record' },
  { label: 'a file that is no ECG (the index text)', files: [load('INDEX.md')], expect: 'unsupported_format' },
];

let server: Server;
let baseUrl = '';
let bundleText = '';
let bundleInputs: string[] = [];
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let inBrowser: UploadSummary[] = [];

beforeAll(async () => {
  const result = await bundleForBrowser(ENTRY);
  bundleText = result.outputFiles[0].text;
  bundleInputs = Object.keys(result.metafile.inputs);
  // /bundle.js, a blank page that loads it, and /case/<k>/<i> = file i of case k.
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const file = /^\/case\/(\d+)\/(\d+)$/u.exec(url);
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><title>readers</title><script type="module" src="/bundle.js"></script>');
    } else if (url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundleText);
    } else if (file && CASES[Number(file[1])]?.files[Number(file[2])]) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(CASES[Number(file[1])].files[Number(file[2])].bytes);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await launchChromium();
  page = await browser.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${baseUrl}/`);
  await page.waitForFunction(() => 'leadlightReaders' in globalThis, undefined, { timeout: 30_000 }).catch(() => {
    throw new Error(`the bundle did not load in Chromium: ${pageErrors.join('; ')}`);
  });
  const uploads = CASES.map((c, k) => c.files.map((f, i) => ({ name: f.name, url: `/case/${k}/${i}` })));
  inBrowser = await page.evaluate(async (all) => {
    const api = (globalThis as unknown as { leadlightReaders: { summariseUpload: (f: { name: string; bytes: Uint8Array }[]) => Promise<UploadSummary> } }).leadlightReaders;
    const out: UploadSummary[] = [];
    for (const files of all) {
      const loaded = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await (await fetch(f.url)).arrayBuffer()) })));
      out.push(await api.summariseUpload(loaded));
    }
    return out;
  }, uploads);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe('the readers bundled for the browser', () => {
  it('bundle from the pure core and fflate only, with no Node built-in and no Node global', () => {
    expect(bundleInputs.filter((p) => !p.startsWith('functions/core/') && !p.startsWith('node_modules/fflate/') && p !== 'test/site/reader-summary.ts' && p !== 'browser-entry.ts')).toEqual([]);
    expect(bundleInputs).toContain('functions/core/readers/registry.ts');
    expect(bundleInputs).toContain('functions/core/record.ts');
    expect(bundleText).not.toMatch(/\b(process|Buffer|require|__dirname)\b/u);
  });

  it('would fail to build if the core imported a Node API', async () => {
    await expect(bundleForBrowser(`import { readFileSync } from 'node:fs';\nimport './functions/core/readers/registry.ts';\nconsole.log(readFileSync);\n`)).rejects.toThrow(/must not import the Node built-in "node:fs"/u);
    await expect(bundleForBrowser(`import * as path from 'path';\nconsole.log(path);\n`)).rejects.toThrow(/must not import the Node built-in "path"/u);
  });

  it.each(CASES.map((c, k) => [c.label, k] as const))('reads %s in Chromium exactly as in Node', async (_label, k) => {
    const node = await summariseUpload(CASES[k].files);
    const browserSummary = inBrowser[k];
    expect(node.kind).not.toBe('crash');
    if (CASES[k].expect === 'record') {
      expect(node.kind).toBe('record');
      if (node.kind === 'record') expect(node.leads).toHaveLength(12);
    } else {
      expect(node).toMatchObject({ kind: 'error', code: CASES[k].expect });
    }
    expect(browserSummary).toEqual(node);
  });

  it('covers every reader in the registry with a record read in the browser, EDF with its refusal', () => {
    const formats = new Set(inBrowser.flatMap((s) => (s.kind === 'record' ? [s.format] : [])));
    // EDF's only real fixture is refused (empty V leads), so EDF is covered by its refusal above; CinC records are `wfdb`.
    expect([...formats].sort()).toEqual(['cpsc-mat', 'csv', 'dicom', 'ge-muse-xml', 'hl7-aecg', 'philips-xml', 'scp-ecg', 'wfdb']);
  });
});
