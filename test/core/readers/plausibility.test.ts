/**
 * Plausibility warnings on real records: the CinC 2020 copies of PTB-XL (HR00001–HR00010) declare 200/mV for
 * samples stored at 1000/mV, and seb-good's S0001 declares 2 000 000/mV for samples of s0010_re/2 (INDEX.md,
 * "Cross-format identities"). Their gains are wrong; every other 12-lead record of ../shared is taken as correct.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { ecgDir } from '../../helpers/paths.ts';

const rows = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
const twelveLead = rows.filter((r) => Number(r[6]) >= 12 && r[2].split(';').some((f) => f.endsWith('.hea')));
const wrongGain = new Set(['HR00001', 'HR00002', 'HR00003', 'HR00004', 'HR00005', 'HR00006', 'HR00007', 'HR00008', 'HR00009', 'HR00010', 'S0001']);

describe('gain plausibility', () => {
  it('flags most records whose headers declare a wrong gain, and no record with a correct one', async () => {
    const flagged: string[] = [];
    for (const r of twelveLead) {
      const files = r[2].split(';').map((f) => ({ name: f.split('/').pop() as string, bytes: new Uint8Array(readFileSync(join(ecgDir, f))) }));
      const record = await readEcg(files);
      if (record.warnings.some((w) => w.code === 'gain_implausible')) flagged.push(r[1]);
    }
    expect(twelveLead.length).toBeGreaterThan(300);
    expect(flagged.filter((name) => !wrongGain.has(name))).toEqual([]);
    expect(flagged.length).toBeGreaterThanOrEqual(9);
  });
});
