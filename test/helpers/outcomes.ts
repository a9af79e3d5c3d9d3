/** Small helpers the reader tests share: the error code a call ends with, and sums of samples. */
import { LeadlightError } from '../../functions/core/errors.ts';

/** 'ok', or the stable code of the LeadlightError `f` throws (any other exception fails the test). */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof LeadlightError) return e.code;
    throw e;
  }
}

/** "code: message" of the LeadlightError `f` throws, 'no error', or what else it threw (for exact-message checks). */
export function codeAndMessageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof LeadlightError ? `${e.code}: ${e.message}` : `not a LeadlightError: ${String(e)}`;
  }
  return 'no error';
}

/** The stable code of the LeadlightError `p` rejects with, or undefined when it resolves. */
export async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LeadlightError) return e.code;
    throw e;
  }
  return undefined;
}

export function sumOf(s: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += s[i];
  return total;
}

/** Asserts that `f` throws a LeadlightError (any stable code). */
export function expectLeadlightError(f: () => unknown): void {
  if (codeOf(f) === 'ok') throw new Error('expected a LeadlightError, but the call returned');
}
