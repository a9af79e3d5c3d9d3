/**
 * The two average beats a cohort keeps of a record (centre-aligned as the paper, and R-aligned; cohort-members.ts
 * `summariseResult`) as one compact binary value, so a cohort's Durable Object can store ten thousand of them and
 * load one at a time while it aggregates (cohort.ts `BeatSource`). The time axis stays float64 and the leads become
 * float32 — exactly what `leadlight cohort` keeps in memory (its `compactSummary`), so both aggregate the same
 * numbers.
 *
 * Layout (little-endian, every array aligned to its element size): `LLB1`, u32 slot count (2), then per slot a u32
 * sample count L (0 = no beat) and, when L > 0, padding to 8 bytes, float64 timeS[L], float32 signal[12·L] and
 * float32 relevance[12·L] in lead order I, II, III, aVR, aVL, aVF, V1–V6.
 */
import { LeadlightError } from '../errors.ts';
import { LEAD_ORDER } from '../record.ts';
import type { AverageBeatInput, BeatLeads } from './cohort.ts';

const MAGIC = 0x3142_4c4c; // "LLB1" read as a little-endian u32
const SLOTS = 2;
const LEADS = LEAD_ORDER.length;

function leadArrays(leads: BeatLeads): ArrayLike<number>[] {
  const arrays = Array.isArray(leads) ? (leads as readonly ArrayLike<number>[]) : LEAD_ORDER.map((lead) => (leads as Readonly<Record<string, ArrayLike<number>>>)[lead]);
  return LEAD_ORDER.map((lead, k) => {
    const a = arrays[k];
    if (!a) throw new LeadlightError('internal', `An average beat has no lead ${lead}.`);
    return a;
  });
}

const align8 = (n: number) => (n + 7) & ~7;

/** Packs a record's centre-aligned and R-aligned average beats (either may be null). */
export function packBeats(beats: readonly [AverageBeatInput | null, AverageBeatInput | null]): Uint8Array {
  let size = 8;
  for (const beat of beats) {
    size += 4;
    if (beat && beat.timeS.length > 0) size = align8(size) + beat.timeS.length * 8 + 2 * LEADS * beat.timeS.length * 4;
  }
  const buffer = new ArrayBuffer(align8(size));
  const view = new DataView(buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, SLOTS, true);
  let at = 8;
  for (const beat of beats) {
    const length = beat ? beat.timeS.length : 0;
    view.setUint32(at, length, true);
    at += 4;
    if (!beat || length === 0) continue;
    at = align8(at);
    new Float64Array(buffer, at, length).set(Array.from(beat.timeS));
    at += length * 8;
    for (const leads of [beat.signalMv, beat.relevance]) {
      const out = new Float32Array(buffer, at, LEADS * length);
      leadArrays(leads).forEach((a, k) => {
        if (a.length !== length) throw new LeadlightError('internal', 'An average beat has leads of another length than its time axis.');
        out.set(Array.from(a), k * length);
      });
      at += LEADS * length * 4;
    }
  }
  return new Uint8Array(buffer);
}

/** One beat of a packed value: slot 0 the centre-aligned beat, slot 1 the R-aligned one; null when absent. */
export function unpackBeat(bytes: Uint8Array, slot: 0 | 1): AverageBeatInput | null {
  // Typed views need aligned offsets: copy a value that does not start at an aligned place of its buffer.
  const data = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const corrupt = () => new LeadlightError('internal', 'A stored average beat is unreadable.');
  if (data.byteLength < 8 || view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== SLOTS) throw corrupt();
  let at = 8;
  for (let s = 0; s < SLOTS; s++) {
    if (at + 4 > data.byteLength) throw corrupt();
    const length = view.getUint32(at, true);
    at += 4;
    if (length === 0) {
      if (s === slot) return null;
      continue;
    }
    at = align8(at);
    const end = at + length * 8 + 2 * LEADS * length * 4;
    if (end > data.byteLength) throw corrupt();
    if (s === slot) {
      const base = data.byteOffset + at;
      const timeS = new Float64Array(data.buffer, base, length);
      const lead = (offset: number, k: number) => new Float32Array(data.buffer, base + length * 8 + offset + k * length * 4, length);
      const relevanceAt = LEADS * length * 4;
      return {
        timeS,
        signalMv: Object.fromEntries(LEAD_ORDER.map((name, k) => [name, lead(0, k)])),
        relevance: Object.fromEntries(LEAD_ORDER.map((name, k) => [name, lead(relevanceAt, k)])),
      };
    }
    at = end;
  }
  throw corrupt();
}
