/**
 * DICOM waveform reader on pydicom's 12-lead ECG fixture (expected values from pydicom's tests/test_waveform.py,
 * listed in ../shared/data/ecg/INDEX.md), on synthetic objects that exercise the other encodings (implicit VR,
 * undefined-length sequences and items, deflate, 8-bit samples, mV units, baseline and correction factor), on
 * hostile variants, and under seeded fuzzing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { dicomReader, readDicom, readDicomWaveforms } from '../../../functions/core/readers/dicom.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { fuzzCaseCount, fuzzReader, readerRun } from '../../helpers/fuzz-binary.ts';
import { ecgDir } from '../../helpers/paths.ts';

const fixture: InputFile = {
  name: 'waveform_ecg.dcm',
  bytes: new Uint8Array(readFileSync(join(ecgDir, 'other_formats/dicom_pydicom/waveform_ecg.dcm'))),
};
const opts = DEFAULT_READ_OPTIONS;

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (e) {
    if (e instanceof LeadlightError) return e.code;
    throw e;
  }
}

// ---- a minimal DICOM writer for synthetic variants (PS3.5 §7) ----
type El = { tag: [number, number]; vr: string; value?: Uint8Array; items?: El[][] };
const ascii = (s: string) => {
  const padded = s.length % 2 ? `${s} ` : s;
  return new TextEncoder().encode(padded);
};
const u16 = (v: number) => new Uint8Array(new Uint16Array([v]).buffer);
const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const LONG = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

function encode(elements: El[], explicit: boolean, undefinedLengths: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of elements) {
    const head = concat([u16(e.tag[0]), u16(e.tag[1])]);
    let value: Uint8Array;
    if (e.items) {
      const items = e.items.map((item) => {
        const body = encode(item, explicit, undefinedLengths);
        return undefinedLengths
          ? concat([u16(0xfffe), u16(0xe000), u32(0xffffffff), body, u16(0xfffe), u16(0xe00d), u32(0)])
          : concat([u16(0xfffe), u16(0xe000), u32(body.length), body]);
      });
      value = concat(undefinedLengths ? [...items, u16(0xfffe), u16(0xe0dd), u32(0)] : items);
    } else value = e.value ?? new Uint8Array(0);
    const length = e.items && undefinedLengths ? 0xffffffff : value.length;
    if (!explicit) parts.push(head, u32(length), value);
    else if (LONG.has(e.vr)) parts.push(head, ascii(e.vr), u16(0), u32(length), value);
    else parts.push(head, ascii(e.vr), u16(length), value);
  }
  return concat(parts);
}

function dicomFile(transferSyntax: string, dataset: Uint8Array): Uint8Array {
  const ts = ascii(transferSyntax.length % 2 ? `${transferSyntax}\0` : transferSyntax);
  const meta = encode([{ tag: [0x0002, 0x0010], vr: 'UI', value: ts }], true, false);
  return concat([new Uint8Array(128), new TextEncoder().encode('DICM'), meta, dataset]);
}

interface SyntheticOptions {
  bits?: 8 | 16;
  interpretation?: string;
  unit?: string;
  baseline?: number;
  correction?: number;
  sensitivity?: number;
  samples?: number;
}

/** A 12-lead rhythm group whose lead k, sample n holds raw value (k + 1) × ((n % 50) − 25). */
function syntheticDataset(o: SyntheticOptions = {}): El[] {
  const bits = o.bits ?? 16;
  const n = o.samples ?? 1000;
  const codes = [1, 2, 61, 62, 63, 64, 3, 4, 5, 6, 7, 8];
  const raw = bits === 16 ? new Int16Array(n * 12) : new Int8Array(n * 12);
  for (let s = 0; s < n; s++) for (let k = 0; k < 12; k++) raw[s * 12 + k] = Math.max(-128, Math.min(127, (k + 1) * ((s % 50) - 25)));
  const channel = (code: number): El[] => [
    { tag: [0x003a, 0x0208], vr: 'SQ', items: [[
      { tag: [0x0008, 0x0100], vr: 'SH', value: ascii(`5.6.3-9-${code}`) },
      { tag: [0x0008, 0x0102], vr: 'SH', value: ascii('SCPECG') },
      { tag: [0x0008, 0x0104], vr: 'LO', value: ascii('Lead (synthetic)') },
    ]] },
    { tag: [0x003a, 0x0210], vr: 'DS', value: ascii(String(o.sensitivity ?? 2.5)) },
    { tag: [0x003a, 0x0211], vr: 'SQ', items: [[{ tag: [0x0008, 0x0100], vr: 'SH', value: ascii(o.unit ?? 'uV') }]] },
    { tag: [0x003a, 0x0212], vr: 'DS', value: ascii(String(o.correction ?? 1)) },
    { tag: [0x003a, 0x0213], vr: 'DS', value: ascii(String(o.baseline ?? 0)) },
  ];
  return [
    { tag: [0x0010, 0x0010], vr: 'PN', value: ascii('Doe^Jane') },
    { tag: [0x0010, 0x0020], vr: 'LO', value: ascii('ID-0042') },
    { tag: [0x0010, 0x0030], vr: 'DA', value: ascii('19700101') },
    { tag: [0x0010, 0x0040], vr: 'CS', value: ascii('M') },
    { tag: [0x0010, 0x1010], vr: 'AS', value: ascii('067Y') },
    { tag: [0x5400, 0x0100], vr: 'SQ', items: [[
      { tag: [0x003a, 0x0005], vr: 'US', value: u16(12) },
      { tag: [0x003a, 0x0010], vr: 'UL', value: u32(n) },
      { tag: [0x003a, 0x001a], vr: 'DS', value: ascii('500') },
      { tag: [0x003a, 0x0200], vr: 'SQ', items: codes.map(channel) },
      { tag: [0x5400, 0x1004], vr: 'US', value: u16(bits) },
      { tag: [0x5400, 0x1006], vr: 'CS', value: ascii(o.interpretation ?? (bits === 16 ? 'SS' : 'SB')) },
      { tag: [0x5400, 0x1010], vr: bits === 16 ? 'OW' : 'OB', value: new Uint8Array(raw.buffer) },
    ]] },
  ];
}

const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';

describe('DICOM waveform reader on pydicom’s waveform_ecg.dcm', () => {
  it('is recognised by its DICM signature and nothing else', () => {
    expect(dicomReader.sniff(fixture)).toBe(true);
    expect(dicomReader.sniff({ name: 'x.dcm', bytes: fixture.bytes.slice(0, 131) })).toBe(false);
  });

  it('decodes multiplex group 0 raw samples as pydicom does (10000 × 12, ch0 [80, 65, 50, 35, 37], ch1 [90, 85, 80, 75, 77])', () => {
    const { groups } = readDicomWaveforms(fixture, opts);
    expect(groups).toHaveLength(2);
    expect(groups[0].samples).toBe(10000);
    expect(groups[0].channels).toHaveLength(12);
    expect(Array.from(groups[0].channels[0].raw.slice(0, 5))).toEqual([80, 65, 50, 35, 37]);
    expect(Array.from(groups[0].channels[1].raw.slice(0, 5))).toEqual([90, 85, 80, 75, 77]);
  });

  it('decodes the median-beat group 1 as pydicom does (1200 × 12, ch0 [10, 10, 30, 35, 25], ch1 [80, 80, 80, 85, 80])', () => {
    const { groups } = readDicomWaveforms(fixture, opts);
    expect(groups[1].samples).toBe(1200);
    expect(groups[1].channels).toHaveLength(12);
    expect(Array.from(groups[1].channels[0].raw.slice(0, 5))).toEqual([10, 10, 30, 35, 25]);
    expect(Array.from(groups[1].channels[1].raw.slice(0, 5))).toEqual([80, 80, 80, 85, 80]);
  });

  it('scales group 0 as pydicom does (µV [100, 81.25, 62.5, 43.75, 46.25] and [112.5, 106.25, 100, 93.75, 96.25]) and returns them in mV', () => {
    const raw = readDicom(fixture, opts);
    expect(raw.samplingRateHz).toBe(1000);
    const mv = (k: number) => Array.from(raw.channels[k].samplesMv.slice(0, 5));
    [100, 81.25, 62.5, 43.75, 46.25].forEach((uv, n) => expect(mv(0)[n]).toBeCloseTo(uv / 1000, 12));
    [112.5, 106.25, 100, 93.75, 96.25].forEach((uv, n) => expect(mv(1)[n]).toBeCloseTo(uv / 1000, 12));
  });

  it('names the 12 leads from the channel source codes and reads the rhythm group as the record (1000 Hz, 10 s)', async () => {
    const raw = readDicom(fixture, opts);
    expect(raw.channels.map((c) => c.label)).toEqual(['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
    const record = await readEcg([fixture]);
    expect(record.format).toBe('dicom');
    expect(record.samplingRateHz).toBe(1000);
    expect(record.samples).toBe(10000);
    expect(record.derivedLeads).toEqual([]);
  });

  it('yields limb leads that obey Einthoven’s law within the 1.25 µV quantisation (III = II − I, aVR = −(I + II)/2)', () => {
    const c = readDicom(fixture, opts).channels;
    let worst = 0;
    for (let n = 0; n < 10000; n++) {
      worst = Math.max(worst, Math.abs(c[2].samplesMv[n] - (c[1].samplesMv[n] - c[0].samplesMv[n])));
      worst = Math.max(worst, Math.abs(c[3].samplesMv[n] + (c[0].samplesMv[n] + c[1].samplesMv[n]) / 2));
    }
    expect(worst).toBeLessThan(0.02);
  });

  it('keeps only age, sex and acquisition time (no name, id or birth date)', () => {
    const raw = readDicom(fixture, opts);
    expect(raw.ageYears).toBe(42);
    expect(raw.sex).toBe('F');
    expect(raw.startTime).toBe('2013-01-25T10:59:19');
    const json = JSON.stringify({ ...raw, channels: [] });
    expect(json).not.toMatch(/Anonymous|642341|1971/u);
  });
});

describe('DICOM waveform reader on synthetic encodings', () => {
  const variants: [string, string, boolean][] = [
    ['explicit VR, defined lengths', EXPLICIT, false],
    ['explicit VR, undefined-length sequences and items', EXPLICIT, true],
    ['implicit VR, defined lengths', IMPLICIT, false],
    ['implicit VR, undefined-length sequences and items', IMPLICIT, true],
  ];
  for (const [what, ts, undefinedLengths] of variants) {
    it(`reads ${what}`, () => {
      const bytes = dicomFile(ts, encode(syntheticDataset(), ts !== IMPLICIT, undefinedLengths));
      const raw = readDicom({ name: 's.dcm', bytes }, opts);
      expect(raw.samplingRateHz).toBe(500);
      expect(raw.channels.map((c) => c.label)).toEqual(['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
      // lead k, sample n = (k + 1) × ((n % 50) − 25) × 2.5 µV
      expect(raw.channels[3].samplesMv[7]).toBeCloseTo(4 * (7 - 25) * 2.5e-3, 12);
      expect(raw.sex).toBe('M');
      expect(raw.ageYears).toBe(67);
      expect(JSON.stringify({ ...raw, channels: [] })).not.toMatch(/Doe|ID-0042|1970/u);
    });
  }

  it('inflates deflated explicit VR little endian (1.2.840.10008.1.2.1.99)', () => {
    const body = deflateSync(encode(syntheticDataset(), true, true));
    const raw = readDicom({ name: 'd.dcm', bytes: dicomFile(DEFLATED, body) }, opts);
    expect(raw.channels[0].samplesMv[0]).toBeCloseTo(-25 * 2.5e-3, 12);
  });

  it('applies correction factor and baseline and converts mV and 8-bit signed samples', () => {
    const bytes = dicomFile(EXPLICIT, encode(syntheticDataset({ bits: 8, unit: 'mV', sensitivity: 0.01, correction: 2, baseline: 0.5 }), true, false));
    const raw = readDicom({ name: 'b.dcm', bytes }, opts);
    // raw (k+1)((n%50)−25) clipped to int8; value = raw × 0.01 × 2 + 0.5 mV
    expect(raw.channels[1].samplesMv[0]).toBeCloseTo(-50 * 0.02 + 0.5, 12);
  });

  it('reads the rhythm group even when a median-beat group comes first, and refuses a file of median beats only', async () => {
    const labelled = (label: string, samples: number): El[] => {
      const group = syntheticDataset({ samples })[5].items![0];
      return [...group.slice(0, 3), { tag: [0x003a, 0x0020], vr: 'SH', value: ascii(label) }, ...group.slice(3)]; // tags in ascending order
    };
    const both: El[] = [{ tag: [0x5400, 0x0100], vr: 'SQ', items: [labelled('MEDIAN BEAT', 600), labelled('RHYTHM', 5000)] }];
    const raw = readDicom({ name: 'mr.dcm', bytes: dicomFile(EXPLICIT, encode(both, true, false)) }, opts);
    expect(raw.channels[0].samplesMv.length).toBe(5000);
    const medianOnly: El[] = [{ tag: [0x5400, 0x0100], vr: 'SQ', items: [labelled('MEDIAN BEAT', 600)] }];
    expect(await codeOf(() => readDicom({ name: 'm.dcm', bytes: dicomFile(EXPLICIT, encode(medianOnly, true, false)) }, opts))).toBe('record_incomplete');
  });

  it('refuses big endian, unknown transfer syntaxes and unsupported sample formats with encoding_unsupported', async () => {
    const ds = encode(syntheticDataset(), true, false);
    expect(await codeOf(() => readDicom({ name: 'be.dcm', bytes: dicomFile('1.2.840.10008.1.2.2', ds) }, opts))).toBe('encoding_unsupported');
    expect(await codeOf(() => readDicom({ name: 'j.dcm', bytes: dicomFile('1.2.840.10008.1.2.4.50', ds) }, opts))).toBe('encoding_unsupported');
    const mb = dicomFile(EXPLICIT, encode(syntheticDataset({ interpretation: 'MB', bits: 8 }), true, false));
    expect(await codeOf(() => readDicom({ name: 'mb.dcm', bytes: mb }, opts))).toBe('encoding_unsupported');
  });
});

describe('DICOM waveform reader on hostile input', () => {
  it('reports a truncated file, a file without waveform, and a wrong signature with stable codes', async () => {
    for (const cut of [200, 5000, 100_000, fixture.bytes.length - 10]) {
      expect(['header_syntax', 'truncated_signal']).toContain(await codeOf(() => readDicom({ name: 't.dcm', bytes: fixture.bytes.slice(0, cut) }, opts)));
    }
    const noWave = dicomFile(EXPLICIT, encode([{ tag: [0x0010, 0x0040], vr: 'CS', value: ascii('F') }], true, false));
    expect(await codeOf(() => readDicom({ name: 'n.dcm', bytes: noWave }, opts))).toBe('unsupported_format');
    const wrong = fixture.bytes.slice();
    wrong[128] = 0x58;
    expect(await codeOf(readEcg([{ name: 'w.dcm', bytes: wrong }]))).toBe('unsupported_format');
  });

  it('refuses a header claiming a huge sample count before allocating', async () => {
    const ds = syntheticDataset({ samples: 100 });
    const group = ds[5].items![0];
    group[1] = { tag: [0x003a, 0x0010], vr: 'UL', value: u32(0xfffffff0) };
    const bytes = dicomFile(EXPLICIT, encode(ds, true, false));
    expect(await codeOf(() => readDicom({ name: 'h.dcm', bytes }, opts))).toBe('record_too_long');
    group[1] = { tag: [0x003a, 0x0010], vr: 'UL', value: u32(100_000) };
    expect(await codeOf(() => readDicom({ name: 'h.dcm', bytes: dicomFile(EXPLICIT, encode(ds, true, false)) }, opts))).toBe('truncated_signal');
  });

  it('refuses sequences nested beyond the depth bound', async () => {
    let inner: El[] = [{ tag: [0x0010, 0x0040], vr: 'CS', value: ascii('F') }];
    for (let d = 0; d < 50; d++) inner = [{ tag: [0x0040, 0xa730], vr: 'SQ', items: [inner] }];
    const bytes = dicomFile(EXPLICIT, encode(inner, true, true));
    expect(await codeOf(() => readDicom({ name: 'deep.dcm', bytes }, opts))).toBe('header_syntax');
  });

  it('turns every one of a few hundred seeded mutations into a record or a LeadlightError', async () => {
    const summary = await fuzzReader(fixture, fuzzCaseCount(250), 0xd1c0, readerRun(dicomReader));
    expect(summary.crashes).toEqual([]);
    expect(summary.records).toBeGreaterThan(0);
    expect(summary.slowestMs).toBeLessThan(2000);
  });
});
