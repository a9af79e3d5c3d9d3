/**
 * CSV reader on the quirks of real writers' files, each rebuilt from one known synthetic signal (lead k of I…V6 is
 * a 3 Hz sine of 0.1·(k + 1) mV with phase 0.3·k) written the way that writer writes it: metadata blocks whose
 * other lines carry Hz or bpm values, units per column and per units row, resolution lines over integer counts,
 * PhysioNet rdsamp/ATM, Excel and LabChart exports, clock-time columns, and time columns rounded to milliseconds.
 * Each table must give the rate it was written at, the lead names, and every sample in mV within 1e-6 (or, for
 * counts, the counts × resolution); a refused table must name the line (and column) that stopped it.
 */
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { csvReader, readCsv } from '../../../functions/core/readers/csv.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';

const opts = DEFAULT_READ_OPTIONS;
const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
const LIMB = 6; // I…aVF; V1–V6 follow
const text = (name: string, s: string): InputFile => ({ name, bytes: new TextEncoder().encode(s) });

/** The synthetic signal in mV: lead k, sample n at fs Hz. */
const signalMv = (k: number, n: number, fs: number): number => 0.1 * (k + 1) * Math.sin((2 * Math.PI * 3 * n) / fs + 0.3 * k);

/** `hh:mm:ss.fff` (or `m:ss.fff` without hours, as PhysioNet's ATM writes it) of t seconds after `start` seconds. */
function clock(t: number, start = 0, hours = true): string {
  const ms = Math.round((start + t) * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = ((ms % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return hours ? `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s}` : `${h * 60 + m}:${s}`;
}

interface Writer {
  fs: number;
  rows?: number;
  delimiter?: string;
  /** Lines before the header (metadata). */
  pre?: string[];
  /** Header cells of the 12 leads (default: the lead names). */
  header?: string[];
  /** Header cell of a time column written first (omit for none). */
  timeHeader?: string;
  /** A units row below the header. */
  unitsRow?: string[];
  time?: (n: number, fs: number) => string;
  /** A lead cell: lead k, sample n (default: mV with 6 decimals). */
  cell?: (k: number, n: number, fs: number) => string;
}

/** Writes the synthetic signal as a table the way `w` describes. */
function write(w: Writer): string {
  const d = w.delimiter ?? ',';
  const rows = w.rows ?? 2 * w.fs;
  const cell = w.cell ?? ((k, n, fs) => signalMv(k, n, fs).toFixed(6));
  const header = [...(w.timeHeader !== undefined ? [w.timeHeader] : []), ...(w.header ?? LEADS)];
  const lines = [...(w.pre ?? []), header.join(d), ...(w.unitsRow ? [w.unitsRow.join(d)] : [])];
  for (let n = 0; n < rows; n++) lines.push([...(w.time ? [w.time(n, w.fs)] : []), ...LEADS.map((_, k) => cell(k, n, w.fs))].join(d));
  return `${lines.join('\n')}\n`;
}

const mv = (k: number, n: number, fs: number) => signalMv(k, n, fs).toFixed(6);
const uv = (k: number, n: number, fs: number) => (1000 * signalMv(k, n, fs)).toFixed(3);
/** Limb leads in mV, chest leads in µV. */
const mixed = (k: number, n: number, fs: number) => (k < LIMB ? mv(k, n, fs) : uv(k, n, fs));
const seconds3 = (n: number, fs: number) => (n / fs).toFixed(3);

interface Case {
  what: string;
  file: string;
  fs: number;
  /** Rows written (default: 2 s). */
  rows?: number;
  /** Expected mV of lead k, sample n (default: the signal). */
  expectedMv?: (k: number, n: number, fs: number) => number;
  warnings?: string[];
}

/** Reads `c` and checks its rate, lead names, every sample and its warnings. */
function expectRead(c: Case): void {
  const raw = readCsv(text('q.csv', c.file), opts);
  expect(raw.samplingRateHz).toBe(c.fs);
  expect(raw.channels.map((ch) => ch.label)).toEqual(LEADS);
  const expected = c.expectedMv ?? signalMv;
  let worst = 0;
  raw.channels.forEach((ch, k) => {
    expect(ch.samplesMv.length).toBe(c.rows ?? 2 * c.fs);
    ch.samplesMv.forEach((v, n) => (worst = Math.max(worst, Math.abs(v - expected(k, n, c.fs)))));
  });
  expect(worst).toBeLessThan(1e-6);
  expect(raw.warnings.map((w) => w.code)).toEqual(c.warnings ?? []);
}

function refusal(file: string): LeadlightError {
  try {
    readCsv(text('r.csv', file), opts);
  } catch (e) {
    if (e instanceof LeadlightError) return e;
    throw e;
  }
  throw new Error('the table was read, not refused');
}

describe('CSV quirk 1: only a line that names the sampling rate, frequency or interval sets it', () => {
  // these tables state no units, so the reader says it took them as millivolts
  const cases: Case[] = [
    { what: '"Sampling rate: 500 Hz" followed by "Heart rate: 92 bpm" is 500 Hz', fs: 500, file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Heart rate: 92 bpm'] }) },
    {
      what: '"Sampling frequency: 500 Hz" followed by "High-pass: 0.05 Hz" and "Notch frequency: 50 Hz" is 500 Hz',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling frequency: 500 Hz', 'High-pass: 0.05 Hz', 'Low-pass: 150 Hz', 'Notch frequency: 50 Hz'] }),
    },
    { what: '"Sample interval: 2 ms" is 500 Hz, not 2 Hz', fs: 500, file: write({ fs: 500, pre: ['Heart rate: 92 bpm', 'Sample interval: 2 ms'] }) },
    { what: '"Sampling interval: 0.002 s" is 500 Hz', fs: 500, file: write({ fs: 500, pre: ['Sampling interval: 0.002 s', 'Notch frequency: 60 Hz'] }) },
    { what: '"fs = 250" beside a heart rate is 250 Hz', fs: 250, file: write({ fs: 250, pre: ['Heart rate = 60', 'fs = 250', 'Filter frequency = 40 Hz'] }) },
    { what: '"Sample rate (Hz): 360" is 360 Hz', fs: 360, file: write({ fs: 360, pre: ['Sample rate (Hz): 360', 'HR: 75 bpm'] }) },
    { what: '"SamplingRate=1000" is 1000 Hz', fs: 1000, file: write({ fs: 1000, pre: ['SamplingRate=1000', 'Notch=50'] }) },
    { what: '"Sampling rate: 500 samples/s" is 500 Hz, not an interval', fs: 500, file: write({ fs: 500, pre: ['Sampling rate: 500 samples/s'] }) },
  ];
  for (const c of cases) it(`reads ${c.what}`, () => expectRead({ ...c, warnings: ['units_assumed'] }));

  it('takes a sampling interval without a unit as ms or s by its size (the ranges for 50 Hz–20 kHz do not overlap), and says so', () => {
    for (const [line, fs] of [['Sample interval: 2', 500], ['Sampling interval = 0.004', 250]] as const) {
      expectRead({ what: line, fs, file: write({ fs, pre: [line, 'Units: mV'] }), warnings: ['time_unit_assumed'] });
    }
  });

  it('refuses a table whose only Hz values are a heart rate and filter frequencies (rather than read it at 50 Hz)', () => {
    const e = refusal(write({ fs: 500, pre: ['Heart rate: 92 bpm', 'High-pass: 0.05 Hz', 'Notch frequency: 50 Hz'] }));
    expect(e.code).toBe('sampling_rate_unsupported');
  });

  it('keeps the first of two sampling-rate lines that disagree, and says so', () => {
    const raw = readCsv(text('two.csv', write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Sample rate: 250 Hz'] })), opts);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.warnings[0]).toEqual({ code: 'sampling_rate_conflict', message: expect.stringMatching(/Line 2 states 250 Hz; the 500 Hz of line 1 was used/u) });
  });
});

describe('CSV quirk 2: units per column, per units row, and resolution lines over integer counts', () => {
  const counts = (resolutionMv: number) => (k: number, n: number, fs: number) => String(Math.round(signalMv(k, n, fs) / resolutionMv));
  const quantised = (resolutionMv: number) => (k: number, n: number, fs: number) => Math.round(signalMv(k, n, fs) / resolutionMv) * resolutionMv;
  const cases: Case[] = [
    {
      what: 'limb leads headed "I [mV]" and chest leads headed "V1 [uV]" in one file',
      fs: 500,
      file: write({ fs: 500, timeHeader: 'Time [s]', time: seconds3, header: LEADS.map((l, k) => `${l} [${k < LIMB ? 'mV' : 'uV'}]`), cell: mixed }),
    },
    {
      what: 'limb leads headed "II_mV" and chest leads headed "V2 (µV)"',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz'], header: LEADS.map((l, k) => (k < LIMB ? `${l}_mV` : `${l} (µV)`)), cell: mixed }),
    },
    {
      what: 'a units row below the header (mV for the limb leads, µV for the chest leads)',
      fs: 500,
      file: write({ fs: 500, delimiter: ';', timeHeader: 'Time', unitsRow: ['s', ...LEADS.map((_, k) => (k < LIMB ? 'mV' : 'µV'))], time: seconds3, cell: mixed }),
    },
    {
      what: 'integer counts under "Resolution: 5 uV/bit" as counts × 5 µV',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Resolution: 5 uV/bit'], cell: counts(0.005) }),
      expectedMv: quantised(0.005),
    },
    {
      what: 'integer counts under "Resolution: 0.005 mV/bit" as counts × 5 µV',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Resolution: 0.005 mV/bit'], cell: counts(0.005) }),
      expectedMv: quantised(0.005),
    },
    {
      what: 'integer counts under "Gain: 200 counts/mV" as counts / 200',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Gain: 200 counts/mV'], cell: counts(0.005) }),
      expectedMv: quantised(0.005),
    },
    {
      what: 'integer counts under "Gain: 2.5 uV/LSB", with a display gain "Chart gain: 10 mm/mV" ignored',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Gain: 2.5 uV/LSB', 'Chart gain: 10 mm/mV'], cell: counts(0.0025) }),
      expectedMv: quantised(0.0025),
    },
    {
      what: 'integer counts under "Resolution: 1 µV", with "Time scale: 25 mm/s" and "Amplitude scale: 10 mm/mV" ignored',
      fs: 500,
      file: write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Time scale: 25 mm/s', 'Resolution: 1 µV', 'Amplitude scale: 10 mm/mV'], cell: counts(0.001) }),
      expectedMv: quantised(0.001),
    },
  ];
  for (const c of cases) it(`reads ${c.what}`, () => expectRead(c));

  it('takes a resolution without a unit as µV per count, and says so', () => {
    const file = write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Resolution: 5'], cell: counts(0.005) });
    expectRead({ what: '', fs: 500, file, expectedMv: quantised(0.005), warnings: ['units_assumed'] });
  });

  it('does not apply a resolution line to values that are already in the units of their columns, and says so', () => {
    const file = write({ fs: 500, pre: ['Sampling rate: 500 Hz', 'Resolution: 5 uV/bit'], header: LEADS.map((l) => `${l} (mV)`) });
    expectRead({ what: '', fs: 500, file, warnings: ['gain_ignored'] });
  });
});

describe('CSV quirk 3: valid layouts of real writers', () => {
  const cases: Case[] = [
    {
      what: "PhysioNet rdsamp CSV: a single-quoted header 'Elapsed time','I',… and units row 'seconds','mV',…",
      fs: 500,
      file: write({ fs: 500, timeHeader: "'Elapsed time'", header: LEADS.map((l) => `'${l}'`), unitsRow: ["'seconds'", ...LEADS.map(() => "'mV'")], time: (n, fs) => `'${(n / fs).toFixed(3)}'` }),
    },
    {
      what: "PhysioNet ATM samples.csv at 360 Hz: units row 'hh:mm:ss.mmm', times '0:00.003' rounded to the millisecond",
      fs: 360,
      rows: 3600,
      file: write({ fs: 360, rows: 3600, timeHeader: "'Elapsed time'", header: LEADS.map((l) => `'${l}'`), unitsRow: ["'hh:mm:ss.mmm'", ...LEADS.map(() => "'mV'")], time: (n, fs) => `'${clock(n / fs, 0, false)}'`, cell: (k, n, fs) => signalMv(k, n, fs).toFixed(6) }),
    },
    {
      what: 'an Excel export with metadata rows padded to the table width ("Sampling rate;500;;;;;;;;;;;") and decimal commas',
      fs: 500,
      file: write({ fs: 500, delimiter: ';', pre: ['Patient;;;;;;;;;;;', 'Sampling rate;500;;;;;;;;;;;', 'Heart rate;92;;;;;;;;;;;', 'Units;µV;;;;;;;;;;;'], cell: (k, n, fs) => uv(k, n, fs).replace('.', ',') }),
    },
    {
      what: 'a time column of hh:mm:ss.fff clock times crossing a minute (rate from the time column)',
      fs: 250,
      file: write({ fs: 250, delimiter: '\t', timeHeader: 'Time', header: LEADS.map((l) => `${l} (mV)`), time: (n, fs) => clock(n / fs, 10 * 3600 + 15 * 60 + 59) }),
    },
    {
      what: 'a comma-separated file with quoted decimal-comma numbers ("0,123")',
      fs: 500,
      file: write({ fs: 500, timeHeader: '"Time (s)"', header: LEADS.map((l) => `"${l} (mV)"`), time: (n, fs) => `"${seconds3(n, fs).replace('.', ',')}"`, cell: (k, n, fs) => `"${mv(k, n, fs).replace('.', ',')}"` }),
    },
    {
      what: 'a LabChart text export (Interval=, ChannelTitle=, UnitName= with µV chest leads, rows that start with the time, a #* comment)',
      fs: 1000,
      file: [
        'Interval=\t0.001 s',
        'ExcelDateTime=\t4.6e4\t04/12/2026 10:00:00.000000',
        'TimeFormat=\tStartOfBlock',
        'DateFormat=\t',
        `ChannelTitle=\t${LEADS.join('\t')}`,
        `Range=\t${LEADS.map(() => '2.000 mV').join('\t')}`,
        `UnitName=\t${LEADS.map((_, k) => (k < LIMB ? 'mV' : 'µV')).join('\t')}`,
        `TopValue=\t${LEADS.map(() => '2.0').join('\t')}`,
        `BottomValue=\t${LEADS.map(() => '-2.0').join('\t')}`,
        ...Array.from({ length: 2000 }, (_, n) => [(n / 1000).toFixed(3), ...LEADS.map((_, k) => mixed(k, n, 1000))].join('\t') + (n === 700 ? '\t#* marker' : '')),
      ].join('\n'),
    },
  ];
  for (const c of cases) {
    it(`reads ${c.what}`, () => {
      expect(csvReader.sniff(text('q.txt', c.file))).toBe(true);
      expectRead(c);
    });
  }

  it('passes each of these layouts through readEcg as a 12-lead csv record at its rate', async () => {
    for (const c of cases) {
      const record = await readEcg([text('q.txt', c.file)]);
      expect([record.format, record.samplingRateHz, record.leads]).toEqual(['csv', c.fs, LEADS]);
    }
  });
});

describe('CSV quirk 3: a refused table names the line and column that stopped it', () => {
  const base = () => write({ fs: 500, rows: 100, pre: ['Sampling rate: 500 Hz'] }).split('\n');
  const cases: [string, () => string, string, RegExp][] = [
    ['a word in a data row', () => { const l = base(); l[40] = l[40].replace(/^([^,]*,[^,]*,)[^,]*/u, '$1n/a'); return l.join('\n'); }, 'signal_invalid', /^Line 41, column 3 \(III\)/u],
    ['a short row', () => { const l = base(); l[60] = l[60].split(',').slice(0, 11).join(','); return l.join('\n'); }, 'header_syntax', /^Line 61 has 11 columns but the header \(line 2\) has 12/u],
    ['a word in the first data rows', () => { const l = base(); l[3] = l[3].replace(/^([^,]*,[^,]*,[^,]*,)[^,]*/u, '$1--'); return l.join('\n'); }, 'header_syntax', /^Line 2 is a header row but line 4, column 4 is not a number/u],
    ['a second LabChart block', () => ['Interval=\t0.002 s', `ChannelTitle=\t${LEADS.join('\t')}`, ...write({ fs: 500, rows: 30, delimiter: '\t', time: seconds3 }).split('\n').slice(1, 21), 'Interval=\t0.001 s', '0\t1'].join('\n'), 'header_syntax', /^Line 23 starts a second LabChart block/u],
    ['a line that is neither metadata nor a header', () => { const l = base(); l.splice(1, 0, '12,34,*,*'); return l.join('\n'); }, 'header_syntax', /^Line 2 is neither/u],
  ];
  for (const [what, file, code, message] of cases) {
    it(`refuses ${what} with ${code}, naming where`, () => {
      const e = refusal(file());
      expect(e.code).toBe(code);
      expect(e.message).toMatch(message);
    });
  }
});

describe('CSV quirk 4: a rate from a time column is rounded to the precision the column has', () => {
  const cases: Case[] = [
    // (the leads state no units: the reader says it took them as millivolts)
    { what: 'a 257 Hz table with a time column in seconds to the millisecond as 257 Hz', fs: 257, rows: 2570, warnings: ['units_assumed'], file: write({ fs: 257, rows: 2570, timeHeader: 'time (s)', time: seconds3 }) },
    { what: 'a 257 Hz table with integer milliseconds as 257 Hz', fs: 257, rows: 2570, warnings: ['units_assumed'], file: write({ fs: 257, rows: 2570, timeHeader: 'time (ms)', time: (n, fs) => String(Math.round((1000 * n) / fs)) }) },
    { what: 'a 257 Hz table with microsecond times as 257 Hz', fs: 257, rows: 2570, warnings: ['units_assumed'], file: write({ fs: 257, rows: 2570, timeHeader: 'Time (s)', time: (n, fs) => (n / fs).toFixed(6) }) },
    { what: 'a 128.5 Hz table with microsecond times as 128.5 Hz (its digits carry the fraction)', fs: 128.5, rows: 1285, warnings: ['units_assumed'], file: write({ fs: 128.5, rows: 1285, timeHeader: 'Time (s)', time: (n, fs) => (n / fs).toFixed(6) }) },
    { what: 'a 500 Hz table with a unit-less time column in seconds as 500 Hz (with the unit assumed)', fs: 500, warnings: ['time_unit_assumed', 'units_assumed'], file: write({ fs: 500, timeHeader: 't', time: seconds3 }) },
  ];
  for (const c of cases) it(`reads ${c.what}`, () => expectRead(c));

  it('prefers the time column to a metadata line that disagrees with it, and says so', () => {
    const raw = readCsv(text('c.csv', write({ fs: 257, rows: 2570, pre: ['Sampling rate: 250 Hz'], timeHeader: 'time (s)', time: seconds3, header: LEADS.map((l) => `${l} (mV)`) })), opts);
    expect(raw.samplingRateHz).toBe(257);
    expect(raw.warnings).toEqual([{ code: 'sampling_rate_conflict', message: expect.stringMatching(/time column gives 257 Hz; the 250 Hz of line 1 was ignored/u) }]);
  });
});

describe('CSV quirks on hostile lines', () => {
  const table = write({ fs: 500, rows: 50 }).split('\n');
  const M = 2_000_000;
  const lines: [string, string][] = [
    ['a label followed by two million blanks', `a${' '.repeat(M)}x`],
    ['two million opening brackets', '('.repeat(M)],
    ['a key and a million padded cells', `Sampling rate:${' ;'.repeat(M / 2)}x`],
    ['a two-million-character header cell', `I,${'II ('.repeat(M / 4)},III`],
    ['two million unclosed quotes', '"a,'.repeat(M / 3)],
    ['two million double quotes', '"'.repeat(M)],
    ['two million single quotes', "'".repeat(M)],
  ];
  for (const [what, line] of lines) {
    for (const [where, at] of [['before the header', 0], ['among the first data rows', 3], ['far down the data', 40]] as const) {
      it(`ends a table with ${what} ${where} in a record or a LeadlightError, quickly`, () => {
        const file = text('h.csv', [...table.slice(0, at), line, ...table.slice(at)].join('\n'));
        const start = performance.now();
        expect(() => readCsv(file, opts)).toThrow(LeadlightError);
        expect(csvReader.sniff(file)).toBeTypeOf('boolean');
        expect(performance.now() - start).toBeLessThan(1000);
      });
    }
  }
});
