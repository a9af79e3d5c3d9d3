/**
 * The paper's beat analysis (Bender et al. 2023, analysis (c); NeuroKit2 ecg_segment window) on real records:
 * CPSC 2018 A0002 (Normal, 500 Hz, 10 s) and A0003 (AF) from ../shared/data/ecg/cpsc2018_..., read with the WFDB
 * reader; beats from the NeuroKit2 detector on V6 as in the paper. Expected values follow from the window rule
 * (−0.35·RR … +0.5·RR, ±0.1 s more when HR ≥ 80) and from the definition of the average.
 */
import { expectLeadlightError } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { averageBeats, heartRateBpm, paperBeatWindowS, rrIntervalsS, windowOffsets } from '../../../functions/core/analysis/beats.ts';
import { findRPeaks } from '../../../functions/core/signal/rpeaks.ts';
import { wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { toEcgRecord } from '../../../functions/core/record.ts';
import { ecgDir } from '../../helpers/paths.ts';

const CPSC = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');

async function readCpsc(name: string) {
  const files = [`${name}.hea`, `${name}.mat`].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(CPSC, f))) }));
  return toEcgRecord(await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS));
}


describe('the paper beat window', () => {
  it('is −350/+500 ms at 60 bpm and widens by 0.1 s each side from 80 bpm', () => {
    const w60 = paperBeatWindowS(60);
    expect(w60.startS).toBeCloseTo(-0.35, 12);
    expect(w60.endS).toBeCloseTo(0.5, 12);
    const w79 = paperBeatWindowS(79.9);
    expect(w79.startS).toBeCloseTo(-0.35 * (60 / 79.9), 12);
    const w80 = paperBeatWindowS(80);
    expect(w80.startS).toBeCloseTo(-0.35 * 0.75 - 0.1, 12);
    expect(w80.endS).toBeCloseTo(0.5 * 0.75 + 0.1, 12);
    expectLeadlightError(() => paperBeatWindowS(0));
    expectLeadlightError(() => paperBeatWindowS(Number.NaN));
  });

  it('gives 60 bpm and a −350/+500 ms window (175 + 250 samples at 500 Hz) for beats one second apart', () => {
    const n = 5000;
    const evenly = Array.from({ length: 9 }, (_, k) => 500 + 500 * k);
    expect(heartRateBpm(evenly, 500, n)).toBeCloseTo(60, 9);
    expect(heartRateBpm(evenly, 500)).toBeCloseTo(60, 9);
    const signals = [Float64Array.from({ length: n }, (_, i) => Math.sin(i / 50))];
    const avg = averageBeats({ signals, fsHz: 500, rPeaks: evenly });
    expect(avg.timeS.length).toBe(425);
    expect(avg.rIndex).toBe(175);
    expect(avg.timeS[0]).toBeCloseTo(-0.35, 12);
    expect(avg.timeS[avg.rIndex]).toBe(0);
    expect(avg.timeS[avg.timeS.length - 1]).toBeCloseTo(0.498, 12);
    expect(avg.beats).toBe(9);
  });
});

describe('average beats of a real 12-lead ECG (CPSC 2018 A0002, Normal)', () => {
  it('finds regular beats on V6 and uses the window of their mean heart rate', async () => {
    const record = await readCpsc('A0002');
    const fs = record.samplingRateHz;
    const rPeaks = findRPeaks(record.signalsMv[11], fs);
    expect(rPeaks.length).toBeGreaterThanOrEqual(8);
    const rr = rrIntervalsS(rPeaks, fs);
    const meanRr = rr.reduce((s, v) => s + v, 0) / rr.length;
    const hr = heartRateBpm(rPeaks, fs, record.samples)!;
    // For a regular rhythm NeuroKit2's interpolated mean rate is close to 60 / mean RR.
    expect(Math.abs(hr - 60 / meanRr)).toBeLessThan(3);
    const avg = averageBeats({ signals: record.signalsMv, relevance: record.signalsMv, fsHz: fs, rPeaks });
    const w = paperBeatWindowS(hr);
    expect(avg.window).toEqual(w);
    expect(avg.heartRateBpm).toBe(hr);
    const { first, length } = windowOffsets(w, fs);
    expect(avg.timeS.length).toBe(length);
    expect(avg.rIndex).toBe(-first);
    expect(first).toBe(Math.floor(w.startS * fs));
    // A relevance equal to the signal averages to the averaged signal, lead by lead.
    for (let lead = 0; lead < 12; lead++) {
      expect(avg.signalMv[lead].length).toBe(length);
      avg.relevance[lead].forEach((v, i) => expect(v).toBe(avg.signalMv[lead][i]));
    }
    // Normalisation: max |value| over the 12 leads is exactly 1, every value lies in [−1, 1].
    let maxSignal = 0;
    let maxRel = 0;
    for (let lead = 0; lead < 12; lead++) {
      for (const v of avg.signalNormalised[lead]) maxSignal = Math.max(maxSignal, Math.abs(v));
      for (const v of avg.relevanceNormalised[lead]) maxRel = Math.max(maxRel, Math.abs(v));
    }
    expect(maxSignal).toBe(1);
    expect(maxRel).toBe(1);
    // The average beat has its R-wave at t = 0 in V6 (the lead the beats were found on): a clear peak there.
    const v6 = avg.signalMv[11];
    const around = Array.from(v6.subarray(avg.rIndex - 10, avg.rIndex + 11));
    expect(Math.max(...around)).toBeGreaterThan(0.3 * Math.max(...Array.from(v6, Math.abs)));
  });

  it('averages by hand: the mean of the beat windows, with zeros outside the record', async () => {
    const record = await readCpsc('A0002');
    const fs = record.samplingRateHz;
    // Beats near both ends so their windows run off the record.
    const rPeaks = [20, 1500, 2600, record.samples - 30];
    const avg = averageBeats({ signals: record.signalsMv, fsHz: fs, rPeaks });
    const first = -avg.rIndex;
    for (const i of [0, 37, avg.rIndex, avg.timeS.length - 1]) {
      let sum = 0;
      for (const p of rPeaks) {
        const at = p + first + i;
        sum += at >= 0 && at < record.samples ? record.signalsMv[1][at] : 0;
      }
      expect(avg.signalMv[1][i]).toBeCloseTo(sum / rPeaks.length, 6);
    }
    // Without relevance the relevance average is all zeros (and stays finite after normalisation).
    expect(avg.relevance.every((l) => l.every((v) => v === 0))).toBe(true);
    expect(avg.relevanceNormalised.every((l) => l.every((v) => v === 0))).toBe(true);
  });

  it('uses a fixed window around the R-peak with r-peak alignment, also on an AF record (A0003)', async () => {
    const record = await readCpsc('A0003');
    const fs = record.samplingRateHz;
    const rPeaks = findRPeaks(record.signalsMv[11], fs);
    const rr = rrIntervalsS(rPeaks, fs);
    const mean = rr.reduce((s, v) => s + v, 0) / rr.length;
    const sd = Math.sqrt(rr.reduce((s, v) => s + (v - mean) ** 2, 0) / rr.length);
    expect(sd / mean).toBeGreaterThan(0.08); // irregularly irregular
    const avg = averageBeats({ signals: record.signalsMv, relevance: record.signalsMv, fsHz: fs, rPeaks, alignment: 'r-peak' });
    expect(avg.timeS.length).toBe(500);
    expect(avg.timeS[avg.rIndex]).toBe(0);
    expect(avg.timeS[0]).toBeCloseTo(-0.4, 12);
  });
});

describe('beat analysis on hostile input', () => {
  it('refuses too few beats for the paper window, bad options and mismatched shapes', () => {
    const signals = [new Float64Array(1000), new Float64Array(1000)];
    expect(heartRateBpm([100], 500)).toBeNull();
    expect(heartRateBpm([], 500, 1000)).toBeNull();
    expectLeadlightError(() => averageBeats({ signals, fsHz: 500, rPeaks: [100] }));
    expectLeadlightError(() => averageBeats({ signals, fsHz: 0, rPeaks: [100, 600] }));
    expectLeadlightError(() => averageBeats({ signals: [], fsHz: 500, rPeaks: [100, 600] }));
    expectLeadlightError(() => averageBeats({ signals: [new Float64Array(10), new Float64Array(9)], fsHz: 500, rPeaks: [1, 5] }));
    expectLeadlightError(() => averageBeats({ signals, relevance: [new Float64Array(1000)], fsHz: 500, rPeaks: [100, 600] }));
    expectLeadlightError(() => averageBeats({ signals, fsHz: 500, rPeaks: [100, 600], alignment: 'x' as 'r-peak' }));
    expectLeadlightError(() => averageBeats({ signals, fsHz: 500, rPeaks: [100, 600], alignment: 'r-peak', beforeS: -1 }));
    expectLeadlightError(() => heartRateBpm([600, 100, 300], 500, 1000));
  });

  it('ignores R-peaks outside the record or not whole samples, and gives all-zero averages for flat leads', () => {
    const signals = [new Float64Array(1000)];
    const avg = averageBeats({ signals, fsHz: 500, rPeaks: [-5, 100, 600, 1.5, 5000], alignment: 'paper-centre' });
    expect(avg.beats).toBe(2);
    expect(avg.signalNormalised[0].every((v) => v === 0)).toBe(true);
  });
});
