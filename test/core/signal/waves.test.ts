/**
 * Multi-lead delineation against the cardiologists' per-lead annotations of LUDB (records 1–150, 500 Hz).
 * Each annotated wave of lead II (P `p`, QRS `N`, T `t`, with `(` onset and `)` offset) is matched to the detected
 * wave of the same type whose centre is nearest to its centre, within 150 ms (75 samples); errors are detected −
 * annotated in ms. Floors are the values measured when the delineator was written (see the helper report), with
 * slack. Beats come from the fused detector. LUDB AF records are those labelled AF in ../shared/data/ecg/labels.csv;
 * CPSC 2018 records are grouped by their header's `#Dx:` (AF, or exactly Normal).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findRPeaksMultiLead } from '../../../functions/core/signal/rpeaks.ts';
import { delineateWaves, type WaveBoundaries } from '../../../functions/core/signal/waves.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { wfdbReader } from '../../../functions/core/readers/wfdb.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { ecgDir } from '../../helpers/paths.ts';
import { LUDB_DIR, LUDB_LEADS, ludbRecords, ludbWaves, readWfdbRecord } from './load.ts';

type Key = 'p' | 'qrs' | 't';
interface Stats { annotated: number; matched: number; detected: number; detectedInside: number; onsetMs: number[]; offsetMs: number[] }
const stats: Record<Key, Stats> = {
  p: { annotated: 0, matched: 0, detected: 0, detectedInside: 0, onsetMs: [], offsetMs: [] },
  qrs: { annotated: 0, matched: 0, detected: 0, detectedInside: 0, onsetMs: [], offsetMs: [] },
  t: { annotated: 0, matched: 0, detected: 0, detectedInside: 0, onsetMs: [], offsetMs: [] },
};
const pShare = { af: { beats: 0, withP: 0 }, other: { beats: 0, withP: 0 } };
const meanSd = (v: number[]) => {
  const m = v.reduce((s, x) => s + x, 0) / v.length;
  return { mean: m, sd: Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length) };
};

function wavesOf(d: WaveBoundaries, key: Key) {
  if (key === 'p') return { onset: d.pOnset, peak: d.pPeak, offset: d.pOffset };
  if (key === 'qrs') return { onset: d.qrsOnset, peak: d.rPeak, offset: d.qrsOffset };
  return { onset: d.tOnset, peak: d.tPeak, offset: d.tOffset };
}

beforeAll(async () => {
  const labels = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').split('\n');
  const afRecords = new Set(labels.filter((l) => l.startsWith('ludb') && /,([^,]*\bAF\b[^,]*),[^,]*$/.test(l)).map((l) => Number(l.split(',')[1])));
  expect(afRecords.size).toBe(14);
  for (const r of ludbRecords()) {
    const record = await readWfdbRecord(LUDB_DIR, String(r));
    const leads = LUDB_LEADS.map((l) => record.channels.find((c) => c.label === l)!.samplesMv);
    const beats = delineateWaves(leads, 500, findRPeaksMultiLead(leads, 500));
    const share = afRecords.has(r) ? pShare.af : pShare.other;
    share.beats += beats.length;
    share.withP += beats.filter((b) => b.pPeak !== null).length;
    const ann = ludbWaves(r, 'ii');
    const all = [...ann.p, ...ann.N, ...ann.t];
    if (!all.length) continue;
    const lo = Math.min(...all.map((w) => w.onset)) - 50;
    const hi = Math.max(...all.map((w) => w.offset)) + 50;
    for (const [type, key] of [['p', 'p'], ['N', 'qrs'], ['t', 't']] as const) {
      const s = stats[key];
      const found = beats.map((b) => wavesOf(b, key)).filter((w): w is { onset: number; peak: number; offset: number } =>
        w.onset !== null && w.peak !== null && w.offset !== null && w.peak >= lo && w.peak <= hi);
      s.detected += found.length;
      s.detectedInside += found.filter((w) => ann[type].some((a) => w.peak >= a.onset - 25 && w.peak <= a.offset + 25)).length;
      for (const a of ann[type]) {
        s.annotated++;
        const centre = (a.onset + a.offset) / 2;
        let best: (typeof found)[number] | null = null;
        for (const w of found) {
          const dist = Math.abs((w.onset + w.offset) / 2 - centre);
          if (dist <= 75 && (!best || dist < Math.abs((best.onset + best.offset) / 2 - centre))) best = w;
        }
        if (!best) continue;
        s.matched++;
        s.onsetMs.push((best.onset - a.onset) * 2);
        s.offsetMs.push((best.offset - a.offset) * 2);
      }
    }
  }
});

describe('P/QRS/T delineation vs LUDB lead II annotations (150 records)', () => {
  it('delineates the QRS of almost every beat (measured Se 0.995, onset +0.7 ± 12.0 ms, offset −0.1 ± 13.7 ms)', () => {
    const s = stats.qrs;
    expect(s.annotated).toBeGreaterThan(1300);
    expect(s.matched / s.annotated).toBeGreaterThanOrEqual(0.99);
    expect(s.detectedInside / s.detected).toBeGreaterThanOrEqual(0.985);
    const on = meanSd(s.onsetMs);
    const off = meanSd(s.offsetMs);
    expect(Math.abs(on.mean)).toBeLessThanOrEqual(4);
    expect(on.sd).toBeLessThanOrEqual(14);
    expect(Math.abs(off.mean)).toBeLessThanOrEqual(4);
    expect(off.sd).toBeLessThanOrEqual(16);
  });

  it('delineates T-waves (measured Se 0.984, PPV 0.977, onset −0.4 ± 33.3 ms, offset −0.3 ± 37.1 ms)', () => {
    const s = stats.t;
    expect(s.matched / s.annotated).toBeGreaterThanOrEqual(0.975);
    expect(s.detectedInside / s.detected).toBeGreaterThanOrEqual(0.965);
    const on = meanSd(s.onsetMs);
    const off = meanSd(s.offsetMs);
    expect(Math.abs(on.mean)).toBeLessThanOrEqual(8);
    expect(on.sd).toBeLessThanOrEqual(36);
    expect(Math.abs(off.mean)).toBeLessThanOrEqual(8);
    expect(off.sd).toBeLessThanOrEqual(40);
  });

  it('delineates P-waves (measured Se 0.920, PPV 0.932, onset −4.0 ± 13.5 ms, offset +9.5 ± 15.7 ms)', () => {
    const s = stats.p;
    expect(s.matched / s.annotated).toBeGreaterThanOrEqual(0.9);
    expect(s.detectedInside / s.detected).toBeGreaterThanOrEqual(0.92);
    const on = meanSd(s.onsetMs);
    const off = meanSd(s.offsetMs);
    expect(Math.abs(on.mean)).toBeLessThanOrEqual(7);
    expect(on.sd).toBeLessThanOrEqual(16);
    expect(Math.abs(off.mean)).toBeLessThanOrEqual(12);
    expect(off.sd).toBeLessThanOrEqual(18);
  });

  it('reports no P-waves in atrial fibrillation (measured 0 of 185 AF beats) but before most other beats', () => {
    expect(pShare.af.beats).toBeGreaterThan(150);
    expect(pShare.af.withP / pShare.af.beats).toBeLessThanOrEqual(0.03);
    expect(pShare.other.withP / pShare.other.beats).toBeGreaterThanOrEqual(0.75);
  });

  it('finds P-waves before normal beats but (almost) none in AF on CPSC 2018 (measured 95.2 % vs 4.3 %)', async () => {
    const dir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
    const share = { AF: { beats: 0, withP: 0, records: 0 }, NORM: { beats: 0, withP: 0, records: 0 } };
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.hea')).map((f) => f.slice(0, -4))) {
      const dx = /#Dx:\s*(.*)/.exec(readFileSync(join(dir, `${name}.hea`), 'utf8'))?.[1].trim() ?? '';
      const cls = dx.split(',').includes('AF') ? 'AF' : dx === 'Normal' ? 'NORM' : null;
      if (!cls) continue;
      const files = [`${name}.hea`, `${name}.mat`].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));
      const record = await wfdbReader.read(files[0], files, DEFAULT_READ_OPTIONS);
      const leads = record.channels.map((c) => c.samplesMv);
      const beats = delineateWaves(leads, record.samplingRateHz, findRPeaksMultiLead(leads, record.samplingRateHz));
      share[cls].beats += beats.length;
      share[cls].withP += beats.filter((b) => b.pPeak !== null).length;
      share[cls].records++;
    }
    expect(share.AF.records).toBe(15);
    expect(share.NORM.records).toBe(14);
    expect(share.NORM.withP / share.NORM.beats).toBeGreaterThanOrEqual(0.92);
    expect(share.AF.withP / share.AF.beats).toBeLessThanOrEqual(0.06);
  });
});

describe('delineation on hostile input', () => {
  it('orders the boundaries of each beat and keeps them inside the record', async () => {
    const record = await readWfdbRecord(LUDB_DIR, '1');
    const leads = LUDB_LEADS.map((l) => record.channels.find((c) => c.label === l)!.samplesMv);
    for (const b of delineateWaves(leads, 500, findRPeaksMultiLead(leads, 500))) {
      const seq = [b.pOnset, b.pPeak, b.pOffset, b.qrsOnset, b.rPeak, b.qrsOffset, b.tOnset, b.tPeak, b.tOffset].filter((v): v is number => v !== null);
      seq.forEach((v, i) => {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(5000);
        if (i) expect(v).toBeGreaterThanOrEqual(seq[i - 1]);
      });
    }
  });

  it('returns empty boundaries for flat leads and out-of-range peaks, and refuses NaN', () => {
    const flat = [new Float64Array(3000), new Float64Array(3000)];
    const out = delineateWaves(flat, 500, [500, 1000, 99999, -3, 1.5]);
    expect(out.map((b) => b.rPeak)).toEqual([500, 1000]);
    expect(delineateWaves(flat, 500, []).length).toBe(0);
    expect(delineateWaves([new Float64Array(10)], 500, [5])[0].qrsOnset).toBeNull();
    let error: unknown;
    try {
      delineateWaves([Float64Array.from([0, Number.NaN, 0])], 500, [1]);
    } catch (e) {
      error = e;
    }
    expect(isLeadlightError(error)).toBe(true);
  });
});
