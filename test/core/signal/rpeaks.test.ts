/**
 * R-peak detectors on real reference sets. Floors are the scores measured when the detectors were written
 * (reported in the helper report), minus a small slack; a drop below them means a regression.
 * - MIT-BIH 100, channel 0 (MLII), 360 Hz: beats = non-rhythm annotations of 100.atr, tolerance 0.1·fs = 36 samples
 *   (wfdb-python tests/test_processing.py test_xqrs asks > 0.99 for both).
 * - LUDB 1–150, 500 Hz: a detection is correct when it lies inside an annotated QRS (`(`…`)` around `N`) of the
 *   scored lead; only detections within [first onset − 75 ms, last offset + 75 ms] count (annotations cover the
 *   central part of each record).
 * - CPSC 2019 (50 records here), 500 Hz single lead: reference R_peak, tolerance 75 ms, peaks in the first and
 *   last 0.5 s ignored (torch_ecg compute_metrics(thr=0.075)). A hard, noisy set.
 */
import { expectLeadlightError } from '../../helpers/outcomes.ts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findRPeaks, findRPeaksMultiLead } from '../../../functions/core/signal/rpeaks.ts';
import { beatSamples } from '../../../functions/core/readers/wfdb-annotation.ts';
import { CPSC2019_DIR, LUDB_DIR, LUDB_LEADS, MIT_DIR, ludbRecords, ludbWaves, matchBeats, readAnnotations, readCpsc2019, readWfdbRecord, sePpv } from './load.ts';

type Counts = { tp: number; fn: number; fp: number };
const addTo = (total: Counts, s: Counts) => {
  total.tp += s.tp;
  total.fn += s.fn;
  total.fp += s.fp;
};

/** LUDB scoring: annotated QRS spans of one lead vs detections. */
function scoreAgainstSpans(spans: { onset: number; offset: number }[], detected: ArrayLike<number>, tol: number): Counts {
  if (!spans.length) return { tp: 0, fn: 0, fp: 0 };
  const lo = spans[0].onset - tol;
  const hi = spans[spans.length - 1].offset + tol;
  const d = Array.from(detected).filter((x) => x >= lo && x <= hi);
  const hit = spans.filter((s) => d.some((x) => x >= s.onset && x <= s.offset)).length;
  const good = d.filter((x) => spans.some((s) => x >= s.onset && x <= s.offset)).length;
  return { tp: hit, fn: spans.length - hit, fp: d.length - good };
}

describe('R-peaks on MIT-BIH record 100 (channel 0, 360 Hz, tolerance 36 samples)', () => {
  let ch0: Float32Array | Float64Array;
  let reference: Int32Array;
  beforeAll(async () => {
    const record = await readWfdbRecord(MIT_DIR, '100');
    ch0 = record.channels[0].samplesMv;
    reference = beatSamples(readAnnotations(join(MIT_DIR, '100.atr')));
  });

  it('finds the beats with NeuroKit2 defaults (measured Se 0.9987, PPV 1.000)', () => {
    const { se, ppv } = sePpv(matchBeats(reference, findRPeaks(ch0, 360), 36));
    expect(se).toBeGreaterThanOrEqual(0.998);
    expect(ppv).toBeGreaterThanOrEqual(0.999);
  });

  it('finds every beat with the robust detector on the one lead (measured Se 1.000, PPV 1.000)', () => {
    const { se, ppv } = sePpv(matchBeats(reference, findRPeaksMultiLead([ch0], 360), 36));
    expect(se).toBeGreaterThanOrEqual(0.999);
    expect(ppv).toBeGreaterThanOrEqual(0.999);
  });
});

describe('R-peaks on LUDB (12 leads, 500 Hz, inside annotated QRS)', () => {
  const totals: Record<string, Counts> = {};
  beforeAll(async () => {
    for (const key of ['fused-12 vs II', 'fused-12 vs V6', 'robust II', 'neurokit II', 'neurokit V6']) totals[key] = { tp: 0, fn: 0, fp: 0 };
    for (const r of ludbRecords()) {
      const record = await readWfdbRecord(LUDB_DIR, String(r));
      const leads = LUDB_LEADS.map((l) => record.channels.find((c) => c.label === l)!.samplesMv);
      const spansII = ludbWaves(r, 'ii').N;
      const spansV6 = ludbWaves(r, 'v6').N;
      const fused = findRPeaksMultiLead(leads, 500);
      addTo(totals['fused-12 vs II'], scoreAgainstSpans(spansII, fused, 37));
      addTo(totals['fused-12 vs V6'], scoreAgainstSpans(spansV6, fused, 37));
      addTo(totals['robust II'], scoreAgainstSpans(spansII, findRPeaksMultiLead([leads[1]], 500), 37));
      addTo(totals['neurokit II'], scoreAgainstSpans(spansII, findRPeaks(leads[1], 500), 37));
      addTo(totals['neurokit V6'], scoreAgainstSpans(spansV6, findRPeaks(leads[11], 500), 37));
    }
  });

  it('scores the whole set (150 records, ~1370 annotated QRS per lead)', () => {
    expect(ludbRecords().length).toBeGreaterThanOrEqual(150);
    expect(totals['fused-12 vs II'].tp + totals['fused-12 vs II'].fn).toBeGreaterThan(1300);
  });

  it('fuses 12 leads into beats inside the annotated QRS (measured vs II: Se 0.9985, PPV 0.9993)', () => {
    const { se, ppv } = sePpv(totals['fused-12 vs II']);
    expect(se).toBeGreaterThanOrEqual(0.997);
    expect(ppv).toBeGreaterThanOrEqual(0.997);
    const v6 = sePpv(totals['fused-12 vs V6']);
    expect(v6.se).toBeGreaterThanOrEqual(0.99);
    expect(v6.ppv).toBeGreaterThanOrEqual(0.99);
  });

  it('finds beats in lead II alone with the robust detector (measured Se 0.9985, PPV 0.9993)', () => {
    const { se, ppv } = sePpv(totals['robust II']);
    expect(se).toBeGreaterThanOrEqual(0.997);
    expect(ppv).toBeGreaterThanOrEqual(0.997);
  });

  it('reproduces NeuroKit2-level accuracy on II and V6 (measured II 0.9775/0.9875, V6 0.9753/0.9796)', () => {
    const ii = sePpv(totals['neurokit II']);
    const v6 = sePpv(totals['neurokit V6']);
    expect(ii.se).toBeGreaterThanOrEqual(0.975);
    expect(ii.ppv).toBeGreaterThanOrEqual(0.985);
    expect(v6.se).toBeGreaterThanOrEqual(0.972);
    expect(v6.ppv).toBeGreaterThanOrEqual(0.977);
  });

  it('keeps its accuracy with added noise and baseline wander (LUDB + 0.1 mV white noise + 0.5 mV 0.3 Hz wander: measured Se 0.9971, PPV 0.9971)', async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
    const total = { tp: 0, fn: 0, fp: 0 };
    for (const r of ludbRecords()) {
      const record = await readWfdbRecord(LUDB_DIR, String(r));
      const leads = LUDB_LEADS.map((l, k) =>
        Float64Array.from(record.channels.find((c) => c.label === l)!.samplesMv, (v, i) => v + 0.1 * gauss() + 0.5 * Math.sin((2 * Math.PI * 0.3 * i) / 500 + k)));
      addTo(total, scoreAgainstSpans(ludbWaves(r, 'ii').N, findRPeaksMultiLead(leads, 500), 37));
    }
    const { se, ppv } = sePpv(total);
    expect(se).toBeGreaterThanOrEqual(0.995);
    expect(ppv).toBeGreaterThanOrEqual(0.995);
  });

  it('gives the same beats at 250 Hz and 1000 Hz (resampled LUDB 1–30, fused detector)', async () => {
    const total = { tp: 0, fn: 0, fp: 0 };
    for (const r of ludbRecords().slice(0, 30)) {
      const record = await readWfdbRecord(LUDB_DIR, String(r));
      const leads = LUDB_LEADS.map((l) => record.channels.find((c) => c.label === l)!.samplesMv);
      const spans = ludbWaves(r, 'ii').N;
      const down = leads.map((x) => Float64Array.from({ length: x.length / 2 }, (_, i) => (x[2 * i] + x[2 * i + 1]) / 2));
      const up = leads.map((x) => Float64Array.from({ length: 2 * x.length }, (_, i) => (i % 2 ? (x[(i - 1) / 2] + x[Math.min(x.length - 1, (i + 1) / 2)]) / 2 : x[i / 2])));
      const at250 = Array.from(findRPeaksMultiLead(down, 250), (p) => 2 * p);
      const at1000 = Array.from(findRPeaksMultiLead(up, 1000), (p) => Math.round(p / 2));
      // Widen the spans by one 250-Hz sample for the coarser grid.
      addTo(total, scoreAgainstSpans(spans.map((s) => ({ onset: s.onset - 2, offset: s.offset + 2 })), at250, 37));
      addTo(total, scoreAgainstSpans(spans, at1000, 37));
    }
    const { se, ppv } = sePpv(total);
    expect(se).toBeGreaterThanOrEqual(0.995);
    expect(ppv).toBeGreaterThanOrEqual(0.995);
  });
});

describe('R-peaks on CPSC 2019 (single lead, 500 Hz, tolerance 75 ms)', () => {
  const totals = { neurokit: { tp: 0, fn: 0, fp: 0 }, robust: { tp: 0, fn: 0, fp: 0 } };
  beforeAll(() => {
    const ids = readdirSync(join(CPSC2019_DIR, 'data')).map((f) => f.slice(5, 10)).sort();
    expect(ids.length).toBe(50);
    for (const id of ids) {
      const { ecg, rPeaks } = readCpsc2019(id);
      const inside = (p: number) => p >= 250 && p < ecg.length - 250;
      const ref = rPeaks.filter(inside);
      addTo(totals.neurokit, matchBeats(ref, Array.from(findRPeaks(ecg, 500)).filter(inside), 37.5));
      addTo(totals.robust, matchBeats(ref, Array.from(findRPeaksMultiLead([ecg], 500)).filter(inside), 37.5));
    }
  });

  it('robust detector: measured Se 0.9618, PPV 0.9645 (a few very noisy records pull both down)', () => {
    const { se, ppv } = sePpv(totals.robust);
    expect(se).toBeGreaterThanOrEqual(0.958);
    expect(ppv).toBeGreaterThanOrEqual(0.96);
  });

  it('NeuroKit2 default detector: measured Se 0.8840, PPV 0.9441', () => {
    const { se, ppv } = sePpv(totals.neurokit);
    expect(se).toBeGreaterThanOrEqual(0.88);
    expect(ppv).toBeGreaterThanOrEqual(0.94);
  });
});

describe('R-peak detectors on hostile input', () => {
  it('returns no beats for empty, tiny, flat or all-zero signals', () => {
    expect(findRPeaks(new Float32Array(0), 500).length).toBe(0);
    expect(findRPeaks(new Float32Array(2), 500).length).toBe(0);
    expect(findRPeaks(new Float32Array(5000), 500).length).toBe(0);
    expect(findRPeaksMultiLead([new Float32Array(5000), new Float32Array(5000)], 500).length).toBe(0);
    expect(findRPeaksMultiLead([new Float32Array(10)], 500).length).toBe(0);
  });

  it('refuses NaN samples, impossible rates, no leads and leads of different lengths', () => {
    expectLeadlightError(() => findRPeaks(Float64Array.from([0, Number.NaN, 0, 0]), 500));
    expectLeadlightError(() => findRPeaks(new Float64Array(100), 0));
    expectLeadlightError(() => findRPeaks(new Float64Array(100), Number.POSITIVE_INFINITY));
    expectLeadlightError(() => findRPeaksMultiLead([], 500));
    expectLeadlightError(() => findRPeaksMultiLead([new Float64Array(100), new Float64Array(99)], 500));
  });

  it('stays bounded on white noise and on a lead full of huge spikes next to a clean lead', async () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
    const noise = Float64Array.from({ length: 10_000 }, rand);
    const beats = findRPeaksMultiLead([noise], 500);
    expect(beats.length).toBeLessThanOrEqual(20 * 4); // never more than one per refractory period
    const record = await readWfdbRecord(LUDB_DIR, '1');
    const leads = LUDB_LEADS.map((l) => Float64Array.from(record.channels.find((c) => c.label === l)!.samplesMv));
    const clean = findRPeaksMultiLead(leads, 500);
    leads[3] = Float64Array.from(leads[3], (v, i) => (i % 700 === 350 ? 50 : v)); // a broken electrode in aVR
    const withSpikes = findRPeaksMultiLead(leads, 500);
    expect(matchBeats(clean, withSpikes, 25)).toMatchObject({ fn: 0, fp: 0 });
  });
});
