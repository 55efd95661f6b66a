import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { checkTrajectorySize, MAX_TRAJECTORY_BYTES, TrajectoryRecorder } from "../../src/eval/trajectories.js";
import { loadPolicy, type LoadedPolicy } from "../../src/eval/policy.js";
import { loadDataset } from "../../src/data/dataset.js";
import { selectBackend } from "../../src/runtime/backend.js";
import { UsageError } from "../../src/runtime/errors.js";
import { FIXTURES } from "../helpers/paths.js";
import type { EpisodeOutcome } from "../../src/eval/rollout.js";

// Real checkpoints (the PyTorch reference's fixtures): a continuous spiking model (Pendulum) and a
// discrete plain DT (CartPole).
let pendulum: LoadedPolicy;
let cartpoleDt: LoadedPolicy;
let scratch = "";

before(async () => {
  await selectBackend("wasm");
  pendulum = await loadPolicy(path.join(FIXTURES, "torch-reference", "pendulum-baseline"));
  cartpoleDt = await loadPolicy(path.join(FIXTURES, "torch-reference", "cartpole-dt"));
  scratch = mkdtempSync(path.join(tmpdir(), "snndt-trajectories-"));
});

after(() => {
  pendulum.model.dispose();
  cartpoleDt.model.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

function outcome(target: number, seed: number, length: number, ends: { terminated: boolean; truncated: boolean }): EpisodeOutcome {
  return { target, seed, indexUnderSeed: 0, return: 0, length, ...ends };
}

const step = (observation: number[], conditionedReturnToGo: number, action: number | number[], reward: number, spikes: number | null, scores: number[] = []) => ({
  observation: Float32Array.from(observation),
  conditionedReturnToGo,
  scores: typeof action === "number" ? Float32Array.from(scores) : Float32Array.from(action),
  action: typeof action === "number" ? action : Float32Array.from(action),
  reward,
  spikes,
});

test("a continuous spiking model's trajectories: action vectors as played, spikes on counted decisions (null elsewhere), no scores column, read back as a continuous dataset", async () => {
  const recorder = new TrajectoryRecorder(pendulum);
  // An episode the environment failed in is forgotten when the next one starts.
  recorder.step(step([9, 9, 9], -7, [0.5], -1, 3));
  recorder.startEpisode();
  recorder.step(step([1, 2, 3], -10, [0.25], -2, 40));
  recorder.step(step([4, 5, 6], -8, [-1.5], -3, null));
  recorder.endEpisode(false, true);
  recorder.step(step([7, 8, 9], -10, [0.75], -4.5, 0));
  recorder.endEpisode(true, false);
  const played = [outcome(-10, 4294967295, 2, { terminated: false, truncated: true }), outcome(-10, 3, 1, { terminated: true, truncated: false })];
  const bytes = recorder.arrowFile(played, { "snndt.eval.env": "Pendulum-v1" });
  const table = tableFromIPC(bytes);
  assert.deepEqual(
    table.schema.fields.map((f) => [f.name, f.nullable]),
    [
      ["episode_id", false], ["step", false], ["observation", false], ["action", false], ["reward", false], ["return_to_go", false], ["terminated", false], ["truncated", false],
      ["target_return", false], ["seed", false], ["episode_under_seed", false], ["conditioned_return_to_go", false], ["spikes", true],
    ],
  );
  assert.equal(table.schema.metadata.get("snndt.eval.env"), "Pendulum-v1");
  const rows = table.toArray().map((r) => ({ ...r.toJSON(), observation: [...r.observation], action: [...r.action] }));
  assert.deepEqual(rows, [
    { episode_id: 0, step: 0, observation: [1, 2, 3], action: [0.25], reward: -2, return_to_go: -5, terminated: false, truncated: false, target_return: -10, seed: 4294967295, episode_under_seed: 0, conditioned_return_to_go: -10, spikes: 40 },
    { episode_id: 0, step: 1, observation: [4, 5, 6], action: [-1.5], reward: -3, return_to_go: -3, terminated: false, truncated: true, target_return: -10, seed: 4294967295, episode_under_seed: 0, conditioned_return_to_go: -8, spikes: null },
    { episode_id: 1, step: 0, observation: [7, 8, 9], action: [0.75], reward: -4.5, return_to_go: -4.5, terminated: true, truncated: false, target_return: -10, seed: 3, episode_under_seed: 0, conditioned_return_to_go: -10, spikes: 0 },
  ]);
  const file = path.join(scratch, "trajectories.arrow");
  writeFileSync(file, bytes);
  const dataset = await loadDataset(file);
  assert.equal(dataset.actionSpace.kind, "continuous");
  assert.deepEqual(dataset.episodes.map((e) => [e.length, e.terminated, e.truncated]), [[2, false, true], [1, true, false]]);
  // Episodes recorded and played must be the same ones.
  assert.throws(() => recorder.arrowFile([played[1]!, played[0]!], {}), /not the 2 played/);
});

test("a discrete plain DT's trajectories hold its scores and no spikes column", () => {
  const recorder = new TrajectoryRecorder(cartpoleDt);
  recorder.step(step([0.1, 0, 0, 0], 5, 1, 1, null, [0, 2]));
  recorder.step(step([0.2, 0, 0, 0], 4, 0, 1, null, [3, 2]));
  recorder.endEpisode(true, false);
  const table = tableFromIPC(recorder.arrowFile([outcome(5, 1, 2, { terminated: true, truncated: false })], {}));
  assert.deepEqual([...table.getChild("action_logits")!.get(1)!], [3, 2]);
  assert.deepEqual([...table.getChild("action")!], [1, 0]);
  assert.equal(table.getChild("spikes"), null);
});

test("trajectories that could outgrow 512 MiB are refused before any episode, naming the --episodes that fit", () => {
  // CartPole DT: 4 observation values, 1 action, 2 scores: 4 * 7 + 41 = 69 bytes a step, 500 steps at most; 3 targets.
  const fits = Math.floor(MAX_TRAJECTORY_BYTES / (3 * 500 * 69));
  checkTrajectorySize(cartpoleDt, 3, fits, 500);
  const refused = (episodes: number, steps: number, advice: RegExp) =>
    assert.throws(() => checkTrajectorySize(cartpoleDt, 3, episodes, steps), (err: Error) => err instanceof UsageError && advice.test(err.message));
  refused(fits + 1, 500, new RegExp(`evaluate at most --episodes ${fits} with --trajectories and 3 target returns`));
  refused(1, 3_000_000, /even one episode a target could exceed it/);
});
