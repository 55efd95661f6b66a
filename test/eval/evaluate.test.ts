import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { FIXTURES, REPO_ROOT, SNNDT_BIN } from "../helpers/paths.js";
import { arrowEpisodeReturns } from "../helpers/returns.js";
import { f32, fixedList, int32, vec, writeArrow } from "../data/make-files.js";
import { writeStepsArrow } from "../../src/data/arrow-writer.js";
import { energyOf, DEFAULT_ENERGY } from "../../src/eval/energy.js";
import { rollouts, SpikeTally, type RolloutEnvironment } from "../../src/eval/rollout.js";
import { actionBoxWarnings, loadPolicy } from "../../src/eval/policy.js";
import { MAX_COUNTED_DECISIONS, replayDecisions } from "../../src/eval/offline.js";
import { episodeReturns, loadDataset } from "../../src/data/dataset.js";
import { tableFromIPC } from "apache-arrow";
import { splitEpisodes } from "../../src/train/split.js";
import { Rng } from "../../src/runtime/rng.js";
import { makeEnv } from "../../src/eval/envs/index.js";
import { selectBackend } from "../../src/runtime/backend.js";
import { lockRunDirectory, RUN_LOCK_FILE } from "../../src/runtime/run-lock.js";
import type { EvalResult } from "../../src/eval/evaluate.js";
import { readEvalResult } from "../../src/eval/report.js";
import type { ForwardStats } from "../../src/model/index.js";

const TINY = [
  "--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1", "--set", "model.context=4",
  "--set", "model.lif.T=3", "--set", "train.batch_size=16", "--set", "train.val_batches=1",
  "--set", "train.steps=20", "--set", "train.eval_every=10", "--set", "train.log_every=10", "--set", "train.checkpoint_every=10",
];

let base = "";
let snnRun = "";
let dtRun = "";

before(() => {
  base = mkdtempSync(path.join(tmpdir(), "snndt-eval-"));
  snnRun = path.join(base, "snn");
  dtRun = path.join(base, "dt");
  assert.equal(runCli(["-q", "train", "--out", snnRun, ...TINY]).status, 0);
  assert.equal(runCli(["-q", "train", "--out", dtRun, ...TINY, "--set", "model.kind=dt"]).status, 0);
});

function evalJson(args: string[]): { status: number; result: EvalResult; stderr: string } {
  const res = runCli(["--json", "eval", ...args]);
  return { status: res.status, result: res.status === 0 || res.stdout.startsWith("{") ? (JSON.parse(res.stdout) as EvalResult) : (undefined as never), stderr: res.stderr };
}

test("energy arithmetic: SOPs x E_AC + MACs x E_MAC, in nanojoules", () => {
  assert.deepEqual(energyOf({ totalSynapticOps: 1000, totalMacs: 200 }, DEFAULT_ENERGY), { synapticOps: 1000, macs: 200, nanojoules: (1000 * 0.9 + 200 * 4.6) / 1000 });
  assert.equal(energyOf({ totalSynapticOps: 5, totalMacs: 0 }, { acPicojoules: 2, macPicojoules: 100 }).nanojoules, 0.01);
});

test("the spike tally sums per-decision counts by layer and kind", () => {
  const stats = (q: number, other: number): ForwardStats => ({
    model: "snn-dt",
    batchSize: 1,
    tokensPerWindow: 12,
    layers: [{ layer: 0, spikes: { q, k: 1, v: 2, positional: 3, other }, synapticOps: { q: 0, k: 0, v: 0, positional: 0, other: 0 }, macs: 7 }],
    ioMacs: 3,
    totalSpikes: q + 6 + other,
    totalSynapticOps: 10 * q,
    totalMacs: 10,
  });
  const tally = new SpikeTally();
  tally.add(stats(4, 5));
  tally.add(stats(6, 1));
  assert.equal(tally.decisions, 2);
  assert.deepEqual(tally.spikes[0], { q: 10, k: 2, v: 4, positional: 6, other: 6 });
  assert.equal(tally.synapticOps, 100);
  assert.equal(tally.macs, 20);
});

test("rollouts on a tiny trained SNN-DT run end to end and write eval.json, report.md and charts", () => {
  const { status, result, stderr } = evalJson([snnRun, "--episodes", "3", "--seeds", "7,8", "--target-return", "500", "--target-return", "100", "--latency-decisions", "20"]);
  assert.equal(status, 0, stderr);
  assert.equal(result.episodes.length, 6);
  assert.deepEqual(result.settings.targets, [500, 100]);
  assert.deepEqual(result.episodes.map((e) => e.seed), [7, 8, 7, 7, 8, 7]);
  for (const t of result.targets) {
    const mine = result.episodes.filter((e) => e.target === t.target).map((e) => e.return);
    const mean = mine.reduce((a, b) => a + b, 0) / mine.length;
    assert.ok(Math.abs(t.returns.mean - mean) < 1e-9);
    assert.ok(Math.abs(t.normalised!.mean - (100 * (mean - result.reference!.random)) / (result.reference!.expert - result.reference!.random)) < 1e-9);
  }
  // decisions 0, 10, 20, ... of every episode are counted (--stats-every defaults to 10)
  assert.equal(result.settings.statsEvery, 10);
  assert.equal(result.spikes!.decisions, result.episodes.reduce((a, e) => a + Math.ceil(e.length / 10), 0));
  assert.ok(result.spikes!.perDecision > 0);
  assert.ok(result.spikes!.firingRate > 0 && result.spikes!.firingRate < 1);
  const e = result.energy;
  assert.ok(Math.abs(e.model.nanojoules - (e.model.synapticOps * 0.9 + e.model.macs * 4.6) / 1000) < 1e-9 * e.model.nanojoules);
  assert.ok(Math.abs(e.ratioToDt - e.model.nanojoules / e.dtSameSize.nanojoules) < 1e-12);
  assert.equal(result.latencyMs.decisions, 20);
  assert.ok(result.latencyMs.median > 0 && result.latencyMs.p95 >= result.latencyMs.median);
  assert.ok(result.wallSeconds > 0 && result.wallSeconds < 600, `wallSeconds ${result.wallSeconds}`);
  assert.ok(result.offline!.accuracy! >= 0 && result.offline!.accuracy! <= 1);
  assert.match(result.offline!.source, /held-out/);
  // Data support of each target, against the episode returns summed straight from the Arrow file.
  const dataset = path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow");
  const episodeReturns = arrowEpisodeReturns(dataset);
  for (const t of result.targets) {
    const expected = episodeReturns.filter((r) => r >= t.target).length;
    assert.deepEqual(t.dataSupport, { atOrAbove: expected, episodes: episodeReturns.length, dataset }, `target ${t.target}`);
  }
  assert.ok(result.targets[0]!.dataSupport!.atOrAbove > 0 && result.targets[1]!.dataSupport!.atOrAbove > result.targets[0]!.dataSupport!.atOrAbove);
  const out = path.join(snnRun, "eval");
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, "eval.json"), "utf8")).episodes, result.episodes);
  const report = readFileSync(path.join(out, "report.md"), "utf8");
  // Which checkpoint was measured: best/, at the step of the lowest validation loss (checked every 10 of 20 steps).
  assert.equal(result.checkpointStep.of, 20);
  assert.ok([10, 20].includes(result.checkpointStep.step), `step ${result.checkpointStep.step}`);
  assert.match(report, new RegExp(`- checkpoint: \`.*best\` \\(lowest validation loss: step ${result.checkpointStep.step} of 20\\)`));
  for (const section of ["## Returns", "dataset episodes >= target", "## Spikes per decision", "## Energy per decision", "## Latency", "charts/training.svg", "charts/return-vs-target.svg"]) {
    assert.ok(report.includes(section), section);
  }
  for (const chart of ["returns.svg", "return-vs-target.svg", "spikes.svg", "firing-rate.svg", "training.svg"]) {
    assert.match(readFileSync(path.join(out, "charts", chart), "utf8"), /^<svg/);
  }
});

test("eval --trajectories writes every step of the episodes as a steps file that prepare-dataset reads back to the same episodes", async () => {
  const out = path.join(base, "trajectories");
  const { status, result, stderr } = evalJson([snnRun, "--episodes", "3", "--seeds", "7,8", "--target-return", "500", "--target-return", "40", "--stats-every", "3", "--latency-decisions", "2", "--trajectories", "--out", out]);
  assert.equal(status, 0, stderr);
  const file = path.join(out, "trajectories.arrow");
  const steps = result.episodes.reduce((n, e) => n + e.length, 0);
  assert.deepEqual(result.trajectories, { file: "trajectories.arrow", episodes: 6, steps });
  assert.match(readFileSync(path.join(out, "report.md"), "utf8"), /Every step of these 6 episodes \(\d+ steps\) is in `trajectories.arrow`/);
  // Read with apache-arrow directly: an oracle independent of snndt's readers.
  const table = tableFromIPC(readFileSync(file));
  assert.equal(table.numRows, steps);
  const column = (name: string) => table.getChild(name)!;
  let row = 0;
  let spikeSum = 0;
  let counted = 0;
  const starts = new Map<string, number[]>();
  for (const [e, episode] of result.episodes.entries()) {
    // Every target meets the same start states: episode i under a seed starts where it does for the other target.
    const start = [...(column("observation").get(row) as Iterable<number>)];
    const key = `${episode.seed}/${episode.indexUnderSeed}`;
    if (starts.has(key)) assert.deepEqual(start, starts.get(key), `episode ${e}`);
    else starts.set(key, start);
    let sum = 0;
    for (let t = 0; t < episode.length; t++, row++) {
      assert.deepEqual([column("episode_id").get(row), column("step").get(row), column("target_return").get(row), column("seed").get(row), column("episode_under_seed").get(row)], [e, t, episode.target, episode.seed, episode.indexUnderSeed]);
      // The return-to-go the model was given: the target, less each reward received.
      assert.equal(column("conditioned_return_to_go").get(row), episode.target - sum);
      const reward = column("reward").get(row) as number;
      sum += reward;
      const logits = [...(column("action_logits").get(row) as Iterable<number>)];
      assert.equal(column("action").get(row), logits.indexOf(Math.max(...logits)), `row ${row}: the action is the argmax of its scores`);
      const spikes = column("spikes").get(row) as number | null;
      assert.equal(spikes !== null, t % 3 === 0, `row ${row}: spikes are counted on decisions 0, 3, 6, ...`);
      if (spikes !== null) [spikeSum, counted] = [spikeSum + spikes, counted + 1];
      const last = t === episode.length - 1;
      assert.deepEqual([column("terminated").get(row), column("truncated").get(row)], [last && episode.terminated, last && episode.truncated]);
    }
    assert.equal(sum, episode.return);
  }
  // Those start states are the environment's: a seeded reset, then the stream it began.
  for (const seed of [7, 8]) {
    const env = makeEnv("CartPole-v1");
    const seeded = [...env.reset(seed)];
    assert.deepEqual(starts.get(`${seed}/0`), seeded);
    if (seed === 7) assert.deepEqual(starts.get("7/1"), [...env.reset()]);
  }
  assert.equal(counted, result.spikes!.decisions);
  assert.ok(Math.abs(spikeSum / counted - result.spikes!.perDecision) < 1e-6 * result.spikes!.perDecision);
  // prepare-dataset reads it as the same episodes.
  const dataset = await loadDataset(file);
  assert.deepEqual(episodeReturns(dataset.episodes), result.episodes.map((e) => e.return));
  // Evaluating under a seed the file's episodes were played with would replay their start states: warned, as for collected data.
  const replay = runCli(["eval", snnRun, "--data", file, "--episodes", "1", "--seeds", "8,9", "--latency-decisions", "2", "--out", path.join(base, "trajectories-replay")]);
  assert.equal(replay.status, 0, replay.stderr);
  assert.match(replay.stderr, /eval seed 8 is one of the seeds .*trajectories\.arrow was played with \(snndt eval .*best --trajectories, seeds 7, 8\): its episodes start where the data's episodes started/);
  // An evaluation without the flag into the same directory leaves no stale trajectories beside it.
  assert.equal(runCli(["-q", "eval", snnRun, "--episodes", "1", "--latency-decisions", "2", "--out", out]).status, 0);
  assert.ok(!existsSync(file));
  assert.equal(readEvalResult(out).trajectories, null);
  // A file of that name that no evaluation there wrote (a user's dataset) stays.
  writeFileSync(file, "mine");
  assert.equal(runCli(["-q", "eval", snnRun, "--episodes", "1", "--latency-decisions", "2", "--out", out]).status, 0);
  assert.equal(readFileSync(file, "utf8"), "mine");
  const offline = runCli(["eval", snnRun, "--offline", "--trajectories", "--out", path.join(base, "never")]);
  assert.equal(offline.status, 2);
  assert.match(offline.stderr, /--offline evaluates without an environment; drop --trajectories/);
});

test("eval --data with the prepared copy of the run's raw dataset still scores only the held-out episodes", () => {
  const prepared = path.join(base, "prepared-cartpole");
  assert.equal(runCli(["-q", "prepare-dataset", path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"), "--out", prepared]).status, 0);
  const own = evalJson([snnRun, "--episodes", "1", "--latency-decisions", "5", "--out", path.join(base, "own-data")]);
  const copy = evalJson([snnRun, "--episodes", "1", "--latency-decisions", "5", "--data", prepared, "--out", path.join(base, "prepared-data")]);
  assert.equal(copy.status, 0, copy.stderr);
  assert.match(copy.result.offline!.source, /the run's held-out episodes, which also chose this best\/ checkpoint/);
  assert.deepEqual(copy.result.offline, { ...own.result.offline!, source: copy.result.offline!.source });
  assert.ok(copy.result.offline!.episodes < 120, "not all 120 episodes");
  // A run evaluated into itself (--out <run>) and then by default holds two eval.json files: --compare shows the newer and says so.
  const twice = path.join(base, "evaluated-twice");
  cpSync(snnRun, twice, { recursive: true });
  rmSync(path.join(twice, "eval"), { recursive: true, force: true });
  assert.equal(runCli(["-q", "eval", twice, "--episodes", "1", "--latency-decisions", "1", "--out", twice]).status, 0);
  assert.equal(runCli(["-q", "eval", twice, "--episodes", "2", "--latency-decisions", "1"]).status, 0);
  const both = runCli(["--json", "eval", "--compare", twice]);
  assert.equal(both.status, 0, both.stderr);
  assert.equal((JSON.parse(both.stdout) as EvalResult[])[0]!.settings.episodesPerTarget, 2, "the newer evaluation");
  assert.match(both.stderr, /WARN: .*evaluated-twice holds two evaluations, .*evaluated-twice\/eval\.json and .*evaluated-twice\/eval\/eval\.json: the newer, .*evaluated-twice\/eval\/eval\.json, is shown\./);
  // Whichever is newer: the one in the run directory itself, once rewritten later.
  const later = new Date(Date.now() + 60_000);
  utimesSync(path.join(twice, "eval.json"), later, later);
  const ownNewer = runCli(["--json", "eval", "--compare", twice]);
  assert.equal((JSON.parse(ownNewer.stdout) as EvalResult[])[0]!.settings.episodesPerTarget, 1, "the newer evaluation");
  assert.match(ownNewer.stderr, /the newer, .*evaluated-twice\/eval\.json, is shown\./);
  // The same episodes under two paths: --compare pairs them (it did not, by path, before the episodes' hash was recorded).
  const compared = runCli(["eval", "--compare", path.join(base, "own-data"), path.join(base, "prepared-data")]);
  assert.equal(compared.status, 0, compared.stderr);
  assert.doesNotMatch(compared.stdout, /measured on different episodes/);
});

test("a target no dataset episode reaches is counted as 0, shown in the report and warned about; one below every episode is warned about too", () => {
  const out = path.join(base, "beyond");
  const { status, result, stderr } = evalJson([snnRun, "--episodes", "1", "--seeds", "3", "--target-return", "600", "--target-return", "-50", "--latency-decisions", "5", "--out", out]);
  assert.equal(status, 0, stderr);
  assert.equal(result.targets[0]!.dataSupport!.atOrAbove, 0);
  assert.match(stderr, /no episode of the dataset reaches this target return/);
  // Below the data's lowest return is extrapolation too (CartPole's returns are at least 1).
  assert.match(stderr, /every episode of the dataset exceeds this target return: the model extrapolates below the data.*"target":-50/);
  assert.match(readFileSync(path.join(out, "report.md"), "utf8"), /\| 600\.0 \|.*\| 0 of 120 \|/);
});

test("an evaluation that replaces an earlier one in the same directory says so before it starts and when it has written", () => {
  const out = path.join(base, "evaluated-again");
  const first = runCli(["-q", "eval", snnRun, "--episodes", "1", "--out", out]);
  assert.equal(first.status, 0, first.stderr);
  assert.doesNotMatch(first.stderr + first.stdout, /replac/);
  const made = (JSON.parse(readFileSync(path.join(out, "eval.json"), "utf8")) as EvalResult).createdAt;
  const second = runCli(["-q", "eval", snnRun, "--episodes", "2", "--target-return", "100", "--out", out]);
  assert.equal(second.status, 0, second.stderr);
  const earlier = `${made}: 1 episodes per target at ${"\\d+(\\.\\d+)?"}`;
  assert.match(second.stderr, new RegExp(`WARN: .*evaluated-again holds an evaluation made ${earlier}; this one replaces it when it finishes \\(to keep both, give this one --out <dir>\\)`));
  assert.match(second.stdout, new RegExp(`report\\.md \\(replacing the evaluation made ${earlier}\\)\\n$`));
});

test("a run that stopped before it finished training is evaluated with a warning saying so and how to finish it", () => {
  const stopped = path.join(base, "stopped");
  cpSync(snnRun, stopped, { recursive: true });
  rmSync(path.join(stopped, "summary.json"));
  rmSync(path.join(stopped, "eval"), { recursive: true, force: true });
  const res = runCli(["-q", "eval", stopped, "--episodes", "1", "--latency-decisions", "1"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: .*stopped stopped before it finished training \(it has no summary\.json\): this evaluates .*stopped\/checkpoints\/best, step \d+ of 20; to finish it, snndt train --resume .*stopped\./);
  const finished = runCli(["-q", "eval", snnRun, "--episodes", "1", "--latency-decisions", "1", "--out", path.join(base, "finished-eval")]);
  assert.doesNotMatch(finished.stderr, /before it finished training/);
});

test("evaluation is reproducible: the same seeds give the same episodes", () => {
  const a = evalJson([snnRun, "--episodes", "2", "--seeds", "3", "--latency-decisions", "5", "--out", path.join(base, "ea")]);
  const b = evalJson([snnRun, "--episodes", "2", "--seeds", "3", "--latency-decisions", "5", "--out", path.join(base, "eb")]);
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(a.result.episodes, b.result.episodes);
});

test("a checkpoint without its optimizer file (weights, state and checksums only) evaluates to the same episodes", () => {
  const whole = evalJson([snnRun, "--episodes", "2", "--seeds", "3", "--latency-decisions", "2", "--out", path.join(base, "with-optimizer")]);
  const weightsOnly = path.join(base, "weights-only");
  cpSync(path.join(snnRun, "checkpoints", "best"), weightsOnly, { recursive: true });
  rmSync(path.join(weightsOnly, "optimizer.safetensors"));
  const shared = evalJson([weightsOnly, "--data", path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"), "--episodes", "2", "--seeds", "3", "--latency-decisions", "2", "--out", path.join(base, "without-optimizer")]);
  assert.equal(shared.status, 0, shared.stderr);
  assert.deepEqual(shared.result.episodes, whole.result.episodes);
});

test("an eval seed that collected the run's data is warned about: its episodes start where the data's did", () => {
  // The shipped CartPole data was collected with seed 0 (its Arrow metadata says so); eval's default seeds are others.
  const replay = runCli(["eval", snnRun, "--episodes", "1", "--seeds", "0", "--latency-decisions", "2", "--out", path.join(base, "seed0")]);
  assert.equal(replay.status, 0, replay.stderr);
  assert.match(replay.stderr, /eval seed 0 is the seed .*cartpole-mixed\.arrow was collected with \(snndt collect --seed 0\): its episodes start where the data's episodes started/);
  const fresh = runCli(["eval", snnRun, "--episodes", "1", "--seeds", "5", "--latency-decisions", "2", "--out", path.join(base, "seed5")]);
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.doesNotMatch(fresh.stderr, /was collected with/);
  // The same holds for the dataset's prepared copy, whose manifest keeps where the data came from.
  const prepared = path.join(base, "prepared-for-seeds");
  assert.equal(runCli(["-q", "prepare-dataset", path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"), "--out", prepared]).status, 0);
  const viaCopy = runCli(["eval", snnRun, "--data", prepared, "--episodes", "1", "--seeds", "0", "--latency-decisions", "2", "--out", path.join(base, "seed0-prepared")]);
  assert.equal(viaCopy.status, 0, viaCopy.stderr);
  assert.match(viaCopy.stderr, /eval seed 0 is the seed .*prepared-for-seeds was collected with/);
});

test("targets are paired: a target's episodes do not depend on which other targets are listed", () => {
  const alone = evalJson([snnRun, "--episodes", "3", "--seeds", "7,8", "--target-return", "500", "--latency-decisions", "5", "--out", path.join(base, "alone")]);
  const both = evalJson([snnRun, "--episodes", "3", "--seeds", "7,8", "--target-return", "100", "--target-return", "500", "--latency-decisions", "5", "--out", path.join(base, "both")]);
  assert.equal(both.status, 0, both.stderr);
  assert.deepEqual(both.result.episodes.filter((e) => e.target === 500), alone.result.episodes);
  assert.deepEqual(both.result.episodes.map((e) => [e.seed, e.indexUnderSeed]), [[7, 0], [8, 0], [7, 1], [7, 0], [8, 0], [7, 1]]);
  // The targets as one comma-separated list: the same evaluation.
  const listed = evalJson([snnRun, "--episodes", "3", "--seeds", "7,8", "--target-return", "100,500", "--latency-decisions", "5", "--out", path.join(base, "listed")]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(listed.result.settings.targets, [100, 500]);
  assert.deepEqual(listed.result.episodes, both.result.episodes);
});

test("--reference sets the returns that score 0 and 100, as D4RL's reference scores do for a task snndt does not build in", () => {
  const res = evalJson([snnRun, "--episodes", "2", "--latency-decisions", "1", "--reference", "-100,400", "--out", path.join(base, "referenced")]);
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(res.result.reference, { random: -100, expert: 400, source: "given with --reference" });
  const [target] = res.result.targets;
  assert.ok(Math.abs(target!.normalised!.mean - (100 * (target!.returns.mean + 100)) / 500) < 1e-9);
  assert.match(readFileSync(path.join(base, "referenced", "report.md"), "utf8"), /Normalised score: 100 · \(R − -100\.00\) \/ \(400\.00 − -100\.00\), reference returns: given with --reference\./);
  // Beside an evaluation scored against the environment's own references: said, the scores not comparable.
  const own = evalJson([snnRun, "--episodes", "2", "--latency-decisions", "1", "--out", path.join(base, "own-reference")]);
  assert.equal(own.status, 0, own.stderr);
  const compared = runCli(["eval", "--compare", path.join(base, "referenced"), path.join(base, "own-reference")]);
  assert.match(compared.stdout, /note: these runs' normalised scores count from different reference returns \(-100\.00 to 400\.00; 22\.61 to 500\.00\), so they are not comparable; their returns are\./);
  // The expert's return comes second and is the higher.
  const reversed = runCli(["eval", snnRun, "--reference", "400,-100"]);
  assert.equal(reversed.status, 2);
  assert.match(reversed.stderr, /--reference takes two returns, the random policy's \(scores 0\) and then the higher expert's \(scores 100\)/);
});

test("a plain DT is evaluated with MACs only and an energy ratio of 1", () => {
  const { status, result, stderr } = evalJson([dtRun, "--episodes", "1", "--latency-decisions", "5"]);
  assert.equal(status, 0, stderr);
  assert.equal(result.spikes, null);
  assert.equal(result.model.kind, "dt");
  assert.equal(result.energy.ratioToDt, 1);
  assert.equal(result.energy.model.synapticOps, 0);
  // The DT has no variant: its summary and checkpoint say "dt", as eval does, not the config's unused "full".
  assert.equal(result.model.variant, "dt");
  assert.equal(JSON.parse(readFileSync(path.join(dtRun, "summary.json"), "utf8")).model.variant, "dt");
});

test("an external environment over JSON lines gives exactly the built-in environment's episodes", () => {
  const adapter = path.join(FIXTURES, "external-env", "builtin-adapter.mjs");
  const args = [snnRun, "--episodes", "3", "--seeds", "11,12", "--target-return", "300", "--latency-decisions", "5"];
  const builtin = evalJson([...args, "--out", path.join(base, "builtin")]);
  const external = evalJson([...args, "--out", path.join(base, "external"), "--env-cmd", `"${process.execPath}" "${adapter}" CartPole-v1`]);
  assert.equal(external.status, 0, external.stderr);
  assert.deepEqual(external.result.episodes, builtin.result.episodes);
  assert.equal(external.result.env?.external, true);
  assert.equal(external.result.env?.maxEpisodeSteps, 500);
  assert.deepEqual(external.result.reference, builtin.result.reference, "the same environment: the same reference returns");
  assert.ok(external.result.targets[0]!.normalised);
  // Under another episode limit returns are on another scale: no normalised score, and said why.
  const shorter = evalJson([...args, "--out", path.join(base, "external-50"), "--env-cmd", `"${process.execPath}" "${adapter}" CartPole-v1 --max-episode-steps=50`]);
  assert.equal(shorter.status, 0, shorter.stderr);
  assert.equal(shorter.result.env?.maxEpisodeSteps, 50);
  assert.ok(shorter.result.episodes.every((e) => e.length <= 50));
  assert.equal(shorter.result.reference, null);
  assert.equal(shorter.result.targets[0]!.normalised, null);
  assert.match(shorter.stderr, /WARN: the external CartPole-v1 ends episodes at 50 steps, the built-in one at 500: its returns are not on the scale of the reference policies' returns, so no normalised score is given\./);
  assert.match(shorter.stderr, /WARN: the dataset's episodes run up to 500 steps, but CartPole-v1 here ends episodes at 50: returns the data reaches may be out of reach/);
  assert.doesNotMatch(external.stderr, /ends episodes at|out of reach/);
  // --compare says the two limits make no paired comparison; the same limit does.
  const unpaired = runCli(["eval", "--compare", path.join(base, "builtin"), path.join(base, "external-50")]);
  assert.match(unpaired.stdout, /note: these runs were evaluated with different environments \(or episode limits\)/);
  assert.doesNotMatch(runCli(["eval", "--compare", path.join(base, "builtin"), path.join(base, "external")]).stdout, /different environments/);
});

test("each seed's environment is released right after its last episode, and releasing changes no episode", async () => {
  await selectBackend("wasm");
  const policy = await loadPolicy(snnRun);
  try {
    const options = { targets: [300, 100], seeds: [21, 22, 23], episodes: 4, statsEvery: 10 };
    const played = new Map<RolloutEnvironment, number>();
    const released: { seed: number; episodesPlayed: number }[] = [];
    const make = async () => {
      const env = makeEnv("CartPole-v1");
      const counted: RolloutEnvironment = {
        id: env.id,
        reset: (seed) => {
          played.set(counted, (played.get(counted) ?? 0) + 1);
          return env.reset(seed);
        },
        step: (action) => env.step(action),
      };
      return counted;
    };
    const seedOf = new Map<RolloutEnvironment, number>();
    const withRelease = await rollouts(policy, async () => {
      const env = await make();
      seedOf.set(env, options.seeds[seedOf.size]!);
      return env;
    }, { ...options, release: async (env) => void released.push({ seed: seedOf.get(env)!, episodesPlayed: played.get(env)! }) });
    // Episode j of each target runs under seed j mod 3: seeds 21, 22, 23 play 4, 2 and 2 episodes, and
    // the last target's episodes 1, 2 and 3 are the last of seeds 22, 23 and 21.
    assert.deepEqual(released, [
      { seed: 22, episodesPlayed: 2 },
      { seed: 23, episodesPlayed: 2 },
      { seed: 21, episodesPlayed: 4 },
    ]);
    const without = await rollouts(policy, make, options);
    assert.deepEqual(withRelease.episodes, without.episodes);
    // A seed listed twice has one environment, released once, after its last episode.
    const repeated: number[] = [];
    await rollouts(policy, make, { ...options, targets: [300], seeds: [5, 5], episodes: 3, release: async (env) => void repeated.push(played.get(env)!) });
    assert.deepEqual(repeated, [3]);
  } finally {
    policy.model.dispose();
  }
});

test("an external environment that dies part-way keeps the finished episodes, marked partial", () => {
  const adapter = path.join(FIXTURES, "external-env", "builtin-adapter.mjs");
  // CartPole episodes of this tiny model last tens of steps: die well into the run.
  const res = runCli(["--json", "eval", snnRun, "--episodes", "50", "--seeds", "1", "--target-return", "500", "--latency-decisions", "5", "--trajectories", "--out", path.join(base, "partial"), "--env-cmd", `"${process.execPath}" "${adapter}" CartPole-v1 --die-after-steps=150`]);
  assert.equal(res.status, 1, res.stderr);
  const result = JSON.parse(res.stdout) as EvalResult;
  assert.ok(result.partial, "result must be marked partial");
  assert.match(result.partial.reason, /exited|died|code 5/);
  assert.ok(result.episodes.length >= 1 && result.episodes.length < 50);
  assert.ok(existsSync(path.join(base, "partial", "eval.json")));
  assert.match(readFileSync(path.join(base, "partial", "report.md"), "utf8"), /Partial results/);
  // The trajectories hold the finished episodes, not the steps of the one the environment died in.
  const steps = tableFromIPC(readFileSync(path.join(base, "partial", "trajectories.arrow")));
  assert.equal(steps.numRows, result.episodes.reduce((n, e) => n + e.length, 0));
  assert.ok(steps.numRows < 150);
  assert.equal(steps.getChild("episode_id")!.get(steps.numRows - 1), result.episodes.length - 1);
  // eval.json's spikes are counted on the same decisions the file records spikes for.
  const spikes = steps.getChild("spikes")!.toArray() as Int32Array;
  const counted = Array.from({ length: steps.numRows }, (_, i) => steps.getChild("spikes")!.isValid(i)).filter(Boolean).length;
  assert.equal(result.spikes!.decisions, counted);
  const total = Array.from({ length: steps.numRows }, (_, i) => (steps.getChild("spikes")!.isValid(i) ? spikes[i]! : 0)).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(result.spikes!.perDecision - total / counted) < 1e-9 * total);
});

test("an external environment that fails while decisions are timed keeps the finished evaluation, latency not measured", () => {
  const adapter = path.join(FIXTURES, "external-env", "builtin-adapter.mjs");
  // Each environment process dies at its 501st step: the one episode (at most 500 steps) finishes,
  // and the latency run's fresh process dies within its 600 decisions.
  const out = path.join(base, "latency-failed");
  const res = runCli(["--json", "eval", snnRun, "--episodes", "1", "--seeds", "1", "--target-return", "500", "--latency-decisions", "600", "--out", out, "--env-cmd", `"${process.execPath}" "${adapter}" CartPole-v1 --die-after-steps=500`]);
  assert.equal(res.status, 1, res.stderr);
  const result = JSON.parse(res.stdout) as EvalResult;
  assert.equal(result.partial, null);
  assert.equal(result.episodes.length, 1);
  assert.equal(result.latencyMs.decisions, 0);
  assert.match(result.latencyMs.failure ?? "", /code 5/);
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, "eval.json"), "utf8")).episodes, result.episodes);
  assert.match(readFileSync(path.join(out, "report.md"), "utf8"), /Batch-1 decision on wasm: not measured: the environment failed while decisions were timed \(.*code 5/);
});

test("an environment whose episodes outlast the checkpoint's max_ep_len is refused before any episode", () => {
  const adapter = path.join(FIXTURES, "external-env", "builtin-adapter.mjs");
  const out = path.join(base, "too-long");
  const res = runCli(["eval", snnRun, "--episodes", "2", "--out", out, "--env-cmd", `"${process.execPath}" "${adapter}" CartPole-v1 --max-episode-steps=600`]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /cannot act in CartPole-v1: CartPole-v1 runs episodes of up to 600 steps but the checkpoint's model\.max_ep_len is 500/);
  assert.ok(!existsSync(out), "nothing written");
});

test("eval --data with another environment's dataset is refused, naming the file and what differs", () => {
  const pendulum = path.join(REPO_ROOT, "datasets", "pendulum-mixed.arrow");
  const out = path.join(base, "wrong-data");
  const res = runCli(["eval", snnRun, "--episodes", "1", "--target-return", "100", "--data", pendulum, "--out", out]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /pendulum-mixed\.arrow cannot be evaluated with .*: observations have 3 dimensions in the dataset but 4 in the checkpoint; the dataset has continuous actions, the checkpoint discrete/);
  assert.ok(!existsSync(out), "nothing written");
});

test("eval --out on or below a file is a usage error before any episode, not a failed write after them", () => {
  const file = path.join(base, "a-file");
  writeFileSync(file, "x");
  for (const out of [file, path.join(file, "eval")]) {
    // --log-level info: the evaluation logs "backend" at its start, so its absence shows nothing ran.
    const res = runCli(["--log-level", "info", "eval", snnRun, "--episodes", "1", "--target-return", "100", "--latency-decisions", "2", "--out", out]);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /--out .*a-file(\/eval)?: .*a-file is a file; an evaluation writes a directory \(choose another --out\)/);
    assert.doesNotMatch(res.stderr, /backend|internal error/);
  }
  assert.equal(readFileSync(file, "utf8"), "x");
  // Without --out the output is <run>/eval: a file there is refused the same way.
  const run = path.join(base, "run-with-eval-file");
  cpSync(snnRun, run, { recursive: true });
  rmSync(path.join(run, "eval"), { recursive: true, force: true });
  writeFileSync(path.join(run, "eval"), "x");
  const res = runCli(["--log-level", "info", "eval", run, "--episodes", "1", "--target-return", "100", "--latency-decisions", "2"]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /run-with-eval-file\/eval is a file; eval writes its outputs to the directory <run>\/eval \(<run>\/eval-<checkpoint> for another checkpoint; eval-offline in their place with --offline\) by default \(choose another --out\)/);
  assert.doesNotMatch(res.stderr, /backend|internal error/);
  assert.equal(readFileSync(path.join(run, "eval"), "utf8"), "x");
  // A bad option is reported before the output directory is looked at.
  const badSeeds = runCli(["eval", run, "--seeds", "x", "--episodes", "1"]);
  assert.equal(badSeeds.status, 2, badSeeds.stderr);
  assert.match(badSeeds.stderr, /--seeds/);
  assert.doesNotMatch(badSeeds.stderr, /is a file/);
});

test("eval outputs: a new directory appears whole; an existing one is written into, never renamed, and loses only the earlier evaluation's stale files", () => {
  const out = path.join(base, "twice");
  const args = ["--episodes", "1", "--target-return", "100", "--latency-decisions", "2"];
  const first = runCli(["-q", "eval", snnRun, ...args, "--out", out]);
  assert.equal(first.status, 0, first.stderr);
  // The result is printed on stdout, --quiet or not (it silences logs), with where it was written.
  assert.match(first.stdout, /^SNN-DT \(full\) from .*best \(lowest validation loss: step \d+ of 20\)\nenv CartPole-v1, backend wasm, seeds 1001\n/);
  assert.match(first.stdout, /\nwrote .*twice\/eval\.json and .*twice\/report\.md\n$/);
  assert.ok(existsSync(path.join(out, "charts", "spikes.svg")));
  // The user's own files, beside the outputs and among the charts, stay.
  writeFileSync(path.join(out, "notes.txt"), "mine");
  writeFileSync(path.join(out, "charts", "annotated.svg"), "<svg/>");
  assert.equal(runCli(["-q", "eval", dtRun, ...args, "--out", out]).status, 0);
  assert.ok(!existsSync(path.join(out, "charts", "spikes.svg")), "a chart of the earlier evaluation lingers beside the DT's report");
  assert.equal(JSON.parse(readFileSync(path.join(out, "eval.json"), "utf8")).model.kind, "dt");
  assert.equal(readFileSync(path.join(out, "notes.txt"), "utf8"), "mine");
  assert.equal(readFileSync(path.join(out, "charts", "annotated.svg"), "utf8"), "<svg/>");
  assert.deepEqual([...readdirSync(base), ...readdirSync(out)].filter((entry) => entry.includes(".tmp-")), [], "no temporary left");
  // A symlinked --out stays a symlink: the outputs land where it points.
  const target = path.join(base, "linked-target");
  mkdirSync(target);
  symlinkSync(target, path.join(base, "link"));
  assert.equal(runCli(["-q", "eval", dtRun, ...args, "--out", path.join(base, "link")]).status, 0);
  assert.ok(lstatSync(path.join(base, "link")).isSymbolicLink());
  assert.ok(existsSync(path.join(target, "eval.json")));
  // A directory of the user's own whose files bear an evaluation's names, with no evaluation's eval.json: refused before any episode.
  const mine = path.join(base, "my-notes");
  mkdirSync(path.join(mine, "charts"), { recursive: true });
  writeFileSync(path.join(mine, "report.md"), "my report");
  writeFileSync(path.join(mine, "charts", "returns.svg"), "<svg/>");
  const refused = runCli(["eval", dtRun, ...args, "--trajectories", "--out", mine]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--out .*my-notes holds report\.md, charts\/returns\.svg, with no evaluation's eval\.json to show that an evaluation wrote them; an evaluation would replace them\. Choose another --out, or move them \(or delete them, if an interrupted evaluation left them\)\./);
  assert.doesNotMatch(refused.stderr, /evaluating/, "refused before the episodes");
  assert.equal(readFileSync(path.join(mine, "report.md"), "utf8"), "my report");
  assert.deepEqual(readdirSync(mine).sort(), ["charts", "report.md"]);
  // The run's own eval directory is not checked: an evaluation interrupted between its renames leaves its files there without eval.json.
  const crashed = path.join(base, "crashed-eval-run");
  cpSync(dtRun, crashed, { recursive: true });
  assert.equal(runCli(["-q", "eval", crashed, ...args]).status, 0);
  rmSync(path.join(crashed, "eval", "eval.json"));
  const again = runCli(["-q", "eval", crashed, ...args]);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(existsSync(path.join(crashed, "eval", "eval.json")));
  // So are the run's other evaluation directories named with --out (the results suite's eval-sweep, say).
  const sweep = path.join(crashed, "eval-sweep");
  assert.equal(runCli(["-q", "eval", crashed, ...args, "--out", sweep]).status, 0);
  rmSync(path.join(sweep, "eval.json"));
  const sweepAgain = runCli(["-q", "eval", crashed, ...args, "--out", sweep]);
  assert.equal(sweepAgain.status, 0, sweepAgain.stderr);
  // A file named trajectories.arrow counts only when this evaluation writes one; other files never do.
  writeFileSync(path.join(base, "linked-target", "trajectories.arrow"), "mine");
  rmSync(path.join(target, "eval.json"));
  writeFileSync(path.join(target, "eval.json"), "{}");
  const bare = runCli(["eval", dtRun, ...args, "--out", path.join(base, "link")]);
  assert.equal(bare.status, 2, bare.stderr);
  assert.match(bare.stderr, /holds eval\.json, report\.md, charts\/returns\.svg[^\n]*, with no evaluation's eval\.json to show/);
  assert.doesNotMatch(bare.stderr, /trajectories\.arrow/);
});

test("eval --data with episodes longer than the checkpoint's max_ep_len is refused", async () => {
  // CartPole-shaped, one episode of 600 steps (the run's max_ep_len is 500).
  const file = path.join(base, "long-episode.arrow");
  const steps = 600;
  await writeArrow(file, {
    episode_id: vec(new Array<number>(steps).fill(0), int32),
    observations: vec(Array.from({ length: steps }, () => [0, 0, 0, 0]), fixedList(4)),
    actions: vec(Array.from({ length: steps }, (_, i) => i % 2), int32),
    rewards: vec(new Array<number>(steps).fill(1), f32),
  });
  const out = path.join(base, "long-data");
  const res = runCli(["eval", snnRun, "--episodes", "1", "--target-return", "100", "--data", file, "--out", out]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /long-episode\.arrow cannot be evaluated with .*: the dataset has an episode of 600 steps but the checkpoint's model\.max_ep_len is 500\./);
  assert.ok(!existsSync(out), "nothing written");
});

test("bad input: unknown env id lists the known ones; a checkpoint for another shape is refused", () => {
  const unknown = runCli(["eval", snnRun, "--env", "CartPole-v0"]);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /CartPole-v1.*Pendulum-v1|Pendulum-v1.*CartPole-v1/s);
  const shape = runCli(["eval", snnRun, "--env", "Pendulum-v1"]);
  assert.equal(shape.status, 1);
  assert.match(shape.stderr, /cannot act in Pendulum-v1: observations have 3 dimensions in Pendulum-v1 but 4 in the checkpoint/);
  const bigSeed = runCli(["eval", snnRun, "--seeds", "3,4294967296"]);
  assert.equal(bigSeed.status, 2);
  assert.match(bigSeed.stderr, /--seeds must be comma-separated integers in \[0, 4294967295\], got "3,4294967296"/);
  const endless = runCli(["eval", snnRun, "--episodes", "100001"]);
  assert.equal(endless.status, 2);
  assert.match(endless.stderr, /--episodes must be an integer in \[1, 100000\], got "100001"/);
  const missing = runCli(["eval", path.join(base, "nope")]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such run or checkpoint directory/);
});

test("eval --offline measures a run on its held-out episodes without an environment: action quality, spikes, energy, latency", async () => {
  const out = path.join(base, "offline");
  const { status, result, stderr } = evalJson([snnRun, "--offline", "--stats-every", "7", "--latency-decisions", "15", "--out", out]);
  assert.equal(status, 0, stderr);
  assert.equal(result.env, null);
  assert.deepEqual([result.targets, result.episodes, result.reference, result.partial], [[], [], null, null]);
  // The run's held-out episodes, found here from the split's own definition.
  const dataset = await loadDataset(path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"));
  await selectBackend("wasm");
  const policy = await loadPolicy(snnRun);
  const config = policy.state.config;
  policy.model.dispose();
  const heldOutIndices = splitEpisodes(dataset.episodes.length, config.data.val_fraction, Rng.derive(config.seed, "split")).val;
  const heldOut = heldOutIndices.map((i) => dataset.episodes[i]!);
  assert.equal(result.offline!.episodes, heldOut.length);
  assert.deepEqual(result.offline!.episodeIndices, heldOutIndices);
  assert.match(result.offline!.source, /held-out/);
  // The same action quality as an evaluation in the environment reports.
  const online = evalJson([snnRun, "--episodes", "1", "--latency-decisions", "1", "--out", path.join(base, "offline-vs-online")]);
  assert.equal(online.status, 0, online.stderr);
  assert.deepEqual(result.offline, online.result.offline);
  // Decisions 0, 7, 14, ... of every held-out episode are counted; the first 15 are timed.
  assert.equal(result.settings.statsEvery, 7);
  assert.equal(result.spikes!.decisions, heldOut.reduce((n, ep) => n + Math.ceil(ep.length / 7), 0));
  assert.ok(result.spikes!.perDecision > 0);
  assert.equal(result.latencyMs.decisions, 15);
  assert.ok(result.energy.model.synapticOps > 0 && result.energy.ratioToDt > 0);
  const report = readFileSync(path.join(out, "report.md"), "utf8");
  assert.match(report, /^# Evaluation: SNN-DT \(full\) offline \(no environment\)/);
  assert.doesNotMatch(report, /## Returns/);
  for (const section of ["## Offline action quality", "## Spikes per decision", "## Energy per decision", "replayed from held-out data"]) assert.ok(report.includes(section), section);
  assert.deepEqual(readdirSync(path.join(out, "charts")).sort(), ["firing-rate.svg", "spikes.svg", "training.svg"]);
  // --compare shows where it ran and the offline measure beside the rest.
  const compared = runCli(["eval", "--compare", out, path.join(base, "offline-vs-online")]);
  assert.equal(compared.status, 0, compared.stderr);
  const offlineRow = compared.stdout.split("\n").find((line) => line.startsWith("offline "))!;
  assert.match(offlineRow, new RegExp(`full\\s+\\d+/\\d+\\s+offline\\s+-\\s+-\\s+-\\s+-\\s+${(100 * result.offline!.accuracy!).toFixed(1)}%`));
  assert.doesNotMatch(compared.stdout, /offline action quality was measured on different episodes/);
  // On other data the offline measures are not paired: said under the table.
  const otherData = path.join(base, "offline-other-data");
  assert.equal(runCli(["-q", "eval", snnRun, "--offline", "--data", path.join(FIXTURES, "samples", "cartpole-steps-lz4.feather"), "--latency-decisions", "1", "--out", otherData]).status, 0);
  const unpaired = runCli(["eval", "--compare", out, otherData]);
  assert.match(unpaired.stdout, /note: these runs' offline action quality was measured on different episodes/);
  // Without --out an offline evaluation goes to <run>/eval-offline, beside the one in the environment, not over it.
  const both = path.join(base, "offline-and-online");
  cpSync(snnRun, both, { recursive: true });
  for (const entry of readdirSync(both)) if (entry.startsWith("eval")) rmSync(path.join(both, entry), { recursive: true });
  assert.equal(runCli(["-q", "eval", both, "--offline", "--latency-decisions", "1"]).status, 0);
  assert.equal(readEvalResult(both).env, null, "a run evaluated only offline: --compare finds its eval-offline/");
  assert.equal(runCli(["-q", "eval", both, "--episodes", "1", "--latency-decisions", "1"]).status, 0);
  assert.equal(readEvalResult(path.join(both, "eval-offline")).env, null, "the offline evaluation stays");
  assert.equal(readEvalResult(both).env?.id, "CartPole-v1", "--compare reads the evaluation in the environment first");
  // An eval.json from before episodeIndices existed is not taken for other episodes.
  const older = path.join(base, "offline-older");
  mkdirSync(older);
  const { episodeIndices: _indices, ...olderOffline } = result.offline!;
  writeFileSync(path.join(older, "eval.json"), JSON.stringify({ ...result, offline: olderOffline }));
  assert.doesNotMatch(runCli(["eval", "--compare", out, older]).stdout, /measured on different episodes/);
  // Options of episodes in an environment are refused with --offline; a task without a built-in
  // environment names --offline and --env-cmd.
  const mixed = runCli(["eval", snnRun, "--offline", "--episodes", "3", "--target-return", "200"]);
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /--offline evaluates without an environment; drop --episodes, --target-return/);
  const unknown = runCli(["eval", snnRun, "--env", "Hopper-v4"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no built-in environment "Hopper-v4" \(--env\).*--env-cmd.*--offline/);
});

test("replaying a rollout's own episode counts the same spikes and operations as the rollout did", async () => {
  await selectBackend("wasm");
  const policy = await loadPolicy(snnRun);
  try {
    const observations: number[] = [];
    const actions: number[] = [];
    const rewards: number[] = [];
    const make = async (): Promise<RolloutEnvironment> => {
      const env = makeEnv("CartPole-v1");
      return {
        id: env.id,
        reset: (seed) => {
          const first = env.reset(seed);
          observations.push(...first);
          return first;
        },
        step: (action) => {
          const result = env.step(action);
          actions.push(action as number);
          rewards.push(result.reward);
          if (!result.terminated && !result.truncated) observations.push(...result.observation);
          return result;
        },
      };
    };
    const target = 300;
    const online = await rollouts(policy, make, { targets: [target], seeds: [7], episodes: 1, statsEvery: 3 });
    const length = online.episodes[0]!.length;
    assert.ok(length > 3, `episode of ${length} steps`);
    // The return-to-go the rollout conditioned each step on: the target less the rewards so far.
    const returnsToGo = Float32Array.from(rewards, (_, t) => target - rewards.slice(0, t).reduce((a, b) => a + b, 0));
    const episode = { length, observations: Float32Array.from(observations), actions: Float32Array.from(actions), rewards: Float32Array.from(rewards), returnsToGo, terminated: true, truncated: false };
    const replay = await replayDecisions(policy, [episode], { statsEvery: 3, latencyDecisions: 0 });
    assert.equal(replay.tally.decisions, Math.ceil(length / 3));
    assert.deepEqual(replay.tally, online.tally);
    // More decisions to count than MAX_COUNTED_DECISIONS: thinned evenly to that many; timing comes after.
    const many = Array.from({ length: Math.ceil((1.5 * MAX_COUNTED_DECISIONS) / length) }, () => episode);
    const thinned = await replayDecisions(policy, many, { statsEvery: 1, latencyDecisions: 5 });
    assert.equal(thinned.candidates, many.length * length);
    assert.equal(thinned.tally.decisions, MAX_COUNTED_DECISIONS);
    assert.equal(thinned.latencyMs.length, 5);
  } finally {
    policy.model.dispose();
  }
});

test("--compare puts several runs' eval.json side by side", () => {
  assert.equal(runCli(["-q", "eval", dtRun, "--episodes", "1", "--latency-decisions", "3"]).status, 0);
  const res = runCli(["eval", "--compare", snnRun, dtRun]);
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split("\n");
  assert.match(lines[0]!, /run\s+model\s+step\s+env\s+target\s+episodes\s+return\s+normalised\s+offline\s+spikes\/decision\s+energy nJ\s+vs DT\s+latency ms/);
  // A row per target: the second target's returns show too, under the first's run.
  const snnReturns = JSON.parse(readFileSync(path.join(snnRun, "eval", "eval.json"), "utf8")) as EvalResult;
  const { step, of } = snnReturns.checkpointStep;
  assert.match(lines[2]!, new RegExp(`^snn\\s+full\\s+${step}/${of}\\s+CartPole-v1\\s+500\\.0\\s+3\\s+${snnReturns.targets[0]!.returns.mean.toFixed(2)} ± `));
  assert.match(lines[3]!, new RegExp(`^\\s+100\\.0\\s+3\\s+${snnReturns.targets[1]!.returns.mean.toFixed(2)} ± [\\d.]+\\s+-?[\\d.]+ ± [\\d.]+\\s*$`));
  assert.match(lines[4]!, /^dt\s+dt\s+\d+\/\d+\s+CartPole-v1\s+500\.0\s+1\s/);
  assert.doesNotMatch(res.stdout, /evaluate it again to compare the run as it is/);
  // Evaluated with other targets and episodes: said under the table.
  assert.match(res.stdout, /note: these runs were evaluated with different environments \(or episode limits\), targets, episodes or seeds/);
  // An eval.json made before the method field (method 1: q/k/v charged as synaptic operations, unpaired targets) is told apart.
  const fresh = JSON.parse(readFileSync(path.join(snnRun, "eval", "eval.json"), "utf8")) as EvalResult;
  assert.equal(fresh.methodVersion, 3);
  const older = path.join(base, "older-eval");
  mkdirSync(older);
  writeFileSync(path.join(older, "eval.json"), JSON.stringify({ ...fresh, methodVersion: undefined }));
  const mixed = runCli(["eval", "--compare", snnRun, older]);
  assert.equal(mixed.status, 0, mixed.stderr);
  assert.match(mixed.stdout, /note: these evaluations were made by different eval methods \(1 and 3; method 2: .*; method 3: the action never comes from the spike-counting pass/);
  assert.doesNotMatch(mixed.stdout, /different environments, targets/);
  assert.doesNotMatch(mixed.stdout, /different constants/);
  // An evaluation of a checkpoint that has moved on since (best/ of a run that trained on) is said to be one.
  const stale = path.join(base, "stale-eval");
  mkdirSync(stale);
  writeFileSync(path.join(stale, "eval.json"), JSON.stringify({ ...fresh, checkpointStep: { ...fresh.checkpointStep, step: fresh.checkpointStep.step - 1 } }));
  const retrained = path.join(base, "retrained-eval");
  mkdirSync(retrained);
  writeFileSync(path.join(retrained, "eval.json"), JSON.stringify({ ...fresh, configHash: "0".repeat(64) }));
  // A checkpoint no longer at its recorded path may have moved with its run: nothing is said.
  const gone = path.join(base, "gone-eval");
  mkdirSync(gone);
  writeFileSync(path.join(gone, "eval.json"), JSON.stringify({ ...fresh, checkpoint: path.join(base, "no-such-run", "checkpoints", "best") }));
  // An eval.json from before checkpointStep has a "-" for its step.
  const { checkpointStep: _step, ...beforeSteps } = fresh;
  const old = path.join(base, "stepless-eval");
  mkdirSync(old);
  writeFileSync(path.join(old, "eval.json"), JSON.stringify(beforeSteps));
  const moved = runCli(["eval", "--compare", snnRun, stale, retrained, gone, old]);
  assert.equal(moved.status, 0, moved.stderr);
  assert.match(moved.stdout, new RegExp(`note: stale-eval was evaluated at step ${fresh.checkpointStep.step - 1} of .*best, which now holds step ${fresh.checkpointStep.step}: evaluate it again`));
  assert.match(moved.stdout, /note: retrained-eval was evaluated at step \d+ of .*best, which now holds another run's model/);
  assert.doesNotMatch(moved.stdout, /gone-eval was evaluated|stepless-eval was evaluated/);
  assert.match(moved.stdout, /^stepless-eval\s+full\s+-\s+CartPole-v1/m);
  // Energy estimated with other constants (--e-ac/--e-mac) is not comparable in nJ: said too.
  const otherConstants = path.join(base, "other-constants");
  mkdirSync(otherConstants);
  writeFileSync(path.join(otherConstants, "eval.json"), JSON.stringify({ ...fresh, energy: { ...fresh.energy, constants: { acPicojoules: 0.03, macPicojoules: 0.2 } } }));
  const constants = runCli(["eval", "--compare", snnRun, otherConstants]);
  assert.equal(constants.status, 0, constants.stderr);
  assert.match(constants.stdout, /note: these runs' energy was estimated with different constants \(E_AC 0\.9 pJ, E_MAC 4\.6 pJ; E_AC 0\.03 pJ, E_MAC 0\.2 pJ\)/);
  // A JSON file that is not an eval.json (a run's summary.json, say) is named, not a crash.
  const notEval = path.join(base, "not-eval.json");
  writeFileSync(notEval, JSON.stringify({ variant: "full", steps: 10 }));
  const wrongFile = runCli(["eval", "--compare", snnRun, notEval]);
  assert.equal(wrongFile.status, 1, wrongFile.stderr);
  assert.match(wrongFile.stderr, /not-eval\.json is not an eval\.json written by snndt eval: it has no "targets" field/);
  // Paths that end alike are labelled by as much of their tail as tells them apart.
  const byEvalDir = runCli(["eval", "--compare", path.join(snnRun, "eval"), path.join(dtRun, "eval")]);
  assert.equal(byEvalDir.status, 0, byEvalDir.stderr);
  assert.match(byEvalDir.stdout, /^snn\/eval\s+full/m);
  assert.match(byEvalDir.stdout, /^dt\/eval\s+dt/m);
  // Options of an evaluation do nothing here: refused, not ignored.
  const withEpisodes = runCli(["eval", "--compare", snnRun, dtRun, "--episodes", "5"]);
  assert.equal(withEpisodes.status, 2, withEpisodes.stderr);
  assert.match(withEpisodes.stderr, /--compare reads the eval\.json each run already has and evaluates nothing; drop --episodes/);
});

test("targets: one listed twice is refused before any episode; two that print alike get their own rows and chart series", () => {
  const twice = path.join(base, "target-twice");
  const res = runCli(["eval", snnRun, "--episodes", "1", "--target-return", "100", "--target-return", "100", "--out", twice]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /target return 100 is listed twice in --target-return; list each target once/);
  assert.ok(!existsSync(twice), "nothing written");

  const close = path.join(base, "targets-close");
  const { status, result, stderr } = evalJson([snnRun, "--episodes", "1", "--seeds", "4", "--target-return", "100", "--target-return", "100.01", "--latency-decisions", "2", "--out", close]);
  assert.equal(status, 0, stderr);
  assert.deepEqual(result.targets.map((t) => [t.target, t.episodes]), [[100, 1], [100.01, 1]]);
  const chart = readFileSync(path.join(close, "charts", "returns.svg"), "utf8");
  assert.ok(chart.includes("target 100.01") && chart.includes("target 100<"), "both series are named in the legend");
});

test("Ctrl-C during eval --env-cmd exits 130, writes nothing, and leaves none of the environment's processes running", async () => {
  const adapter = path.join(FIXTURES, "external-env", "builtin-adapter.mjs");
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-eval-sigint-"));
  const pidFile = path.join(dir, "helper.pid");
  const out = path.join(dir, "out");
  // The command starts a helper process beside the environment, as launcher scripts do.
  const command = `sleep 600 & echo $! > '${pidFile}'; exec "${process.execPath}" "${adapter}" CartPole-v1`;
  const child = spawn(process.execPath, [SNNDT_BIN, "-q", "eval", snnRun, "--episodes", "400", "--target-return", "500", "--out", out, "--env-cmd", command], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, "exit");
  let poll: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    poll = setInterval(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "" && resolve(), 10);
  }).finally(() => clearInterval(poll));
  child.kill("SIGINT");
  const [status] = (await exited) as [number | null];
  assert.equal(status, 130, stderr);
  assert.ok(!existsSync(out), "nothing written");
  const helper = Number(readFileSync(pidFile, "utf8"));
  const gone = () => {
    try {
      process.kill(helper, 0);
      return false;
    } catch {
      return true;
    }
  };
  const deadline = Date.now() + 2000;
  while (!gone() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(gone(), `the environment's helper process ${helper} is still running`);
});

test("Ctrl-C during episodes in a built-in environment exits 130 at the next episode, writing nothing", async () => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), "snndt-eval-sigint-builtin-")), "out");
  // Far more episodes than the test waits for: only the interrupt can end it in time.
  const child = spawn(process.execPath, [SNNDT_BIN, "eval", snnRun, "--episodes", "100000", "--target-return", "500", "--out", out], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const evaluating = new Promise<void>((resolve) =>
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('"evaluating"') || stderr.includes("INFO: evaluating")) resolve();
    }),
  );
  const exited = once(child, "exit");
  await evaluating;
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill("SIGINT");
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const [status, signal] = (await exited) as [number | null, string | null];
  clearTimeout(killer);
  assert.equal(signal, null, "Ctrl-C was not handled: the evaluation had to be killed");
  assert.equal(status, 130, stderr);
  assert.ok(!existsSync(out), "nothing written");
});

test("a continuous checkpoint whose action box reaches outside the environment's, or covers clearly less of it, is warned about", () => {
  const pendulum = makeEnv("Pendulum-v1");
  const spec = (low: number, high: number) => ({ kind: "continuous" as const, dim: 1, low: [low], high: [high] });
  // Pendulum data clipped to the box (float32 bounds), or from a tanh policy that almost reaches it: nothing to say.
  assert.deepEqual(actionBoxWarnings(spec(-2, 2), pendulum, "ckpt"), []);
  const justAbove = Math.fround(2.0000002); // the float32 after 2
  assert.ok(justAbove > 2);
  assert.deepEqual(actionBoxWarnings(spec(-1.99, justAbove), pendulum, "ckpt"), []);
  // Data from another environment (torques up to 3): the model will ask for what Pendulum-v1 clips.
  assert.deepEqual(actionBoxWarnings(spec(-3, 2), pendulum, "ckpt"), [
    "ckpt acts within its dataset's action box, which reaches outside Pendulum-v1's action box (dimension 0: [-3, 2] against [-2, 2]); " +
      "actions beyond the box are the environment's to clip or refuse. Check that the data came from this environment (and the box declared when preparing it, if one was).",
  ]);
  // Data from a gentle policy: the model can never push harder than it did.
  assert.deepEqual(actionBoxWarnings(spec(-1.5, 1.5), pendulum, "ckpt"), [
    "ckpt acts within its dataset's action box, which covers only part of Pendulum-v1's (dimension 0: [-1.5, 1.5] against [-2, 2]): it can never choose " +
      "the actions beyond. If they matter, declare the environment's box when preparing the data (prepare-dataset --action-low/--action-high) and train on the data so prepared.",
  ]);
  assert.deepEqual(actionBoxWarnings(spec(-3, 3), makeEnv("CartPole-v1"), "ckpt"), [], "discrete environments have no box");
});

test("eval of a checkpoint other than best/ writes <run>/eval-<checkpoint>, leaving the run's own evaluation alone", () => {
  const own = path.join(dtRun, "eval", "eval.json");
  const before = existsSync(own) ? readFileSync(own, "utf8") : null;
  const step = runCli(["-q", "eval", path.join(dtRun, "checkpoints", "step-10"), "--episodes", "1", "--latency-decisions", "2"]);
  assert.equal(step.status, 0, step.stderr);
  const stepResult = readEvalResult(path.join(dtRun, "eval-step-10"));
  assert.match(stepResult.checkpoint, /step-10$/);
  assert.equal(existsSync(own) ? readFileSync(own, "utf8") : null, before);
  // --compare finds it by the checkpoint's path; a symlink to the checkpoint writes into its run.
  const compared = runCli(["eval", "--compare", path.join(dtRun, "checkpoints", "step-10")]);
  assert.equal(compared.status, 0, compared.stderr);
  const link = path.join(base, "step-10-link");
  symlinkSync(path.join(dtRun, "checkpoints", "step-10"), link);
  rmSync(path.join(dtRun, "eval-step-10"), { recursive: true });
  assert.equal(runCli(["-q", "eval", link, "--episodes", "1", "--latency-decisions", "2"]).status, 0);
  assert.ok(existsSync(path.join(dtRun, "eval-step-10", "eval.json")));
  assert.ok(!existsSync(path.join(base, "eval-step-10-link")));
  // and its evaluation knows the run: its training curves are charted.
  assert.equal(readEvalResult(path.join(dtRun, "eval-step-10")).runDir, realpathSync(dtRun));
  assert.ok(existsSync(path.join(dtRun, "eval-step-10", "charts", "training.svg")));
  // A checkpoint copied out of its run has no run to write into: --out is asked for.
  const loose = path.join(base, "loose", "step-10");
  cpSync(path.join(dtRun, "checkpoints", "step-10"), loose, { recursive: true });
  const outside = runCli(["-q", "eval", loose, "--episodes", "1"]);
  assert.equal(outside.status, 2, outside.stderr);
  assert.match(outside.stderr, /loose\/step-10 is a checkpoint outside a run directory .*; say where its evaluation goes with --out/);
  // best/ named by its path is the run's own checkpoint: its evaluation is the run's.
  const best = runCli(["-q", "eval", path.join(dtRun, "checkpoints", "best"), "--episodes", "1", "--latency-decisions", "2"]);
  assert.equal(best.status, 0, best.stderr);
  assert.match(readEvalResult(dtRun).checkpoint, /best$/);
});

test("eval --offline on another dataset leaves out the episodes the run trained on, found by their content", async () => {
  const shipped = path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow");
  const dataset = await loadDataset(shipped);
  await selectBackend("wasm");
  const policy = await loadPolicy(snnRun);
  const config = policy.state.config;
  policy.model.dispose();
  const { val } = splitEpisodes(dataset.episodes.length, config.data.val_fraction, Rng.derive(config.seed, "split"));
  // A subset of the run's data in another file, reordered, end flags changed: not the run's dataset, but mostly its training episodes.
  const subset = dataset.episodes.slice(0, 40).reverse().map((ep) => ({ ...ep, terminated: false, truncated: true }));
  const file = path.join(base, "subset.arrow");
  await writeStepsArrow(file, subset, dataset.actionSpace);
  const fresh = subset.filter((_, i) => val.includes(39 - i)).length;
  assert.ok(fresh > 0 && fresh < 40);
  const { status, result, stderr } = evalJson([snnRun, "--offline", "--data", file, "--latency-decisions", "1", "--out", path.join(base, "offline-subset")]);
  assert.equal(status, 0, stderr);
  assert.equal(result.offline!.episodes, fresh);
  // The ones kept are the run's validation episodes (the subset is of its own data), which chose best/.
  assert.match(result.offline!.source, new RegExp(`subset\\.arrow: the ${fresh} episodes? not among the run's training episodes \\(${40 - fresh} episodes that are were left out\\); ${fresh} episodes? of them the run's validation episodes, which also chose this best/ checkpoint`));
  // A run whose own data is gone cannot tell: it measures every episode and says so; an evaluation in the environment warns.
  const copy = path.join(base, "cartpole-copy.arrow");
  cpSync(shipped, copy);
  const orphan = path.join(base, "orphan");
  assert.equal(runCli(["-q", "train", "--out", orphan, "--data", copy, ...TINY]).status, 0);
  rmSync(copy);
  const unknown = evalJson([orphan, "--offline", "--data", file, "--latency-decisions", "1", "--out", path.join(base, "offline-unknown")]);
  assert.equal(unknown.status, 0, unknown.stderr);
  assert.equal(unknown.result.offline!.episodes, 40);
  assert.match(unknown.result.offline!.source, /all episodes, of another dataset than the run's; whether any is one the run trained on is unknown \(the run's dataset .*cartpole-copy\.arrow is missing\)/);
  const online = runCli(["eval", orphan, "--episodes", "1", "--target-return", "100", "--latency-decisions", "1", "--out", path.join(base, "orphan-online")]);
  assert.equal(online.status, 0, online.stderr);
  assert.match(online.stderr, /the run's dataset .*cartpole-copy\.arrow is not there: no offline action quality or data support is measured; pass --data <where it is now>/);
  // The run's own data unreadable (not gone): the same doubt, with the reason.
  writeFileSync(copy, "not a dataset");
  const unreadable = evalJson([orphan, "--offline", "--data", file, "--latency-decisions", "1", "--out", path.join(base, "offline-unreadable")]);
  assert.equal(unreadable.status, 0, unreadable.stderr);
  assert.match(unreadable.result.offline!.source, /whether any is one the run trained on is unknown \(the run's dataset .*cartpole-copy\.arrow could not be read: /);
  rmSync(copy);
  // Data made only of training episodes leaves nothing to measure offline: said, not silently skipped.
  const trainOnly = path.join(base, "train-only.arrow");
  await writeStepsArrow(trainOnly, dataset.episodes.filter((_, i) => !val.includes(i)).slice(0, 5), dataset.actionSpace);
  const nothing = runCli(["eval", snnRun, "--data", trainOnly, "--episodes", "1", "--target-return", "100", "--latency-decisions", "1", "--out", path.join(base, "train-only-eval")]);
  assert.equal(nothing.status, 0, nothing.stderr);
  assert.match(nothing.stderr, /no offline action quality is measured: no episode to measure on \(.*train-only\.arrow: the 0 episodes not among the run's training episodes \(5 episodes that are were left out\)\)/);
  // The run recorded its dataset's return range, so the default target survives the data's move.
  const recorded = evalJson([orphan, "--episodes", "1", "--latency-decisions", "1", "--out", path.join(base, "orphan-default-target")]);
  assert.equal(recorded.status, 0, recorded.stderr);
  assert.deepEqual(recorded.result.settings.targets, [Math.max(...episodeReturns(dataset.episodes))]);
  assert.equal(recorded.result.settings.targetSource, "the best episode return in the run's dataset, as recorded when it trained");
  // A run from before that record cannot tell.
  const older = path.join(base, "orphan-older");
  cpSync(orphan, older, { recursive: true });
  const bestDir = path.join(older, "checkpoints", "best");
  const { datasetReturns, ...olderState } = JSON.parse(readFileSync(path.join(bestDir, "state.json"), "utf8")) as Record<string, unknown>;
  assert.ok(datasetReturns, "a new run records its dataset's returns");
  const olderBytes = JSON.stringify(olderState, null, 2) + "\n";
  writeFileSync(path.join(bestDir, "state.json"), olderBytes);
  const checksums = JSON.parse(readFileSync(path.join(bestDir, "checksums.json"), "utf8")) as Record<string, string>;
  checksums["state.json"] = createHash("sha256").update(olderBytes).digest("hex");
  writeFileSync(path.join(bestDir, "checksums.json"), JSON.stringify(checksums));
  const noTarget = runCli(["eval", bestDir, "--episodes", "1", "--out", path.join(base, "orphan-older-eval")]);
  assert.equal(noTarget.status, 1, noTarget.stderr);
  assert.match(noTarget.stderr, /is not available to find its best return, and the run was trained before snndt recorded its dataset's returns \(state\.json datasetReturns\); pass --data <where it is now>, or --target-return/);
});

test("a best/ that its running training is replacing is read again, not called corrupt", async () => {
  await selectBackend("wasm");
  const live = path.join(base, "swapping");
  cpSync(snnRun, live, { recursive: true });
  const best = path.join(live, "checkpoints", "best");
  const model = path.join(best, "model.safetensors");
  const good = readFileSync(model);
  // Mid-swap: the model file of another version than checksums.json.
  writeFileSync(model, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 1])]));
  await assert.rejects(loadPolicy(live), /model\.safetensors is corrupt/, "a run that is not training: the damage is reported");
  const release = await lockRunDirectory(live);
  try {
    const loading = loadPolicy(live);
    setTimeout(() => writeFileSync(model, good), 50); // the swap completes
    const policy = await loading;
    assert.equal(policy.checkpoint, best);
    policy.model.dispose();
  } finally {
    release();
  }
});

test("a run still training is said so: evaluated with a warning, or refused while it has no checkpoint", async () => {
  const live = path.join(base, "live");
  cpSync(snnRun, live, { recursive: true });
  const release = await lockRunDirectory(live); // this process stands for the training
  try {
    const res = runCli(["eval", live, "--episodes", "1", "--latency-decisions", "5", "--out", path.join(base, "live-eval")]);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stderr, new RegExp(`WARN: .*live is still training \\(snndt train, pid ${process.pid}\\): this evaluates its best checkpoint so far \\(.*best, step \\d+ of \\d+\\); evaluate again when training ends`));
    // A step checkpoint of it, before it has a summary: still training, not stopped.
    rmSync(path.join(live, "summary.json"));
    const step = runCli(["eval", path.join(live, "checkpoints", "step-20"), "--episodes", "1", "--latency-decisions", "1", "--out", path.join(base, "live-step-eval")]);
    assert.equal(step.status, 0, step.stderr);
    assert.match(step.stderr, new RegExp(`WARN: .*live is still training \\(snndt train, pid ${process.pid}\\): this evaluates a checkpoint of a training not yet finished \\(.*step-20, step 20 of 20\\)`));
    assert.doesNotMatch(step.stderr, /stopped before it finished/);
  } finally {
    release();
  }
  const fresh = path.join(base, "fresh-run");
  const releaseFresh = await lockRunDirectory(fresh);
  try {
    const res = runCli(["eval", fresh]);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`fresh-run is still training \\(snndt train, pid ${process.pid}\\) and has no complete checkpoint yet`));
  } finally {
    releaseFresh();
  }
  // A lock taken on another host (a shared filesystem): whether that training still runs cannot be told from here, so it is said as such.
  const remote = path.join(base, "remote-run");
  cpSync(snnRun, remote, { recursive: true });
  writeFileSync(path.join(remote, RUN_LOCK_FILE), JSON.stringify({ pid: 4242, host: "gpu-node-7", token: "0123456789abcdef" }));
  const res = runCli(["eval", remote, "--episodes", "1", "--latency-decisions", "5", "--out", path.join(base, "remote-eval")]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: .*remote-run may still be training \(its lock is held by snndt train, pid 4242 on host gpu-node-7; if nothing runs there, delete .*remote-run\/\.snndt-train\.lock\): this evaluates its best checkpoint so far/);
});
