/**
 * MATLAB MAT-file parsing, bounded for hostile input: Level 4 (the PhysioNet/CinC Challenge `.mat` holding `val`)
 * and Level 5 (tagged data elements, miMATRIX, miCOMPRESSED, structs, cells, char arrays, numeric classes).
 *
 * Implements the layouts described in "MATLAB 7 MAT-File Format" (The MathWorks, 2008–2023 editions): Level 4
 * headers are five int32 (MOPT type, rows, columns, imaginary flag, name length) followed by the name and the
 * column-major data; Level 5 files start with a 128-byte header (116 bytes text, subsystem offset, version
 * 0x0100, endian indicator `IM`) followed by data elements, each an 8-byte tag (type, byte count) or a small
 * data element (count in the upper, type in the lower 16 bits of the first word) padded to 8 bytes.
 * Declared sizes are checked against `MatLimits` before anything is allocated; compressed elements are inflated
 * in chunks and abandoned as soon as their output passes the byte limit.
 */
import { concatBytes } from '../bytes.ts';
import { Unzlib } from 'fflate';
import { LeadlightError } from '../errors.ts';

/** Bounds for one MAT file. */
export interface MatLimits {
  /** Most numeric elements (or characters) one variable may declare. */
  maxElements: number;
  /** Most bytes decoded from the file in total (inflated compressed elements and numeric arrays). */
  maxDecodedBytes: number;
}

export type MatValue =
  | { kind: 'numeric'; className: string; dims: number[]; /** column-major real part */ data: Float64Array; complex: boolean }
  | { kind: 'char'; dims: number[]; text: string }
  | { kind: 'struct'; dims: number[]; fieldNames: string[]; /** one record per element, column-major */ elements: Record<string, MatValue>[] }
  | { kind: 'cell'; dims: number[]; elements: MatValue[] }
  | { kind: 'other'; className: string; dims: number[] };

export interface MatVariable {
  name: string;
  value: MatValue;
}

export interface MatFile {
  version: 4 | 5;
  variables: MatVariable[];
}

const MAX_NESTING = 16;
const MAX_VARIABLES = 1024;
const MAX_FIELDS = 4096;
const INFLATE_CHUNK_BYTES = 16 * 1024;

function syntax(what: string): LeadlightError {
  return new LeadlightError('header_syntax', `The MATLAB file is malformed (${what}); save it again with MATLAB or scipy (save -v4, -v6 or -v7).`);
}

function truncated(what: string): LeadlightError {
  return new LeadlightError('truncated_signal', `The MATLAB file ends before ${what}; the file is incomplete — upload it again.`);
}

function tooMany(count: number, limits: MatLimits): LeadlightError {
  return new LeadlightError(
    'record_too_long',
    `The MATLAB file declares a variable with ${count} values; at most ${limits.maxElements} are accepted. Upload a shorter excerpt.`,
  );
}

/** True when `bytes` starts with a MAT Level 5 header (text, version 0x0100, endian indicator IM/MI). */
export function isMatV5(bytes: Uint8Array): boolean {
  if (bytes.length < 128) return false;
  const ind = String.fromCharCode(bytes[126], bytes[127]);
  if (ind !== 'IM' && ind !== 'MI') return false;
  const version = ind === 'IM' ? bytes[124] | (bytes[125] << 8) : (bytes[124] << 8) | bytes[125];
  if (version !== 0x0100) return false;
  // The descriptive text starts with "MATLAB" in every writer we know (MATLAB, scipy, Octave).
  return bytes[0] === 0x4d && bytes[1] === 0x41 && bytes[2] === 0x54 && bytes[3] === 0x4c;
}

interface V4Header {
  littleEndian: boolean;
  /** MOPT digit M: 0 IEEE little-endian, 1 IEEE big-endian, 2 VAX D, 3 VAX G, 4 Cray. */
  machine: number;
  precision: number;
  textFlag: number;
  rows: number;
  cols: number;
  imag: number;
  nameLength: number;
}

function readV4Header(bytes: Uint8Array, pos: number): V4Header | undefined {
  if (pos + 20 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + pos, 20);
  for (const littleEndian of [true, false]) {
    const type = view.getInt32(0, littleEndian);
    const rows = view.getInt32(4, littleEndian);
    const cols = view.getInt32(8, littleEndian);
    const imag = view.getInt32(12, littleEndian);
    const nameLength = view.getInt32(16, littleEndian);
    if (type < 0 || type > 4999) continue;
    const m = Math.floor(type / 1000);
    const o = Math.floor(type / 100) % 10;
    const p = Math.floor(type / 10) % 10;
    const t = type % 10;
    // M: 0 little-endian IEEE, 1 big-endian IEEE (2–4: VAX/Cray, refused later); must match the byte order read.
    if (o !== 0 || p > 5 || t > 2) continue;
    if ((m === 0) !== littleEndian && m <= 1) continue;
    if (rows < 0 || cols < 0 || (imag !== 0 && imag !== 1) || nameLength < 1 || nameLength > 4096) continue;
    return { littleEndian, machine: m, precision: p, textFlag: t, rows, cols, imag, nameLength };
  }
  return undefined;
}

/** True when `bytes` starts with a plausible MAT Level 4 variable header (as in PhysioNet/CinC `.mat` files). */
export function isMatV4(bytes: Uint8Array): boolean {
  const h = readV4Header(bytes, 0);
  if (!h || h.machine > 1) return false;
  if (20 + h.nameLength > bytes.length) return false;
  // The name is NUL-terminated printable ASCII.
  if (bytes[20 + h.nameLength - 1] !== 0) return false;
  for (let i = 20; i < 20 + h.nameLength - 1; i++) if (bytes[i] < 0x20 || bytes[i] > 0x7e) return false;
  return true;
}

const V4_BYTES = [8, 4, 4, 2, 2, 1];

/** Parses a MAT Level 4 file: every variable, numeric ones as Float64 column-major, text ones as char. */
export function parseMatV4(bytes: Uint8Array, limits: MatLimits): MatFile {
  const variables: MatVariable[] = [];
  let pos = 0;
  let decoded = 0;
  while (pos < bytes.length) {
    if (variables.length >= MAX_VARIABLES) throw syntax('too many variables');
    const h = readV4Header(bytes, pos);
    if (!h) {
      if (variables.length === 0) throw syntax('the Level 4 variable header is invalid');
      if (bytes.length - pos < 20) break; // trailing padding some writers leave
      throw syntax('a Level 4 variable header is invalid');
    }
    if (h.machine > 1) {
      throw new LeadlightError('encoding_unsupported', 'The MATLAB file uses a VAX or Cray number format; save it again on a current system.');
    }
    if (h.textFlag === 2) {
      throw new LeadlightError('encoding_unsupported', 'The MATLAB file holds a sparse matrix; save the signal as a full matrix.');
    }
    const count = h.rows * h.cols;
    if (count > limits.maxElements) throw tooMany(count, limits);
    const elemBytes = V4_BYTES[h.precision];
    const dataBytes = count * elemBytes * (h.imag ? 2 : 1);
    decoded += count * 8;
    if (decoded > limits.maxDecodedBytes) throw tooMany(count, limits);
    const nameStart = pos + 20;
    if (nameStart + h.nameLength > bytes.length) throw truncated('the variable name');
    let name = '';
    for (let i = nameStart; i < nameStart + h.nameLength - 1; i++) name += String.fromCharCode(bytes[i]);
    const dataStart = nameStart + h.nameLength;
    if (dataStart + dataBytes > bytes.length) {
      throw truncated(`the end of variable "${sanitise(name)}" (${count} values declared)`);
    }
    const data = decodeNumbers(bytes, dataStart, count, h.precision, h.littleEndian);
    const dims = [h.rows, h.cols];
    if (h.textFlag === 1) {
      variables.push({ name, value: { kind: 'char', dims, text: charsFromCodes(data) } });
    } else {
      variables.push({ name, value: { kind: 'numeric', className: ['double', 'single', 'int32', 'int16', 'uint16', 'uint8'][h.precision], dims, data, complex: h.imag === 1 } });
    }
    pos = dataStart + dataBytes;
  }
  return { version: 4, variables };
}

function decodeNumbers(bytes: Uint8Array, start: number, count: number, precision: number, le: boolean): Float64Array {
  const out = new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, count * V4_BYTES[precision]);
  switch (precision) {
    case 0: for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, le); break;
    case 1: for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, le); break;
    case 2: for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, le); break;
    case 3: for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, le); break;
    case 4: for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, le); break;
    default: for (let i = 0; i < count; i++) out[i] = view.getUint8(i); break;
  }
  return out;
}

function charsFromCodes(codes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    s += Number.isInteger(c) && c >= 0 && c <= 0x10ffff ? String.fromCodePoint(c) : '\ufffd';
  }
  return s;
}

function sanitise(name: string): string {
  return name.replace(/[^\w.-]/gu, '?').slice(0, 64);
}

// ---- Level 5 ----------------------------------------------------------------------------------------------------

const mi = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18 } as const;
const MI_BYTES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 };
const MX_CLASS: Record<number, string> = {
  1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8',
  10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64', 16: 'function', 17: 'opaque',
};

interface Element {
  type: number;
  /** Absolute start of the data in `buf`. */
  start: number;
  length: number;
  /** Absolute position of the next element. */
  next: number;
}

class V5Parser {
  readonly limits: MatLimits;
  readonly le: boolean;
  decodedBytes = 0;
  constructor(le: boolean, limits: MatLimits) {
    this.le = le;
    this.limits = limits;
  }

  charge(bytes: number): void {
    this.decodedBytes += bytes;
    if (this.decodedBytes > this.limits.maxDecodedBytes) {
      throw new LeadlightError(
        'archive_too_large',
        `The MATLAB file expands to more than ${this.limits.maxDecodedBytes} bytes; upload a smaller record.`,
      );
    }
  }

  readTag(buf: Uint8Array, pos: number, end: number): Element {
    if (pos + 8 > end) throw truncated('a data element tag');
    const view = new DataView(buf.buffer, buf.byteOffset + pos, 8);
    const first = view.getUint32(0, this.le);
    const small = first >>> 16;
    if (small !== 0) {
      // Small data element: 2-byte count, 2-byte type, up to 4 bytes of data in the same 8 bytes.
      const type = first & 0xffff;
      if (small > 4) throw syntax('a small data element claims more than 4 bytes');
      return { type, start: pos + 4, length: small, next: pos + 8 };
    }
    const type = first;
    const length = view.getUint32(4, this.le);
    if (length > end - pos - 8) throw truncated('the end of a data element');
    const padded = type === mi.COMPRESSED ? length : Math.ceil(length / 8) * 8;
    return { type, start: pos + 8, length, next: Math.min(end, pos + 8 + padded) };
  }

  inflate(buf: Uint8Array, start: number, length: number): Uint8Array {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const limit = this.limits.maxDecodedBytes - this.decodedBytes;
    const stream = new Unzlib((chunk) => {
      total += chunk.length;
      if (total > limit) {
        throw new LeadlightError('archive_too_large', `A compressed MATLAB element expands to more than ${this.limits.maxDecodedBytes} bytes; upload a smaller record.`);
      }
      chunks.push(chunk);
    });
    try {
      for (let p = start; p < start + length; p += INFLATE_CHUNK_BYTES) {
        const q = Math.min(start + length, p + INFLATE_CHUNK_BYTES);
        stream.push(buf.subarray(p, q), q === start + length);
      }
    } catch (e) {
      if (e instanceof LeadlightError) throw e;
      // fflate reports corrupt streams as plain errors; a stream cut short is the common cause.
      throw new LeadlightError('encoding_unsupported', 'A compressed element of the MATLAB file is corrupt; save the file again (or with -v6, uncompressed).');
    }
    this.charge(total);
    return concatBytes(chunks);
  }

  /** Reads the top-level elements of `buf[pos..end)`. */
  readTopLevel(buf: Uint8Array, pos: number, end: number, variables: MatVariable[], insideCompressed = false): void {
    while (pos + 8 <= end) {
      if (variables.length >= MAX_VARIABLES) throw syntax('too many variables');
      const el = this.readTag(buf, pos, end);
      if (el.type === mi.COMPRESSED) {
        // MATLAB compresses each variable once; a compressed element inside another is not a valid MAT file.
        if (insideCompressed) throw syntax('a compressed element inside another');
        const inner = this.inflate(buf, el.start, el.length);
        this.readTopLevel(inner, 0, inner.length, variables, true);
      } else if (el.type === mi.MATRIX) {
        const v = this.readMatrix(buf, el, 0);
        if (v) variables.push(v);
      } else {
        throw syntax(`an unexpected top-level element of type ${el.type}`);
      }
      pos = el.next;
    }
  }

  numbers(buf: Uint8Array, el: Element, expected: number): Float64Array {
    const size = MI_BYTES[el.type];
    if (!size || el.type === mi.UTF8 || el.type === mi.UTF16 || el.type === mi.UTF32) throw syntax(`numeric data of type ${el.type}`);
    const count = Math.floor(el.length / size);
    if (count !== expected) throw syntax(`a numeric element holds ${count} values where its dimensions need ${expected}`);
    this.charge(count * 8);
    const out = new Float64Array(count);
    const view = new DataView(buf.buffer, buf.byteOffset + el.start, el.length);
    const le = this.le;
    switch (el.type) {
      case mi.INT8: for (let i = 0; i < count; i++) out[i] = view.getInt8(i); break;
      case mi.UINT8: for (let i = 0; i < count; i++) out[i] = view.getUint8(i); break;
      case mi.INT16: for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, le); break;
      case mi.UINT16: for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, le); break;
      case mi.INT32: for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, le); break;
      case mi.UINT32: for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, le); break;
      case mi.SINGLE: for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, le); break;
      case mi.DOUBLE: for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, le); break;
      case mi.INT64: for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, le)); break;
      case mi.UINT64: for (let i = 0; i < count; i++) out[i] = Number(view.getBigUint64(i * 8, le)); break;
      default: throw syntax(`numeric data of type ${el.type}`);
    }
    return out;
  }

  text(buf: Uint8Array, el: Element, expected: number): string {
    if (el.type === mi.UTF8) {
      if (el.length > this.limits.maxElements) throw tooMany(el.length, this.limits);
      return new TextDecoder('utf-8').decode(buf.subarray(el.start, el.start + el.length));
    }
    if (el.type === mi.UTF16 && el.length === expected * 2) {
      return new TextDecoder(this.le ? 'utf-16le' : 'utf-16be').decode(buf.subarray(el.start, el.start + el.length));
    }
    return charsFromCodes(this.numbers(buf, el, expected));
  }

  /** Reads one miMATRIX element; returns undefined for an empty element (a 0-byte miMATRIX). */
  readMatrix(buf: Uint8Array, el: Element, depth: number): MatVariable | undefined {
    if (depth > MAX_NESTING) throw syntax('structs or cells nested too deeply');
    const end = el.start + el.length;
    if (el.length === 0) return { name: '', value: { kind: 'numeric', className: 'double', dims: [0, 0], data: new Float64Array(0), complex: false } };
    const flagsEl = this.readTag(buf, el.start, end);
    if (flagsEl.type !== mi.UINT32 || flagsEl.length !== 8) throw syntax('array flags');
    const flagsWord = new DataView(buf.buffer, buf.byteOffset + flagsEl.start, 8).getUint32(0, this.le);
    const classId = flagsWord & 0xff;
    const complex = (flagsWord & 0x800) !== 0;
    const className = MX_CLASS[classId] ?? `class ${classId}`;
    const dimsEl = this.readTag(buf, flagsEl.next, end);
    if (dimsEl.type !== mi.INT32 || dimsEl.length < 8 || dimsEl.length % 4 !== 0 || dimsEl.length > 4 * 32) throw syntax('array dimensions');
    const dimsView = new DataView(buf.buffer, buf.byteOffset + dimsEl.start, dimsEl.length);
    const dims: number[] = [];
    let count = 1;
    for (let i = 0; i < dimsEl.length / 4; i++) {
      const d = dimsView.getInt32(i * 4, this.le);
      if (d < 0) throw syntax('a negative dimension');
      dims.push(d);
      count *= d;
    }
    if (count > this.limits.maxElements) throw tooMany(count, this.limits);
    const nameEl = this.readTag(buf, dimsEl.next, end);
    if (nameEl.type !== mi.INT8 && nameEl.type !== mi.UINT8) throw syntax('array name');
    let name = '';
    for (let i = 0; i < nameEl.length; i++) name += String.fromCharCode(buf[nameEl.start + i]);
    let pos = nameEl.next;

    if (className === 'struct' || className === 'object') {
      if (className === 'object') {
        const cls = this.readTag(buf, pos, end);
        pos = cls.next;
      }
      const lenEl = this.readTag(buf, pos, end);
      if (lenEl.type !== mi.INT32 || lenEl.length !== 4) throw syntax('struct field name length');
      const fieldLength = new DataView(buf.buffer, buf.byteOffset + lenEl.start, 4).getInt32(0, this.le);
      const namesEl = this.readTag(buf, lenEl.next, end);
      if (fieldLength <= 0 || fieldLength > 4096 || namesEl.length % fieldLength !== 0) throw syntax('struct field names');
      const nFields = namesEl.length / fieldLength;
      if (nFields > MAX_FIELDS || nFields * count > this.limits.maxElements) throw tooMany(nFields * count, this.limits);
      const fieldNames: string[] = [];
      for (let f = 0; f < nFields; f++) {
        let s = '';
        for (let i = 0; i < fieldLength; i++) {
          const c = buf[namesEl.start + f * fieldLength + i];
          if (c === 0) break;
          s += String.fromCharCode(c);
        }
        fieldNames.push(s);
      }
      pos = namesEl.next;
      const elements: Record<string, MatValue>[] = [];
      for (let k = 0; k < count; k++) {
        const rec: Record<string, MatValue> = Object.create(null);
        for (const field of fieldNames) {
          const sub = this.readTag(buf, pos, end);
          if (sub.type !== mi.MATRIX) throw syntax('a struct field that is not a matrix');
          const v = this.readMatrix(buf, sub, depth + 1);
          if (v) rec[field] = v.value;
          pos = sub.next;
        }
        elements.push(rec);
      }
      return { name, value: { kind: 'struct', dims, fieldNames, elements } };
    }
    if (className === 'cell') {
      const elements: MatValue[] = [];
      for (let k = 0; k < count; k++) {
        const sub = this.readTag(buf, pos, end);
        if (sub.type !== mi.MATRIX) throw syntax('a cell element that is not a matrix');
        const v = this.readMatrix(buf, sub, depth + 1);
        if (v) elements.push(v.value);
        pos = sub.next;
      }
      return { name, value: { kind: 'cell', dims, elements } };
    }
    if (className === 'char') {
      const dataEl = this.readTag(buf, pos, end);
      return { name, value: { kind: 'char', dims, text: this.text(buf, dataEl, count) } };
    }
    if (classId >= 6 && classId <= 15) {
      const realEl = this.readTag(buf, pos, end);
      const data = this.numbers(buf, realEl, count);
      return { name, value: { kind: 'numeric', className, dims, data, complex } };
    }
    return { name, value: { kind: 'other', className, dims } };
  }
}

/** Parses a MAT Level 5 file (MATLAB -v6 or -v7, also scipy/Octave output). */
export function parseMatV5(bytes: Uint8Array, limits: MatLimits): MatFile {
  if (!isMatV5(bytes)) throw syntax('the Level 5 header is missing');
  const le = bytes[126] === 0x49; // 'I' then 'M' when written little-endian
  const parser = new V5Parser(le, limits);
  const variables: MatVariable[] = [];
  parser.readTopLevel(bytes, 128, bytes.length, variables);
  return { version: 5, variables };
}

/** Parses a MAT file of either level, chosen by its header. */
export function parseMat(bytes: Uint8Array, limits: MatLimits): MatFile {
  if (isMatV5(bytes)) return parseMatV5(bytes, limits);
  if (isMatV4(bytes)) return parseMatV4(bytes, limits);
  throw new LeadlightError('unsupported_format', 'The file is not a MATLAB Level 4 or Level 5 MAT-file (HDF5-based -v7.3 files are not supported); save it with -v7 or -v4.');
}

/** Looks up a variable by name. */
export function matVariable(file: MatFile, name: string): MatValue | undefined {
  return file.variables.find((v) => v.name === name)?.value;
}
