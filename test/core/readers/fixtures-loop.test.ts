/**
 * Every WFDB / CinC record in ../shared/data/ecg (each `labels.csv` row with a `.hea`, plus any other `.hea` in
 * the data folder) read through the WFDB reader: sampling rate, samples and lead labels as the index states, the
 * first sample equal to the header's initial value and the 16-bit checksum agreeing with the header (INDEX.md
 * "Integrity checks done": verified there with numpy/scipy for all 464 signal sets). Plus the documented
 * cross-format identity S0001 == round(s0010_re / 2), LUDB's `gain(baseline)/mV` and CPSC 2021's float gains
 * against values computed independently with numpy (test/fixtures/readers/wfdb-expected.json).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InputFile } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { readWfdbDigital, wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { ecgDir } from '../../helpers/paths.ts';
import expected from '../../fixtures/readers/wfdb-expected.json' with { type: 'json' };

/** Minimal RFC 4180 CSV parser (quoted fields with commas and doubled quotes). */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  const [head, ...body] = rows;
  return body.filter((r) => r.length === head.length).map((r) => Object.fromEntries(head.map((h, k) => [h, r[k]])));
}

const load = (path: string): InputFile => ({ name: basename(path), bytes: new Uint8Array(readFileSync(path)) });

interface Case { record: string; dir: string; files: string[]; fs?: number; samples?: number; leads?: string[] }

const rows = parseCsv(readFileSync(join(ecgDir, 'labels.csv'), 'utf8'));
const cases: Case[] = rows
  .filter((r) => r.files.split(';').some((f) => f.endsWith('.hea')))
  .map((r) => {
    const files = r.files.split(';').map((f) => join(ecgDir, f));
    return { record: `${r.source}/${r.record}`, dir: dirname(files[0]), files, fs: Number(r.fs), samples: Number(r.n_samples), leads: r.leads.split(' ') };
  });

/** Every .hea below the data folder that labels.csv does not list (read with all files of its folder). */
function allHeaders(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) allHeaders(p, out);
    else if (name.endsWith('.hea')) out.push(p);
  }
  return out;
}
const listed = new Set(cases.flatMap((c) => c.files.filter((f) => f.endsWith('.hea'))));
for (const hea of allHeaders(ecgDir)) {
  if (listed.has(hea)) continue;
  const dir = dirname(hea);
  const stem = basename(hea, '.hea');
  const files = readdirSync(dir).filter((n) => n.startsWith(`${stem}.`)).map((n) => join(dir, n));
  cases.push({ record: relative(ecgDir, hea), dir, files });
}

describe('every WFDB and CinC record of the shared data', () => {
  it('has the records INDEX.md lists (335 labelled WFDB/CinC records)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(335);
  });

  it.each(cases.map((c) => [c.record, c] as const))('reads %s with the stated rate, length, leads, initial values and checksums', async (_name, c) => {
    const files = c.files.map(load);
    const header = files.find((f) => f.name.endsWith('.hea'))!;
    const rec = readWfdbDigital(header.bytes, files, DEFAULT_READ_OPTIONS);
    if (c.fs !== undefined) expect(rec.header.samplingRateHz).toBe(c.fs);
    if (c.samples !== undefined) expect(rec.frames).toBe(c.samples);
    if (c.leads) {
      const labels = rec.signals.map((s) => s.spec.description);
      // binformats labels its signals by format ("sig 0, fmt 8"); labels.csv lists the formats.
      if (c.record.endsWith('/binformats')) expect(rec.signals.map((s) => String(s.spec.format))).toEqual(c.leads);
      // MACECGDB's test01_00s writes "ECG 1".."ECG 4"; labels.csv lists them as 1..4.
      else expect(labels.map((l) => l.replace(/^ECG /u, ''))).toEqual(c.leads);
    }
    for (const s of rec.signals) {
      expect(s.digital.length).toBe(rec.frames * s.spec.samplesPerFrame);
      if (s.spec.format !== 8) expect(s.digital[0]).toBe(s.spec.initialValue);
    }
    expect(rec.warnings.filter((w) => w.code === 'checksum_mismatch' || w.code === 'initial_value_mismatch')).toEqual([]);
    const raw = await wfdbReader.read(header, files, DEFAULT_READ_OPTIONS);
    expect(raw.channels).toHaveLength(rec.signals.length);
    expect(raw.format).toBe('wfdb');
  });

  const twelveLead = cases.filter((c) => c.leads?.length === 12);
  it(`turns each of the ${twelveLead.length} twelve-lead records into a 12-lead EcgRecord through readEcg`, async () => {
    expect(twelveLead.length).toBeGreaterThanOrEqual(300);
    for (const c of twelveLead) {
      const record = await readEcg(c.files.map(load));
      expect(record.format, c.record).toBe('wfdb');
      expect(record.signalsMv).toHaveLength(12);
      expect(record.samples, c.record).toBe(c.samples);
      expect(record.derivedLeads, c.record).toEqual([]);
    }
  });
});

describe('WFDB header variants against independent numpy values', () => {
  const ludbDir = join(ecgDir, 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data');

  it('applies LUDB gains with baselines (1716(6)/mV) as (d − baseline) / gain', async () => {
    const files = ['1.hea', '1.dat'].map((n) => load(join(ludbDir, n)));
    const raw = await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
    expect(raw.channels[0].label).toBe('i');
    expect(raw.ageYears).toBe(51);
    expect(raw.sex).toBe('F');
    raw.channels.forEach((ch, k) => {
      expect(ch.samplesMv.length).toBe(expected.ludb1.samples);
      expected.ludb1.firstFiveMv[k].forEach((v, n) => expect(ch.samplesMv[n]).toBeCloseTo(v, 6));
    });
  });

  it('applies the float gains and large baselines of CPSC 2021 (30061.276794035417(-161790)/mV)', async () => {
    const dir = join(ecgDir, 'torch_ecg_sample-data/sample-data/cpsc2021');
    const files = ['data_101_6.hea', 'data_101_6.dat'].map((n) => load(join(dir, n)));
    const raw = await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
    expect(raw.channels.map((c) => c.label)).toEqual(['I', 'II']);
    expect(raw.channels[0].samplesMv.length).toBe(expected.cpsc2021_101_6.samples);
    raw.channels.forEach((ch, k) => expected.cpsc2021_101_6.firstFiveMv[k].forEach((v, n) => expect(ch.samplesMv[n]).toBeCloseTo(v, 5)));
  });

  it('keeps CinC 2021 "# Dx:" SNOMED codes as labels and reads lower-case "mv" units', async () => {
    const dir = join(ecgDir, 'torch_ecg_sample-data/sample-data/cinc2021');
    const mv = readdirSync(dir).find((n) => n.endsWith('.hea') && /\/mv /u.test(readFileSync(join(dir, n), 'utf8')))!;
    const stem = mv.replace(/\.hea$/u, '');
    const files = [`${stem}.hea`, `${stem}.mat`].map((n) => load(join(dir, n)));
    const raw = await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
    expect(raw.warnings.filter((w) => w.code === 'units_unknown')).toEqual([]);
    const e = ['E07500.hea', 'E07500.mat'].map((n) => load(join(dir, n)));
    const rawE = await wfdbReader.read(e[0], e, DEFAULT_READ_OPTIONS);
    expect(rawE.labels).toEqual(['67741000119109', '426177001']);
    // E07500's header: lead I initial value -68 at gain 1000/mV.
    expect(rawE.channels[0].samplesMv[0]).toBeCloseTo(-0.068, 6);
  });

  it('reads S0001.mat (CinC 2020 copy of PTB s0010_re) as round(s0010_re / 2), within 1 LSB', () => {
    const sDir = join(ecgDir, 'cinc2020_seb-good_data_pred/data_pred');
    const pDir = join(ecgDir, 'wfdb-python_sample-data/sample-data');
    const s = ['S0001.hea', 'S0001.mat'].map((n) => load(join(sDir, n)));
    const p = ['s0010_re.hea', 's0010_re.dat', 's0010_re.xyz'].map((n) => load(join(pDir, n)));
    const cinc = readWfdbDigital(s[0].bytes, s, DEFAULT_READ_OPTIONS);
    const ptb = readWfdbDigital(p[0].bytes, p, DEFAULT_READ_OPTIONS);
    expect(cinc.frames).toBe(ptb.frames);
    let maxDiff = 0;
    for (let k = 0; k < 12; k++) {
      const a = cinc.signals[k].digital;
      const b = ptb.signals[k].digital;
      for (let n = 0; n < a.length; n++) maxDiff = Math.max(maxDiff, Math.abs(2 * a[n] - b[n]));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('reads the CPSC 2018 CinC copy A0001 (MAT v4 "val", format 16+24) with age, sex, Dx and start time', async () => {
    const dir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
    const files = ['A0001.hea', 'A0001.mat'].map((n) => load(join(dir, n)));
    const raw = await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
    expect(raw).toMatchObject({ name: 'A0001', samplingRateHz: 500, ageYears: 74, sex: 'M', labels: ['RBBB'], startTime: '2020-02-05T11:39:16' });
    expect(raw.channels[0].samplesMv.length).toBe(7500);
    expect(raw.channels[0].samplesMv[0]).toBeCloseTo(0.028, 6);
  });
});

describe('choosing the WFDB reader by content', () => {
  function allFiles(dir: string, out: string[] = []): string[] {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) allFiles(p, out);
      else out.push(p);
    }
    return out;
  }

  it('sniffs every .hea and every CinC MAT v4 .mat of the shared data, and no other file', () => {
    const accepted: string[] = [];
    const expectedAccepted: string[] = [];
    for (const path of allFiles(ecgDir)) {
      const bytes = new Uint8Array(readFileSync(path));
      if (wfdbReader.sniff({ name: basename(path), bytes })) accepted.push(relative(ecgDir, path));
      const isCincMat = path.endsWith('.mat') && bytes.length > 24 && new TextDecoder().decode(bytes.subarray(0, 6)) !== 'MATLAB';
      if (path.endsWith('.hea') || isCincMat) expectedAccepted.push(relative(ecgDir, path));
    }
    expect(accepted.sort()).toEqual(expectedAccepted.sort());
    expect(accepted.length).toBeGreaterThanOrEqual(497); // 335 headers + 162 CinC .mat files
  });
});
