/**
 * SCP-ECG reader (EN 1064:2005 / ISO 11073-91064:2009, versions 1.x–3.0). The file is a CRC (CRC-CCITT over the
 * rest), its size, then sections located by Section 0's pointers: Section 1 (header tags; only age, sex and the
 * acquisition date/time are read — never names, ids or birth dates), Section 2 (Huffman tables; the standard's
 * default table when it says 19999; no Section 2 = plain 16-bit samples), Section 3 (lead definitions and the
 * reference-beat-subtraction flag), Section 6 (rhythm data: amplitude multiplier in nV, sample interval in µs,
 * difference encoding none/first/second, bimodal compression flag, per-lead byte counts, then the lead data).
 *
 * Refused with `encoding_unsupported`: reference-beat-subtracted rhythm data (its exact reconstruction needs the
 * Section 4 QRS locations, the Section 5 reference beats and the device's decimation filter), bimodal compression
 * and custom (non-default) Huffman tables. A lead whose Section 6 data holds fewer samples than Section 3 declares
 * is `truncated_signal`, except for uncompressed leads whose 16-bit byte count overflowed (a known writer bug, seen
 * in the Contec converter's files): those are read as far as their data goes, with a warning. Section 3 sample
 * ranges numbered from 0 instead of 1 (first 0, last N: N samples if the writer kept 1-based ends, N + 1 if it
 * numbered 0-based throughout) are read with the count Section 6 holds, within those two, with a warning.
 */
import { LeadlightError } from '../errors.ts';
import { type InputFile, type RawChannel, type RawRecord, type RecordWarning, numberText } from '../record.ts';
import { markEmptyChannels } from './edf.ts';
import type { EcgReader, ReadOptions } from './types.ts';

/** Lead identifiers of Section 3 (EN 1064 Table 19, also the SCPECG code values `5.6.3-9-n` in DICOM). */
export const SCP_LEAD_NAMES: Record<number, string> = {
  1: 'I', 2: 'II', 3: 'V1', 4: 'V2', 5: 'V3', 6: 'V4', 7: 'V5', 8: 'V6', 9: 'V7', 10: 'V2R', 11: 'V3R', 12: 'V4R',
  13: 'V5R', 14: 'V6R', 15: 'V7R', 16: 'X', 17: 'Y', 18: 'Z', 19: 'CC5', 20: 'CM5', 21: 'LA', 22: 'RA', 23: 'LL',
  61: 'III', 62: 'aVR', 63: 'aVL', 64: 'aVF', 65: '-aVR', 66: 'V8', 67: 'V9', 68: 'V8R', 69: 'V9R',
};

const DEFAULT_HUFFMAN_TABLE = 19999;

interface Section {
  offset: number;
  length: number;
}

function sniffScp(file: InputFile): boolean {
  const b = file.bytes;
  if (b.length < 32) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = v.getUint32(2, true);
  const sectionId = v.getUint16(8, true);
  const s0Length = v.getUint32(10, true);
  const magic = String.fromCharCode(...b.subarray(16, 22));
  return sectionId === 0 && size <= b.length && size >= 22 + 16 && s0Length >= 16 && s0Length <= size && (magic === 'SCPECG' || crcCcitt(b, 2, size) === v.getUint16(0, true));
}

const CRC_CCITT_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let crc = n << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[n] = crc;
  }
  return table;
})();

/** CRC-CCITT (polynomial 0x1021, initial 0xFFFF) as EN 1064 §5.3.2 specifies. */
export function crcCcitt(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC_CCITT_TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc;
}

function damaged(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The SCP-ECG file is damaged (${what}); export it again.`);
}

/** Reads the MSB-first bit stream of one lead's data. */
class BitReader {
  private readonly bytes: Uint8Array;
  private bit = 0;
  private readonly end: number;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.end = bytes.length * 8;
  }
  remaining(): number {
    return this.end - this.bit;
  }
  /** True when what is left is fewer than 16 bits, all zero: the padding of a lead's last byte(s), not a value. */
  restIsPadding(): boolean {
    if (this.remaining() >= 16) return false;
    for (let i = this.bit; i < this.end; i++) if ((this.bytes[i >> 3] >> (7 - (i & 7))) & 1) return false;
    return true;
  }
  read(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++, this.bit++) v = (v << 1) | ((this.bytes[this.bit >> 3] >> (7 - (this.bit & 7))) & 1);
    return v;
  }
}

/**
 * Decodes `count` values with the default Huffman table of EN 1064 (Annex, Table 7): 0 → `0`, ±1…±8 → prefixes of
 * 1s ending `0` then the sign bit, `1111111110` + 8-bit and `1111111111` + 16-bit two's-complement escapes.
 */
function decodeDefaultHuffman(bits: BitReader, count: number, out: Int32Array): number {
  let n = 0;
  for (; n < count; n++) {
    if (bits.remaining() === 0) break;
    let ones = 0;
    let terminated = false;
    while (ones < 10 && bits.remaining() > 0) {
      if (bits.read(1) === 1) ones++;
      else {
        terminated = true;
        break;
      }
    }
    if (!terminated && ones < 10) break;
    if (ones === 0) {
      out[n] = 0;
    } else if (ones <= 8) {
      if (bits.remaining() < 1) break;
      out[n] = bits.read(1) ? -ones : ones;
    } else if (ones === 9) {
      if (bits.remaining() < 8) break;
      out[n] = (bits.read(8) << 24) >> 24;
    } else {
      if (bits.remaining() < 16) break;
      out[n] = (bits.read(16) << 16) >> 16;
    }
  }
  return n;
}

function sections(b: Uint8Array, v: DataView, size: number): Map<number, Section> {
  const s0Length = v.getUint32(10, true);
  if (6 + s0Length > size) throw damaged('section 0 longer than the file');
  const map = new Map<number, Section>();
  for (let p = 6 + 16; p + 10 <= 6 + s0Length; p += 10) {
    const id = v.getUint16(p, true);
    const length = v.getUint32(p + 2, true);
    const index = v.getUint32(p + 6, true);
    if (length === 0 || index === 0) continue;
    const offset = index - 1;
    if (length < 16 || offset + length > size) throw damaged(`section ${id} lies outside the file`);
    if (v.getUint16(offset + 2, true) !== id) throw damaged(`section ${id} has a wrong id`);
    if (!map.has(id)) map.set(id, { offset, length });
  }
  void b;
  return map;
}

/** Section 1 tags (EN 1064 §5.5): only age (4), sex (8), date (25) and time (26) of acquisition are read. */
function readHeaderTags(b: Uint8Array, v: DataView, s: Section, record: RawRecord): void {
  let p = s.offset + 16;
  const end = s.offset + s.length;
  let date: string | undefined;
  let time: string | undefined;
  while (p + 3 <= end) {
    const t = b[p];
    const len = v.getUint16(p + 1, true);
    const value = p + 3;
    if (t === 255 || value + len > end) break;
    if (t === 4 && len >= 3) {
      const age = v.getUint16(value, true);
      const unit = b[value + 2];
      const years = unit === 1 ? age : unit === 2 ? age / 12 : unit === 3 ? age / 52.1775 : unit === 4 ? age / 365.25 : unit === 5 ? age / 8766 : undefined;
      if (years !== undefined && years < 150) record.ageYears = Math.floor(years);
    } else if (t === 8 && len >= 1) {
      if (b[value] === 1) record.sex = 'M';
      else if (b[value] === 2) record.sex = 'F';
    } else if (t === 25 && len >= 4) {
      const y = v.getUint16(value, true);
      const mo = b[value + 2];
      const d = b[value + 3];
      if (y > 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31) date = `${String(y).padStart(4, '0')}-${pad(mo)}-${pad(d)}`;
    } else if (t === 26 && len >= 3) {
      const [h, mi, se] = [b[value], b[value + 1], b[value + 2]];
      if (h < 24 && mi < 60 && se < 61) time = `${pad(h)}:${pad(mi)}:${pad(se)}`;
    }
    p = value + len;
  }
  if (date) record.startTime = time ? `${date}T${time}` : date;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Reads the rhythm data (Section 6) of an SCP-ECG file into channels in mV. */
export function readScp(file: InputFile, options: ReadOptions): RawRecord {
  const b = file.bytes;
  if (!sniffScp(file)) throw new LeadlightError('unsupported_format', 'The file does not start like an SCP-ECG record.');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = v.getUint32(2, true);
  const warnings: RecordWarning[] = [];
  if (crcCcitt(b, 2, size) !== v.getUint16(0, true)) {
    warnings.push({ code: 'checksum_mismatch', message: 'The SCP-ECG file fails its CRC check; it may be damaged.' });
  }
  const map = sections(b, v, size);
  const s3 = map.get(3);
  const s6 = map.get(6);
  if (!s3 || !s6) {
    throw new LeadlightError('record_incomplete', 'The SCP-ECG file has no lead definitions (section 3) or no rhythm data (section 6); export the full rhythm record.');
  }
  // Section 2: Huffman tables.
  let huffman: 'none' | 'default' = 'none';
  const s2 = map.get(2);
  if (s2) {
    if (s2.length < 18) throw damaged('section 2 too short');
    const tables = v.getUint16(s2.offset + 16, true);
    if (tables !== DEFAULT_HUFFMAN_TABLE) {
      throw new LeadlightError('encoding_unsupported', 'The SCP-ECG file uses its own Huffman tables, which Leadlight does not decode; export it with the default table or without compression.');
    }
    huffman = 'default';
  }
  // Section 3: lead definitions.
  if (s3.length < 18) throw damaged('section 3 too short');
  const leadCount = b[s3.offset + 16];
  const flags = b[s3.offset + 17];
  if (flags & 0x01) {
    throw new LeadlightError(
      'encoding_unsupported',
      'The SCP-ECG rhythm data is stored with reference beat subtraction, which Leadlight cannot reconstruct exactly; export the ECG without it (full rhythm data).',
    );
  }
  if (leadCount === 0) throw new LeadlightError('lead_missing', 'The SCP-ECG file defines no leads; Leadlight needs a 12-lead ECG.');
  if (s3.length < 18 + 9 * leadCount) throw damaged('section 3 shorter than its lead list');
  // EN 1064 (Section 3, lead definition) numbers samples from 1, the ending sample included. Some writers number
  // from 0: first 0 and last N stand for N samples (a 1-based last) or N + 1 (0-based throughout); Section 6's
  // data decides between the two (see `needed` below).
  const leads: { id: number; samples: number; zeroBased: boolean }[] = [];
  for (let k = 0; k < leadCount; k++) {
    const p = s3.offset + 18 + 9 * k;
    const start = v.getUint32(p, true);
    const end = v.getUint32(p + 4, true);
    const zeroBased = start === 0 && end >= 1;
    if ((start < 1 && !zeroBased) || end < start) {
      throw damaged(`section 3, lead ${k + 1} has an invalid sample range: starting sample ${start}, ending sample ${end}`);
    }
    leads.push({ id: b[p + 8], samples: end - start + 1, zeroBased });
  }
  const zeroBasedLeads: { label: string; samples: number }[] = [];
  // Section 6: rhythm data.
  const p6 = s6.offset + 16;
  if (s6.length < 22 + 2 * leadCount) throw damaged('section 6 too short');
  const avmNv = v.getUint16(p6, true);
  const intervalUs = v.getUint16(p6 + 2, true);
  const differences = b[p6 + 4];
  const bimodal = b[p6 + 5];
  if (bimodal) {
    throw new LeadlightError('encoding_unsupported', 'The SCP-ECG rhythm data uses bimodal compression, which loses samples; export the ECG without it.');
  }
  if (differences > 2) throw damaged(`unknown difference encoding ${differences}`);
  if (avmNv === 0 || intervalUs === 0) throw damaged('zero amplitude multiplier or sample interval');
  let dataPos = p6 + 6 + 2 * leadCount;
  const sectionEnd = s6.offset + s6.length;
  const channels: RawChannel[] = [];
  const shortLeads: string[] = [];
  const decoded: { label: string; values: Int32Array; got: number; bits: BitReader | undefined }[] = [];
  // Whether a zero-based writer numbered 0-based throughout (first 0, last N: N + 1 samples) rather than keeping a
  // 1-based last (N samples): one lead whose Huffman data goes on past N values (more than zero padding) decides
  // for all, as one writer numbers every lead alike.
  let onePastLast = false;
  for (let k = 0; k < leadCount; k++) {
    const byteCount = v.getUint16(p6 + 6 + 2 * k, true);
    if (dataPos + byteCount > sectionEnd) {
      throw new LeadlightError('truncated_signal', `The SCP-ECG rhythm data of lead ${k + 1} runs past its section; the file is truncated.`);
    }
    const { samples: declared, zeroBased } = leads[k];
    if (declared > options.maxSamplesPerChannel) {
      throw new LeadlightError('record_too_long', `The SCP-ECG file declares ${declared} samples per lead; at most ${options.maxSamplesPerChannel} are accepted. Upload a shorter excerpt.`);
    }
    // A zero-based lead (first 0, last N) holds N or N + 1 samples: at least `needed`, at most `declared`.
    const needed = zeroBased ? declared - 1 : declared;
    const data = b.subarray(dataPos, dataPos + byteCount);
    dataPos += byteCount;
    // At most what the bytes can hold: 1 bit per Huffman value, 2 bytes per plain one.
    const values = new Int32Array(Math.min(declared, huffman === 'default' ? byteCount * 8 : byteCount >> 1));
    const label = SCP_LEAD_NAMES[leads[k].id] ?? `lead id ${leads[k].id}`;
    let got: number;
    let bits: BitReader | undefined;
    if (huffman === 'default') {
      bits = new BitReader(data);
      got = decodeDefaultHuffman(bits, needed, values);
      if (zeroBased && got === needed && !bits.restIsPadding()) onePastLast = true;
    } else {
      got = values.length;
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let n = 0; n < got; n++) values[n] = dv.getInt16(2 * n, true);
    }
    if (got < needed) {
      // Only the known writer bug is tolerated: uncompressed data whose 16-bit byte count overflowed (the writer
      // stored the first 65534 bytes of each lead). Any other shortfall means a damaged or truncated file.
      const overflowed = huffman === 'none' && byteCount >= 0xfffe && declared * 2 > 0xffff;
      if (!overflowed) {
        throw new LeadlightError(
          'truncated_signal',
          `The SCP-ECG rhythm data of lead ${label} holds ${got} of the ${needed} samples section 3 declares; the file is damaged or truncated.`,
        );
      }
      shortLeads.push(`${label} (${got} of ${needed})`);
    }
    decoded.push({ label, values, got, bits });
  }
  for (let k = 0; k < leadCount; k++) {
    const { samples: declared, zeroBased } = leads[k];
    const needed = zeroBased ? declared - 1 : declared;
    const { label, values, bits } = decoded[k];
    let { got } = decoded[k];
    if (bits && zeroBased && onePastLast && got === needed && values.length > needed) got += decodeDefaultHuffman(bits, 1, values.subarray(needed));
    if (zeroBased) zeroBasedLeads.push({ label, samples: got });
    // Undo difference encoding (EN 1064 §5.9.3): first differences x[n] = d[n] + x[n−1]; second x[n] = d[n] + 2x[n−1] − x[n−2].
    if (differences === 1) for (let n = 1; n < got; n++) values[n] += values[n - 1];
    else if (differences === 2) for (let n = 2; n < got; n++) values[n] += 2 * values[n - 1] - values[n - 2];
    const out = new Float64Array(got);
    const mvPerUnit = avmNv * 1e-6;
    for (let n = 0; n < got; n++) out[n] = values[n] * mvPerUnit;
    channels.push({ label, samplesMv: out });
  }
  if (shortLeads.length) {
    const minGot = Math.min(...channels.map((c) => c.samplesMv.length));
    if (minGot === 0) throw new LeadlightError('truncated_signal', 'The SCP-ECG rhythm data holds no samples for some leads; the file is truncated.');
    warnings.push({
      code: 'signal_truncated',
      message: `The rhythm data holds fewer samples than the lead definitions declare for ${shortLeads.join(', ')}; only the stored samples are used.`,
    });
  }
  if (zeroBasedLeads.length) {
    const which = zeroBasedLeads.length === leadCount ? 'every lead' : `lead${zeroBasedLeads.length > 1 ? 's' : ''} ${zeroBasedLeads.map((l) => l.label).join(', ')}`;
    const counts = [...new Set(zeroBasedLeads.map((l) => l.samples))];
    const held = counts.length === 1 ? `the ${counts[0]} samples` : `the samples (${zeroBasedLeads.map((l) => `${l.label}: ${l.samples}`).join(', ')})`;
    warnings.push({
      code: 'sample_numbering_zero_based',
      message: `Section 3 numbers the samples of ${which} from 0 instead of 1 as EN 1064 requires; the leads were read with ${held} their rhythm data holds.`,
    });
  }
  const record: RawRecord = {
    name: file.name,
    format: 'scp-ecg',
    samplingRateHz: 1e6 / intervalUs,
    channels: markEmptyChannels(channels, warnings),
    warnings,
    conversions: [
      {
        kind: 'gain',
        description: `${differences ? `${differences === 1 ? 'first' : 'second'} differences summed, then ` : ''}counts × amplitude multiplier ${numberText(avmNv)} nV (section 6) → mV`,
        gain: 1 / avmNv,
        baseline: 0,
        fromUnit: 'nV',
        mvPerValue: avmNv * 1e-6,
      },
    ],
  };
  const s1 = map.get(1);
  if (s1) readHeaderTags(b, v, s1, record);
  return record;
}

/** SCP-ECG reader (EN 1064 / ISO 11073-91064). */
export const scpReader: EcgReader = {
  id: 'scp-ecg',
  label: 'SCP-ECG',
  sniff: sniffScp,
  read: async (main, _files, options) => readScp(main, options),
};
