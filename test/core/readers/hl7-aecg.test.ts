// HL7 aECG: the HL7 reference example (12 rhythm leads × 5000 samples, 2.5 µV per unit, 500 Hz, as the `aecg`
// package's tests state) against digits extracted independently with Python, the preference of rhythm over
// representative beats, the minimal schema example (one 13-sample lead → a clear lead_missing), and damage.
import { codeOfAsync as codeOf } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { geMuseXmlReader } from '../../../functions/core/readers/ge-muse-xml.ts';
import { hl7AecgReader, readHl7Aecg } from '../../../functions/core/readers/hl7-aecg.ts';
import { philipsXmlReader } from '../../../functions/core/readers/philips-xml.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';

const aecgDir = join(ecgDir, 'other_formats/hl7_aecg_FDA-aecg-python');
const expected = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/readers/xml-expected.json'), 'utf8')).hl7 as Record<
  string,
  { n: number; first5Mv: number[]; at2500Mv: number; sumMv: number }
>;

const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(aecgDir, path))) });
const asFile = (text: string): InputFile => ({ name: 'edited.xml', bytes: new TextEncoder().encode(text) });
const example = load('Example aECG.xml');
const exampleText = new TextDecoder().decode(example.bytes);


describe('HL7 aECG reference example (Example aECG.xml)', () => {
  it('is recognised by its AnnotatedECG root, behind comments, and by no other XML reader', () => {
    expect(hl7AecgReader.sniff(example)).toBe(true);
    expect(geMuseXmlReader.sniff(example)).toBe(false);
    expect(philipsXmlReader.sniff(example)).toBe(false);
  });

  it('reads the 12 rhythm leads × 5000 samples at 500 Hz, scaled by 2.5 µV, as extracted with Python', async () => {
    const raw = await readHl7Aecg(example, DEFAULT_READ_OPTIONS);
    expect(raw.format).toBe('hl7-aecg');
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.channels.map((c) => c.label)).toEqual(Object.keys(expected));
    for (const channel of raw.channels) {
      const want = expected[channel.label];
      expect(channel.samplesMv.length).toBe(5000);
      Array.from(channel.samplesMv.subarray(0, 5)).forEach((v, k) => expect(v).toBeCloseTo(want.first5Mv[k], 6));
      expect(channel.samplesMv[2500]).toBeCloseTo(want.at2500Mv, 6);
      expect(Array.from(channel.samplesMv).reduce((a, b) => a + b, 0)).toBeCloseTo(want.sumMv, 2);
    }
    expect(raw.warnings).toEqual([]);
  });

  it('keeps the acquisition time, reported age and sex, but no ids', async () => {
    const raw = await readHl7Aecg(example, DEFAULT_READ_OPTIONS);
    expect(raw.startTime).toBe('2002-11-22T09:10:00');
    expect(raw.ageYears).toBe(46);
    expect(raw.sex).toBe('M');
    expect(JSON.stringify({ ...raw, channels: [] })).not.toMatch(/SBJ-123|61d1a24f/u);
  });

  it('becomes a 12-lead record whose stored limb leads agree with Einthoven to rounding', async () => {
    const record = await readEcg([example]);
    expect(record.samples).toBe(5000);
    expect(record.derivedLeads).toEqual([]);
    const [I, II, III] = record.signalsMv;
    for (let n = 0; n < record.samples; n++) expect(Math.abs(III[n] - (II[n] - I[n]))).toBeLessThanOrEqual(0.0026);
  });

  it('prefers rhythm waveforms and falls back to the representative beats (599 samples) with a warning', async () => {
    // Empty the series' own (rhythm) sequence set; the derivedSeries further down keeps its beats.
    const from = exampleText.indexOf('<sequenceSet>') + '<sequenceSet>'.length;
    const derivedOnly = exampleText.slice(0, from) + exampleText.slice(exampleText.indexOf('</sequenceSet>'));
    expect(derivedOnly.length).toBeLessThan(exampleText.length - 100_000);
    const raw = await readHl7Aecg(asFile(derivedOnly), DEFAULT_READ_OPTIONS);
    expect(raw.channels).toHaveLength(12);
    expect(raw.channels[0].samplesMv.length).toBe(599);
    expect(raw.warnings.map((w) => w.code)).toEqual(['median_beat_only']);
  });

  it('understands a time increment in milliseconds and amplitudes in mV', async () => {
    const edited = exampleText
      .replace('<increment value="0.002" unit="s"/>', '<increment value="2" unit="ms"/>')
      .replace(/<scale value="2.5" unit="uV"\/>/u, '<scale value="0.0025" unit="mV"/>');
    const raw = await readHl7Aecg(asFile(edited), DEFAULT_READ_OPTIONS);
    expect(raw.samplingRateHz).toBe(500);
    expect(raw.channels[0].samplesMv[0]).toBeCloseTo(expected.MDC_ECG_LEAD_I.first5Mv[0], 6);
  });
});

describe('HL7 aECG minimal and damaged documents', () => {
  it('reads minimum_aecg.xml (lead II, 13 samples) and then refuses it clearly as lacking leads', async () => {
    const minimum = load('src/aecg/data/examples/minimum_aecg.xml');
    const raw = await readHl7Aecg(minimum, DEFAULT_READ_OPTIONS);
    expect(raw.channels.map((c) => [c.label, c.samplesMv.length])).toEqual([['MDC_ECG_LEAD_II', 13]]);
    expect(raw.channels[0].samplesMv[0]).toBeCloseTo(-0.005, 6);
    expect(await codeOf(readEcg([minimum]))).toBe('lead_missing');
  });

  it.each([
    ['truncated XML', 'xml_invalid', () => exampleText.slice(0, 200_000)],
    ['a sample that is not a number', 'signal_invalid', () => exampleText.replace('<digits> -2 -2 -2', '<digits> -2 x -2')],
    ['a waveform type other than SLIST_PQ', 'encoding_unsupported', () => exampleText.replace('<value xsi:type="SLIST_PQ">', '<value xsi:type="SLIST_INT">')],
    ['unknown amplitude units', 'encoding_unsupported', () => exampleText.replace('<scale value="2.5" unit="uV"/>', '<scale value="2.5" unit="furlong"/>')],
    ['a time sequence without increment', 'sampling_rate_unsupported', () => exampleText.replace(/<sequence>\s*<code code="TIME_ABSOLUTE"[\s\S]*?<\/sequence>/u, '<sequence/>')],
    ['a zero time increment', 'sampling_rate_unsupported', () => exampleText.replace('<increment value="0.002" unit="s"/>', '<increment value="0" unit="s"/>')],
    ['no series', 'lead_missing', () => exampleText.replace(/<component>\s*<series>[\s\S]*<\/series>\s*<\/component>/u, '')],
    ['another root element', 'unsupported_format', () => '<?xml version="1.0"?><ClinicalDocument/>'],
  ])('reports %s as %s', async (_what, code, make) => {
    const started = performance.now();
    expect(await codeOf(readHl7Aecg(asFile(make()), DEFAULT_READ_OPTIONS))).toBe(code);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses more digits than the per-channel limit before storing them', async () => {
    expect(await codeOf(readHl7Aecg(example, { ...DEFAULT_READ_OPTIONS, maxSamplesPerChannel: 4000 }))).toBe('record_too_long');
  });
});
