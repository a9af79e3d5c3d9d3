/**
 * A platform-neutral fingerprint of what `readEcg` makes of an upload, so the same code can run in Node and, bundled
 * by esbuild, in Chromium (readers-in-browser.test.ts): the record's format, rate, length, leads, derived leads and
 * warning codes, plus an FNV-1a checksum over the bytes of every Float32 lead and the sum of all samples; or, for a
 * refused upload, the LeadlightError's code and message. Imports only the pure core: no Node API may appear here.
 */
import { isLeadlightError } from '../../functions/core/errors.ts';
import type { InputFile } from '../../functions/core/record.ts';
import { readEcg } from '../../functions/core/readers/registry.ts';

export type UploadSummary =
  | {
      kind: 'record';
      name: string;
      format: string;
      samplingRateHz: number;
      samples: number;
      leads: string[];
      derivedLeads: string[];
      warnings: string[];
      /** FNV-1a (32-bit) over the little-endian bytes of the 12 Float32 leads, in lead order, as hex. */
      checksum: string;
      /** Sum of all samples in mV (float64 accumulation, lead by lead). */
      sumMv: number;
    }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'crash'; error: string };

/** FNV-1a over the bytes of Float32 arrays (FNV: Fowler–Noll–Vo, offset basis 2166136261, prime 16777619). */
export function fnv1aOfFloat32(arrays: Float32Array[]): string {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

/** Reads an upload with `readEcg` and returns its fingerprint; never throws. */
export async function summariseUpload(files: InputFile[]): Promise<UploadSummary> {
  try {
    const record = await readEcg(files);
    let sumMv = 0;
    for (const lead of record.signalsMv) for (let i = 0; i < lead.length; i++) sumMv += lead[i];
    return {
      kind: 'record',
      name: record.name,
      format: record.format,
      samplingRateHz: record.samplingRateHz,
      samples: record.samples,
      leads: [...record.leads],
      derivedLeads: [...record.derivedLeads],
      warnings: record.warnings.map((w) => w.code),
      checksum: fnv1aOfFloat32(record.signalsMv),
      sumMv,
    };
  } catch (e) {
    if (isLeadlightError(e)) return { kind: 'error', code: e.code, message: e.message };
    return { kind: 'crash', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}
