/**
 * ZIP archives as uploads: a record may arrive as one .zip (e.g. a WFDB .hea + .dat pair). `expandArchives`
 * replaces every ZIP file of an upload with the files inside it, before readers sniff the upload.
 *
 * Implements the ZIP format of PKWARE's APPNOTE.TXT (6.3): end of central directory record, central directory
 * file headers, local file headers; entries stored (method 0) or deflated (method 8, RFC 1951, inflated with
 * fflate). Bounded against hostile archives: the entry count and the total declared uncompressed size are
 * checked from the central directory BEFORE anything is inflated, and the real output is counted WHILE inflating
 * (a zip bomb that lies about its sizes is stopped after at most one small input chunk's worth of output).
 * Encrypted entries, ZIP64 and other compression methods are refused with `encoding_unsupported`.
 */
import { Inflate } from 'fflate';
import { LeadlightError } from '../errors.ts';
import type { InputFile } from '../record.ts';

/** At most this many central-directory entries (files, folders, metadata) in one archive. */
export const MAX_ARCHIVE_ENTRIES = 256;
/** Archives inside archives are expanded this many levels deep (the upload's zip and one zip inside it). */
export const MAX_ARCHIVE_DEPTH = 2;
/**
 * Compressed bytes pushed to the inflater at once; deflate expands at most ~1032×, bounding one step's output to
 * ~1 MB. (16 kB let one step of a lying zip bomb produce ~16 MB and a ~48 MB transient heap, measured in
 * test/core/readers/hostile-bounds.test.ts; 1 kB keeps it near 5 MB at the same speed.)
 */
const INFLATE_CHUNK_BYTES = 1024;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;

/** True when `bytes` start like a ZIP archive (local file header or an empty archive's end record). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 22) return false;
  const sig = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24);
  return sig >>> 0 === SIG_LOCAL || sig >>> 0 === SIG_EOCD;
}

interface CentralEntry {
  name: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

/** Shared budget of decoded bytes across every archive (and nested archive) of one upload. */
export interface DecodeBudget {
  remainingBytes: number;
}

/**
 * Replaces each ZIP file in `files` by its entries (base names only; folders, `__MACOSX` and dot files ignored).
 * Non-ZIP files pass through unchanged. Throws `archive_too_large` when the archives would expand beyond
 * `maxDecodedBytes` in total, `archive_invalid` for damaged or over-nested archives.
 */
export function expandArchives(files: InputFile[], maxDecodedBytes: number): InputFile[] {
  const budget: DecodeBudget = { remainingBytes: maxDecodedBytes };
  return expandLevel(files, budget, 1);
}

function expandLevel(files: InputFile[], budget: DecodeBudget, depth: number): InputFile[] {
  const out: InputFile[] = [];
  let expanded = false;
  for (const file of files) {
    if (!isZip(file.bytes)) {
      out.push(file);
      continue;
    }
    expanded = true;
    if (depth > MAX_ARCHIVE_DEPTH) {
      throw new LeadlightError(
        'archive_invalid',
        `The archive ${file.name} is nested inside archives more than ${MAX_ARCHIVE_DEPTH - 1} level deep; unzip it and upload the record's files or a single zip of them.`,
      );
    }
    const entries = unzipBounded(file.bytes, budget);
    out.push(...expandLevel(entries, budget, depth + 1));
  }
  if (!expanded) return out;
  const seen = new Set<string>();
  for (const f of out) {
    if (seen.has(f.name)) {
      throw new LeadlightError(
        'archive_invalid',
        `The upload contains two files named ${f.name} (in different folders or archives); upload one record at a time.`,
      );
    }
    seen.add(f.name);
  }
  return out;
}

/**
 * Unzips one archive (APPNOTE 4.3) within `budget`, returning its regular files under their base names.
 * The budget is decreased by the bytes produced.
 */
export function unzipBounded(zip: Uint8Array, budget: DecodeBudget): InputFile[] {
  return unzipEntries(zip, budget, MAX_ARCHIVE_ENTRIES).map((e) => ({ name: baseName(e.path), bytes: e.bytes }));
}

/** A regular file of an archive under its path inside the archive (`/`-separated, no leading `/`, no `.` or `..`). */
export interface ArchiveEntry {
  path: string;
  bytes: Uint8Array;
}

/**
 * Unzips one archive (APPNOTE 4.3) of up to `maxEntries` entries within `budget`, keeping each regular file's path
 * inside the archive (a cohort's zip names its records by path). Paths that climb out of the archive (`..`) are
 * refused with `archive_invalid`. The budget is decreased by the bytes produced.
 */
export function unzipEntries(zip: Uint8Array, budget: DecodeBudget, maxEntries: number): ArchiveEntry[] {
  const entries = readCentralDirectory(zip, maxEntries);
  const kept = entries.filter((e) => keepEntry(e.name));
  let declared = 0;
  for (const e of kept) declared += e.uncompressedSize;
  if (declared > budget.remainingBytes) {
    throw new LeadlightError(
      'archive_too_large',
      `The archive declares ${formatBytes(declared)} of content; at most ${formatBytes(budget.remainingBytes)} can be unpacked. Upload the record's files without the archive or a smaller excerpt.`,
    );
  }
  const files: ArchiveEntry[] = [];
  for (const e of kept) {
    if (e.flags & 0x1) {
      throw new LeadlightError('encoding_unsupported', `The archive entry ${baseName(e.name)} is encrypted; upload an unencrypted archive.`);
    }
    const data = entryData(zip, e);
    let bytes: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize) {
        throw new LeadlightError('archive_invalid', `The stored archive entry ${baseName(e.name)} has inconsistent sizes; the archive is damaged.`);
      }
      bytes = data.slice();
    } else if (e.method === 8) {
      bytes = inflateBounded(data, Math.min(e.uncompressedSize, budget.remainingBytes), `the archive entry ${baseName(e.name)}`);
    } else {
      throw new LeadlightError(
        'encoding_unsupported',
        `The archive entry ${baseName(e.name)} uses compression method ${e.method}; only stored and deflated entries are supported. Re-create the zip with standard (deflate) compression.`,
      );
    }
    if (bytes.length !== e.uncompressedSize) {
      throw new LeadlightError('archive_invalid', `The archive entry ${baseName(e.name)} does not have the size its header declares; the archive is damaged.`);
    }
    if (crc32(bytes) !== e.crc32) {
      throw new LeadlightError('archive_invalid', `The archive entry ${baseName(e.name)} fails its CRC check; the archive is damaged.`);
    }
    budget.remainingBytes -= bytes.length;
    files.push({ path: entryPath(e.name), bytes });
  }
  return files;
}

/** The entry's path with `/` separators and without empty or `.` segments; `..` is refused. */
function entryPath(name: string): string {
  const parts = name.split(/[\\/]/u).filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new LeadlightError('archive_invalid', `The archive entry ${baseName(name)} has a path that climbs out of the archive (..); re-create the zip from the folder of the records.`);
  }
  return parts.join('/');
}

/**
 * Inflates raw DEFLATE data (RFC 1951) producing at most `maxBytes`; more output throws `archive_too_large`
 * after at most one input chunk beyond the limit. Truncated or corrupt streams throw `archive_invalid`.
 */
export function inflateBounded(data: Uint8Array, maxBytes: number, what = 'the compressed data'): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let overflow = false;
  const inflater = new Inflate((chunk) => {
    total += chunk.length;
    if (total > maxBytes) {
      overflow = true;
      throw new LeadlightError('archive_too_large', `${capitalise(what)} expands to more than ${formatBytes(maxBytes)}; upload the uncompressed files or a smaller record.`);
    }
    chunks.push(chunk);
  });
  try {
    if (data.length === 0) inflater.push(new Uint8Array(0), true);
    for (let off = 0; off < data.length; off += INFLATE_CHUNK_BYTES) {
      const end = Math.min(data.length, off + INFLATE_CHUNK_BYTES);
      inflater.push(data.subarray(off, end), end === data.length);
    }
  } catch (e) {
    if (overflow && e instanceof LeadlightError) throw e;
    throw new LeadlightError('archive_invalid', `${capitalise(what)} is not valid deflate data; the file is damaged.`);
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

function readCentralDirectory(zip: Uint8Array, maxEntries = MAX_ARCHIVE_ENTRIES): CentralEntry[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const damaged = (what: string) => new LeadlightError('archive_invalid', `The zip archive is damaged (${what}); re-create it and upload it again.`);
  // The end record is 22 bytes plus a comment of at most 65535 bytes.
  let eocd = -1;
  for (let p = zip.length - 22; p >= Math.max(0, zip.length - 22 - 65535); p--) {
    if (view.getUint32(p, true) === SIG_EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw damaged('no end of central directory');
  const entryCount = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (entryCount === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new LeadlightError('encoding_unsupported', 'The archive is a ZIP64 archive, which is not supported; zip the record files with a standard zip tool.');
  }
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) {
    throw new LeadlightError('archive_invalid', 'The archive is split over several volumes; upload a single-volume zip.');
  }
  if (entryCount > maxEntries) {
    throw new LeadlightError('archive_too_large', maxEntries === MAX_ARCHIVE_ENTRIES
      ? `The archive has ${entryCount} entries; at most ${MAX_ARCHIVE_ENTRIES} are accepted. Upload one record per archive.`
      : `The archive has ${entryCount} entries; at most ${maxEntries} are accepted in one part. Split the records over several zips.`);
  }
  if (cdOffset + cdSize > eocd) throw damaged('central directory out of range');
  const entries: CentralEntry[] = [];
  let p = cdOffset;
  const decoder = new TextDecoder('utf-8');
  for (let i = 0; i < entryCount; i++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== SIG_CENTRAL) throw damaged('bad central directory entry');
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    if (p + 46 + nameLen > eocd) throw damaged('entry name out of range');
    const entry: CentralEntry = {
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      crc32: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      uncompressedSize: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
      name: decoder.decode(zip.subarray(p + 46, p + 46 + nameLen)),
    };
    if (entry.compressedSize === 0xffffffff || entry.uncompressedSize === 0xffffffff || entry.localOffset === 0xffffffff) {
      throw new LeadlightError('encoding_unsupported', 'The archive uses ZIP64 entries, which are not supported; zip the record files with a standard zip tool.');
    }
    entries.push(entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function entryData(zip: Uint8Array, e: CentralEntry): Uint8Array {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const p = e.localOffset;
  if (p + 30 > zip.length || view.getUint32(p, true) !== SIG_LOCAL) {
    throw new LeadlightError('archive_invalid', `The archive entry ${baseName(e.name)} has no valid local header; the archive is damaged.`);
  }
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  const end = start + e.compressedSize;
  if (end > zip.length) {
    throw new LeadlightError('archive_invalid', `The archive entry ${baseName(e.name)} is cut short; the archive is truncated.`);
  }
  return zip.subarray(start, end);
}

/** Folders, macOS resource forks and hidden files are not record files. */
function keepEntry(path: string): boolean {
  if (path.endsWith('/') || path.endsWith('\\')) return false;
  const parts = path.split(/[\\/]/u);
  if (parts.some((part) => part === '__MACOSX')) return false;
  const name = parts[parts.length - 1];
  return name.length > 0 && !name.startsWith('.');
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/u);
  return parts[parts.length - 1];
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / ZIP) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${n} bytes`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
