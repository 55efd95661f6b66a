/**
 * Summary statistics of episode returns and lengths, and their human-readable rendering (with a
 * small terminal histogram of returns) for `prepare-dataset --inspect` and after a prepare.
 */
import type { ActionSpace } from "./types.js";

export interface DistributionStats {
  min: number;
  mean: number;
  max: number;
  /** Population standard deviation. */
  std: number;
  /** Linearly interpolated quantiles (numpy's default): p05, p25, p50 (median), p75, p95. */
  quantiles: { p05: number; p25: number; p50: number; p75: number; p95: number };
}

/** Quantile q in [0, 1] of sorted values: interpolates between ranks floor(h) and ceil(h), h = q (n - 1). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const h = q * (sorted.length - 1);
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function distribution(values: readonly number[]): DistributionStats {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / sorted.length;
  let squares = 0;
  for (const v of sorted) squares += (v - mean) * (v - mean);
  return {
    min: sorted[0]!,
    mean,
    max: sorted[sorted.length - 1]!,
    std: Math.sqrt(squares / sorted.length),
    quantiles: {
      p05: quantile(sorted, 0.05),
      p25: quantile(sorted, 0.25),
      p50: quantile(sorted, 0.5),
      p75: quantile(sorted, 0.75),
      p95: quantile(sorted, 0.95),
    },
  };
}

/**
 * Smallest and largest of `values`, in one pass. (`Math.min(...values)` passes every value as an
 * argument and overflows the call stack at roughly 125 thousand values: a large dataset's episodes.)
 */
export function extent(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Counts of values in `bins` equal-width bins over [min, max] (the max falls in the last bin). */
export function histogram(values: readonly number[], bins: number): { edges: number[]; counts: number[] } {
  const { min, max } = extent(values);
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const b = width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0;
    counts[b]!++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => (width > 0 ? min + i * width : min));
  return { edges, counts };
}

/** A number in at most ~7 significant characters, for tables. */
export function fmt(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e7) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(3);
  return x.toFixed(a >= 100 ? 1 : 3);
}

/** The histogram as text lines: one bin a line with a bar of '#' scaled to `barWidth` at the largest count. */
export function renderHistogram(values: readonly number[], bins = 10, barWidth = 40): string[] {
  if (values.length === 0) return [];
  const { min, max } = extent(values);
  const { edges, counts } = histogram(values, min === max ? 1 : bins);
  const peak = Math.max(...counts);
  const labels = counts.map((_, i) => `[${fmt(edges[i]!)}, ${fmt(edges[i + 1]!)}${i === counts.length - 1 ? "]" : ")"}`);
  const labelWidth = Math.max(...labels.map((l) => l.length));
  return counts.map((c, i) => {
    const bar = "#".repeat(c === 0 ? 0 : Math.max(1, Math.round((c / peak) * barWidth)));
    return `  ${labels[i]!.padEnd(labelWidth)} ${bar} ${c}`;
  });
}

/** The action space; `declaredBy` names who declared its n or bounds (null: they were read off the data). */
export function describeActionSpace(space: ActionSpace, declaredBy: string | null): string {
  const by = declaredBy === null ? "" : ` (declared by ${declaredBy})`;
  if (space.kind === "discrete") return `discrete, n = ${space.n}${by}`;
  const from = declaredBy === null ? "observed" : "declared";
  return `continuous, dim = ${space.dim}, ${from} low [${space.low.map(fmt).join(", ")}], high [${space.high.map(fmt).join(", ")}]${by}`;
}

export function describeDistribution(d: DistributionStats): string {
  const q = d.quantiles;
  return `min ${fmt(d.min)}  mean ${fmt(d.mean)}  max ${fmt(d.max)}  std ${fmt(d.std)}  p5 ${fmt(q.p05)}  p25 ${fmt(q.p25)}  median ${fmt(q.p50)}  p75 ${fmt(q.p75)}  p95 ${fmt(q.p95)}`;
}
