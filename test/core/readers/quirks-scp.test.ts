/**
 * SCP-ECG (EN 1064 / ISO 11073-91064) files whose Section 3 numbers lead samples from 0 instead of 1, written here
 * from a known signal (12 sines of known amplitudes in mV, 500 Hz, 10 s, 1 µV per unit): first 0 and last N (a
 * 1-based last) and first 0 and last N − 1 (0-based throughout) both hold N samples, uncompressed or with the
 * default Huffman table and second differences. Also Example.scp with its Section 3 renumbered, aVR stored as
 * −aVR (lead id 65), and the ranges that stay refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { crcCcitt, readScp } from '../../../functions/core/readers/scp-ecg.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { codeAndMessageOf } from '../../helpers/outcomes.ts';
import { ecgDir } from '../../helpers/paths.ts';

const FS = 500;
const N = 10 * FS;
const NV_PER_UNIT = 1000;
/** Lead k: a sine of amplitude 0.2 + 0.1·k mV at (1 + k/2) Hz, phase k/3. */
const sineMv = (k: number, n: number) => (0.2 + 0.1 * k) * Math.sin((2 * Math.PI * (1 + k / 2) * n) / FS + k / 3);
/** The stored integer of sample n of lead k (1 µV per unit) and what it means in mV. */
const unitsOf = (k: number, n: number) => Math.round((sineMv(k, n) * 1e6) / NV_PER_UNIT);
const storedMv = (k: number, n: number) => (unitsOf(k, n) * NV_PER_UNIT) / 1e6;
/** EN 1064 Table 19 lead ids in LEAD_ORDER (aVR = 62; −aVR = 65). */
const LEAD_IDS = [1, 2, 61, 62, 63, 64, 3, 4, 5, 6, 7, 8];

/** Default Huffman table of EN 1064: 0 → 0; ±1…±8 → that many 1s, a 0, the sign; else 8- or 16-bit escapes. */
function huffman(values: number[]): Uint8Array {
  const bits: number[] = [];
  const put = (v: number, width: number) => { for (let i = width - 1; i >= 0; i--) bits.push((v >> i) & 1); };
  for (const v of values) {
    const a = Math.abs(v);
    if (v === 0) bits.push(0);
    else if (a <= 8) { for (let i = 0; i < a; i++) bits.push(1); bits.push(0, v < 0 ? 1 : 0); }
    else if (v >= -128 && v <= 127) { put(0b1111111110, 10); put(v & 0xff, 8); }
    else { put(0b1111111111, 10); put(v & 0xffff, 16); }
  }
  const out = new Uint8Array(Math.ceil(bits.length / 8)); // the last byte padded with 0 bits
  bits.forEach((b, i) => { out[i >> 3] |= b << (7 - (i & 7)); });
  return out;
}

interface ScpOptions {
  /** Section 3's starting and ending sample numbers of every lead. */
  first: number;
  last: number;
  compressed: boolean;
  /** Lead id of the fourth lead (62 aVR, 65 −aVR, stored negated). */
  avrId?: number;
}

/** A section: 16-byte header (CRC over id…end, id, length, versions, reserved) then `body`, padded to even length. */
function section(id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length + (body.length % 2));
  const v = new DataView(out.buffer);
  v.setUint16(2, id, true);
  v.setUint32(4, out.length, true);
  out[8] = 20; // section version 2.0
  out[9] = 20; // protocol version 2.0
  out.set(body, 16);
  v.setUint16(0, crcCcitt(out, 2, out.length), true);
  return out;
}

/** Writes an SCP-ECG file (EN 1064 layout): CRC, size, Section 0 pointers, then Sections 1, 2 (if compressed), 3, 6. */
function writeScp(o: ScpOptions): Uint8Array {
  const ids = LEAD_IDS.map((id, k) => (k === 3 ? o.avrId ?? id : id));
  const sign = (k: number) => (ids[k] === 65 ? -1 : 1);
  const s1 = new Uint8Array([8, 1, 0, 1, 255, 0, 0]); // tag 8 (sex) = 1 (male); tag 255 ends the list
  const s2 = new Uint8Array(new Uint16Array([19999]).buffer);
  const s3 = new Uint8Array(2 + 9 * 12);
  const v3 = new DataView(s3.buffer);
  s3[0] = 12;
  s3[1] = 0b100; // all leads recorded simultaneously; no reference beat subtraction
  ids.forEach((id, k) => {
    v3.setUint32(2 + 9 * k, o.first, true);
    v3.setUint32(2 + 9 * k + 4, o.last, true);
    s3[2 + 9 * k + 8] = id;
  });
  const leadData = LEAD_ORDER.map((_, k) => {
    const x = Array.from({ length: N }, (_, n) => sign(k) * unitsOf(k, n));
    if (!o.compressed) return new Uint8Array(new Int16Array(x).buffer);
    const d = x.map((xn, n) => (n < 2 ? xn : xn - 2 * x[n - 1] + x[n - 2])); // second differences
    return huffman(d);
  });
  const s6 = new Uint8Array(6 + 2 * 12 + leadData.reduce((a, d) => a + d.length, 0));
  const v6 = new DataView(s6.buffer);
  v6.setUint16(0, NV_PER_UNIT, true);
  v6.setUint16(2, 1e6 / FS, true);
  s6[4] = o.compressed ? 2 : 0;
  s6[5] = 0;
  let p = 6 + 2 * 12;
  leadData.forEach((d, k) => {
    v6.setUint16(6 + 2 * k, d.length, true);
    s6.set(d, p);
    p += d.length;
  });
  const bodies: [number, Uint8Array][] = [[1, s1], ...(o.compressed ? [[2, s2] as [number, Uint8Array]] : []), [3, s3], [6, s6]];
  const sections = bodies.map(([id, body]) => [id, section(id, body)] as const);
  const ptrIds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const s0Body = new Uint8Array(10 * ptrIds.length);
  const s0Length = 16 + s0Body.length;
  let offset = 6 + s0Length;
  const index = new Map<number, [number, number]>([[0, [s0Length, 7]]]);
  for (const [id, s] of sections) {
    index.set(id, [s.length, offset + 1]);
    offset += s.length;
  }
  const v0 = new DataView(s0Body.buffer);
  ptrIds.forEach((id, k) => {
    const [length, at] = index.get(id) ?? [0, 0];
    v0.setUint16(10 * k, id, true);
    v0.setUint32(10 * k + 2, length, true);
    v0.setUint32(10 * k + 6, at, true);
  });
  const s0 = section(0, s0Body);
  s0.set(new TextEncoder().encode('SCPECG'), 10);
  new DataView(s0.buffer).setUint16(0, crcCcitt(s0, 2, s0.length), true);
  const file = new Uint8Array(offset);
  file.set(s0, 6);
  for (const [id, s] of sections) file.set(s, index.get(id)![1] - 1);
  const vf = new DataView(file.buffer);
  vf.setUint32(2, file.length, true);
  vf.setUint16(0, crcCcitt(file, 2, file.length), true);
  return file;
}

/** Reads through readEcg and checks all 12 leads against the stored signal (within 1e-6 mV) and the sine. */
async function expectSignal(bytes: Uint8Array) {
  const record = await readEcg([{ name: 'quirk.scp', bytes }]);
  expect(record.format).toBe('scp-ecg');
  expect(record.samplingRateHz).toBe(FS);
  expect(record.samples).toBe(N);
  expect(record.derivedLeads).toEqual([]);
  LEAD_ORDER.forEach((lead, k) => {
    let worstStored = 0;
    let worstSine = 0;
    for (let n = 0; n < N; n++) {
      worstStored = Math.max(worstStored, Math.abs(record.signalsMv[k][n] - storedMv(k, n)));
      worstSine = Math.max(worstSine, Math.abs(record.signalsMv[k][n] - sineMv(k, n)));
    }
    expect(worstStored, `lead ${lead}`).toBeLessThan(1e-6);
    expect(worstSine, `lead ${lead}`).toBeLessThanOrEqual(0.5e-3 + 1e-6);
  });
  return record;
}

const ZERO_BASED = {
  code: 'sample_numbering_zero_based',
  message: `Section 3 numbers the samples of every lead from 0 instead of 1 as EN 1064 requires; the leads were read with the ${N} samples their rhythm data holds.`,
};

describe('SCP-ECG lead sample numbering (Section 3)', () => {
  it('ends leads III and V5 with a second difference of 0 (one 0 bit, like padding), the other leads not', () => {
    // So in the Huffman files below those two leads cannot tell N from N + 1 samples on their own; the others decide.
    const last = LEAD_ORDER.filter((_, k) => unitsOf(k, N - 1) - 2 * unitsOf(k, N - 2) + unitsOf(k, N - 3) === 0);
    expect(last).toEqual(['III', 'V5']);
  });

  for (const compressed of [false, true]) {
    const how = compressed ? 'Huffman-coded second differences' : 'uncompressed samples';
    it(`reads the standard numbering (first 1, last ${N}) of ${how} without a warning`, async () => {
      const record = await expectSignal(writeScp({ first: 1, last: N, compressed }));
      expect(record.warnings).toEqual([]);
    });
    it(`reads first 0, last ${N} (a 1-based last) of ${how} as ${N} samples, with a warning`, async () => {
      const record = await expectSignal(writeScp({ first: 0, last: N, compressed }));
      expect(record.warnings).toEqual([ZERO_BASED]);
    });
    it(`reads first 0, last ${N - 1} (0-based throughout) of ${how} as ${N} samples, with a warning`, async () => {
      const record = await expectSignal(writeScp({ first: 0, last: N - 1, compressed }));
      expect(record.warnings).toEqual([ZERO_BASED]);
    });
  }

  it('negates −aVR (lead id 65) of a zero-based file back to aVR and says both', async () => {
    const record = await expectSignal(writeScp({ first: 0, last: N, compressed: true, avrId: 65 }));
    expect(record.warnings.map((w) => w.code)).toEqual(['sample_numbering_zero_based', 'lead_inverted']);
    expect(record.warnings[1].message).toBe('Channel "-aVR" holds lead aVR inverted (as Cabrera displays show −aVR); it was negated to give aVR.');
  });

  it('reads Example.scp with Section 3 renumbered from 0 (last kept) to the same samples as the original', () => {
    const example = new Uint8Array(readFileSync(join(ecgDir, 'other_formats/scp_edf_csv_ecg-contec/examples/Example.scp')));
    const renumbered = example.slice();
    const v = new DataView(renumbered.buffer);
    let s3 = -1;
    for (let p = 22; p < 6 + v.getUint32(10, true); p += 10) if (v.getUint16(p, true) === 3) s3 = v.getUint32(p + 6, true) - 1;
    for (let k = 0; k < renumbered[s3 + 16]; k++) v.setUint32(s3 + 18 + 9 * k, 0, true);
    v.setUint16(0, crcCcitt(renumbered, 2, renumbered.length), true);
    const original = readScp({ name: 'Example.scp', bytes: example }, DEFAULT_READ_OPTIONS);
    const read = readScp({ name: 'Example.scp', bytes: renumbered }, DEFAULT_READ_OPTIONS);
    expect(read.channels.map((c) => c.label)).toEqual(original.channels.map((c) => c.label));
    read.channels.forEach((c, k) => expect(Array.from(c.samplesMv)).toEqual(Array.from(original.channels[k].samplesMv)));
    expect(read.warnings.map((w) => w.code)).toEqual(['sample_numbering_zero_based']);
  });
});

describe('SCP-ECG sample ranges that stay refused', () => {
  const read = (o: ScpOptions) => codeAndMessageOf(() => readScp({ name: 'bad.scp', bytes: writeScp(o) }, DEFAULT_READ_OPTIONS));
  it.each([
    [0, 0],
    [5, 4],
  ])('refuses first %i, last %i as header_syntax naming the field', (first, last) => {
    expect(read({ first, last, compressed: false })).toBe(
      `header_syntax: The SCP-ECG file is damaged (section 3, lead 1 has an invalid sample range: starting sample ${first}, ending sample ${last}); export it again.`,
    );
  });
  it.each([false, true])('refuses first 0, last N + 2 whose data holds N samples, fewer than either reading (compressed: %s)', (compressed) => {
    // Huffman: a lead whose last byte has two or more padding bits decodes them as 0 values, so the refusal names
    // the first lead whose padding cannot pass for the missing samples.
    expect(read({ first: 0, last: N + 2, compressed })).toMatch(
      new RegExp(`^truncated_signal: The SCP-ECG rhythm data of lead ${compressed ? 'II' : 'I'} holds ${N} of the ${N + 2} samples section 3 declares`, 'u'),
    );
  });
});
