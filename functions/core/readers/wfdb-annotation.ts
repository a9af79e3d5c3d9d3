/**
 * Reader for WFDB annotation files in MIT format (PhysioNet WFDB Programmer's Guide, "annot(5)"): `.atr`, `.qrs`
 * and LUDB's per-lead files (`1.i`, `1.avf`, …). Each annotation is a 16-bit little-endian word whose top 6 bits
 * are the code A and low 10 bits the sample increment I; special codes follow: SKIP (59, a 32-bit increment in
 * PDP-11 word order), NUM (60), SUB (61), CHN (62) and AUX (63, I bytes of text, padded to even). Modifier words
 * apply to the annotation before them; `chan` and `num` persist until changed, `subtype` defaults to 0 (as
 * wfdb-python `rdann`). A zero word ends the file.
 */
import { LeadlightError } from '../errors.ts';

export interface WfdbAnnotation {
  /** Sample index (from the start of the record). */
  sample: number;
  /** Mnemonic, e.g. `N`, `V`, `+`, `(`, `)`, `p`, `t`. */
  symbol: string;
  /** Numeric annotation code (1–49). */
  code: number;
  subtype: number;
  chan: number;
  num: number;
  /** Auxiliary text (e.g. rhythm `(AFIB`), or '' when absent. */
  aux: string;
}

/** Annotation codes → mnemonics (WFDB ecgcodes.h / wfdb-python ann_label_table). */
const SYMBOLS: Record<number, string> = {
  0: ' ', 1: 'N', 2: 'L', 3: 'R', 4: 'a', 5: 'V', 6: 'F', 7: 'J', 8: 'A', 9: 'S', 10: 'E', 11: 'j', 12: '/', 13: 'Q',
  14: '~', 16: '|', 18: 's', 19: 'T', 20: '*', 21: 'D', 22: '"', 23: '=', 24: 'p', 25: 'B', 26: '^', 27: 't', 28: '+',
  29: 'u', 30: '?', 31: '!', 32: '[', 33: ']', 34: 'e', 35: 'n', 36: '@', 37: 'x', 38: 'f', 39: '(', 40: ')', 41: 'r',
};

/** Beat annotation mnemonics (WFDB isqrs): normal, bundle branch block, premature, escape, paced, fusion, unclassified. */
export const BEAT_SYMBOLS = new Set(['N', 'L', 'R', 'B', 'A', 'a', 'J', 'S', 'V', 'r', 'F', 'e', 'j', 'n', 'E', '/', 'f', 'Q', '?']);

/** Upper bound on annotations read from one file (a 10-minute 1 kHz record has far fewer). */
const MAX_ANNOTATIONS = 5_000_000;

/** Decodes an MIT-format annotation file. */
export function readWfdbAnnotations(bytes: Uint8Array): WfdbAnnotation[] {
  const out: WfdbAnnotation[] = [];
  const n = bytes.length;
  let pos = 0;
  let sample = 0;
  let chan = 0;
  let num = 0;
  while (pos + 1 < n) {
    const word = bytes[pos] | (bytes[pos + 1] << 8);
    pos += 2;
    const code = word >> 10;
    const value = word & 0x3ff;
    if (code === 0 && value === 0) break;
    if (code === 59) {
      if (pos + 4 > n) throw new LeadlightError('truncated_signal', 'The annotation file ends inside a SKIP field; the file is cut short.');
      const high = bytes[pos] | (bytes[pos + 1] << 8);
      const low = bytes[pos + 2] | (bytes[pos + 3] << 8);
      pos += 4;
      sample += ((high << 16) | low) | 0;
      continue;
    }
    const last = out[out.length - 1];
    if (code === 60 || code === 61 || code === 62 || code === 63) {
      if (!last) continue; // modifier before any annotation: ignored, as the WFDB library does
      if (code === 60) last.num = num = value > 511 ? value - 1024 : value;
      else if (code === 61) last.subtype = value > 511 ? value - 1024 : value;
      else if (code === 62) last.chan = chan = value;
      else {
        if (pos + value > n) throw new LeadlightError('truncated_signal', 'The annotation file ends inside an AUX text; the file is cut short.');
        let end = pos;
        while (end < pos + value && bytes[end] !== 0) end++;
        last.aux = String.fromCharCode(...bytes.subarray(pos, end));
        pos += value + (value & 1);
      }
      continue;
    }
    sample += value;
    if (out.length >= MAX_ANNOTATIONS) {
      throw new LeadlightError('file_too_large', `The annotation file holds more than ${MAX_ANNOTATIONS} annotations; split the record.`);
    }
    out.push({ sample, symbol: SYMBOLS[code] ?? `[${code}]`, code, subtype: 0, chan, num, aux: '' });
  }
  return out;
}

/** Sample indices of the beat annotations (QRS complexes) among `annotations`. */
export function beatSamples(annotations: WfdbAnnotation[]): Int32Array {
  return Int32Array.from(annotations.filter((a) => BEAT_SYMBOLS.has(a.symbol)).map((a) => a.sample));
}
