/**
 * The sample files written by other tools (h5py, polars) read back to the episode lengths,
 * returns and returns-to-go recorded in truth.json when the data was made.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { loadDataset, type PreparedDataset } from "../../src/data/dataset.js";
import { FIXTURES } from "../helpers/paths.js";

interface TruthEpisode {
  length: number;
  return: number;
  rtg_first: number;
  rtg_last: number;
}
const SAMPLES = path.join(FIXTURES, "samples");
const truth = JSON.parse(readFileSync(path.join(SAMPLES, "truth.json"), "utf8")) as Record<string, { steps?: number; episodes: TruthEpisode[] }>;

/** float32 storage of returns-to-go: compare to 1e-5 relative (plus a tiny absolute floor). */
function close(found: number, expected: number, what: string): void {
  const tolerance = 1e-5 * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(found - expected) <= tolerance, `${what}: found ${found}, expected ${expected}`);
}

function checkAgainstTruth(data: PreparedDataset, expected: TruthEpisode[]): void {
  assert.equal(data.episodes.length, expected.length, "episode count");
  data.episodes.forEach((ep, e) => {
    const want = expected[e]!;
    assert.equal(ep.length, want.length, `episode ${e} length`);
    let sum = 0;
    for (const r of ep.rewards) sum += r;
    close(sum, want.return, `episode ${e} return`);
    close(ep.returnsToGo[0]!, want.rtg_first, `episode ${e} rtg_first`);
    close(ep.returnsToGo[ep.length - 1]!, want.rtg_last, `episode ${e} rtg_last`);
  });
}

test("pendulum-d4rl.hdf5 (h5py, gzip): the unfinished last episode is dropped by default", async () => {
  const data = await loadDataset(path.join(SAMPLES, "pendulum-d4rl.hdf5"));
  const all = truth["pendulum-d4rl.hdf5"]!.episodes;
  checkAgainstTruth(data, all.slice(0, -1));
  assert.equal(data.manifest.dropped.partial_steps, all[all.length - 1]!.length);
  assert.match(data.manifest.warnings.join("\n"), /dropped the last 100 steps \(rows 2200\.\.2299\)/);
  assert.equal(data.manifest.source.layout, "d4rl");
  assert.equal(data.obsDim, 3);
  assert.deepEqual(data.actionSpace, { kind: "continuous", dim: 1, low: [-2], high: [2] });
  // Pendulum's episodes end by the 200-step time limit.
  assert.ok(data.episodes.every((ep) => ep.truncated && !ep.terminated));
});

test("pendulum-d4rl.hdf5 with keepPartial keeps all steps", async () => {
  const data = await loadDataset(path.join(SAMPLES, "pendulum-d4rl.hdf5"), { keepPartial: true });
  checkAgainstTruth(data, truth["pendulum-d4rl.hdf5"]!.episodes);
  assert.equal(data.manifest.steps, truth["pendulum-d4rl.hdf5"]!.steps);
  const last = data.episodes[data.episodes.length - 1]!;
  assert.equal(last.terminated || last.truncated, false);
});

test("pendulum-minari.hdf5: episode groups in numeric order, final observation dropped", async () => {
  const data = await loadDataset(path.join(SAMPLES, "pendulum-minari.hdf5"));
  checkAgainstTruth(data, truth["pendulum-minari.hdf5"]!.episodes);
  assert.equal(data.manifest.source.layout, "minari");
  assert.equal(data.episodes[0]!.observations.length, 200 * 3);
});

test("cartpole-steps-lz4.feather (polars, LZ4 frames with block checksums, LargeList, Int64 actions)", async () => {
  const data = await loadDataset(path.join(SAMPLES, "cartpole-steps-lz4.feather"));
  checkAgainstTruth(data, truth["cartpole-d4rl.hdf5"]!.episodes);
  assert.equal(data.manifest.source.format, "arrow-file");
  assert.equal(data.manifest.source.layout, "per-step");
  assert.deepEqual(data.actionSpace, { kind: "discrete", n: 2 });
  assert.equal(data.obsDim, 4);
  // CartPole: episodes shorter than 500 fell over (terminated), 500-step ones hit the time limit.
  for (const ep of data.episodes) assert.equal(ep.truncated, ep.length === 500);
});

test("cartpole-episodes.arrows (polars stream, per-episode LargeList<LargeList>, extra column ignored)", async () => {
  const data = await loadDataset(path.join(SAMPLES, "cartpole-episodes.arrows"));
  checkAgainstTruth(data, truth["cartpole-d4rl.hdf5"]!.episodes);
  assert.equal(data.manifest.source.format, "arrow-stream");
  assert.equal(data.manifest.source.layout, "per-episode");
  assert.deepEqual(data.actionSpace, { kind: "discrete", n: 2 });
  // Same steps as the per-step file: identical state statistics.
  const steps = await loadDataset(path.join(SAMPLES, "cartpole-steps-lz4.feather"));
  assert.deepEqual(data.stateStats, steps.stateStats);
  assert.deepEqual(data.episodes[5]!.observations, steps.episodes[5]!.observations);
  // Its "dones" marks every end, time limits too: the 8 truncated episodes count as terminated, and a warning says so.
  assert.equal(data.manifest.terminated_episodes, 12);
  assert.equal(steps.manifest.truncated_episodes, 8);
  assert.match(data.manifest.warnings.join("\n"), /column "dones" is read as terminations, but a "done" flag also marks time limits/);
  assert.deepEqual(steps.manifest.warnings, []);
});
