// GE MUSE XML: the BRAVEHEART example exports (8 stored leads, 500 Hz, 10 s) against values decoded
// independently with Python (test/fixtures/readers/xml-expected.json), the Einthoven identities of the derived
// limb leads, the QRS times MUSE itself stored, and damaged variants.
import { codeOfAsync as codeOf } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import { type InputFile, toEcgRecord } from '../../../functions/core/record.ts';
import { crc32 } from '../../../functions/core/readers/archive.ts';
import { geMuseXmlReader, readGeMuseXml } from '../../../functions/core/readers/ge-muse-xml.ts';
import { hl7AecgReader } from '../../../functions/core/readers/hl7-aecg.ts';
import { philipsXmlReader } from '../../../functions/core/readers/philips-xml.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';

const museDir = join(ecgDir, 'other_formats/ge_muse_xml_BRAVEHEART/Example ECGs');
const expected = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/readers/xml-expected.json'), 'utf8')).geMuse as Record<
  string,
  Record<string, { n: number; first5Mv: number[]; at2500Mv: number; sumMv: number; crcMatches: boolean }>
>;

const load = (name: string): InputFile => ({ name, bytes: new Uint8Array(readFileSync(join(museDir, name))) });
const latin1 = (file: InputFile) => new TextDecoder('latin1').decode(file.bytes);
const asFile = (text: string): InputFile => ({ name: 'edited.xml', bytes: Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff) });


/** The QRS times (ms) MUSE stored in `<QRSTimesTypes>`. */
function qrsTimesMs(text: string): number[] {
  const block = /<QRSTimesTypes>([\s\S]*?)<\/QRSTimesTypes>/u.exec(text)?.[1] ?? '';
  return [...block.matchAll(/<Time>(\d+)<\/Time>/gu)].map((m) => Number(m[1]));
}

describe.each(Object.keys(expected))('GE MUSE %s (BRAVEHEART example)', (name) => {
  const file = load(name);

  it('is recognised by content as GE MUSE and by no other XML reader', () => {
    expect(geMuseXmlReader.sniff(file)).toBe(true);
    expect(philipsXmlReader.sniff(file)).toBe(false);
    expect(hl7AecgReader.sniff(file)).toBe(false);
    expect(geMuseXmlReader.sniff({ name: 'x.xml', bytes: new TextEncoder().encode('<restingecgdata/>') })).toBe(false);
  });

  it('reads the Rhythm waveform: 8 leads × 5000 samples at 500 Hz, in mV as decoded with Python', async () => {
    const raw = await readGeMuseXml(file, DEFAULT_READ_OPTIONS);
    expect(raw.format).toBe('ge-muse-xml');
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.channels.map((c) => c.label)).toEqual(Object.keys(expected[name]));
    for (const channel of raw.channels) {
      const want = expected[name][channel.label];
      expect(channel.samplesMv.length).toBe(want.n);
      Array.from(channel.samplesMv.subarray(0, 5)).forEach((v, k) => expect(v).toBeCloseTo(want.first5Mv[k], 5));
      expect(channel.samplesMv[2500]).toBeCloseTo(want.at2500Mv, 5);
      expect(Array.from(channel.samplesMv).reduce((a, b) => a + b, 0)).toBeCloseTo(want.sumMv, 1);
    }
    // Every lead's CRC-32 matched (Python's zlib agrees), so no checksum warning.
    expect(Object.values(expected[name]).every((l) => l.crcMatches)).toBe(true);
    expect(raw.warnings).toEqual([]);
    // The BRAVEHEART examples are anonymised: no demographics, no acquisition date.
    expect(raw.ageYears).toBeUndefined();
    expect(raw.sex).toBeUndefined();
  });

  it('becomes a 12-lead record whose derived limb leads satisfy Einthoven and Goldberger', async () => {
    const record = await readEcg([file]);
    expect(record.samples).toBe(5000);
    expect(record.derivedLeads).toEqual(['III', 'aVR', 'aVL', 'aVF']);
    const [I, II, III, aVR, aVL, aVF] = record.signalsMv;
    for (let n = 0; n < record.samples; n += 7) {
      expect(III[n]).toBeCloseTo(II[n] - I[n], 5);
      expect(aVR[n] + aVL[n] + aVF[n]).toBeCloseTo(0, 5);
    }
  });

  it('puts the QRS complexes where MUSE measured them', async () => {
    // Independent timing check: each QRS time stored by MUSE (ms) must sit within 60 ms of the steepest
    // point of lead V2-V4 (largest absolute first difference) in the surrounding ±200 ms.
    const record = await readEcg([file]);
    const v3 = record.signalsMv[8];
    const times = qrsTimesMs(latin1(file));
    expect(times.length).toBeGreaterThanOrEqual(8);
    for (const tMs of times) {
      const centre = Math.round((tMs / 1000) * record.samplingRateHz);
      let best = centre;
      let bestSlope = -1;
      for (let n = Math.max(1, centre - 100); n < Math.min(record.samples, centre + 100); n++) {
        const slope = Math.abs(v3[n] - v3[n - 1]);
        if (slope > bestSlope) {
          bestSlope = slope;
          best = n;
        }
      }
      expect(Math.abs(best - centre)).toBeLessThanOrEqual(30);
    }
  });
});

describe('GE MUSE XML edge cases and damage', () => {
  const text = latin1(load('example1.xml'));
  const rhythmAt = text.indexOf('<WaveformType>Rhythm');
  /** Applies an edit to the Rhythm waveform only (the Median waveform comes first in the file). */
  const inRhythm = (edit: (part: string) => string) => text.slice(0, rhythmAt) + edit(text.slice(rhythmAt));

  it('computes CRC-32 like zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('keeps age, sex and acquisition time from the demographics but no names or ids', async () => {
    const withDemographics = text.replace(
      '<RestingECG>',
      '<RestingECG><PatientDemographics><PatientID>12345</PatientID><PatientAge>63</PatientAge><AgeUnits>YEARS</AgeUnits>' +
        '<Gender>FEMALE</Gender><PatientLastName>DOE</PatientLastName><DateofBirth>01-02-1950</DateofBirth></PatientDemographics>' +
        '<TestDemographics><AcquisitionTime>15:21:27</AcquisitionTime><AcquisitionDate>12-11-2018</AcquisitionDate></TestDemographics>',
    );
    const raw = await readGeMuseXml(asFile(withDemographics), DEFAULT_READ_OPTIONS);
    expect(raw.ageYears).toBe(63);
    expect(raw.sex).toBe('F');
    expect(raw.startTime).toBe('2018-12-11T15:21:27');
    expect(JSON.stringify({ ...raw, channels: raw.channels.map((c) => c.label) })).not.toMatch(/DOE|12345|1950/u);
  });

  it('falls back to the Median beat with a warning when there is no Rhythm waveform', async () => {
    const medianOnly = text.replace(/<Waveform>\s*<WaveformType>Rhythm[\s\S]*?<\/Waveform>/u, '');
    const raw = await readGeMuseXml(asFile(medianOnly), DEFAULT_READ_OPTIONS);
    expect(raw.channels[0].samplesMv.length).toBe(600);
    expect(raw.warnings.map((w) => w.code)).toEqual(['median_beat_only']);
  });

  it('warns when a lead does not match its CRC-32', async () => {
    const tampered = text.replace(/<LeadDataCRC32>2448704614</u, '<LeadDataCRC32>1<');
    const raw = await readGeMuseXml(asFile(tampered), DEFAULT_READ_OPTIONS);
    expect(raw.warnings.map((w) => w.code)).toEqual(['checksum_mismatch']);
  });

  it.each([
    ['truncated XML', 'xml_invalid', text.slice(0, 60_000)],
    ['invalid base64 in the waveform', 'encoding_unsupported', text.replace('7P/s/+z/7P/u', '7P/s/*z/7P/u')],
    ['fewer samples than declared', 'truncated_signal', inRhythm((t) => t.replace(/(<LeadID>I<\/LeadID>[\s\S]*?<WaveFormData>)[^<]*/u, '$1AAAA'))],
    ['a huge declared sample count', 'record_too_long', text.replace('<LeadSampleCountTotal>5000<', '<LeadSampleCountTotal>900000000<')],
    ['no sample base', 'sampling_rate_unsupported', text.replace(/<SampleBase>500<\/SampleBase>/gu, '')],
    ['unknown amplitude units', 'encoding_unsupported', text.replace(/MICROVOLTS/gu, 'FURLONGS')],
    ['no waveforms at all', 'lead_missing', text.replace(/<Waveform>[\s\S]*<\/Waveform>/u, '')],
  ])('reports %s as %s', async (_what, code, damaged) => {
    const started = performance.now();
    expect(await codeOf(readGeMuseXml(asFile(damaged), DEFAULT_READ_OPTIONS))).toBe(code);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a document with another root element', async () => {
    expect(await codeOf(readGeMuseXml(asFile('<?xml version="1.0"?><NotAnEcg/>'), DEFAULT_READ_OPTIONS))).toBe('unsupported_format');
  });
});
