/**
 * SVG charts for `report.md`, drawn with Vega-Lite and rendered headless by Vega (no browser, no
 * canvas). Every function returns a complete `<svg>` document; the same input always gives the same
 * bytes, so reports can be diffed.
 *
 * Empty input (no series points, no bars, no spikes) is not an error: the chart keeps its title and
 * says "no data", because a report should still show that, e.g., the plain DT emits no spikes.
 * Non-finite numbers are an error ({@link SnndtError}) naming the chart, the item and the value.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { SnndtError } from "../runtime/errors.js";
import { extent } from "../data/summary.js";

const WIDTH = 520;
const HEIGHT = 300;
/** Above this many points a line chart draws lines only: dots would hide the curve (e.g. training loss). */
const MAX_POINTS_WITH_DOTS = 200;
/** Readable sizes for a chart shown at its natural width in a Markdown viewer. */
const CONFIG = {
  background: "white",
  font: "Helvetica, Arial, sans-serif",
  title: { fontSize: 16, anchor: "start", offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 240 },
  header: { labelFontSize: 13, titleFontSize: 13 },
} as const;

export interface LineSeries {
  name: string;
  points: [number, number][];
}

export interface Bar {
  label: string;
  value: number;
  /** Half-width of an error bar drawn from value - error to value + error (e.g. one standard deviation). */
  error?: number;
  /** Bars with the same label and different groups stand side by side, coloured by group. */
  group?: string;
}

/** One spike: the spiking time step (or token) at which `neuron` of `layer` fired. */
export interface Spike {
  time: number;
  neuron: number;
  layer: string;
}

export interface ScatterPoint {
  x: number;
  y: number;
  series?: string;
}

/** Renders a Vega-Lite spec to an SVG string. */
async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The chart for empty input: the title over a frame that says "no data". */
function noData(title: string): Promise<string> {
  return render({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: WIDTH,
    height: 80,
    config: { ...CONFIG, view: { stroke: "#cccccc" } },
    data: { values: [{ message: "no data" }] },
    mark: { type: "text", fontSize: 16, color: "#666666" },
    encoding: { text: { field: "message", type: "nominal" } },
  });
}

/** Throws unless `value` is finite, naming the chart and the item. */
function requireFinite(title: string, what: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new SnndtError(`Chart "${title}": ${what} must be a finite number, found ${value}.`);
  }
}

/** Names in first-appearance order (the legend and colours follow the caller's order, not the alphabet). */
function uniqueInOrder(names: string[]): string[] {
  return [...new Set(names)];
}

/**
 * Lines for one or more series, e.g. return per episode or training curves, with a dot per point
 * when there are at most 200 points in all.
 */
export async function lineChart(opts: { title: string; x: string; y: string; series: LineSeries[]; integerX?: boolean }): Promise<string> {
  const rows = opts.series.flatMap((series) =>
    series.points.map(([x, y], index) => {
      requireFinite(opts.title, `series "${series.name}" point ${index} x`, x);
      requireFinite(opts.title, `series "${series.name}" point ${index} y`, y);
      return { x, y, series: series.name };
    }),
  );
  if (rows.length === 0) return noData(opts.title);
  const drawn = opts.series.filter((series) => series.points.length > 0);
  const names = uniqueInOrder(drawn.map((series) => series.name));
  if (names.length !== drawn.length) {
    throw new SnndtError(`Chart "${opts.title}": two series share a name; series names must be distinct.`);
  }
  return render({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: rows },
    mark: { type: "line", point: rows.length <= MAX_POINTS_WITH_DOTS ? { size: 30 } : false, strokeWidth: 2 },
    encoding: {
      // Counted x (episodes, steps) gets whole ticks only; "~g" keeps a flat series' label "500", not "500.000000".
      x: { field: "x", type: "quantitative", title: opts.x, scale: { zero: false }, ...(opts.integerX ? { axis: { tickMinStep: 1, format: "d" } } : {}) },
      y: { field: "y", type: "quantitative", title: opts.y, scale: { zero: false }, axis: { format: "~g" } },
      color: { field: "series", type: "nominal", title: null, scale: { domain: names }, legend: names.length > 1 ? {} : null },
      order: { field: "x", type: "quantitative" },
    },
  });
}

/**
 * Bars with optional error bars (value ± error) and optional groups drawn side by side, e.g. the
 * ablation table (one bar per variant) or spikes per decision per layer.
 */
export async function barChart(opts: { title: string; x: string; y: string; bars: Bar[] }): Promise<string> {
  if (opts.bars.length === 0) return noData(opts.title);
  const ungrouped = opts.bars.findIndex((bar) => bar.group === undefined);
  if (ungrouped >= 0 && opts.bars.some((bar) => bar.group !== undefined)) {
    throw new SnndtError(
      `Chart "${opts.title}": bar ${ungrouped} ("${opts.bars[ungrouped]!.label}") has no group while others do; give every bar a group or none.`,
    );
  }
  const seen = new Set<string>();
  const rows = opts.bars.map((bar, index) => {
    requireFinite(opts.title, `bar ${index} ("${bar.label}") value`, bar.value);
    if (bar.error !== undefined) {
      requireFinite(opts.title, `bar ${index} ("${bar.label}") error`, bar.error);
      if (bar.error < 0) throw new SnndtError(`Chart "${opts.title}": bar ${index} ("${bar.label}") error must be >= 0, found ${bar.error}.`);
    }
    const key = JSON.stringify([bar.label, bar.group ?? null]);
    if (seen.has(key)) {
      throw new SnndtError(
        `Chart "${opts.title}": bar ${index} repeats label "${bar.label}"${bar.group === undefined ? "" : ` in group "${bar.group}"`}; each label (and group) must appear once.`,
      );
    }
    seen.add(key);
    const row: Record<string, string | number> = { label: bar.label, value: bar.value, group: bar.group ?? "" };
    if (bar.error !== undefined) Object.assign(row, { low: bar.value - bar.error, high: bar.value + bar.error });
    return row;
  });
  const labels = uniqueInOrder(opts.bars.map((bar) => bar.label));
  const groups = uniqueInOrder(opts.bars.map((bar) => bar.group ?? ""));
  const grouped = groups.length > 1 || groups[0] !== "";
  const x = { field: "label", type: "nominal", title: opts.x, sort: labels, axis: { labelAngle: labels.length > 6 ? -40 : 0 } } as const;
  const xOffset = grouped ? { xOffset: { field: "group", type: "nominal", sort: groups } as const } : {};
  const withErrors = rows.filter((row) => "low" in row);
  return render({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: rows },
        mark: { type: "bar" },
        encoding: {
          x,
          ...xOffset,
          y: { field: "value", type: "quantitative", title: opts.y, stack: null },
          color: grouped
            ? { field: "group", type: "nominal", title: null, scale: { domain: groups } }
            : { value: "#4c78a8" },
        },
      },
      ...(withErrors.length === 0
        ? []
        : [
            {
              data: { values: withErrors },
              mark: { type: "rule", color: "#222222", strokeWidth: 1.5 },
              encoding: {
                x,
                ...xOffset,
                y: { field: "low", type: "quantitative" },
                y2: { field: "high" },
              },
            } as const,
          ]),
    ],
  } as TopLevelSpec);
}

/**
 * Spike raster: one filled cell per spike, spanning [time - 0.4, time + 0.4] x [neuron - 0.45,
 * neuron + 0.45] so that neighbouring spikes stay apart and a panel with a single neuron still has
 * a height; one panel per layer (in first-appearance order), each with its own neuron axis. Pass one
 * or a few decisions: every spike is an SVG element.
 */
export async function rasterChart(opts: {
  title: string;
  spikes: Spike[];
  /** Title of the time axis (default "spiking time step"; e.g. "token" for a raster over the context). */
  x?: string;
}): Promise<string> {
  if (opts.spikes.length === 0) return noData(opts.title);
  const cells = opts.spikes.map(({ time, neuron, layer }, index) => {
    requireFinite(opts.title, `spike ${index} time`, time);
    requireFinite(opts.title, `spike ${index} neuron`, neuron);
    return { layer, t0: time - 0.4, t1: time + 0.4, n0: neuron - 0.45, n1: neuron + 0.45 };
  });
  const layers = uniqueInOrder(opts.spikes.map((spike) => spike.layer));
  const panelHeight = Math.max(60, Math.min(200, Math.floor(600 / layers.length)));
  return render({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    config: CONFIG,
    data: { values: cells },
    facet: { row: { field: "layer", type: "nominal", title: null, sort: layers, header: { labelAngle: 0, labelAlign: "left" } } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: WIDTH,
      height: panelHeight,
      mark: { type: "rect", opacity: 0.9 },
      encoding: {
        x: { field: "t0", type: "quantitative", title: opts.x ?? "spiking time step", scale: { nice: false, zero: false }, axis: { tickMinStep: 1, format: "d" } },
        x2: { field: "t1" },
        y: { field: "n0", type: "quantitative", title: "neuron", scale: { nice: false, zero: false }, axis: { tickMinStep: 1, format: "d" } },
        y2: { field: "n1" },
        color: { field: "layer", type: "nominal", legend: null, scale: { domain: layers } },
      },
    },
  } as TopLevelSpec);
}

/**
 * Points with the y = x diagonal, e.g. achieved return against target return: a policy that follows
 * its target lies on the line. Both axes share one domain so the diagonal is at 45 degrees.
 */
export async function scatterWithDiagonal(opts: {
  title: string;
  x: string;
  y: string;
  points: ScatterPoint[];
}): Promise<string> {
  if (opts.points.length === 0) return noData(opts.title);
  opts.points.forEach((point, index) => {
    requireFinite(opts.title, `point ${index} x`, point.x);
    requireFinite(opts.title, `point ${index} y`, point.y);
  });
  const values = opts.points.flatMap((point) => [point.x, point.y]);
  let { min: low, max: high } = extent(values);
  if (low === high) {
    // a single value: widen so the diagonal still has a length
    low -= 1;
    high += 1;
  }
  const pad = (high - low) * 0.05;
  const domain = [low - pad, high + pad];
  const seriesNames = uniqueInOrder(opts.points.map((point) => point.series ?? ""));
  const hasSeries = seriesNames.length > 1 || seriesNames[0] !== "";
  return render({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    width: HEIGHT + 60,
    height: HEIGHT + 60,
    config: CONFIG,
    layer: [
      {
        data: { values: [{ x: domain[0], y: domain[0] }, { x: domain[1], y: domain[1] }] },
        mark: { type: "line", color: "#999999", strokeDash: [6, 4], strokeWidth: 1.5, clip: true },
        encoding: {
          x: { field: "x", type: "quantitative", title: opts.x, scale: { domain, nice: false, zero: false } },
          y: { field: "y", type: "quantitative", title: opts.y, scale: { domain, nice: false, zero: false } },
        },
      },
      {
        data: { values: opts.points.map((point) => ({ x: point.x, y: point.y, series: point.series ?? "" })) },
        mark: { type: "point", filled: true, size: 50, opacity: 0.8 },
        encoding: {
          x: { field: "x", type: "quantitative" },
          y: { field: "y", type: "quantitative" },
          color: hasSeries
            ? { field: "series", type: "nominal", title: null, scale: { domain: seriesNames } }
            : { value: "#4c78a8" },
        },
      },
    ],
  } as TopLevelSpec);
}
