/**
 * CSV / TSV reader on the two CSV fixtures (ECG_12L.csv: metadata lines, header row, gain 2048 digit/mV, 500 Hz;
 * 0000050.ECG.csv: headerless, 12 columns with V1–V6 empty), on synthetic tables for delimiters, aliases, time
 * columns, units and metadata, on hostile input and under seeded fuzzing. Expected per-lead values of ECG_12L.csv
 * come from NumPy (test/fixtures/readers-binary/compute_expected.py).
 */
import { codeOf, sumOf } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { csvReader, readCsv } from '../../../functions/core/readers/csv.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS, type ReadOptions } from '../../../functions/core/readers/types.ts';
import expected from '../../fixtures/readers-binary/expected.json' with { type: 'json' };
import { fuzzCaseCount, fuzzReader, readerRun } from '../../helpers/fuzz-binary.ts';
import { ecgDir } from '../../helpers/paths.ts';

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, 'other_formats', path))) });
const denis = load('csv_12lead_DenisMot/data/ECG_12L.csv');
const contec = load('scp_edf_csv_ecg-contec/tools/0000050.ECG.csv');
const opts = DEFAULT_READ_OPTIONS;
const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
const text = (name: string, s: string): InputFile => ({ name, bytes: new TextEncoder().encode(s) });


/** A synthetic 12-lead table: lead k, row n = (k + 1) × sin(2π·n/fs) × amplitude. */
function table(o: { delimiter?: string; header?: string[]; rows?: number; fs?: number; time?: 's' | 'ms' | 'none'; timeHeader?: string; pre?: string[]; amplitude?: number; decimalComma?: boolean } = {}): string {
  const d = o.delimiter ?? ',';
  const fs = o.fs ?? 500;
  const rows = o.rows ?? 1000;
  const header = [...(o.time && o.time !== 'none' ? [o.timeHeader ?? (o.time === 's' ? 'time (s)' : 'time (ms)')] : []), ...(o.header ?? LEADS)];
  const lines = [...(o.pre ?? []), header.join(d)];
  for (let n = 0; n < rows; n++) {
    const cells: string[] = [];
    if (o.time === 's') cells.push((n / fs).toFixed(6));
    if (o.time === 'ms') cells.push(((1000 * n) / fs).toFixed(3));
    for (let k = 0; k < (o.header ?? LEADS).length; k++) cells.push(((k + 1) * Math.sin((2 * Math.PI * n) / fs) * (o.amplitude ?? 0.5)).toFixed(4));
    lines.push((o.decimalComma ? cells.map((c) => c.replace('.', ',')) : cells).join(d));
  }
  return `${lines.join('\n')}\n`;
}

describe('CSV reader on the fixtures', () => {
  it('reads ECG_12L.csv with its metadata lines (500 Hz, 2048 digit/mV) as NumPy does', async () => {
    expect(csvReader.sniff(denis)).toBe(true);
    const exp = expected['ECG_12L.csv'];
    const raw = readCsv(denis, opts);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.warnings).toEqual([]);
    expect(raw.channels.map((c) => c.label)).toEqual(Object.keys(exp.leads));
    for (const channel of raw.channels) {
      const e = exp.leads[channel.label as keyof typeof exp.leads];
      expect(channel.samplesMv.length).toBe(e.samples);
      Array.from(channel.samplesMv.slice(0, 5)).forEach((x, n) => expect(x).toBeCloseTo(e.first5Mv[n], 8));
      expect(sumOf(channel.samplesMv)).toBeCloseTo(e.sumMv, 6);
      expect(Math.max(...channel.samplesMv)).toBeCloseTo(e.maxMv, 8);
    }
    const record = await readEcg([denis]);
    expect(record.format).toBe('csv');
    expect(record.samples).toBe(5000);
  });

  it('reads the headerless 0000050.ECG.csv only with a given rate, in standard lead order, with its empty V columns marked', () => {
    expect(csvReader.sniff(contec)).toBe(true);
    expect(codeOf(() => readCsv(contec, opts))).toBe('sampling_rate_unsupported');
    const raw = readCsv(contec, { ...opts, samplingRateHz: 800, units: 'uV' });
    const exp = expected['0000050.ECG.csv'];
    expect(raw.samplingRateHz).toBe(800);
    expect(raw.channels.map((c) => c.label)).toEqual([...LEADS.slice(0, 6), ...LEADS.slice(6).map((l) => `${l} (empty)`)]);
    expect(raw.channels[0].samplesMv.length).toBe(exp.rows);
    for (let k = 0; k < 6; k++) {
      expect(Math.round(sumOf(raw.channels[k].samplesMv) * 1000)).toBe(exp.rawSums[k]);
      expect(Array.from(raw.channels[k].samplesMv.slice(0, 5)).map((x) => Math.round(x * 1000))).toEqual(exp.rawFirst5.map((row) => row[k]));
    }
    expect(raw.warnings.map((w) => w.code)).toEqual(['lead_order_assumed', 'lead_empty']);
  });
});

describe('CSV reader on synthetic tables', () => {
  const variants: [string, string][] = [
    ['comma-separated with a time column in seconds', table({ time: 's' })],
    ['semicolon-separated with decimal commas and a time column in ms', table({ delimiter: ';', time: 'ms', decimalComma: true })],
    ['tab-separated with a time column in seconds', table({ delimiter: '\t', time: 's', timeHeader: 'Time' })],
    ['whitespace-separated with a unit-less time column', table({ delimiter: '   ', time: 's', timeHeader: 't' })],
  ];
  for (const [what, csv] of variants) {
    it(`reads a ${what}`, () => {
      const raw = readCsv(text('s.csv', csv), opts);
      expect(raw.samplingRateHz).toBe(500);
      expect(raw.channels).toHaveLength(12);
      expect(raw.channels[2].samplesMv[125]).toBeCloseTo(3 * 0.5, 3); // sin(π/2) × 3 × 0.5 mV
    });
  }

  it('maps lead aliases (DI, avr, V1-lead, units in brackets) and reads units from the header', async () => {
    const header = ['DI (uV)', 'DII (uV)', 'DIII (uV)', 'avr (uV)', 'avl (uV)', 'avf (uV)', 'V1-lead', 'V2-lead', 'V3-lead', 'V4-lead', 'V5-lead', 'V6-lead'];
    const record = await readEcg([text('a.csv', table({ header, time: 'ms', amplitude: 500 }))]);
    expect(record.leads).toEqual(LEADS);
    expect(record.signalsMv[0][125]).toBeCloseTo(0.5, 3);
    expect(record.warnings.map((w) => w.code)).not.toContain('units_assumed');
  });

  it('takes the rate from a metadata line, or the samplingRateHz option, and refuses a table stating none', () => {
    const withMeta = table({ pre: ['Patient: nobody', 'Sampling frequency: 0.5 kHz', 'Units: mV'] });
    expect(readCsv(text('m.csv', withMeta), opts).samplingRateHz).toBe(500);
    expect(readCsv(text('m.csv', withMeta), opts).warnings).toEqual([]);
    const bare = table();
    expect(codeOf(() => readCsv(text('b.csv', bare), opts))).toBe('sampling_rate_unsupported');
    expect(readCsv(text('b.csv', bare), { ...opts, samplingRateHz: 250 }).samplingRateHz).toBe(250);
  });

  it('states its unit guess in a warning when the table gives none', () => {
    const cases: [number, ReadOptions['units'], number][] = [
      [0.5, 'mV', 1],
      [500, 'uV', 1e-3],
      [0.0005, 'V', 1e3],
    ];
    for (const [amplitude, unit, factor] of cases) {
      const raw = readCsv(text('u.csv', table({ time: 's', amplitude })), opts);
      const warning = raw.warnings.find((w) => w.code === 'units_assumed');
      expect(warning?.message).toMatch(unit === 'mV' ? /millivolts/u : unit === 'uV' ? /microvolts/u : /volts/u);
      expect(raw.channels[0].samplesMv[125]).toBeCloseTo(amplitude * factor, 3);
      const given = readCsv(text('u.csv', table({ time: 's', amplitude })), { ...opts, units: unit });
      expect(given.warnings.map((w) => w.code)).not.toContain('units_assumed');
    }
  });
});

describe('CSV reader on flat and empty leads', () => {
  it('treats an all-zero lead column as not recorded: III is then derived from I and II, a flat V lead refuses the record', async () => {
    const zeroColumn = (lead: number) =>
      table({ time: 's' })
        .split('\n')
        .map((line, n) => {
          if (n === 0 || line === '') return line;
          const cells = line.split(',');
          cells[lead + 1] = '0';
          return cells.join(',');
        })
        .join('\n');
    const record = await readEcg([text('z3.csv', zeroColumn(2))]);
    expect(record.derivedLeads).toEqual(['III']);
    expect(record.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['lead_empty', 'leads_derived']));
    await expect(readEcg([text('z7.csv', zeroColumn(7))])).rejects.toMatchObject({ code: 'lead_missing', message: expect.stringContaining('V2 (empty)') });
  });
});

describe('CSV reader on hostile input', () => {
  it('refuses NaN, Infinity and junk cells with signal_invalid', () => {
    for (const bad of ['NaN', 'Infinity', '-Infinity', 'abc', '']) {
      const lines = table({ time: 's' }).split('\n');
      const cells = lines[200].split(',');
      cells[3] = bad;
      lines[200] = cells.join(',');
      const file = text('n.csv', lines.join('\n'));
      expect(codeOf(() => readCsv(file, opts))).toBe('signal_invalid');
    }
  });

  it('refuses tables with zero or one lead at the record level, and ragged rows', async () => {
    await expect(readEcg([text('one.csv', table({ header: ['II'], time: 's' }))])).rejects.toMatchObject({ code: expect.stringMatching(/unsupported_format|lead_missing/u) });
    await expect(readEcg([text('two.csv', table({ header: ['I', 'II'], time: 's' }))])).rejects.toMatchObject({ code: 'lead_missing' });
    await expect(readEcg([text('zero.csv', 'a,b,c\n1,2,3\n4,5,6\n')])).rejects.toMatchObject({ code: 'unsupported_format' });
    const ragged = `${table({ time: 's', rows: 20 })}1,2,3\n`;
    expect(codeOf(() => readCsv(text('r.csv', ragged), opts))).toBe('header_syntax');
  });

  it('does not claim XML, JSON, binary files or a WFDB header', () => {
    expect(csvReader.sniff(text('x.xml', '<?xml version="1.0"?><a>I,II,III</a>'))).toBe(false);
    expect(csvReader.sniff(text('x.json', '{"I":[1,2],"II":[3,4]}'))).toBe(false);
    expect(csvReader.sniff({ name: 'b.bin', bytes: new Uint8Array(1000).fill(0) })).toBe(false);
    expect(csvReader.sniff(text('A0001.hea', 'A0001 12 500 7500\nA0001.mat 16+24 1000/mV 16 0 28 -1716 0 I\nA0001.mat 16+24 1000/mV 16 0 7 2029 0 II\n'))).toBe(false);
  });

  it('bounds the rows it accepts', () => {
    expect(codeOf(() => readCsv(text('l.csv', table({ time: 's', rows: 2000 })), { ...opts, maxSamplesPerChannel: 1000 }))).toBe('record_too_long');
  });

  it('turns every one of a few hundred seeded mutations into a record or a LeadlightError', async () => {
    const synthetic = text('s.csv', table({ time: 's', rows: 600 }));
    for (const [file, seed, cases] of [[synthetic, 0xc5f0, 200], [denis, 0xc5f1, 100]] as const) {
      const summary = await fuzzReader(file, fuzzCaseCount(cases), seed, readerRun(csvReader, { samplingRateHz: 500 }));
      expect(summary.crashes).toEqual([]);
      expect(summary.records).toBeGreaterThan(0);
      expect(summary.slowestMs).toBeLessThan(2000);
    }
  });
});
