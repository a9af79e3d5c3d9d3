// Philips SierraECG 1.03 / PhilipsECG 1.04 XML with XLI-compressed waveforms: the expected values of
// sierra-ecg-tools' own test suite (pysierraecg/tests/test_xml.py @ 0cd9c41: 12 leads × 5500 samples and
// sample[2750] of every lead), the Einthoven identities on every sample, and damaged streams.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { geMuseXmlReader } from '../../../functions/core/readers/ge-muse-xml.ts';
import { hl7AecgReader } from '../../../functions/core/readers/hl7-aecg.ts';
import { decodePhilipsWaveforms, philipsXmlReader, readPhilipsXml, samplesBeforeCalibration } from '../../../functions/core/readers/philips-xml.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { decodeXli, decodeXliLzw } from '../../../functions/core/readers/xli.ts';
import { decodeBase64, parseXml, pathOf } from '../../../functions/core/readers/xml.ts';
import { ecgDir } from '../../helpers/paths.ts';

const fixtures = join(ecgDir, 'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures');

// From sierra-ecg-tools pysierraecg/tests/test_xml.py (as listed in ../shared/data/ecg/INDEX.md).
const SIERRA_EXPECTED = [
  { path: '1_03/129DYPRG.XML', version: 'SierraECG 1.03', at2750: [-9, -17, -7, 13, -1, -12, 0, -1, -3, -4, -7, -6], utf16: false },
  { path: '1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml', version: 'PhilipsECG 1.04', at2750: [-11, -54, -43, 33, 16, -50, 7, -4, -14, -41, -35, -33], utf16: true },
  { path: '1_04/ad4d3d80-d165_1-04_orig.xml', version: 'PhilipsECG 1.04', at2750: [32, 46, 14, -39, 9, 30, -74, 320, -1633, 197, 26, 55], utf16: true },
];
const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(fixtures, path))) });
const asUtf8File = (text: string): InputFile => ({ name: 'edited.xml', bytes: new TextEncoder().encode(text) });

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(LeadlightError);
    return (e as LeadlightError).code;
  }
  return undefined;
}

describe.each(SIERRA_EXPECTED)('Philips XML $path', ({ path, version, at2750, utf16 }) => {
  const file = load(path);

  it('is recognised by content (UTF-16 with BOM or UTF-8) as Philips and by no other XML reader', () => {
    expect(file.bytes[0] === 0xff && file.bytes[1] === 0xfe).toBe(utf16);
    expect(philipsXmlReader.sniff(file)).toBe(true);
    expect(geMuseXmlReader.sniff(file)).toBe(false);
    expect(hl7AecgReader.sniff(file)).toBe(false);
  });

  it('decodes 12 leads × 5500 samples whose sample[2750] equals sierra-ecg-tools exactly', () => {
    const decoded = decodePhilipsWaveforms(parseXml(file.bytes), DEFAULT_READ_OPTIONS);
    expect(decoded.documentVersion).toBe(version);
    expect(decoded.labels).toEqual(LEADS);
    expect(decoded.fsHz).toBe(500);
    expect(decoded.resolutionUv).toBe(5);
    expect(decoded.leads.map((l) => l.length)).toEqual(LEADS.map(() => 5500));
    expect(decoded.leads.map((l) => l[2750])).toEqual(at2750);
  });

  it('gives a 12-lead mV record at 500 Hz with the calibration pulse cut and Einthoven holding to 2 LSB', async () => {
    const record = await readEcg([file]);
    expect(record.format).toBe('philips-xml');
    expect(record.samplingRateHz).toBe(500);
    expect(record.derivedLeads).toEqual([]);
    expect(record.samples).toBeGreaterThan(5200);
    expect(record.samples).toBeLessThanOrEqual(5300);
    expect(record.warnings.map((w) => w.code)).toEqual(['calibration_removed']);
    record.signalsMv.forEach((lead, k) => expect(lead[2750]).toBeCloseTo(at2750[k] * 0.005, 6));
    const [I, II, III, aVR, aVL, aVF] = record.signalsMv;
    let worst = 0;
    for (let n = 0; n < record.samples; n++) {
      worst = Math.max(worst, Math.abs(III[n] - (II[n] - I[n])), Math.abs(aVR[n] + (I[n] + II[n]) / 2), Math.abs(aVL[n] - (I[n] - II[n] / 2)), Math.abs(aVF[n] - (II[n] - I[n] / 2)));
    }
    expect(worst).toBeLessThanOrEqual(0.0101);
    expect(record.startTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/u);
  });
});

describe('Philips XML details', () => {
  it('keeps age, sex and acquisition time only (age from years, or from birth date and acquisition date)', async () => {
    const old = await readPhilipsXml(load('1_03/129DYPRG.XML'), DEFAULT_READ_OPTIONS);
    expect([old.ageYears, old.sex, old.startTime]).toEqual([50, 'M', '2011-12-01T07:27:34']);
    const fromBirth = await readPhilipsXml({ ...load('1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml'), name: 'upload.xml' }, DEFAULT_READ_OPTIONS);
    expect([fromBirth.ageYears, fromBirth.sex, fromBirth.startTime]).toEqual([60, 'M', '2010-01-19T15:19:22']);
    const summary = JSON.stringify({ ...fromBirth, channels: fromBirth.channels.map((c) => c.label) });
    expect(summary).not.toMatch(/ZZDEMOPTONLY|1950|9999/u);
  });

  it('reads the representative-beat example as the same rhythm recording as 129DYPRG', () => {
    const a = decodePhilipsWaveforms(parseXml(load('1_03/129DYPRG.XML').bytes), DEFAULT_READ_OPTIONS);
    const b = decodePhilipsWaveforms(parseXml(load('1_03/repbeats_example.xml').bytes), DEFAULT_READ_OPTIONS);
    expect(b.leads).toEqual(a.leads);
  });

  it('finds the calibration tail only when every lead carries the same 0 / pulse pattern', () => {
    const lead = (phase: number, tail: (i: number) => number) =>
      Int16Array.from({ length: 1000 }, (_, i) => (i < 800 ? Math.round(50 * Math.sin(i / 7 + phase)) + 1 : tail(i)));
    const calibration = (i: number) => (i >= 850 && i < 950 ? 200 : 0);
    expect(samplesBeforeCalibration([lead(0, calibration), lead(1, calibration), lead(2, calibration)], 500)).toBe(800);
    // Different tails in different leads, or a tail without a pulse, are signal.
    expect(samplesBeforeCalibration([lead(0, calibration), lead(1, (i) => calibration(i) / 2)], 500)).toBe(1000);
    expect(samplesBeforeCalibration([lead(0, () => 0), lead(1, () => 0)], 500)).toBe(1000);
    const flatTail = (i: number) => (i < 900 ? 5 : 0);
    expect(samplesBeforeCalibration([lead(0, flatTail), lead(1, flatTail)], 500)).toBe(1000);
  });
});

describe('Philips XML damage', () => {
  const text = new TextDecoder('utf-8').decode(load('1_03/129DYPRG.XML').bytes);
  const payload = /<parsedwaveforms[^>]*>([^<]*)</u.exec(text)![1];
  const withPayload = (p: string) => text.replace(payload, p);
  const stream = decodeBase64(payload, 1 << 24);

  it.each([
    ['an XLI stream cut in half', 'encoding_unsupported', () => withPayload(payload.slice(0, Math.floor(payload.length / 2) & ~3))],
    ['an XLI stream cut inside a chunk header', 'encoding_unsupported', () => withPayload(Buffer.from(stream.subarray(0, 4)).toString('base64'))],
    ['invalid base64', 'encoding_unsupported', () => withPayload(payload.replace(/[A-Z]/u, '*'))],
    ['uncompressed waveforms', 'encoding_unsupported', () => text.replace('compressflag="True"', 'compressflag="False"')],
    ['a huge declared duration', 'record_too_long', () => text.replace('durationperchannel="11000"', 'durationperchannel="99999999999"')],
    ['a longer declared duration than stored', 'encoding_unsupported', () => text.replace('durationperchannel="11000"', 'durationperchannel="20000"')],
    ['no sampling rate', 'sampling_rate_unsupported', () => text.replace('<samplingrate>500</samplingrate>', '')],
    ['no waveforms', 'lead_missing', () => text.replace(/<parsedwaveforms[\s\S]*?<\/parsedwaveforms>/u, '')],
    ['another root element', 'unsupported_format', () => '<?xml version="1.0"?><restingecg/>'],
  ])('reports %s as %s', async (_what, code, make) => {
    const started = performance.now();
    expect(await codeOf(readPhilipsXml(asUtf8File(make()), DEFAULT_READ_OPTIONS))).toBe(code);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses corrupted LZW codes and oversized chunk declarations instead of reading past the data', async () => {
    // A code far above the next dictionary slot right at the start of lead 1.
    const corrupted = stream.slice();
    corrupted[8] = 0xfe;
    corrupted[9] = 0x7f;
    expect(await codeOf(() => decodeXli(corrupted, 12, 5500, 1 << 26))).toBe('encoding_unsupported');
    const oversized = stream.slice();
    new DataView(oversized.buffer).setInt32(0, 0x7fffffff, true);
    expect(await codeOf(() => decodeXli(oversized, 12, 5500, 1 << 26))).toBe('encoding_unsupported');
    // The expansion limit holds even for a valid stream.
    const firstChunk = stream.subarray(8, 8 + new DataView(stream.buffer, stream.byteOffset).getInt32(0, true));
    expect(decodeXliLzw(firstChunk, 1 << 20).length).toBeGreaterThanOrEqual(11000);
    expect(await codeOf(() => decodeXliLzw(firstChunk, 1000))).toBe('encoding_unsupported');
  });

  it('finds the waveform element of the 1.04 layout in its own place', () => {
    const root = parseXml(load('1_04/ad4d3d80-d165_1-04_orig.xml').bytes);
    expect(pathOf(root, 'waveforms/parsedwaveforms')?.attributes.compression).toBe('XLI');
  });
});
