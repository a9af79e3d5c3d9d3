/**
 * WFDB signal file decoding: the sample formats 8, 16, 24, 32, 61, 80, 160, 212, 310 and 311 of PhysioNet's
 * signal(5) specification ("WFDB Applications Guide", G. Moody), interleaved by frame, with samples per frame,
 * skew and byte offsets, producing digital (ADC unit) samples per signal.
 *
 * Layouts (little-endian unless noted): 8 = 8-bit first differences; 16 = int16; 61 = int16 big-endian;
 * 80 = uint8 offset by 128; 160 = uint16 offset by 32768; 24 = int24; 32 = int32; 212 = two 12-bit samples in
 * three bytes (low byte, shared nibble byte, low byte); 310 = three 10-bit samples in two 16-bit words (bits 1–10
 * of each word, the third from the top five bits of both); 311 = three 10-bit samples in one 32-bit word.
 */
import { LeadlightError } from '../errors.ts';

/** The digital value each format reserves for "no sample" (WFDB's WFDB_INVALID_SAMPLE per format). */
export function invalidSampleOf(format: number): number | undefined {
  switch (format) {
    case 16: case 61: case 160: return -32768;
    case 80: return -128;
    case 212: return -2048;
    case 310: case 311: return -512;
    case 24: return -(2 ** 23);
    case 32: return -(2 ** 31);
    default: return undefined; // format 8 stores differences: every reconstructed value is a real sample
  }
}

/** How many whole samples `byteCount` bytes hold in `format`. */
export function samplesInBytes(format: number, byteCount: number): number {
  const n = Math.max(0, byteCount);
  switch (format) {
    case 8: case 80: return n;
    case 16: case 61: case 160: return Math.floor(n / 2);
    case 24: return Math.floor(n / 3);
    case 32: return Math.floor(n / 4);
    case 212: return Math.floor(n / 3) * 2 + (n % 3 >= 2 ? 1 : 0);
    case 310: return Math.floor(n / 4) * 3 + (n % 4 >= 2 ? 1 : 0);
    case 311: { const r = n % 4; return Math.floor(n / 4) * 3 + (r >= 3 ? 2 : r >= 2 ? 1 : 0); }
    default: return 0;
  }
}

function signExtend(v: number, bits: number): number {
  const shift = 32 - bits;
  return (v << shift) >> shift;
}

/**
 * Decodes the first `count` samples of the sample stream in `bytes` (format 8 yields the raw differences).
 * The caller has checked that `bytes` holds at least `count` samples.
 */
export function decodeSampleStream(bytes: Uint8Array, format: number, count: number): Int32Array {
  const out = new Int32Array(count);
  const b = bytes;
  switch (format) {
    case 8:
      for (let i = 0; i < count; i++) out[i] = (b[i] << 24) >> 24;
      break;
    case 80:
      for (let i = 0; i < count; i++) out[i] = b[i] - 128;
      break;
    case 16:
      for (let i = 0; i < count; i++) out[i] = ((b[2 * i] | (b[2 * i + 1] << 8)) << 16) >> 16;
      break;
    case 61:
      for (let i = 0; i < count; i++) out[i] = (((b[2 * i] << 8) | b[2 * i + 1]) << 16) >> 16;
      break;
    case 160:
      for (let i = 0; i < count; i++) out[i] = (b[2 * i] | (b[2 * i + 1] << 8)) - 32768;
      break;
    case 24:
      for (let i = 0; i < count; i++) out[i] = ((b[3 * i] | (b[3 * i + 1] << 8) | (b[3 * i + 2] << 16)) << 8) >> 8;
      break;
    case 32:
      for (let i = 0; i < count; i++) out[i] = b[4 * i] | (b[4 * i + 1] << 8) | (b[4 * i + 2] << 16) | (b[4 * i + 3] << 24);
      break;
    case 212:
      for (let i = 0; i < count; i++) {
        const g = 3 * (i >> 1);
        out[i] = (i & 1) === 0 ? signExtend(b[g] | ((b[g + 1] & 0x0f) << 8), 12) : signExtend(b[g + 2] | ((b[g + 1] & 0xf0) << 4), 12);
      }
      break;
    case 310:
      for (let i = 0; i < count; i++) {
        const g = 4 * Math.floor(i / 3);
        const k = i % 3;
        const w0 = b[g] | (b[g + 1] << 8);
        if (k === 0) out[i] = signExtend((w0 >> 1) & 0x3ff, 10);
        else {
          const w1 = b[g + 2] | (b[g + 3] << 8);
          out[i] = k === 1 ? signExtend((w1 >> 1) & 0x3ff, 10) : signExtend(((w0 >> 11) & 0x1f) | (((w1 >> 11) & 0x1f) << 5), 10);
        }
      }
      break;
    case 311:
      for (let i = 0; i < count; i++) {
        const g = 4 * Math.floor(i / 3);
        const k = i % 3;
        // Read only the bytes the sample needs so a trailing partial word decodes.
        const word = (b[g] | (b[g + 1] << 8) | ((k > 0 ? b[g + 2] : 0) << 16) | ((k > 1 ? b[g + 3] : 0) << 24)) >>> 0;
        out[i] = signExtend((word >>> (10 * k)) & 0x3ff, 10);
      }
      break;
    default:
      throw new LeadlightError('encoding_unsupported', `WFDB format ${format} is not supported; convert the record to format 16.`);
  }
  return out;
}

/** One signal of a signal file as decoded: all its samples (frames × samples per frame), in ADC units. */
export interface DecodedSignal {
  digital: Int32Array;
  /** Samples that held the format's invalid value (or lay beyond the end of the file because of skew). */
  invalidCount: number;
}

export interface SignalFileLayout {
  format: number;
  byteOffset: number;
  /** Per signal of the file, in header order. */
  samplesPerFrame: number[];
  skew: number[];
  /** Format 8 only: the initial value of each signal (the differences start from it). */
  initialValue: number[];
}

/** Frames a file holds after its byte offset. */
export function framesInFile(byteLength: number, layout: SignalFileLayout): number {
  const frameSize = layout.samplesPerFrame.reduce((a, b) => a + b, 0);
  return Math.floor(samplesInBytes(layout.format, byteLength - layout.byteOffset) / frameSize);
}

/**
 * Splits the sample stream of one signal file into its signals: frame f holds `samplesPerFrame[s]` consecutive
 * samples of each signal s in turn. Returns `frames × samplesPerFrame[s]` samples per signal, starting at the
 * signal's skew; samples the file does not hold (skew past the end) are set to the invalid value and counted.
 * The caller checked `frames` against the file length (with skew 0) and the memory limits.
 */
export function decodeSignalFile(bytes: Uint8Array, layout: SignalFileLayout, frames: number): DecodedSignal[] {
  const { format, samplesPerFrame, skew } = layout;
  const frameSize = samplesPerFrame.reduce((a, b) => a + b, 0);
  const maxSkew = Math.max(0, ...skew);
  const body = bytes.subarray(Math.min(bytes.length, layout.byteOffset));
  const availableFrames = Math.floor(samplesInBytes(format, body.length) / frameSize);
  const framesToDecode = Math.min(availableFrames, frames + maxSkew);
  const stream = decodeSampleStream(body, format, framesToDecode * frameSize);
  const invalid = invalidSampleOf(format);
  const fill = invalid ?? 0;
  const result: DecodedSignal[] = [];
  let offsetInFrame = 0;
  for (let s = 0; s < samplesPerFrame.length; s++) {
    const spf = samplesPerFrame[s];
    const out = new Int32Array(frames * spf);
    let invalidCount = 0;
    let acc = layout.initialValue[s] ?? 0;
    for (let f = 0; f < frames; f++) {
      const src = f + skew[s];
      for (let k = 0; k < spf; k++) {
        let v: number;
        if (src < framesToDecode) {
          v = stream[src * frameSize + offsetInFrame + k];
          if (format === 8) {
            acc += v;
            v = acc;
          }
        } else {
          v = fill;
          invalidCount++;
          out[f * spf + k] = v;
          continue;
        }
        if (v === invalid) invalidCount++;
        out[f * spf + k] = v;
      }
    }
    // Format 8 differences accumulate from the first stored frame, including any skipped by skew.
    if (format === 8 && skew[s] > 0) {
      let acc8 = layout.initialValue[s] ?? 0;
      for (let f = 0; f < Math.min(framesToDecode, frames + skew[s]); f++) {
        for (let k = 0; k < spf; k++) {
          acc8 += stream[f * frameSize + offsetInFrame + k];
          const target = f - skew[s];
          if (target >= 0) out[target * spf + k] = acc8;
        }
      }
    }
    result.push({ digital: out, invalidCount });
    offsetInFrame += spf;
  }
  return result;
}

/** The WFDB 16-bit checksum: the sum of all samples modulo 65536 (as written, signed or unsigned). */
export function checksumMatches(digital: Int32Array, written: number): boolean {
  let sum = 0;
  for (let i = 0; i < digital.length; i++) sum = (sum + digital[i]) | 0;
  return (((sum - written) % 65536) + 65536) % 65536 === 0;
}
