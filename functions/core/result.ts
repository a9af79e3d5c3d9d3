/**
 * The one schema of the result JSON (../shared/docs/contract.md, "Result JSON"): what the CLI prints, what the
 * Worker stores in KV and returns, and what the site renders. Checked when writing to KV and when the site builds.
 * Extend freely, never break: new fields are optional; `schema` changes only on a breaking change.
 */
import { z } from 'zod';
import { LEAD_ORDER } from './record.ts';

export const RESULT_SCHEMA_VERSION = 1;

const finite = z.number().finite();
const leadMap = z.object(Object.fromEntries(LEAD_ORDER.map((l) => [l, finite])) as Record<(typeof LEAD_ORDER)[number], typeof finite>);

export const encodedArraySchema = z.object({
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.literal('float32'),
  encoding: z.literal('base64-le'),
  data: z.string(),
});
export type EncodedArray = z.infer<typeof encodedArraySchema>;

export const warningSchema = z.object({ code: z.string(), message: z.string() });

export const averageBeatSchema = z.object({
  /** Seconds relative to the R-peak (or window centre) for each sample of the beat. */
  timeS: z.array(finite),
  /** Per lead: mean signal (mV) and mean relevance over the beats. */
  signalMv: z.record(z.string(), z.array(finite)),
  relevance: z.record(z.string(), z.array(finite)),
  beats: z.number().int().nonnegative(),
  alignment: z.string(),
});

export const resultSchema = z
  .object({
    schema: z.literal(RESULT_SCHEMA_VERSION),
    record: z
      .object({
        name: z.string(),
        format: z.string(),
        samplingRateHz: finite.positive(),
        durationS: finite.nonnegative(),
        leads: z.array(z.enum(LEAD_ORDER)).length(12),
        warnings: z.array(warningSchema),
      })
      .passthrough(),
    model: z
      .object({
        id: z.string(),
        classes: z.array(z.string()).min(1),
        thresholds: z.array(finite),
      })
      .passthrough(),
    input: z
      .object({
        samplingRateHz: finite.positive(),
        samples: z.number().int().positive(),
        startS: finite.nonnegative(),
      })
      .passthrough(),
    prediction: z
      .object({
        probabilities: z.record(z.string(), finite),
        logits: z.record(z.string(), finite),
        positive: z.array(z.string()),
      })
      .passthrough(),
    attribution: z
      .object({
        method: z.string(),
        class: z.string(),
        target: z.literal('logit'),
        baseline: z.string(),
        steps: z.number().int().nonnegative(),
        relevance: encodedArraySchema,
        completeness: z.object({ sum: finite, expected: finite }).passthrough(),
      })
      .passthrough(),
    analysis: z
      .object({
        meanRelevance: finite,
        leadRelevance: leadMap,
        beats: z
          .object({
            rPeaksS: z.array(finite),
            heartRateBpm: finite.nullable(),
            averageBeat: averageBeatSchema.nullable(),
          })
          .passthrough(),
      })
      .passthrough(),
    timingsMs: z.record(z.string(), finite),
  })
  .passthrough();

export type Result = z.infer<typeof resultSchema>;

/** Validates a result; throws a plain Error listing the first problems (a bug, never user input). */
export function checkResult(value: unknown): Result {
  const parsed = resultSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`result does not match schema ${RESULT_SCHEMA_VERSION}: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** Encodes float32 values as base64 of their little-endian bytes (the `base64-le` encoding). */
export function encodeFloat32(values: Float32Array, shape: number[]): EncodedArray {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return { shape, dtype: 'float32', encoding: 'base64-le', data: btoa(binary) };
}

/** Decodes a `base64-le` float32 array. */
export function decodeFloat32(encoded: EncodedArray): Float32Array {
  const binary = atob(encoded.data);
  const expected = encoded.shape.reduce((a, b) => a * b, 1);
  if (binary.length !== expected * 4) throw new Error(`encoded array has ${binary.length} bytes, shape needs ${expected * 4}`);
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
