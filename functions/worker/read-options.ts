/**
 * Reading bounds of the Worker's 128 MB isolate (the core's defaults suit the CLI): at most 64 MiB decoded from
 * archives and compressed content, and 150 000 samples per lead (5 minutes at 500 Hz) — the analyses keep a few
 * float64 copies of all 12 leads. Kept apart from ./analyze.ts (which imports the WebAssembly engine) so that
 * tests in Node read uploads exactly as the Worker does.
 */
import { DEFAULT_RECORD_LIMITS } from '../core/record.ts';
import type { ReadEcgOptions } from '../core/readers/registry.ts';

export const WORKER_MAX_SAMPLES_PER_LEAD = 150_000;
export const WORKER_READ_OPTIONS: ReadEcgOptions = {
  maxDecodedBytes: 64 * 1024 * 1024,
  maxSamplesPerChannel: WORKER_MAX_SAMPLES_PER_LEAD,
  limits: { ...DEFAULT_RECORD_LIMITS, maxSamplesPerLead: WORKER_MAX_SAMPLES_PER_LEAD },
};
