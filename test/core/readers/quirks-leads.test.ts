/**
 * Inverted-lead labels (record.ts `leadOf`): Cabrera displays and SCP-ECG lead id 65 store −aVR, and some
 * writers store other leads inverted (`-I`, `-V1`). The record must hold the standard lead, negated back, with a
 * `lead_inverted` warning naming the channel. Fixture: 12 leads of sines with known amplitudes in mV at 500 Hz.
 */
import { describe, expect, it } from 'vitest';
import { type RawRecord, LEAD_ORDER, leadOf, toEcgRecord } from '../../../functions/core/record.ts';

const FS = 500;
const SAMPLES = 2 * FS;
/** Lead k is a sine of amplitude 0.2 + 0.1·k mV at (1 + k/2) Hz. */
const sine = (k: number) => Float64Array.from({ length: SAMPLES }, (_, n) => (0.2 + 0.1 * k) * Math.sin((2 * Math.PI * (1 + k / 2) * n) / FS));

/** A raw record of the 12 synthetic leads, with lead `inverted` (if any) stored negated under `label`. */
function rawWith(inverted?: string, label?: string): RawRecord {
  const channels = LEAD_ORDER.map((lead, k) => {
    const s = sine(k);
    return lead === inverted ? { label: label!, samplesMv: s.map((x) => -x) } : { label: lead, samplesMv: s };
  });
  return { name: 'synthetic', format: 'test', samplingRateHz: FS, channels, warnings: [] };
}

describe('inverted lead labels', () => {
  const inverted: [string, string][] = [
    ['-aVR', 'aVR'], ['\u2212aVR', 'aVR'], ['\u2013aVR', 'aVR'], ['-avr', 'aVR'], ['aVR-', 'aVR'], ['ECG -aVR', 'aVR'],
    ['EKG \u2212aVR', 'aVR'], ['ECG\u2212aVR', 'aVR'], ['Lead -aVR', 'aVR'], ['MDC_ECG_LEAD_aVRneg', 'aVR'], ['MDC_ECG_LEAD_-aVR', 'aVR'],
    ['-I', 'I'], ['-II', 'II'], ['-III', 'III'], ['-aVL', 'aVL'], ['-aVF', 'aVF'], ['-V1', 'V1'], ['\u2212V6', 'V6'], ['ECG -V3', 'V3'],
  ];
  it.each(inverted)('reads %s as lead %s inverted', (label, lead) => {
    expect(leadOf(label)).toEqual({ lead, inverted: true });
  });

  const plain: [string, string][] = [
    ['aVR', 'aVR'], ['avr', 'aVR'], ['ECG-I', 'I'], ['ECG - aVR', 'aVR'], ['Lead-II', 'II'], ['V1-lead', 'V1'],
    ['MDC_ECG_LEAD_aVR', 'aVR'], ['EKG I', 'I'], ['EKG V1', 'V1'], ['EKG aVR', 'aVR'], ['ECG_V2', 'V2'],
  ];
  it.each(plain)('reads %s as lead %s, not inverted', (label, lead) => {
    expect(leadOf(label)).toEqual({ lead, inverted: false });
  });

  it('does not take a stray minus for a lead', () => {
    for (const label of ['-', '-Resp', 'Resp-', 'neg', '-EDF Annotations']) expect(leadOf(label)).toBeUndefined();
  });
});

describe('records with an inverted lead', () => {
  const cases: [string, string][] = [
    ['aVR', '-aVR'], ['aVR', '\u2212aVR'], ['aVR', 'aVR-'], ['aVR', 'MDC_ECG_LEAD_aVRneg'], ['I', '-I'], ['V1', '-V1'], ['aVF', 'EKG -aVF'],
  ];
  it.each(cases)('holds %s negated back from the channel %s, within 1e-6 mV, with a lead_inverted warning', (lead, label) => {
    const record = toEcgRecord(rawWith(lead, label));
    LEAD_ORDER.forEach((l, k) => {
      const want = sine(k);
      const got = record.signalsMv[k];
      let worst = 0;
      for (let n = 0; n < SAMPLES; n++) worst = Math.max(worst, Math.abs(got[n] - want[n]));
      expect(worst, `lead ${l}`).toBeLessThan(1e-6);
    });
    expect(record.derivedLeads).toEqual([]);
    expect(record.warnings).toEqual([
      { code: 'lead_inverted', message: `Channel "${label}" holds lead ${lead} inverted (as Cabrera displays show −aVR); it was negated to give ${lead}.` },
    ]);
  });

  it('names every inverted channel in one warning', () => {
    const raw = rawWith('aVR', '-aVR');
    raw.channels[0] = { label: '-I', samplesMv: raw.channels[0].samplesMv.map((x) => -x) };
    const record = toEcgRecord(raw);
    expect(record.signalsMv[0][100]).toBeCloseTo(sine(0)[100], 6);
    expect(record.warnings.map((w) => w.message)).toEqual([
      'Channels "-I", "-aVR" hold leads I, aVR inverted (as Cabrera displays show −aVR); they were negated to give I, aVR.',
    ]);
  });

  it('keeps the first of aVR and −aVR as a duplicate, without negating or warning about the unused one', () => {
    const raw = rawWith();
    raw.channels.push({ label: '-aVR', samplesMv: sine(3).map((x) => -x) });
    const record = toEcgRecord(raw);
    expect(record.signalsMv[3][7]).toBeCloseTo(sine(3)[7], 6);
    expect(record.warnings.map((w) => w.code)).toEqual(['duplicate_lead']);
  });

  it('does not change a record of plain labels', () => {
    const record = toEcgRecord(rawWith());
    expect(record.warnings).toEqual([]);
    expect(record.signalsMv[3][7]).toBeCloseTo(sine(3)[7], 6);
  });
});
