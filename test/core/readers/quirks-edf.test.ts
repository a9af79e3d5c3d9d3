/**
 * EDF quirks of real writers, on files written here from a known signal (12 sines of known amplitudes in mV at
 * 500 Hz, 2 s): the physical dimension `µV` in UTF-8 (C2 B5, not the ASCII EDF requires), Latin-1 and Greek mu,
 * `uV`/`mV`/`V`; dimensions that name no voltage (units judged from the physical range, with a warning); and the
 * labels `EKG I`, `ECG-I`, `EKG aVR`, `-aVR` (EDF+ standard texts say `ECG I`; `EKG` is the German spelling).
 */
import { describe, expect, it } from 'vitest';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { readEdf } from '../../../functions/core/readers/edf.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { codeAndMessageOf } from '../../helpers/outcomes.ts';

const FS = 500;
const SECONDS = 2;
const SAMPLES = FS * SECONDS;
const DMIN = -32768;
const DMAX = 32767;
/** Lead k: a sine of amplitude 0.2 + 0.1·k mV at (1 + k/2) Hz. */
const sineMv = (k: number, n: number) => (0.2 + 0.1 * k) * Math.sin((2 * Math.PI * (1 + k / 2) * n) / FS);

interface Signal {
  label: string | number[];
  dimension: string | number[];
  physicalMin: number;
  physicalMax: number;
  /** mV per unit of the dimension (what the file means, whatever it writes). */
  mvPerUnit: number;
  /** −1 for a channel that stores the lead inverted. */
  sign?: number;
}

const bytesOf = (field: string | number[]) => (typeof field === 'string' ? [...field].map((c) => c.charCodeAt(0)) : field);
const utf8 = (s: string) => [...new TextEncoder().encode(s)];

/** Digital value the writer stores for sample n of lead k (EDF: linear map of physical onto digital, rounded). */
function digitalOf(s: Signal, k: number, n: number): number {
  const physical = ((s.sign ?? 1) * sineMv(k, n)) / s.mvPerUnit;
  const d = Math.round(((physical - s.physicalMin) * (DMAX - DMIN)) / (s.physicalMax - s.physicalMin) + DMIN);
  return Math.max(DMIN, Math.min(DMAX, d));
}
/** The lead value in mV those digital values mean (Kemp 1992's scaling), i.e. what a reader must return. */
function storedMv(s: Signal, k: number, n: number): number {
  const physical = ((digitalOf(s, k, n) - DMIN) * (s.physicalMax - s.physicalMin)) / (DMAX - DMIN) + s.physicalMin;
  return (s.sign ?? 1) * physical * s.mvPerUnit;
}

/**
 * Writes a 12-signal EDF+C file per Kemp 1992/2003, one data record per second; label and dimension as raw bytes.
 * `padByCharacters` pads the dimension to 8 characters rather than 8 bytes (a UTF-8 writer's mistake).
 */
function writeEdf(signals: Signal[], o: { padByCharacters?: boolean } = {}): Uint8Array {
  const ns = signals.length;
  const out: number[] = [];
  const put = (field: string | number[], width: number, byCharacters = false) => {
    const b = bytesOf(field).slice(0, width);
    const length = byCharacters ? new TextDecoder().decode(new Uint8Array(b)).length : b.length;
    out.push(...b, ...new Array(width - length).fill(0x20));
  };
  put('0', 8);
  put('X X X X', 80);
  put('Startdate 02-MAR-2021 X X X', 80);
  put('02.03.21', 8);
  put('10.20.30', 8);
  put(String(256 * (ns + 1)), 8);
  put('EDF+C', 44);
  put(String(SECONDS), 8);
  put('1', 8);
  put(String(ns), 4);
  for (const s of signals) put(s.label, 16);
  for (const _ of signals) put('', 80);
  for (const s of signals) put(s.dimension, 8, o.padByCharacters);
  for (const s of signals) put(String(s.physicalMin), 8);
  for (const s of signals) put(String(s.physicalMax), 8);
  for (const _ of signals) put(String(DMIN), 8);
  for (const _ of signals) put(String(DMAX), 8);
  for (const _ of signals) put('', 80);
  for (const _ of signals) put(String(FS), 8);
  for (const _ of signals) put('', 32);
  for (let r = 0; r < SECONDS; r++) {
    signals.forEach((s, k) => {
      for (let i = 0; i < FS; i++) {
        const d = digitalOf(s, k, r * FS + i);
        out.push(d & 0xff, (d >> 8) & 0xff);
      }
    });
  }
  return new Uint8Array(out);
}

/** 12 signals labelled `label(lead)`, all in one dimension and physical range. */
function twelve(label: (lead: string) => string | number[], dimension: string | number[], range: [number, number], mvPerUnit: number): Signal[] {
  return LEAD_ORDER.map((lead) => ({ label: label(lead), dimension, physicalMin: range[0], physicalMax: range[1], mvPerUnit }));
}

/** Reads the file through readEcg and checks every lead against the written signal, in mV within 1e-6. */
async function expectSignal(signals: Signal[]) {
  const record = await readEcg([{ name: 'quirk.edf', bytes: writeEdf(signals) }]);
  expect(record.samplingRateHz).toBe(FS);
  expect(record.samples).toBe(SAMPLES);
  expect(record.derivedLeads).toEqual([]);
  LEAD_ORDER.forEach((lead, k) => {
    const s = signals[k];
    const step = Math.abs(((s.physicalMax - s.physicalMin) / (DMAX - DMIN)) * s.mvPerUnit);
    let worstStored = 0;
    let worstSine = 0;
    for (let n = 0; n < SAMPLES; n++) {
      const got = record.signalsMv[k][n];
      worstStored = Math.max(worstStored, Math.abs(got - storedMv(s, k, n)));
      worstSine = Math.max(worstSine, Math.abs(got - sineMv(k, n)));
    }
    expect(worstStored, `lead ${lead} against the stored values`).toBeLessThan(1e-6);
    expect(worstSine, `lead ${lead} against the sine`).toBeLessThanOrEqual(step);
  });
  return record;
}

describe('EDF physical dimensions as writers store them', () => {
  const micro: [string, string | number[]][] = [
    ['uV (ASCII, as EDF+ requires)', 'uV'],
    ['µV in UTF-8 (C2 B5 56)', utf8('µV')],
    ['µV in Latin-1 (B5 56)', [0xb5, 0x56]],
    ['μV with Greek mu in UTF-8 (CE BC 56)', utf8('\u03bcV')],
    ['UV in capitals', 'UV'],
  ];
  it.each(micro)('scales %s to mV', async (_what, dimension) => {
    const record = await expectSignal(twelve((l) => l, dimension, [-3276.8, 3276.7], 1e-3));
    expect(record.warnings).toEqual([]);
  });

  it.each([
    ['mV', 'mV', [-3.2768, 3.2767], 1],
    ['V', 'V', [-0.005, 0.005], 1e3],
    ['mVolts', 'mVolts', [-10, 10], 1],
    ['µVolt in UTF-8', utf8('µVolt'), [-3276.8, 3276.7], 1e-3],
  ] as const)('scales %s to mV', async (_what, dimension, range, mvPerUnit) => {
    const record = await expectSignal(twelve((l) => l, dimension, [...range], mvPerUnit));
    expect(record.warnings).toEqual([]);
  });
});

describe('EDF headers that stay refused', () => {
  it('refuses µV in UTF-8 padded to 8 characters (9 bytes, shifting every later field) as header_syntax', () => {
    const bytes = writeEdf(twelve((l) => l, utf8('µV'), [-3276.8, 3276.7], 1e-3), { padByCharacters: true });
    expect(codeAndMessageOf(() => readEdf({ name: 'shifted.edf', bytes }, DEFAULT_READ_OPTIONS))).toMatch(/^header_syntax: The EDF header field "physical minimum" is not a number/u);
  });
});

describe('EDF signals whose dimension names no voltage', () => {
  it.each([
    ['blank', '', [-3276.8, 3276.7], 'µV', 1e-3],
    ['blank', '', [-5, 5], 'mV', 1],
    ['non-voltage', 'mmHg', [-0.005, 0.005], 'V', 1e3],
  ] as const)('takes a %s dimension %j with physical range %j as %s, and says so for every signal', async (_what, dimension, range, unit, mvPerUnit) => {
    const record = await expectSignal(twelve((l) => l, dimension, [...range], mvPerUnit));
    expect(record.warnings).toHaveLength(12);
    expect(record.warnings[0]).toEqual({
      code: 'units_assumed',
      message: `Signal "I" has physical dimension "${dimension}", which is not a voltage unit, so its units could not be determined; from its physical range ${range[0]} to ${range[1]} it was taken as ${unit}. Check the amplitudes.`,
    });
    expect(record.warnings.every((w) => w.code === 'units_assumed' && w.message.includes('physical dimension'))).toBe(true);
  });
});

describe('EDF labels', () => {
  const spellings: [string, (lead: string) => string | number[]][] = [
    ['ECG I (EDF+ standard texts)', (l) => `ECG ${l}`],
    ['EKG I', (l) => `EKG ${l}`],
    ['ECG-I', (l) => `ECG-${l}`],
    ['EKG-I', (l) => `EKG-${l}`],
    ['EKG_I', (l) => `EKG_${l}`],
  ];
  it.each(spellings)('maps %s-style labels to the 12 leads', async (_what, label) => {
    const record = await expectSignal(twelve(label, 'uV', [-3276.8, 3276.7], 1e-3));
    expect(record.warnings).toEqual([]);
  });

  it.each([
    ['-aVR', '-aVR'],
    ['EKG -aVR', 'EKG -aVR'],
    ['−aVR (U+2212 in UTF-8)', utf8('\u2212aVR')],
  ] as const)('negates a channel labelled %s to give aVR, with a warning', async (_what, label) => {
    const signals = twelve((l) => `EKG ${l}`, utf8('µV'), [-3276.8, 3276.7], 1e-3);
    signals[3] = { ...signals[3], label, sign: -1 };
    const record = await expectSignal(signals);
    const written = typeof label === 'string' ? label : new TextDecoder().decode(new Uint8Array(label));
    expect(record.warnings).toEqual([
      { code: 'lead_inverted', message: `Channel "${written}" holds lead aVR inverted (as Cabrera displays show −aVR); it was negated to give aVR.` },
    ]);
  });
});
