/**
 * EDF / EDF+ / BDF reader on the Contec fixture 0000050.ECG.edf (12 signals, 800 Hz, V1–V6 empty; expected values
 * per lead from an independent NumPy decoder, test/fixtures/readers-binary/compute_expected.py), on synthetic files
 * for the other variants (µV/V units, BDF 24-bit, EDF+ annotations, mixed rates, EDF+D), hostile input and fuzzing.
 */
import { expectChannelsAsDecoded } from '../../helpers/expected-channels.ts';
import { codeOf, sumOf } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { edfReader, readEdf } from '../../../functions/core/readers/edf.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import expected from '../../fixtures/readers-binary/expected.json' with { type: 'json' };
import { fuzzCaseCount, fuzzReader, readerRun } from '../../helpers/fuzz-binary.ts';
import { ecgDir } from '../../helpers/paths.ts';

const contec: InputFile = {
  name: '0000050.ECG.edf',
  bytes: new Uint8Array(readFileSync(join(ecgDir, 'other_formats/scp_edf_csv_ecg-contec/tools/0000050.ECG.edf'))),
};
const opts = DEFAULT_READ_OPTIONS;
const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];


interface SynthSignal {
  label: string;
  dimension?: string;
  samplesPerRecord?: number;
  physicalMin?: number;
  physicalMax?: number;
  digitalMin?: number;
  digitalMax?: number;
  /** digital value of sample n */
  value?: (n: number) => number;
}

/** Writes an EDF (or BDF) file per Kemp 1992: ASCII headers, then records of little-endian integers. */
function writeEdf(signals: SynthSignal[], o: { records?: number; durationS?: number; reserved?: string; bdf?: boolean; patient?: string } = {}): Uint8Array {
  const records = o.records ?? 10;
  const ns = signals.length;
  const field = (text: string, width: number) => text.padEnd(width, ' ').slice(0, width);
  let header = (o.bdf ? ' BIOSEMI' : '0       ') + field(o.patient ?? 'X M 01-JAN-1950 X', 80) + field('Startdate 02-MAR-2021 X X X', 80);
  header += '02.03.21' + '10.20.30' + field(String(256 * (ns + 1)), 8) + field(o.reserved ?? 'EDF+C', 44);
  header += field(String(records), 8) + field(String(o.durationS ?? 1), 8) + field(String(ns), 4);
  const per = (f: (s: SynthSignal) => string, width: number) => signals.map((s) => field(f(s), width)).join('');
  const bps = o.bdf ? 3 : 2;
  const dmin = o.bdf ? -8388608 : -32768;
  const dmax = o.bdf ? 8388607 : 32767;
  header += per((s) => s.label, 16) + per(() => '', 80) + per((s) => s.dimension ?? 'uV', 8);
  header += per((s) => String(s.physicalMin ?? -3276.8), 8) + per((s) => String(s.physicalMax ?? 3276.7), 8);
  header += per((s) => String(s.digitalMin ?? dmin), 8) + per((s) => String(s.digitalMax ?? dmax), 8);
  header += per(() => '', 80) + per((s) => String(s.samplesPerRecord ?? 500), 8) + per(() => '', 32);
  const head = new Uint8Array(header.length);
  for (let i = 0; i < header.length; i++) head[i] = header.charCodeAt(i);
  if (o.bdf) head[0] = 0xff;
  const recordBytes = signals.reduce((n, s) => n + (s.samplesPerRecord ?? 500) * bps, 0);
  const out = new Uint8Array(head.length + records * recordBytes);
  out.set(head);
  let p = head.length;
  const counters = signals.map(() => 0);
  for (let r = 0; r < records; r++) {
    signals.forEach((s, k) => {
      for (let i = 0; i < (s.samplesPerRecord ?? 500); i++) {
        const v = (s.value ?? ((n) => ((n % 100) - 50) * (k + 1)))(counters[k]++);
        for (let b = 0; b < bps; b++) out[p++] = (v >> (8 * b)) & 0xff;
      }
    });
  }
  return out;
}

describe('EDF reader on 0000050.ECG.edf, against an independent NumPy decoder', () => {
  const exp = expected['0000050.ECG.edf'];

  it('applies the physical/digital scaling of every signal as the reference decoder does (800 Hz, 37855 samples)', () => {
    expect(edfReader.sniff(contec)).toBe(true);
    const raw = readEdf(contec, opts);
    expectChannelsAsDecoded(raw, exp, 4);
    expect(raw.startTime).toBe('2020-11-16T21:44:39');
  });

  it('marks the all-constant V1–V6 as empty so the record is refused instead of analysed with flat leads', async () => {
    const raw = readEdf(contec, opts);
    expect(raw.channels.slice(6).map((c) => c.label)).toEqual(LEADS.slice(6).map((l) => `${l} (empty)`));
    expect(raw.warnings.map((w) => w.code)).toContain('lead_empty');
    await expect(readEcg([contec])).rejects.toMatchObject({ code: 'lead_missing', message: expect.stringContaining('V1 (empty)') });
  });
});

describe('EDF reader on synthetic variants', () => {
  it('reads a 12-lead EDF+ in µV with an annotation signal, keeping sex and age but not the name or birth date', async () => {
    const signals: SynthSignal[] = [...LEADS.map((label) => ({ label })), { label: 'EDF Annotations', samplesPerRecord: 30, value: () => 0 }];
    const bytes = writeEdf(signals, { patient: 'MCH-0234567 F 02-MAY-1951 Haagse_Harry' });
    const record = await readEcg([{ name: 's.edf', bytes }]);
    expect(record.format).toBe('edf');
    expect(record.samplingRateHz).toBe(500);
    expect(record.samples).toBe(5000);
    // digital d with physical range ±3276.8 µV over ±32768 → 0.1 µV per unit
    expect(record.signalsMv[1][10]).toBeCloseTo(((10 % 100) - 50) * 2 * 1e-4, 9);
    expect(record.sex).toBe('F');
    expect(record.ageYears).toBe(69);
    expect(record.startTime).toBe('2021-03-02T10:20:30');
    expect(JSON.stringify({ ...record, signalsMv: [] })).not.toMatch(/MCH|Haagse|1951/u);
  });

  it('converts V and mV dimensions and reads 24-bit BDF', () => {
    const v = readEdf({ name: 'v.edf', bytes: writeEdf([{ label: 'I', dimension: 'V', physicalMin: -3.2768, physicalMax: 3.2767 }]) }, opts);
    expect(v.channels[0].samplesMv[0]).toBeCloseTo(-50 * 0.1, 9); // 0.1 mV per unit
    const bdf = readEdf({ name: 'b.bdf', bytes: writeEdf([{ label: 'II', dimension: 'uV', physicalMin: -8388608, physicalMax: 8388607 }], { bdf: true, reserved: '24BIT' }) }, opts);
    expect(bdf.channels[0].samplesMv[3]).toBeCloseTo(-47 * 1e-3, 9);
  });

  it('ignores non-lead signals at other rates but refuses leads at different rates', () => {
    const mixed = writeEdf([...LEADS.map((label) => ({ label })), { label: 'Resp', samplesPerRecord: 25 }]);
    expect(readEdf({ name: 'm.edf', bytes: mixed }, opts).channels).toHaveLength(12);
    const bad = writeEdf([{ label: 'I', samplesPerRecord: 500 }, { label: 'II', samplesPerRecord: 250 }]);
    expect(codeOf(() => readEdf({ name: 'r.edf', bytes: bad }, opts))).toBe('sampling_rate_unsupported');
  });

  it('refuses discontinuous EDF+D with encoding_unsupported', () => {
    expect(codeOf(() => readEdf({ name: 'd.edf', bytes: writeEdf([{ label: 'I' }], { reserved: 'EDF+D' }) }, opts))).toBe('encoding_unsupported');
  });
});

describe('EDF reader on hostile input', () => {
  it('reports truncated files, damaged numbers and huge declared sizes with stable codes', () => {
    const good = writeEdf(LEADS.map((label) => ({ label })));
    expect(codeOf(() => readEdf({ name: 't.edf', bytes: good.slice(0, good.length - 7) }, opts))).toBe('truncated_signal');
    expect(codeOf(() => readEdf({ name: 't.edf', bytes: good.slice(0, 1000) }, opts))).toBe('truncated_signal');
    expect(edfReader.sniff({ name: 't.edf', bytes: good.slice(0, 200) })).toBe(false);
    const huge = good.slice();
    huge.set(new TextEncoder().encode('99999999'), 236);
    expect(codeOf(() => readEdf({ name: 'h.edf', bytes: huge }, opts))).toBe('record_too_long');
    const nan = good.slice();
    nan.set(new TextEncoder().encode('NaN     '), 256 + 12 * 104);
    expect(codeOf(() => readEdf({ name: 'n.edf', bytes: nan }, opts))).toBe('header_syntax');
    const flatDigital = writeEdf([{ label: 'I', digitalMin: 5, digitalMax: 5 }]);
    expect(codeOf(() => readEdf({ name: 'f.edf', bytes: flatDigital }, opts))).toBe('header_syntax');
    const zeroDuration = good.slice();
    zeroDuration.set(new TextEncoder().encode('0       '), 244);
    expect(codeOf(() => readEdf({ name: 'z.edf', bytes: zeroDuration }, opts))).toBe('sampling_rate_unsupported');
  });

  it('refuses a file with no ECG lead or a single lead at the record level', async () => {
    await expect(readEcg([{ name: 'o.edf', bytes: writeEdf([{ label: 'II' }]) }])).rejects.toMatchObject({ code: 'lead_missing' });
    await expect(readEcg([{ name: 'a.edf', bytes: writeEdf([{ label: 'EDF Annotations', samplesPerRecord: 30 }]) }])).rejects.toMatchObject({ code: 'lead_missing' });
  });

  it('turns every one of a few hundred seeded mutations into a record or a LeadlightError', async () => {
    const synthetic: InputFile = { name: 's.edf', bytes: writeEdf([...LEADS.map((label) => ({ label })), { label: 'EDF Annotations', samplesPerRecord: 30 }]) };
    for (const [file, seed, cases] of [[synthetic, 0xedf0, 200], [contec, 0xedf1, 100]] as const) {
      const summary = await fuzzReader(file, fuzzCaseCount(cases), seed, readerRun(edfReader));
      expect(summary.crashes).toEqual([]);
      expect(summary.records).toBeGreaterThan(0);
      expect(summary.slowestMs).toBeLessThan(2000);
    }
  });
});
