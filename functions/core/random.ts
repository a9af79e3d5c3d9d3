/**
 * Deterministic randomness: seeded synthetic records (the command line's memory measurement) and the tests'
 * fuzzing (test/helpers/random.ts re-exports it). Not for anything secret: ids and tokens use crypto.getRandomValues.
 */

/** mulberry32 (Tommy Ettinger's 32-bit generator): a small, fast, seedable PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
