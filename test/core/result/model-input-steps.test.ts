// "What the model saw" (issue 16, item 7): the ordered steps from the file to the model input (`input.steps`) on
// real files of several formats, with their numbers taken from the files themselves (header gains, resolutions,
// counts), and the rates and filter of scipy.signal.resample_poly's defaults (half length 10·max(up, down), Kaiser
// β = 5, cutoff 1/max(up, down) of the upsampled Nyquist). Fixtures: ../shared/data/ecg (INDEX.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ecgDir } from '../../helpers/paths.ts';
import { prepareModelInput } from '../../../functions/core/model/preprocess.ts';
import type { ModelManifest } from '../../../functions/core/model/manifest.ts';
import { type EcgRecord, type InputFile, type PreprocessingStep, LEAD_ORDER, toEcgRecord } from '../../../functions/core/record.ts';
import { readDicomWaveforms } from '../../../functions/core/readers/dicom.ts';
import { readEdf } from '../../../functions/core/readers/edf.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { readScp } from '../../../functions/core/readers/scp-ecg.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { preprocessingStepSchema } from '../../../functions/core/result.ts';

/** The Ribeiro et al. 2020 model's input (models/build/ribeiro2020/manifest.json; Bender et al. 2023): 4096 × 12 at 400 Hz. */
const RIBEIRO: Pick<ModelManifest, 'input'> = {
  input: { samplingRateHz: 400, samples: 4096, leads: [...LEAD_ORDER], units: 'mV', window: 'first-samples-zero-pad-end' },
};

const file = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(ecgDir, path))) });
const CPSC = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';
const LUDB = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
const MUSE = 'other_formats/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml';
const PHILIPS = 'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml';
const DICOM = 'other_formats/dicom_pydicom/waveform_ecg.dcm';
const CSV = 'other_formats/csv_12lead_DenisMot/data/ECG_12L.csv';
const CONTEC = 'other_formats/scp_edf_csv_ecg-contec/tools/0000050.ECG';

/** The steps of a record and its Ribeiro input, as the pipeline writes them into `input.steps`. */
function stepsOf(record: EcgRecord): PreprocessingStep[] {
  return [...(record.steps ?? []), ...(prepareModelInput(record, RIBEIRO).steps ?? [])];
}
const kinds = (steps: PreprocessingStep[]) => steps.map((s) => s.step);
const one = (steps: PreprocessingStep[], kind: string) => {
  const found = steps.filter((s) => s.step === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};

/** WFDB signal lines of a header: gain and baseline per signal (`gain(baseline)/units`; baseline = ADC zero without one). */
function headerGains(text: string): { label: string; gain: number; baseline: number }[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const f = l.trim().split(/\s+/u);
      const g = /^([\d.]+)(?:\((-?\d+)\))?/u.exec(f[2])!;
      return { label: f.slice(8).join(' '), gain: Number(g[1]), baseline: g[2] !== undefined ? Number(g[2]) : Number(f[4]) };
    });
}

/** The resample step scipy.signal.resample_poly(x, up, down) implies: 2·10·max + 1 taps, cutoff at the lower Nyquist. */
function expectResample(step: PreprocessingStep, fromHz: number, toHz: number, up: number, down: number) {
  expect(step).toMatchObject({ fromHz, toHz, up, down, filter: { design: 'firwin', window: 'kaiser', beta: 5, taps: 2 * 10 * Math.max(up, down) + 1 } });
  expect(step.filter!.cutoffHz).toBeCloseTo(Math.min(fromHz, toHz) / 2, 9);
  expect(step.description).toContain(`${fromHz} Hz → ${toHz} Hz`);
  expect(step.description).toContain('Kaiser');
}

describe('the steps between the file and the model input', () => {
  it('CPSC A0001 (WFDB, 500 Hz, 1000/mV, 15 s): counts ÷ 1000, 500 → 400 Hz with the resample_poly filter, first 10.24 s', async () => {
    const header = readFileSync(join(ecgDir, CPSC, 'A0001.hea'), 'latin1');
    const gains = headerGains(header);
    const record = await readEcg([file(`${CPSC}/A0001.hea`), file(`${CPSC}/A0001.mat`)]);
    const steps = stepsOf(record);
    expect(kinds(steps)).toEqual(['read', 'units', 'leads', 'resample', 'window', 'layout']);
    expect(one(steps, 'read')).toMatchObject({ format: 'wfdb', samplingRateHz: 500, samples: 7500, durationS: 15 });
    // One gain for all 12 signals in the header, so one conversion without a channel list.
    expect(new Set(gains.map((g) => g.gain))).toEqual(new Set([1000]));
    const units = one(steps, 'units');
    expect(units).toMatchObject({ kind: 'gain', gain: gains[0].gain, baseline: gains[0].baseline, fromUnit: 'mV', mvPerValue: 1 / gains[0].gain });
    expect(units.channels).toBeUndefined();
    expect(units.description).toContain('÷ gain 1000/mV');
    expectResample(one(steps, 'resample'), 500, 400, 4, 5);
    expect(one(steps, 'resample').samples).toBe(6000);
    // 15 s at 400 Hz = 6000 samples; the window keeps 4096 and leaves 1904 (4.76 s) unseen; no padding.
    expect(one(steps, 'window')).toMatchObject({ fromSample: 0, toSample: 4096, samples: 4096, startS: 0, endS: 4096 / 400 });
    expect(one(steps, 'window').unseenS).toBeCloseTo(1904 / 400, 12);
    expect(one(steps, 'layout')).toMatchObject({ shape: [4096, 12], units: 'mV', leads: [...LEAD_ORDER] });
    for (const s of steps) expect(preprocessingStepSchema.safeParse(s).success).toBe(true);
  });

  it('LUDB 1 (WFDB, one gain and baseline per lead, 10 s): each lead its own conversion, lower-case labels mapped, 96 samples padded', async () => {
    const gains = headerGains(readFileSync(join(ecgDir, LUDB, '1.hea'), 'latin1'));
    const record = await readEcg([file(`${LUDB}/1.hea`), file(`${LUDB}/1.dat`)]);
    const steps = stepsOf(record);
    expect(kinds(steps)).toEqual(['read', 'units', ...gains.slice(1).map(() => 'units'), 'leads', 'resample', 'window', 'pad', 'layout']);
    const units = steps.filter((s) => s.step === 'units');
    units.forEach((u, k) => {
      expect(u).toMatchObject({ kind: 'gain', gain: gains[k].gain, baseline: gains[k].baseline, channels: [gains[k].label] });
      expect(u.mvPerValue).toBeCloseTo(1 / gains[k].gain, 15);
    });
    const leads = one(steps, 'leads');
    expect(leads.mapped).toEqual(gains.map((g, k) => ({ channel: g.label, lead: LEAD_ORDER[k] })));
    expect(leads.ignored).toEqual([]);
    expectResample(one(steps, 'resample'), 500, 400, 4, 5);
    // 5000 samples at 500 Hz → 4000 at 400 Hz: 96 zero samples close the 4096-sample window, their relevance masked.
    expect(one(steps, 'pad')).toMatchObject({ fromSample: 4000, toSample: 4096, samples: 96, masked: true, startS: 10, endS: 10.24 });
    expect(one(steps, 'window')).toMatchObject({ toSample: 4000, unseenS: 0 });
  });

  it('GE MUSE example1 (8 stored leads): µV per bit from the file, III and the augmented leads derived with their formulas', async () => {
    const text = readFileSync(join(ecgDir, MUSE), 'latin1');
    const perBit = [...new Set([...text.matchAll(/<LeadAmplitudeUnitsPerBit>([^<]+)</gu)].map((m) => Number(m[1])))];
    expect(perBit).toHaveLength(1);
    const record = await readEcg([file(MUSE)]);
    const steps = stepsOf(record);
    expect(kinds(steps)).toEqual(['read', 'units', 'leads', 'derive', 'resample', 'window', 'pad', 'layout']);
    expect(one(steps, 'read').channels).toEqual(['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
    expect(one(steps, 'units')).toMatchObject({ kind: 'gain', fromUnit: 'µV', gain: 1 / perBit[0] });
    expect(one(steps, 'units').mvPerValue).toBeCloseTo(perBit[0] / 1000, 15);
    const derive = one(steps, 'derive');
    expect(derive).toMatchObject({ leads: ['III', 'aVR', 'aVL', 'aVF'], warnings: ['leads_derived'] });
    expect(derive.formulas).toEqual({ III: 'II − I', aVR: '−(I + II)/2', aVL: 'I − II/2', aVF: 'II − I/2' });
    expect(record.derivedLeads).toEqual(derive.leads);
  });

  it('Philips 1.04 (10.6 s, 5 µV resolution): the resolution from the file, the last 0.36 s after the window unseen', async () => {
    const text = new TextDecoder('utf-16le').decode(readFileSync(join(ecgDir, PHILIPS)));
    const resolution = Number(/<resolution>\s*([\d.]+)/u.exec(text)![1]);
    const record = await readEcg([file(PHILIPS)]);
    const steps = stepsOf(record);
    expect(kinds(steps)).toEqual(['read', 'units', 'leads', 'resample', 'window', 'layout']);
    expect(one(steps, 'units')).toMatchObject({ kind: 'gain', fromUnit: 'µV', mvPerValue: resolution / 1000 });
    expect(one(steps, 'resample').samples).toBe(4240);
    expect(one(steps, 'window').unseenS).toBeCloseTo(144 / 400, 12);
  });

  it('DICOM (1000 Hz, sensitivity in µV): counts × sensitivity, 1000 → 400 Hz as resample_poly(x, 2, 5)', async () => {
    const group = readDicomWaveforms(file(DICOM), DEFAULT_READ_OPTIONS).groups[0];
    const record = await readEcg([file(DICOM)]);
    const steps = stepsOf(record);
    expect(kinds(steps)).toEqual(['read', 'units', 'leads', 'resample', 'window', 'pad', 'layout']);
    const units = one(steps, 'units');
    // The stated factor turns the file's counts into the samples the reader returned.
    const c = group.channels[0];
    const n = c.raw.findIndex((v) => v !== 0);
    expect(units.mvPerValue! * c.raw[n]).toBeCloseTo(c.samplesMv[n], 12);
    expect(units).toMatchObject({ kind: 'gain', fromUnit: 'µV' });
    expectResample(one(steps, 'resample'), 1000, 400, 2, 5);
  });

  it('CSV with a "Gain (digit/millivolt)" line: integer counts ÷ that gain', async () => {
    const gainLine = /Gain \(digit\/millivolt\):\s*([\d.]+)/u.exec(readFileSync(join(ecgDir, CSV), 'latin1'))!;
    const record = await readEcg([file(CSV)]);
    const units = one(stepsOf(record), 'units');
    expect(units).toMatchObject({ kind: 'gain', gain: Number(gainLine[1]), mvPerValue: 1 / Number(gainLine[1]) });
    expect(units.description).toContain(`÷ gain ${gainLine[1]}/mV`);
  });

  it('EDF and SCP-ECG of one recording: each reader states a factor that maps its samples back onto whole counts', () => {
    const edf = readEdf(file(`${CONTEC}.edf`), DEFAULT_READ_OPTIONS);
    const scp = readScp(file(`${CONTEC}.scp`), DEFAULT_READ_OPTIONS);
    for (const raw of [edf, scp]) {
      expect(raw.conversions, raw.format).toHaveLength(1);
      const c = raw.conversions![0];
      expect(c.kind).toBe('gain');
      const x = raw.channels[0].samplesMv;
      for (let n = 0; n < 500; n++) {
        const counts = x[n] / c.mvPerValue! + (c.baseline ?? 0);
        expect(Math.abs(counts - Math.round(counts)), `${raw.format} sample ${n}`).toBeLessThan(1e-6);
      }
    }
    // SCP-ECG section 6: amplitude multiplier 5000 nV (5 µV per count).
    expect(scp.conversions![0]).toMatchObject({ fromUnit: 'nV', mvPerValue: 0.005 });
  });

  it('a channel stored as −aVR (Cabrera) is negated back, as its own step with the lead_inverted warning', async () => {
    const raw = await wfdbReader.read(file(`${LUDB}/1.hea`), [file(`${LUDB}/1.hea`), file(`${LUDB}/1.dat`)], DEFAULT_READ_OPTIONS);
    const plain = toEcgRecord(raw);
    const cabrera = toEcgRecord({
      ...raw,
      channels: raw.channels.map((c) => (c.label === 'avr' ? { label: '-aVR', samplesMv: c.samplesMv.map((v) => -v) } : c)),
    });
    const steps = stepsOf(cabrera);
    expect(kinds(steps)).toEqual([...kinds(stepsOf(plain)).slice(0, 14), 'invert', ...kinds(stepsOf(plain)).slice(14)]);
    expect(one(steps, 'invert')).toMatchObject({ channels: ['-aVR'], leads: ['aVR'], warnings: ['lead_inverted'] });
    expect(Array.from(cabrera.signalsMv[3])).toEqual(Array.from(plain.signalsMv[3]));
  });

  it('never quotes a channel label that names no lead (free text may identify the patient)', async () => {
    const raw = await wfdbReader.read(file(`${LUDB}/1.hea`), [file(`${LUDB}/1.hea`), file(`${LUDB}/1.dat`)], DEFAULT_READ_OPTIONS);
    const planted = { ...raw, channels: [...raw.channels, { label: 'ZZPLANTNAME Jane 1950', samplesMv: raw.channels[0].samplesMv }] };
    planted.conversions = [...raw.conversions!, { ...raw.conversions![0], channels: ['ZZPLANTNAME Jane 1950'] }];
    const steps = stepsOf(toEcgRecord(planted));
    expect(JSON.stringify(steps)).not.toMatch(/ZZPLANT|Jane|1950/u);
    expect(one(steps, 'leads').description).toContain('1 channel naming no standard lead');
  });
});
