/** Distances between a computed array and a reference; pure, so tests in Node and inside workerd share them. */

/** ‖a − b‖₂ / ‖b‖₂. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** The largest |a − b| and the largest |b|: for "equal up to float rounding" checks (maxDiff ≤ 1e-6·maxAbs). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxDiff: number; maxAbs: number } {
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < b.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(b[i]));
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  }
  return { maxDiff, maxAbs };
}
