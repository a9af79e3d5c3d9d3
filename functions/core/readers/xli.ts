/**
 * Philips XLI waveform decompression (PhilipsECG / SierraECG XML, `compression="XLI"`).
 *
 * The stream is a sequence of chunks, one per lead: an 8-byte header (int32 LE compressed size, uint16 code,
 * int16 LE first-difference seed), then `size` bytes of LZW with fixed 10-bit codes (MSB first, dictionary
 * seeded with the 256 byte values, no reset, the all-ones code ends the stream). The LZW output holds the 16-bit second differences split into
 * a block of high bytes followed by a block of low bytes; second-order delta decoding yields the samples.
 * Format as documented by the open-source sierra-ecg-tools project (C. Watford, MIT licence) and Philips'
 * SierraECG XML schema notes; re-implemented here from that description, bounded for hostile input.
 */
import { LeadlightError } from '../errors.ts';

const LZW_BITS = 10;
/** Highest code that may be added to the dictionary (the all-ones code is never assigned). */
const LZW_MAX_CODE = (1 << LZW_BITS) - 2;
/** The all-ones code ends a stream. */
const LZW_END_CODE = (1 << LZW_BITS) - 1;
const CHUNK_HEADER_BYTES = 8;

function corrupt(what: string): LeadlightError {
  return new LeadlightError(
    'encoding_unsupported',
    `The XLI-compressed waveform is corrupt (${what}); re-export the ECG from the Philips system, ideally uncompressed.`,
  );
}

/**
 * Decodes one LZW stream with fixed 10-bit codes into bytes, stopping at the end of the input or when
 * `maxOutputBytes` would be exceeded (then throws). Codes are read most-significant bit first.
 */
export function decodeXliLzw(input: Uint8Array, maxOutputBytes: number): Uint8Array {
  // Dictionary as (prefix code, last byte, length) triples: memory stays O(codes), not O(sum of strings).
  const prefix = new Int32Array(LZW_MAX_CODE + 1);
  const suffix = new Uint8Array(LZW_MAX_CODE + 1);
  const length = new Int32Array(LZW_MAX_CODE + 1);
  const first = new Uint8Array(LZW_MAX_CODE + 1);
  for (let c = 0; c < 256; c++) {
    prefix[c] = -1;
    suffix[c] = c;
    length[c] = 1;
    first[c] = c;
  }
  let nextCode = 256;
  // One 10-bit code can emit up to ~1000 bytes, so hostile input expands a lot: the buffer grows on demand and
  // never beyond maxOutputBytes.
  const totalCodes = Math.floor((input.length * 8) / LZW_BITS);
  let capacity = Math.max(0, Math.min(maxOutputBytes, Math.max(64, input.length * 4)));
  let out = new Uint8Array(capacity);
  let outLen = 0;
  let bitBuffer = 0;
  let bitCount = 0;
  let pos = 0;
  let previous = -1;
  for (let k = 0; k < totalCodes; k++) {
    while (bitCount < LZW_BITS) {
      bitBuffer = ((bitBuffer << 8) | input[pos++]) & 0xffffff;
      bitCount += 8;
    }
    const code = (bitBuffer >>> (bitCount - LZW_BITS)) & ((1 << LZW_BITS) - 1);
    bitCount -= LZW_BITS;
    if (code === LZW_END_CODE) break;
    let entry: number;
    if (code < nextCode) {
      entry = code;
    } else if (code === nextCode && previous >= 0 && nextCode <= LZW_MAX_CODE) {
      entry = -2; // the KwKwK case: previous string + its own first byte
    } else {
      throw corrupt('an LZW code refers to a dictionary entry that does not exist yet');
    }
    const entryLength = entry === -2 ? length[previous] + 1 : length[entry];
    if (outLen + entryLength > maxOutputBytes) throw corrupt('it expands beyond the allowed size');
    if (outLen + entryLength > capacity) {
      capacity = Math.min(maxOutputBytes, Math.max(capacity * 2, outLen + entryLength));
      const grown = new Uint8Array(capacity);
      grown.set(out.subarray(0, outLen));
      out = grown;
    }
    // Write the string backwards by walking prefixes.
    let writeEnd = outLen + entryLength;
    let c = entry;
    if (entry === -2) {
      out[--writeEnd] = first[previous];
      c = previous;
    }
    while (c >= 0) {
      out[--writeEnd] = suffix[c];
      c = prefix[c];
    }
    const firstByteOfEntry = out[outLen];
    outLen += entryLength;
    if (previous >= 0 && nextCode <= LZW_MAX_CODE) {
      prefix[nextCode] = previous;
      suffix[nextCode] = firstByteOfEntry;
      length[nextCode] = length[previous] + 1;
      first[nextCode] = first[previous];
      nextCode++;
    }
    // In the KwKwK case the entry is exactly the code just added.
    previous = entry === -2 ? nextCode - 1 : entry;
  }
  return out.subarray(0, outLen);
}

/**
 * Decodes a whole XLI stream (all leads, one chunk each) into int16 samples per lead. `samplesPerLead` cuts
 * each lead to the declared duration; `maxDecodedBytes` bounds the total expansion.
 */
export function decodeXli(stream: Uint8Array, expectedLeads: number, samplesPerLead: number, maxDecodedBytes: number): Int16Array[] {
  const leads: Int16Array[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let offset = 0;
  let decodedBytes = 0;
  while (offset < stream.length && leads.length < expectedLeads) {
    if (offset + CHUNK_HEADER_BYTES > stream.length) throw corrupt(`the header of lead ${leads.length + 1} is cut off`);
    const size = view.getInt32(offset, true);
    const seed = view.getInt16(offset + 6, true);
    offset += CHUNK_HEADER_BYTES;
    if (size <= 0 || offset + size > stream.length) throw corrupt(`lead ${leads.length + 1} declares ${size} bytes but the stream is shorter`);
    const bytes = decodeXliLzw(stream.subarray(offset, offset + size), maxDecodedBytes - decodedBytes);
    decodedBytes += bytes.length;
    offset += size;
    const n = bytes.length >> 1;
    if (n < samplesPerLead) throw corrupt(`lead ${leads.length + 1} holds ${n} samples, fewer than the ${samplesPerLead} declared`);
    // High bytes first, then low bytes: the 16-bit second differences.
    const deltas = new Int16Array(n);
    for (let i = 0; i < n; i++) deltas[i] = (bytes[i] << 8) | bytes[n + i];
    leads.push(undoSecondDifferences(deltas, seed).subarray(0, samplesPerLead));
  }
  if (leads.length < expectedLeads) throw corrupt(`it holds ${leads.length} leads, fewer than the ${expectedLeads} declared`);
  return leads;
}

/** Second-order delta decoding in place (int16 arithmetic), seeded with the chunk header's value. */
function undoSecondDifferences(deltas: Int16Array, seed: number): Int16Array {
  if (deltas.length < 2) return deltas;
  let x = deltas[0];
  let y = deltas[1];
  let last = seed;
  for (let i = 2; i < deltas.length; i++) {
    const z = ((y + y - x - last) << 16) >> 16;
    last = deltas[i] - 64;
    deltas[i] = z;
    x = y;
    y = z;
  }
  return deltas;
}

/**
 * Philips stores leads III, aVR, aVL and aVF as residuals against their Einthoven/Goldberger estimate from
 * I and II; this restores them in place (int16, halving rounds toward −∞):
 * III = II − I − r3, aVR = −r4 − (I + II)/2, aVL = (I − III)/2 − r5, aVF = (II + III)/2 − r6.
 * Leads are in the standard order I, II, III, aVR, aVL, aVF. Checked against sierra-ecg-tools' expected samples.
 */
export function restoreLimbLeads(leads: Int16Array[]): void {
  const [I, II, III, aVR, aVL, aVF] = leads;
  const n = Math.min(I.length, II.length, III.length, aVR.length, aVL.length, aVF.length);
  for (let i = 0; i < n; i++) {
    const iii = II[i] - I[i] - III[i];
    III[i] = iii;
    aVR[i] = -aVR[i] - ((I[i] + II[i]) >> 1);
    aVL[i] = ((I[i] - iii) >> 1) - aVL[i];
    aVF[i] = ((II[i] + iii) >> 1) - aVF[i];
  }
}
