import assert from "node:assert/strict";

/** The largest |value|. */
export function largest(values: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i]!));
  return scale;
}

/**
 * Largest |a - b| relative to the largest |b| (a whole tensor's scale: float32 sums in another order
 * differ by rounding), or to `floor` if that is larger.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 0): number {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst / Math.max(largest(expected), floor);
}
