/**
 * The one mapping from error codes to HTTP (functions/worker/errors.ts): every code of the catalogue except
 * Leadlight's own failures (`internal`, and `analysis_failed` for a job given up after its retries) is a 4xx, so
 * bad input can never surface as a 5xx; anything that is not a LeadlightError becomes
 * `500 internal` with a generic message that leaks nothing (no stack, path or original message).
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, LeadlightError } from '../../functions/core/errors.ts';
import { errorBodyOf, errorResponse, httpStatusOf } from '../../functions/worker/errors.ts';

describe('mapping error codes to HTTP statuses', () => {
  const OWN_FAILURES = ['internal', 'analysis_failed'];
  for (const code of Object.keys(ERROR_CODES).filter((c) => !OWN_FAILURES.includes(c))) {
    it(`answers ${code} with a 4xx`, () => {
      const status = httpStatusOf(code);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    });
  }

  it('answers a job given up after its retries with 500 analysis_failed, keeping its code', () => {
    expect(httpStatusOf('analysis_failed')).toBe(500);
    const { status, body } = errorBodyOf(new LeadlightError('analysis_failed', 'The analysis failed on every try.'));
    expect(status).toBe(500);
    expect(body.error.code).toBe('analysis_failed');
  });

  it('uses the statuses the contract names for tokens, missing results, rate limits and cancelled jobs', () => {
    expect([httpStatusOf('rate_limited'), httpStatusOf('job_cancelled')]).toEqual([429, 410]);
    expect([httpStatusOf('unauthorized'), httpStatusOf('forbidden'), httpStatusOf('not_found')]).toEqual([401, 403, 404]);
    expect(httpStatusOf('file_too_large')).toBe(413);
  });

  it('reduces unknown errors to 500 internal without their message or stack', async () => {
    const secret = new TypeError('cannot read x of undefined at /work/main/functions/core/secret.ts:12');
    const { status, body } = errorBodyOf(secret);
    expect(status).toBe(500);
    expect(body.error.code).toBe('internal');
    expect(JSON.stringify(body)).not.toMatch(/secret|\/work\/|TypeError|undefined/);
    const original = console.error;
    console.error = () => undefined;
    try {
      const response = errorResponse(secret);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual(body);
    } finally {
      console.error = original;
    }
  });

  it('keeps the message of a LeadlightError, which is written for users', () => {
    const { status, body } = errorBodyOf(new LeadlightError('lead_missing', 'The record lacks lead V1; upload a 12-lead ECG.'));
    expect(status).toBe(422);
    expect(body).toEqual({ error: { code: 'lead_missing', message: 'The record lacks lead V1; upload a 12-lead ECG.' } });
  });
});
