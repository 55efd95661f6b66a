import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { TrajectoryRecorder, trajectoriesArrow } from "../../src/eval/trajectories.js";
import { loadDataset } from "../../src/data/dataset.js";
import type { EpisodeOutcome } from "../../src/eval/rollout.js";
import type { ActionSpace } from "../../src/data/types.js";

const BOX: ActionSpace = { kind: "continuous", dim: 2, low: [-1, -1], high: [1, 1] };

function outcome(target: number, seed: number, length: number, ret: number): EpisodeOutcome {
  return { target, seed, indexUnderSeed: 0, return: ret, length, terminated: false, truncated: true };
}

test("a continuous plain DT's trajectories: the action vectors as played, no scores or spikes columns, read back as a continuous dataset", async () => {
  const recorder = new TrajectoryRecorder(BOX, false);
  // Two episodes; the first's unfinished restart (an environment that failed) is forgotten.
  recorder.step(Float32Array.of(9, 9, 9), -7, Float32Array.of(0.5, 0.5), Float32Array.of(0.5, 0.5), -1, null);
  recorder.startEpisode();
  recorder.step(Float32Array.of(1, 2, 3), -10, Float32Array.of(0.25, -0.5), Float32Array.of(0.25, -0.5), -2, null);
  recorder.step(Float32Array.of(4, 5, 6), -8, Float32Array.of(1, -1), Float32Array.of(1, -1), -3, null);
  recorder.endEpisode(false, true);
  recorder.step(Float32Array.of(7, 8, 9), -10, Float32Array.of(0, 0.75), Float32Array.of(0, 0.75), -4.5, null);
  recorder.endEpisode(true, false);
  const bytes = trajectoriesArrow(recorder, [outcome(-10, 4294967295, 2, -5), outcome(-10, 3, 1, -4.5)], { "snndt.eval.env": "Test-v0" });
  const table = tableFromIPC(bytes);
  assert.deepEqual(
    table.schema.fields.map((f) => f.name),
    ["episode_id", "step", "observation", "action", "reward", "return_to_go", "terminated", "truncated", "target_return", "seed", "episode_under_seed", "conditioned_return_to_go"],
  );
  assert.equal(table.schema.metadata.get("snndt.eval.env"), "Test-v0");
  const rows = table.toArray().map((r) => ({ ...r.toJSON(), observation: [...r.observation], action: [...r.action] }));
  assert.deepEqual(rows, [
    { episode_id: 0, step: 0, observation: [1, 2, 3], action: [0.25, -0.5], reward: -2, return_to_go: -5, terminated: false, truncated: false, target_return: -10, seed: 4294967295, episode_under_seed: 0, conditioned_return_to_go: -10 },
    { episode_id: 0, step: 1, observation: [4, 5, 6], action: [1, -1], reward: -3, return_to_go: -3, terminated: false, truncated: true, target_return: -10, seed: 4294967295, episode_under_seed: 0, conditioned_return_to_go: -8 },
    { episode_id: 1, step: 0, observation: [7, 8, 9], action: [0, 0.75], reward: -4.5, return_to_go: -4.5, terminated: true, truncated: false, target_return: -10, seed: 3, episode_under_seed: 0, conditioned_return_to_go: -10 },
  ]);
  const file = path.join(mkdtempSync(path.join(tmpdir(), "snndt-trajectories-")), "trajectories.arrow");
  writeFileSync(file, bytes);
  const dataset = await loadDataset(file);
  assert.equal(dataset.actionSpace.kind, "continuous");
  assert.deepEqual(dataset.episodes.map((e) => [e.length, e.terminated, e.truncated]), [[2, false, true], [1, true, false]]);
});

test("a discrete spiking model's trajectories hold its scores, and spikes on counted decisions only (null elsewhere)", () => {
  const recorder = new TrajectoryRecorder({ kind: "discrete", n: 3 }, true);
  recorder.step(Float32Array.of(0.1), 5, Float32Array.of(0, 2, 1), 1, 1, 120);
  recorder.step(Float32Array.of(0.2), 4, Float32Array.of(3, 2, 1), 0, 1, null);
  recorder.endEpisode(true, false);
  const table = tableFromIPC(trajectoriesArrow(recorder, [outcome(5, 1, 2, 2)], {}));
  assert.deepEqual([...table.getChild("action_logits")!.get(1)!], [3, 2, 1]);
  assert.deepEqual([...table.getChild("action")!], [1, 0]);
  assert.deepEqual([...table.getChild("spikes")!], [120, null]);
  assert.equal(table.getChild("spikes")!.nullCount, 1);
});

test("recording stops and keeps nothing past its cap, so no file can pass for the whole evaluation", () => {
  // Each step of a 1-D observation, 3 scores: 1 + 3 + 4 values.
  const recorder = new TrajectoryRecorder({ kind: "discrete", n: 3 }, false, 20);
  recorder.step(Float32Array.of(0), 1, Float32Array.of(0, 1, 2), 2, 1, null);
  recorder.endEpisode(true, false);
  recorder.step(Float32Array.of(0), 1, Float32Array.of(0, 1, 2), 2, 1, null);
  assert.equal(recorder.stopped, null);
  recorder.step(Float32Array.of(0), 1, Float32Array.of(0, 1, 2), 2, 1, null);
  assert.match(recorder.stopped ?? "", /exceed 20 values \(80 bytes\); evaluate fewer episodes with --trajectories/);
  recorder.endEpisode(true, false);
  assert.deepEqual(recorder.episodes, []);
});
