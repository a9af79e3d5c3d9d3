/**
 * SCP-ECG reader on the two SCP fixtures of ../shared/data/ecg/other_formats/scp_edf_csv_ecg-contec: Example.scp
 * (ELI250, default Huffman table, second differences, 2500 nV, 500 Hz, 10 s, 12 leads per INDEX.md) and
 * 0000050.ECG.scp (Contec, uncompressed, 800 Hz). Expected values per lead (count, first samples, sum, min, max)
 * come from an independent NumPy decoder (test/fixtures/readers-binary/compute_expected.py → expected.json).
 * Plus refusals of the variants Leadlight does not decode, hostile input and seeded fuzzing.
 */
import { expectChannelsAsDecoded } from '../../helpers/expected-channels.ts';
import { codeOf, sumOf } from '../../helpers/outcomes.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import type { InputFile } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { crcCcitt, readScp, scpReader } from '../../../functions/core/readers/scp-ecg.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import expected from '../../fixtures/readers-binary/expected.json' with { type: 'json' };
import { fuzzCaseCount, fuzzReader, readerRun } from '../../helpers/fuzz-binary.ts';
import { ecgDir } from '../../helpers/paths.ts';

const dir = join(ecgDir, 'other_formats/scp_edf_csv_ecg-contec');
const load = (path: string): InputFile => ({ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(dir, path))) });
const example = load('examples/Example.scp');
const contec = load('tools/0000050.ECG.scp');
const opts = DEFAULT_READ_OPTIONS;


/** Section offsets from section 0's pointer table (EN 1064 §5.4), for building variants in the tests. */
function sectionOffset(bytes: Uint8Array, id: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 22; p < 6 + v.getUint32(10, true); p += 10) if (v.getUint16(p, true) === id) return v.getUint32(p + 6, true) - 1;
  throw new Error(`no section ${id}`);
}

/** A copy of `bytes` with `edit` applied and the file CRC recomputed. */
function variant(bytes: Uint8Array, edit: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const b = bytes.slice();
  const v = new DataView(b.buffer);
  edit(b, v);
  v.setUint16(0, crcCcitt(b, 2, b.length), true);
  return b;
}

describe('SCP-ECG reader on the fixtures, against an independent NumPy decoder', () => {
  for (const file of [example, contec]) {
    const exp = expected[file.name as 'Example.scp' | '0000050.ECG.scp'];
    it(`reads ${file.name} lead for lead as the reference decoder (${exp.samplingRateHz} Hz)`, () => {
      expect(scpReader.sniff(file)).toBe(true);
      const raw = readScp(file, opts);
      expectChannelsAsDecoded(raw, exp, 5);
      expect(raw.warnings.filter((w) => w.code === 'checksum_mismatch')).toEqual([]);
    });
  }

  it('reads Example.scp as the 10 s, 500 Hz, 12-lead record INDEX.md describes, with age/sex/time only', async () => {
    const record = await readEcg([example]);
    expect(record.format).toBe('scp-ecg');
    expect(record.samplingRateHz).toBe(500);
    expect(record.samples).toBe(5000);
    expect(record.derivedLeads).toEqual([]);
    expect(record.sex).toBe('M');
    expect(record.startTime).toBe('2002-11-22T09:10:00');
    const json = JSON.stringify({ ...record, signalsMv: [] });
    expect(json).not.toMatch(/Clark|SBJ-123|1953/u);
  });

  it('decodes Example.scp’s Huffman/second-difference data so that the limb leads obey Einthoven’s law', () => {
    const c = Object.fromEntries(readScp(example, opts).channels.map((ch) => [ch.label, ch.samplesMv]));
    let worst = 0;
    for (let n = 0; n < 5000; n++) {
      worst = Math.max(worst, Math.abs(c.III[n] - (c.II[n] - c.I[n])), Math.abs(c.aVF[n] - (c.II[n] - c.I[n] / 2)));
    }
    expect(worst).toBeLessThanOrEqual(0.0125); // a few 2.5 µV units of rounding in the device’s derived leads
  });

  it('reads the 32767 stored samples of 0000050.ECG.scp (its 16-bit byte counts overflowed) with a warning', () => {
    const raw = readScp(contec, opts);
    expect(raw.samplingRateHz).toBe(800);
    expect(raw.channels[0].samplesMv.length).toBe(32767);
    expect(raw.warnings.map((w) => w.code)).toContain('signal_truncated');
    expect(raw.warnings.map((w) => w.code)).toContain('lead_empty');
  });

  it('refuses 0000050.ECG.scp as a 12-lead record because V1–V6 are empty', async () => {
    await expect(readEcg([contec])).rejects.toMatchObject({ code: 'lead_missing', message: expect.stringContaining('V1, V2, V3, V4, V5, V6') });
  });
});

describe('SCP-ECG variants Leadlight refuses', () => {
  it('refuses reference-beat-subtracted rhythm data with encoding_unsupported', () => {
    const b = variant(example.bytes, (bytes) => {
      bytes[sectionOffset(bytes, 3) + 17] |= 0x01;
    });
    expect(codeOf(() => readScp({ name: 'rbs.scp', bytes: b }, opts))).toBe('encoding_unsupported');
  });

  it('refuses bimodal compression and custom Huffman tables with encoding_unsupported', () => {
    const bimodal = variant(example.bytes, (bytes) => {
      bytes[sectionOffset(bytes, 6) + 16 + 5] = 1;
    });
    expect(codeOf(() => readScp({ name: 'bimodal.scp', bytes: bimodal }, opts))).toBe('encoding_unsupported');
    const custom = variant(example.bytes, (_b, v) => v.setUint16(sectionOffset(example.bytes, 2) + 16, 1, true));
    expect(codeOf(() => readScp({ name: 'custom.scp', bytes: custom }, opts))).toBe('encoding_unsupported');
  });

  it('reads first differences (built from the Contec data) back to the same samples', () => {
    // Re-encode lead data as first differences: d[0] = x[0], d[n] = x[n] − x[n−1].
    const b = variant(contec.bytes, (bytes, v) => {
      const s6 = sectionOffset(bytes, 6) + 16;
      bytes[s6 + 4] = 1;
      let p = s6 + 6 + 2 * 12;
      for (let k = 0; k < 12; k++) {
        const len = v.getUint16(s6 + 6 + 2 * k, true) / 2;
        let prev = 0;
        for (let n = 0; n < len; n++) {
          const x = v.getInt16(p + 2 * n, true);
          v.setInt16(p + 2 * n, x - prev, true);
          prev = x;
        }
        p += 2 * len;
      }
    });
    const a = readScp(contec, opts).channels[0].samplesMv;
    const d = readScp({ name: 'diff1.scp', bytes: b }, opts).channels[0].samplesMv;
    expect(Array.from(d)).toEqual(Array.from(a));
  });

  it('warns about a CRC mismatch instead of refusing', () => {
    const b = example.bytes.slice();
    b[0] ^= 0xff;
    expect(readScp({ name: 'crc.scp', bytes: b }, opts).warnings.map((w) => w.code)).toContain('checksum_mismatch');
  });
});

describe('SCP-ECG reader on hostile input', () => {
  it('reports truncated files, wrong magic and huge declared sizes with stable codes', () => {
    for (const cut of [40, 400, 3900, example.bytes.length - 100]) {
      const bytes = example.bytes.slice(0, cut);
      expect(scpReader.sniff({ name: 't.scp', bytes })).toBe(false); // the size field no longer fits the file
      // even when the size field is patched to the cut length, reading fails cleanly
      const patched = variant(bytes, (_b, v) => v.setUint32(2, bytes.length, true));
      expect(['unsupported_format', 'header_syntax', 'truncated_signal', 'record_incomplete', 'ok']).toContain(codeOf(() => readScp({ name: 't.scp', bytes: patched }, opts)));
    }
    const wrong = example.bytes.slice();
    wrong[8] = 7;
    expect(scpReader.sniff({ name: 'w.scp', bytes: wrong })).toBe(false);
    const huge = variant(example.bytes, (bytes, v) => v.setUint32(sectionOffset(bytes, 3) + 18 + 4, 0xfffffff0, true));
    expect(codeOf(() => readScp({ name: 'h.scp', bytes: huge }, opts))).toBe('record_too_long');
    const noLeads = variant(example.bytes, (bytes) => {
      bytes[sectionOffset(bytes, 3) + 16] = 0;
    });
    expect(codeOf(() => readScp({ name: 'z.scp', bytes: noLeads }, opts))).toBe('lead_missing');
    const shortLead = variant(example.bytes, (bytes, v) => {
      const s6 = sectionOffset(bytes, 6) + 16;
      v.setUint16(s6 + 6, v.getUint16(s6 + 6, true) - 40, true); // lead I loses 40 bytes of its Huffman data
    });
    expect(codeOf(() => readScp({ name: 's.scp', bytes: shortLead }, opts))).toBe('truncated_signal');
    const oneLead = variant(example.bytes, (bytes) => {
      bytes[sectionOffset(bytes, 3) + 16] = 1;
    });
    expect(codeOf(() => readScp({ name: 'one.scp', bytes: oneLead }, opts))).toBe('ok');
  });

  it('turns every one of a few hundred seeded mutations of each fixture into a record or a LeadlightError', async () => {
    for (const [file, seed, cases] of [[example, 0x5c9e, 200], [contec, 0x5c9f, 100]] as const) {
      const summary = await fuzzReader(file, fuzzCaseCount(cases), seed, readerRun(scpReader));
      expect(summary.crashes).toEqual([]);
      expect(summary.slowestMs).toBeLessThan(2000);
    }
  });
});
