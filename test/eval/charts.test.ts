import { test } from "node:test";
import assert from "node:assert/strict";
import { barChart, lineChart, rasterChart, scatterWithDiagonal, type Spike } from "../../src/eval/charts.js";
import { SnndtError } from "../../src/runtime/errors.js";
import { Rng } from "../../src/runtime/rng.js";

/** Asserts that `svg` is one well-formed <svg> element: every tag closed, in order. */
function assertWellFormedSvg(svg: string): void {
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.endsWith("</svg>"), "ends with </svg>");
  const open: string[] = [];
  for (const [tag] of svg.matchAll(/<[^>]+>/g)) {
    if (tag.startsWith("<?") || tag.startsWith("<!")) continue;
    const name = /^<\/?([A-Za-z][\w:-]*)/.exec(tag)?.[1];
    assert.ok(name, `tag ${tag.slice(0, 60)}`);
    if (tag.startsWith("</")) assert.equal(open.pop(), name, `closing ${name}`);
    else if (!tag.endsWith("/>")) open.push(name);
  }
  assert.deepEqual(open, [], "unclosed tags");
  assert.doesNotMatch(svg.replace(/<[^>]+>/g, ""), /[<>]/, "text outside tags is escaped");
}

/** Number of drawn items (paths or lines) in the data marks of one Vega mark type. */
function markCount(svg: string, markType: "line" | "symbol" | "rect" | "rule"): number {
  let total = 0;
  for (const match of svg.matchAll(new RegExp(`<g class="mark-${markType} role-mark[^"]*"[^>]*>(.*?)</g>`, "gs"))) {
    total += (match[1]!.match(/<(path|line)\b/g) ?? []).length;
  }
  return total;
}

const returns = {
  title: "Return per episode <CartPole-v1> & seeds",
  x: "episode",
  y: "return",
  series: [
    { name: "seed 1001", points: [[0, 120], [1, 500], [2, 310]] as [number, number][] },
    { name: "seed 1002", points: [[0, -40.5], [1, 480]] as [number, number][] },
  ],
};

test("lineChart: one line per series, one dot per point, escaped title, axis titles, legend", async () => {
  const svg = await lineChart(returns);
  assertWellFormedSvg(svg);
  assert.ok(svg.includes("Return per episode &lt;CartPole-v1&gt; &amp; seeds"));
  assert.match(svg, />episode</);
  assert.match(svg, />return</);
  assert.match(svg, />seed 1001</);
  assert.match(svg, />seed 1002</);
  assert.equal(markCount(svg, "line"), 2);
  assert.equal(markCount(svg, "symbol"), 5);
});

test("lineChart: the same input gives the same bytes, other input other bytes", async () => {
  const first = await lineChart(returns);
  assert.equal(await lineChart(structuredClone(returns)), first);
  const changed = structuredClone(returns);
  changed.series[0]!.points[1] = [1, 499];
  assert.notEqual(await lineChart(changed), first);
});

test("lineChart: long curves are drawn without dots", async () => {
  const points = Array.from({ length: 1000 }, (_, step): [number, number] => [step, Math.exp(-step / 300)]);
  const svg = await lineChart({ title: "Training loss", x: "step", y: "loss", series: [{ name: "train", points }] });
  assertWellFormedSvg(svg);
  assert.equal(markCount(svg, "line"), 1);
  assert.equal(markCount(svg, "symbol"), 0);
  assert.doesNotMatch(svg, /role-legend/, "a single series needs no legend");
});

test("lineChart: a counted x axis has whole ticks only, and a flat series' label is its value, not six decimals", async () => {
  const labels = (svg: string): string[] => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
  const flat = labels(await lineChart({ title: "Return per episode", x: "episode", y: "return", series: [{ name: "a", points: [[0, 500], [1, 500], [2, 500]] }], integerX: true }));
  assert.deepEqual(flat.filter((l) => /^[\d.-]+$/.test(l)), ["0", "1", "2", "500"]);
  const two = { title: "t", x: "episode", y: "return", series: [{ name: "a", points: [[0, 1], [1, 2]] as [number, number][] }] };
  assert.ok(labels(await lineChart(two)).includes("0.5"), "without integerX the x axis ticks between episodes");
  assert.ok(!labels(await lineChart({ ...two, integerX: true })).includes("0.5"));
});

test("barChart: grouped bars with error bars only where given", async () => {
  const svg = await barChart({
    title: "Spikes per decision",
    x: "layer",
    y: "spikes",
    bars: [
      { label: "block 0 Q/K/V", value: 310, error: 12, group: "full" },
      { label: "block 0 Q/K/V", value: 402, group: "baseline" },
      { label: "positional", value: 95, error: 4.5, group: "full" },
      { label: "positional", value: 0, group: "baseline" },
    ],
  });
  assertWellFormedSvg(svg);
  assert.match(svg, />Spikes per decision</);
  assert.match(svg, />block 0 Q\/K\/V</);
  assert.match(svg, />baseline</, "group legend");
  assert.equal(markCount(svg, "rect"), 4);
  assert.equal(markCount(svg, "rule"), 2);
});

test("barChart: plain bars have no legend; repeated labels and negative errors are refused", async () => {
  const svg = await barChart({ title: "Normalised score", x: "variant", y: "score", bars: [{ label: "plain DT", value: 81 }, { label: "SNN-DT", value: 79.5 }] });
  assertWellFormedSvg(svg);
  assert.equal(markCount(svg, "rect"), 2);
  assert.equal(markCount(svg, "rule"), 0);
  assert.doesNotMatch(svg, /role-legend/);
  await assert.rejects(
    barChart({ title: "T", x: "x", y: "y", bars: [{ label: "a", value: 1 }, { label: "a", value: 2 }] }),
    (error: unknown) => error instanceof SnndtError && /Chart "T": bar 1 repeats label "a"/.test(error.message),
  );
  await assert.rejects(barChart({ title: "T", x: "x", y: "y", bars: [{ label: "a", value: 1, error: -1 }] }), /error must be >= 0, found -1/);
  await assert.rejects(
    barChart({ title: "T", x: "x", y: "y", bars: [{ label: "a", value: 1, group: "g" }, { label: "b", value: 2 }] }),
    /bar 1 \("b"\) has no group while others do/,
  );
});

test("rasterChart: one cell per spike, one panel per layer in the given order", async () => {
  const spikes: Spike[] = [
    { time: 0, neuron: 3, layer: "embed" },
    { time: 1, neuron: 0, layer: "block 0 attention" },
    { time: 1, neuron: 3, layer: "embed" },
    { time: 3, neuron: 7, layer: "embed" },
  ];
  const svg = await rasterChart({ title: "Spike raster, decision 12", spikes });
  assertWellFormedSvg(svg);
  assert.match(svg, />Spike raster, decision 12</);
  assert.match(svg, />spiking time step</);
  assert.match(await rasterChart({ title: "Over the context", spikes, x: "token" }), />token</);
  assert.equal(markCount(svg, "rect"), 4);
  const embed = svg.indexOf(">embed<");
  const block = svg.indexOf(">block 0 attention<");
  assert.ok(embed >= 0 && block > embed, "panels follow first appearance");
});

test("rasterChart is deterministic on a larger random raster", async () => {
  const rng = new Rng(7);
  const spikes: Spike[] = Array.from({ length: 400 }, () => ({
    time: rng.int(16),
    neuron: rng.int(64),
    layer: `block ${rng.int(2)}`,
  }));
  const first = await rasterChart({ title: "Raster", spikes });
  assert.equal(markCount(first, "rect"), 400);
  assert.equal(await rasterChart({ title: "Raster", spikes: spikes.map((spike) => ({ ...spike })) }), first);
});

test("scatterWithDiagonal: the points and the y = x line over a shared domain", async () => {
  const svg = await scatterWithDiagonal({
    title: "Return vs target",
    x: "target return",
    y: "achieved return",
    points: [
      { x: 100, y: 96, series: "SNN-DT" },
      { x: 300, y: 288, series: "SNN-DT" },
      { x: 500, y: 471, series: "SNN-DT" },
      { x: 500, y: 500, series: "plain DT" },
    ],
  });
  assertWellFormedSvg(svg);
  assert.match(svg, />target return</);
  assert.match(svg, />achieved return</);
  assert.match(svg, />plain DT</);
  assert.equal(markCount(svg, "symbol"), 4);
  assert.equal(markCount(svg, "line"), 1, "the diagonal");
  // the diagonal runs corner to corner of the square plot: "M0,H" then "LW,0" with W = H
  const diagonal = /<g class="mark-line role-mark[^"]*"[^>]*><path [^>]*d="M0,([\d.]+)L([\d.]+),0"/.exec(svg);
  assert.ok(diagonal, "diagonal path");
  assert.equal(diagonal[1], diagonal[2]);
});

test("scatterWithDiagonal: a single point still gets a diagonal", async () => {
  const svg = await scatterWithDiagonal({ title: "One", x: "target", y: "return", points: [{ x: 5, y: 5 }] });
  assertWellFormedSvg(svg);
  assert.equal(markCount(svg, "symbol"), 1);
  assert.equal(markCount(svg, "line"), 1);
});

test("empty input gives a titled chart that says no data", async () => {
  const charts = [
    await lineChart({ title: "Training loss", x: "step", y: "loss", series: [] }),
    await lineChart({ title: "Training loss", x: "step", y: "loss", series: [{ name: "loss", points: [] }] }),
    await barChart({ title: "Training loss", x: "a", y: "b", bars: [] }),
    await rasterChart({ title: "Training loss", spikes: [] }),
    await scatterWithDiagonal({ title: "Training loss", x: "a", y: "b", points: [] }),
  ];
  for (const svg of charts) {
    assertWellFormedSvg(svg);
    assert.match(svg, />Training loss</);
    assert.match(svg, />no data</);
  }
});

test("non-finite numbers are refused, naming the chart and the item", async () => {
  await assert.rejects(
    lineChart({ title: "Loss", x: "step", y: "loss", series: [{ name: "train", points: [[0, 1], [1, Number.NaN]] }] }),
    (error: unknown) => error instanceof SnndtError && /Chart "Loss": series "train" point 1 y must be a finite number, found NaN/.test(error.message),
  );
  await assert.rejects(rasterChart({ title: "R", spikes: [{ time: Infinity, neuron: 0, layer: "a" }] }), /spike 0 time must be a finite number/);
  await assert.rejects(scatterWithDiagonal({ title: "S", x: "a", y: "b", points: [{ x: 1, y: -Infinity }] }), /point 0 y/);
  await assert.rejects(
    lineChart({ title: "L", x: "a", y: "b", series: [{ name: "s", points: [[0, 1]] }, { name: "s", points: [[1, 2]] }] }),
    /two series share a name/,
  );
});
