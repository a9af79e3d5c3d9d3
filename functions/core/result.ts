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

/** One deletion or insertion curve (issue 16, item 1; functions/core/attribution/faithfulness.ts). */
export const faithfulnessCurveSchema = z
  .object({
    fractions: z.array(finite),
    logit: z.array(finite),
    randomLogit: z.array(finite),
    randomMin: z.array(finite).optional(),
    randomMax: z.array(finite).optional(),
    areaVsRandom: finite.optional(),
  })
  .passthrough();

/** `analysis.faithfulness`: deletion and insertion curves of the map with their seeded random reference. */
export const faithfulnessSchema = z
  .object({
    deletion: faithfulnessCurveSchema,
    insertion: faithfulnessCurveSchema,
    seed: z.number().int(),
  })
  .passthrough();

/**
 * One step between the file and the model input (`input.steps`, issue 16 item 7; functions/core/record.ts
 * `PreprocessingStep`): `step` (read, units, leads, invert, trim, derive, resample, window, pad, layout), a sentence,
 * and the step's numbers (e.g. `fromHz`, `toHz`, `filter`, `gain`, `leads`, `fromSample`/`toSample`).
 */
export const preprocessingStepSchema = z
  .object({
    step: z.string(),
    description: z.string(),
    warnings: z.array(z.string()).optional(),
  })
  .passthrough();

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
        steps: z.array(preprocessingStepSchema).optional(),
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
        faithfulness: faithfulnessSchema.optional(),
        /** `pending`: stored before its curves, which a second write adds (the Worker; absent once they are there). */
        faithfulnessStatus: z.literal('pending').optional(),
      })
      .passthrough(),
    timingsMs: z.record(z.string(), finite),
    /**
     * Where the numbers were computed. Absent: on Leadlight's server. `browser`: in the visitor's browser (private
     * mode), stored by `POST /api/results` when shared — the server checked it but did not compute it.
     */
    provenance: z.object({ computedIn: z.enum(['server', 'browser']) }).passthrough().optional(),
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

const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;
const BASE64_CODES = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) => c.charCodeAt(0));
const PAD = '='.charCodeAt(0);

/** Standard base64 (RFC 4648 §4, with padding) of `bytes`, written as ASCII bytes and decoded once. */
function toBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = BASE64_CODES[n >> 18];
    out[o++] = BASE64_CODES[(n >> 12) & 63];
    out[o++] = BASE64_CODES[(n >> 6) & 63];
    out[o++] = BASE64_CODES[n & 63];
  }
  if (i < bytes.length) {
    const rest = bytes.length - i;
    const n = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    out[o++] = BASE64_CODES[n >> 18];
    out[o++] = BASE64_CODES[(n >> 12) & 63];
    out[o++] = rest === 2 ? BASE64_CODES[(n >> 6) & 63] : PAD;
    out[o++] = PAD;
  }
  return new TextDecoder().decode(out);
}

/**
 * Encodes float32 values as base64 of their little-endian bytes (the `base64-le` encoding). On little-endian hosts
 * (all this project runs on) the array's own bytes are encoded, without a copy: a Ribeiro-size map (49 152 values)
 * takes ~2 ms, where a byte-wise DataView copy and btoa of a binary string took 11–17 ms.
 */
export function encodeFloat32(values: Float32Array, shape: number[]): EncodedArray {
  let bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (!LITTLE_ENDIAN) {
    bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  }
  return { shape, dtype: 'float32', encoding: 'base64-le', data: toBase64(bytes) };
}

/**
 * The bytes of a standard base64 string (RFC 4648 §4): the engine's own decoder where there is one (TC39
 * `Uint8Array.fromBase64`: workerd, recent browsers), else `atob` and a byte copy. Throws on a character outside the
 * alphabet.
 */
export function base64Bytes(data: string): Uint8Array {
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;
  if (fromBase64) return fromBase64(data);
  const binary = atob(data);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Decodes a `base64-le` float32 array (on little-endian hosts a view of the decoded bytes, without a copy). */
export function decodeFloat32(encoded: EncodedArray): Float32Array {
  const bytes = base64Bytes(encoded.data);
  const expected = encoded.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected * 4) throw new Error(`encoded array has ${bytes.length} bytes, shape needs ${expected * 4}`);
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, expected);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
