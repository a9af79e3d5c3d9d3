/** Deterministic randomness for tests and fuzzing: the core's seeded PRNG (functions/core/random.ts). */
export { seededRandom } from '../../functions/core/random.ts';
