import { test } from "node:test";
import assert from "node:assert/strict";
import { distribution, extent, histogram, quantile, renderHistogram } from "../../src/data/summary.js";
import { stateStatistics } from "../../src/data/raw.js";

test("quantiles interpolate linearly between ranks (numpy's default)", () => {
  const sorted = [1, 2, 4, 8, 16];
  assert.equal(quantile(sorted, 0), 1);
  assert.equal(quantile(sorted, 0.5), 4);
  assert.equal(quantile(sorted, 0.25), 2);
  assert.equal(quantile(sorted, 0.9), 8 + 0.6 * 8); // h = 3.6
  const d = distribution([16, 1, 8, 2, 4]);
  assert.deepEqual([d.min, d.max, d.mean], [1, 16, 6.2]);
  assert.ok(Math.abs(d.std - Math.sqrt((5.2 ** 2 + 4.2 ** 2 + 2.2 ** 2 + 1.8 ** 2 + 9.8 ** 2) / 5)) < 1e-12);
});

test("histogram bins cover [min, max] with the maximum in the last bin; bars scale to the peak", () => {
  const { edges, counts } = histogram([0, 1, 2, 3, 10], 5);
  assert.deepEqual(edges, [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(counts, [2, 2, 0, 0, 1]);
  const lines = renderHistogram([0, 1, 2, 3, 10], 5, 10);
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /\[0, 2\) +#{10} 2$/);
  assert.match(lines[4]!, /\[8, 10\] +#{5} 1$/);
  assert.deepEqual(renderHistogram([7, 7, 7]), ["  [7, 7] " + "#".repeat(40) + " 3"]);
});

test("state statistics stay exact when the mean is large against the spread", () => {
  // Values 1e6 + {0, 1, 2, 3}: mean 1e6 + 1.5, population std sqrt(1.25).
  const observations = Float32Array.of(1e6, 1e6 + 1, 1e6 + 2, 1e6 + 3);
  const stats = stateStatistics([{ length: 4, observations }], 1);
  assert.equal(stats.mean[0], 1e6 + 1.5);
  assert.ok(Math.abs(stats.std[0]! - Math.sqrt(1.25)) < 1e-9);
});

test("extent and the histogram handle as many values as a large dataset has episodes", () => {
  // Spreading this many values into Math.min(...) overflows the call stack.
  const values = Array.from({ length: 300_000 }, (_, i) => ((i * 7919) % 300_000) - 1000);
  assert.deepEqual(extent(values), { min: -1000, max: 298_999 });
  assert.deepEqual(extent([]), { min: Infinity, max: -Infinity });
  const lines = renderHistogram(values, 3, 10);
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /#{10} 100000$/);
});
