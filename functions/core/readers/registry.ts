/**
 * The one list of readers, in the order they are tried. `readEcg` picks the first reader whose `sniff` accepts
 * one of the uploaded files (content decides, not the file name) and returns the 12-lead record.
 */
import { LeadlightError } from '../errors.ts';
import { type EcgRecord, type InputFile, type RecordLimits, DEFAULT_RECORD_LIMITS, toEcgRecord } from '../record.ts';
import { type EcgReader, type ReadOptions, DEFAULT_READ_OPTIONS } from './types.ts';
import { geMuseXmlReader } from './ge-muse-xml.ts';
import { hl7AecgReader } from './hl7-aecg.ts';
import { philipsXmlReader } from './philips-xml.ts';
import { wfdbReader } from './wfdb.ts';
import { cpscMatReader } from './cpsc-mat.ts';
import { dicomReader } from './dicom.ts';
import { scpReader } from './scp-ecg.ts';
import { edfReader } from './edf.ts';
import { csvReader } from './csv.ts';
import { expandArchives } from './archive.ts';

/** Readers in priority order. Each lives in its own file in this folder. */
export const READERS: EcgReader[] = [
  // (each reader adds itself here: import { xReader } from './x.ts'; then list it)
  geMuseXmlReader,
  philipsXmlReader,
  hl7AecgReader,
  wfdbReader, // before cpscMatReader: an upload with a .hea is a WFDB record
  cpscMatReader,
  dicomReader,
  scpReader,
  edfReader,
  csvReader, // keep last: the most permissive sniff (any delimited table with lead names)
];

export interface ReadEcgOptions extends Partial<ReadOptions> {
  limits?: RecordLimits;
  /** Upper bound on the summed size of the uploaded files (before any archive is expanded). */
  maxUploadBytes?: number;
}

export const MAX_FILES_PER_UPLOAD = 64;
/** Default upper bound on one upload's total bytes (a 12-lead ECG is rarely above a few MB). */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

/** Finds the reader for an upload and returns the record it holds, as 12 leads in mV. */
export async function readEcg(uploaded: InputFile[], options: ReadEcgOptions = {}): Promise<EcgRecord> {
  const readOptions: ReadOptions = { ...DEFAULT_READ_OPTIONS, ...options };
  if (uploaded.length === 0) throw new LeadlightError('request_invalid', 'No file was uploaded; choose an ECG file.');
  if (uploaded.length > MAX_FILES_PER_UPLOAD) {
    throw new LeadlightError('too_many_files', `${uploaded.length} files were uploaded; one record has at most ${MAX_FILES_PER_UPLOAD}. Upload one record at a time.`);
  }
  const maxUploadBytes = options.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const uploadBytes = uploaded.reduce((sum, f) => sum + f.bytes.length, 0);
  if (uploadBytes > maxUploadBytes) {
    throw new LeadlightError(
      'file_too_large',
      `The upload has ${(uploadBytes / 1048576).toFixed(1)} MB; at most ${(maxUploadBytes / 1048576).toFixed(1)} MB are accepted. Upload one record or a shorter excerpt.`,
    );
  }
  // ZIP uploads are replaced by the files inside them (bounded by maxDecodedBytes) before any reader sniffs.
  const files = expandArchives(uploaded, readOptions.maxDecodedBytes);
  if (files.length === 0) throw new LeadlightError('archive_invalid', 'The archive holds no files; zip the ECG record files and upload again.');
  if (files.length > MAX_FILES_PER_UPLOAD) {
    throw new LeadlightError('too_many_files', `The upload expands to ${files.length} files; one record has at most ${MAX_FILES_PER_UPLOAD}. Upload one record at a time.`);
  }
  for (const reader of READERS) {
    const main = files.find((f) => reader.sniff(f));
    if (main) {
      const raw = await reader.read(main, files, readOptions);
      return toEcgRecord(raw, options.limits ?? DEFAULT_RECORD_LIMITS);
    }
  }
  const names = files.map((f) => f.name).join(', ');
  throw new LeadlightError(
    'unsupported_format',
    `None of the uploaded files (${names}) is an ECG format Leadlight reads. Supported: ${READERS.map((r) => r.label).join(', ')}.`,
  );
}
