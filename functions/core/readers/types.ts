/**
 * The one interface every ECG reader implements. A reader is chosen by content (`sniff`), never by extension;
 * `read` receives every uploaded file so multi-file formats (WFDB header + signal files) find their companions.
 */
import type { InputFile, RawRecord } from '../record.ts';

export interface ReadOptions {
  /** Sampling rate to use when the file does not state one (CSV without a time column). */
  samplingRateHz?: number;
  /** Units of sample values when the file does not state them (CSV). */
  units?: 'V' | 'mV' | 'uV';
  /** Upper bound on decoded samples per channel; readers refuse larger declared sizes before allocating. */
  maxSamplesPerChannel: number;
  /** Upper bound on total bytes decoded from compressed content (zip, XLI, base64). */
  maxDecodedBytes: number;
}

export interface EcgReader {
  /** Stable id, also the record's `format` (e.g. `wfdb`, `ge-muse-xml`). */
  id: string;
  /** Human-readable format name for messages and the README. */
  label: string;
  /** True when `file` looks like the main file of this format (header, XML root, magic bytes). Cheap; never throws. */
  sniff(file: InputFile): boolean;
  /** Decodes the record whose main file is `main`; `files` holds every file of the upload (companions). */
  read(main: InputFile, files: InputFile[], options: ReadOptions): Promise<RawRecord>;
}

export const DEFAULT_READ_OPTIONS: ReadOptions = {
  maxSamplesPerChannel: 2_000_000,
  maxDecodedBytes: 256 * 1024 * 1024,
};
