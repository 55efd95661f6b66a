import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { TINY_TRAIN_FLAGS as TINY } from "../helpers/tiny-model.js";
import { FIXTURES, REPO_ROOT } from "../helpers/paths.js";
import { readMetrics } from "../../src/train/metrics.js";
import { loadCheckpointWeights } from "../../src/train/checkpoint.js";

const STEPS = (n: number, every = n) => ["--set", `train.steps=${n}`, "--set", `train.eval_every=${every}`, "--set", `train.checkpoint_every=${every}`, "--set", `train.log_every=${every}`];
const FEATHER = path.join(FIXTURES, "samples", "cartpole-steps-lz4.feather");

function tmp(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `snndt-init-${label}-`));
}

function train(args: string[]): void {
  const res = runCli(["-q", "train", ...TINY, ...args]);
  assert.equal(res.status, 0, res.stderr);
}

/** A source run trained for 60 steps, shared by the tests (each copies what it changes). */
const SOURCE = path.join(tmp("source"), "run");
train(["--out", SOURCE, ...STEPS(60, 20)]);
const SOURCE_BEST = path.join(SOURCE, "checkpoints", "best");

async function weightsOf(checkpoint: string): Promise<Map<string, Float32Array>> {
  const { weights } = await loadCheckpointWeights(checkpoint);
  return new Map([...weights].map(([name, { data }]) => [name, data]));
}

function largestDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let largest = 0;
  for (const [name, values] of a) values.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - b.get(name)![i]!))));
  return largest;
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

test("a run started with --init-from begins at the source's weights and state statistics, and records which", async () => {
  const base = tmp("begin");
  // One step at a learning rate of 1e-12 leaves the weights where they started: the source's best/.
  const still = path.join(base, "still");
  train(["--out", still, "--data", FEATHER, "--init-from", SOURCE, ...STEPS(1), "--set", "train.lr=1e-12", "--set", "train.warmup_steps=0"]);
  const source = await weightsOf(SOURCE_BEST);
  assert.ok(largestDifference(source, await weightsOf(path.join(still, "checkpoints", "step-1"))) < 1e-6);
  // A run from its seed starts elsewhere.
  const fresh = path.join(base, "fresh");
  train(["--out", fresh, "--data", FEATHER, ...STEPS(1), "--set", "train.lr=1e-12", "--set", "train.warmup_steps=0"]);
  assert.ok(largestDifference(source, await weightsOf(path.join(fresh, "checkpoints", "step-1"))) > 0.01);

  // The states are normalised as the source's weights learned them, not by the new data's statistics.
  type State = { normalisation: { stateMean: number[]; stateStd: number[] }; initFrom?: Record<string, unknown> };
  const sourceState = readJson<State>(path.join(SOURCE_BEST, "state.json"));
  const stillState = readJson<State>(path.join(still, "checkpoints", "step-1", "state.json"));
  const freshState = readJson<State>(path.join(fresh, "checkpoints", "step-1", "state.json"));
  assert.deepEqual(stillState.normalisation.stateMean, sourceState.normalisation.stateMean);
  assert.deepEqual(stillState.normalisation.stateStd, sourceState.normalisation.stateStd);
  assert.notDeepEqual(freshState.normalisation.stateMean, sourceState.normalisation.stateMean);

  // Which weights: the checkpoint, its step and config hash, and the sha256 its checksums.json records.
  const expected = {
    checkpoint: SOURCE_BEST,
    step: readJson<{ step: number }>(path.join(SOURCE_BEST, "state.json")).step,
    configHash: readJson<{ configHash: string }>(path.join(SOURCE_BEST, "state.json")).configHash,
    modelSha256: readJson<Record<string, string>>(path.join(SOURCE_BEST, "checksums.json"))["model.safetensors"],
  };
  assert.deepEqual(stillState.initFrom, expected);
  assert.deepEqual(readJson<{ initFrom: unknown }>(path.join(still, "summary.json")).initFrom, expected);
  assert.equal(freshState.initFrom, undefined);
  // Eval says where the weights started, in its summary and its eval.json.
  const evaluated = runCli(["-q", "eval", still, "--episodes", "1", "--out", path.join(base, "eval")]);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.match(evaluated.stdout.split("\n")[0]!, /\(lowest validation loss: step 1 of 1; started from .*source-\w+\/run\/checkpoints\/best at step \d+\)$/);
  assert.deepEqual(readJson<{ initFrom: unknown }>(path.join(base, "eval", "eval.json")).initFrom, expected);
  assert.equal(readJson<{ initFrom?: unknown }>(path.join(fresh, "summary.json")).initFrom, undefined);
});

test("fine-tuning from a trained run starts at its low loss on other data; a run from the seed starts high", () => {
  const base = tmp("tune");
  const firstValLoss = (run: string) => readMetrics(run).find((row) => row["val_loss"] !== null)!["val_loss"]!;
  train(["--out", path.join(base, "tuned"), "--data", FEATHER, "--init-from", SOURCE, ...STEPS(1)]);
  train(["--out", path.join(base, "fresh"), "--data", FEATHER, ...STEPS(1)]);
  const [tuned, fresh] = [firstValLoss(path.join(base, "tuned")), firstValLoss(path.join(base, "fresh"))];
  assert.ok(tuned < fresh - 0.1, `validation loss after one step: ${tuned} from the source, ${fresh} from the seed`);
});

test("weights that do not fit the run are refused before anything is written, naming what differs", () => {
  const base = tmp("refuse");
  const out = path.join(base, "run");
  const refused = (args: string[], status = 1): string => {
    const res = runCli(["-q", "train", ...TINY, ...STEPS(5), "--out", out, ...args]);
    assert.equal(res.status, status, res.stderr);
    assert.ok(!existsSync(out), `${out} was written`);
    return res.stderr;
  };
  assert.match(
    refused(["--init-from", SOURCE, "--set", "model.d_model=32"]),
    /^snndt: error: --init-from .*best: its model differs from this run's in model\.d_model \(16 there, 32 here\), so its weights do not fit; drop those settings .* saved from a model of another shape: /,
  );
  assert.match(refused(["--init-from", SOURCE, "--set", "model.kind=dt"]), /model\.kind \("snn-dt" there, "dt" here\)/);
  assert.match(
    refused(["--init-from", SOURCE, "--config", path.join(REPO_ROOT, "configs", "pendulum.yaml")]),
    /--init-from .*best: its model reads observations of 4 numbers, but .*pendulum-mixed\.arrow has 3; it was trained on .*datasets\/cartpole-mixed\.arrow: give --data of that shape\./,
  );
  assert.match(refused(["--init-from", path.join(base, "nowhere")]), /--init-from .*nowhere: no such run or checkpoint directory/);
  assert.match(refused(["--resume", SOURCE, "--init-from", SOURCE], 2), /--resume continues a run with its own saved config; drop .*--init-from/);
  // --config given as the default's own path is still given.
  assert.match(refused(["--resume", SOURCE, "--config", path.join(REPO_ROOT, "configs", "cartpole.yaml")], 2), /--resume continues a run with its own saved config; drop .*--config/);
});

test("data of the same observation size but another action space is refused: MountainCar-v0's weights, MountainCarContinuous-v0's data", () => {
  const base = tmp("actions");
  const mountainCar = ["--config", path.join(REPO_ROOT, "configs", "mountaincar.yaml")];
  const source = path.join(base, "discrete");
  train(["--out", source, ...mountainCar, ...STEPS(2)]);
  const continuous = path.join(base, "continuous.arrow");
  const collected = runCli(["-q", "collect", "--env", "MountainCarContinuous-v0", "--policy", "random", "--episodes", "3", "--out", continuous]);
  assert.equal(collected.status, 0, collected.stderr);
  const out = path.join(base, "run");
  const res = runCli(["-q", "train", ...TINY, ...STEPS(2), ...mountainCar, "--data", continuous, "--set", "eval.env=MountainCarContinuous-v0", "--set", "model.max_ep_len=999", "--init-from", source, "--out", out]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /--init-from .*discrete\/checkpoints\/best: its model chooses 3 discrete actions, but .*continuous\.arrow has continuous actions of 1 numbers; it was trained on .*mountaincar-mixed\.arrow: give --data of that shape/);
  assert.ok(!existsSync(out));
});

test("settings the weights meet for the first time are warned about, and training goes on", () => {
  const out = path.join(tmp("warn"), "run");
  const res = runCli(["train", ...TINY, ...STEPS(2), "--out", out, "--init-from", SOURCE, "--set", "model.dropout=0", "--set", "data.rtg_scale=250"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: the weights of .*best were trained with other settings: model\.dropout \(0\.1 there, 0 here\)/);
  assert.match(res.stderr, /WARN: .*best read returns-to-go divided by 500, this run divides them by data\.rtg_scale 250/);
  // Same data, same split: nothing else to say.
  assert.doesNotMatch(res.stderr, /validation episodes|reach far beyond/);
});

test("the same data split by another seed is warned about: the source trained on some of the new validation episodes", () => {
  const res = runCli(["train", ...TINY, ...STEPS(1), "--out", path.join(tmp("split"), "run"), "--init-from", SOURCE, "--seed", "1"]);
  assert.equal(res.status, 0, res.stderr);
  const [, seen, of] = /was trained on (\d+) of this run's (\d+) validation episodes/.exec(res.stderr) ?? [];
  assert.ok(seen !== undefined && Number(seen) > 0 && Number(seen) <= Number(of), res.stderr);
  assert.match(res.stderr, /keep the source's split with --seed 0 --val-fraction 0\.1/);
});

test("data reaching far beyond the states the source saw is warned about; narrower data is not", () => {
  const base = tmp("shift");
  // An expert's CartPole episodes keep the pole near upright: a narrow spread of states.
  const expertData = path.join(base, "expert.arrow");
  const collected = runCli(["-q", "collect", "--env", "CartPole-v1", "--policy", "expert", "--episodes", "3", "--out", expertData]);
  assert.equal(collected.status, 0, collected.stderr);
  const expert = path.join(base, "expert");
  train(["--out", expert, "--data", expertData, ...STEPS(1)]);
  const mixed = path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow");
  const wide = runCli(["train", ...TINY, ...STEPS(1), "--out", path.join(base, "wide"), "--data", mixed, "--init-from", expert]);
  assert.equal(wide.status, 0, wide.stderr);
  assert.match(wide.stderr, /WARN: states are normalised by the statistics .*expert\/checkpoints\/best was trained with, and .*cartpole-mixed\.arrow's states reach far beyond them in observation \d \(mean \S+ there, \S+ here; std \S+, \S+\)/);
  const narrow = runCli(["train", ...TINY, ...STEPS(1), "--out", path.join(base, "narrow"), "--data", expertData, "--init-from", SOURCE]);
  assert.equal(narrow.status, 0, narrow.stderr);
  assert.doesNotMatch(narrow.stderr, /reach far beyond/);
});

test("a finished run is trained further by a new run from its weights, as its refusal to resume says", () => {
  const base = tmp("further");
  const finished = path.join(base, "finished");
  cpSync(SOURCE, finished, { recursive: true });
  const res = runCli(["-q", "train", "--resume", finished]);
  assert.equal(res.status, 1);
  const [command] = /snndt train --init-from \S+ --set train\.steps=<n>/.exec(res.stderr) ?? [];
  assert.ok(command, res.stderr);
  const further = path.join(base, "further");
  // As it says, with only the length filled in: the run's config (its tiny model, its data) comes with its weights.
  const args = command.replace("<n>", "20").split(" ").slice(1).concat(["--out", further]);
  const again = runCli(["-q", ...args]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readJson<{ step: number }>(path.join(further, "summary.json")).step, 20);
  assert.equal(readJson<{ initFrom: { checkpoint: string } }>(path.join(further, "summary.json")).initFrom.checkpoint, path.join(finished, "checkpoints", "best"));
  const config = (run: string) => readFileSync(path.join(run, "config.resolved.yaml"), "utf8").replace(/^#.*\n/gm, "");
  assert.equal(config(further), config(finished).replace(/steps: 60\n/, "steps: 20\n"));
  // Unnamed, it is named after the run it starts from.
  const unnamed = runCli(["-q", "train", "--init-from", finished, "--set", "train.steps=1"], { cwd: base });
  assert.equal(unnamed.status, 0, unnamed.stderr);
  assert.match(unnamed.stdout, /trained 1 step into .*\/runs\/from-finished-full-seed0-\d{8}-\d{6}/);
});

test("a checkpoint outside any run brings its own config; a source whose data is gone asks for --data", () => {
  const base = tmp("outside");
  // A best/ copied out of its run (shared as is): its state.json has the config it was trained with.
  const shared = path.join(base, "shared", "best");
  cpSync(SOURCE_BEST, shared, { recursive: true });
  const out = path.join(base, "from-shared");
  const res = runCli(["-q", "train", "--init-from", shared, ...STEPS(1), "--out", out]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(readFileSync(path.join(out, "config.resolved.yaml"), "utf8"), /d_model: 16\n/);

  // A source trained on a file that has since gone: said before anything is read or written.
  const data = path.join(base, "data.feather");
  cpSync(FEATHER, data);
  const source = path.join(base, "source");
  train(["--out", source, "--data", data, ...STEPS(1)]);
  rmSync(data);
  const gone = runCli(["-q", "train", "--init-from", source, ...STEPS(1), "--out", path.join(base, "no-data")]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /the weights --init-from names were trained on .*data\.feather \(the source's data\.path\), which is not at .*data\.feather; give --data <where it is>\./);
  assert.ok(!existsSync(path.join(base, "no-data")));
});

test("a run from another's weights resumes from its checkpoint with the source's statistics and record, init-from.json or not", async () => {
  const base = tmp("resume");
  const args = ["--data", FEATHER, "--init-from", SOURCE, ...STEPS(10, 5)];
  const whole = path.join(base, "whole");
  train(["--out", whole, ...args]);
  // Stopped after its step-5 checkpoint; its init-from.json lost too: the checkpoint has all it needs.
  const stopped = path.join(base, "stopped");
  train(["--out", stopped, ...args]);
  for (const entry of ["checkpoints/step-10", "checkpoints/best", "summary.json", "init-from.json"]) rmSync(path.join(stopped, entry), { recursive: true });
  const resumed = runCli(["-q", "train", "--resume", stopped]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const at10 = (run: string, file: string) => readFileSync(path.join(run, "checkpoints", "step-10", file));
  assert.ok(at10(stopped, "model.safetensors").equals(at10(whole, "model.safetensors")), "the resumed run's weights are the uninterrupted run's");
  assert.ok(at10(stopped, "state.json").equals(at10(whole, "state.json")), "statistics, split and initFrom as the uninterrupted run's");
  assert.deepEqual(readJson<{ initFrom: unknown }>(path.join(stopped, "summary.json")).initFrom, readJson<{ initFrom: unknown }>(path.join(whole, "summary.json")).initFrom);
});

test("a run from another's weights stopped before its first checkpoint starts over from them, unless they changed", async () => {
  const base = tmp("over");
  const source = path.join(base, "source");
  cpSync(SOURCE, source, { recursive: true });
  const whole = path.join(base, "whole");
  const args = ["--init-from", source, ...STEPS(10, 5)];
  train(["--out", whole, ...args]);
  // Killed before its first checkpoint: its config and init-from.json, nothing more.
  const killedBeforeFirstCheckpoint = (run: string) => {
    for (const entry of ["checkpoints", "metrics.jsonl", "metrics.csv", "summary.json"]) rmSync(path.join(run, entry), { recursive: true });
  };
  const stopped = path.join(base, "stopped");
  train(["--out", stopped, ...args]);
  killedBeforeFirstCheckpoint(stopped);
  const resumed = runCli(["-q", "train", "--resume", stopped]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const final = (run: string) => readFileSync(path.join(run, "checkpoints", "step-10", "model.safetensors"));
  assert.ok(final(stopped).equals(final(whole)), "starting over from the same weights makes the same run");

  // The source's best/ replaced (its run trained on): the record's sha256 no longer matches.
  const checkpoints = path.join(source, "checkpoints");
  const modelSha = (dir: string) => readJson<Record<string, string>>(path.join(checkpoints, dir, "checksums.json"))["model.safetensors"];
  const other = ["step-20", "step-40", "step-60"].find((dir) => modelSha(dir) !== modelSha("best"))!;
  rmSync(path.join(checkpoints, "best"), { recursive: true });
  cpSync(path.join(checkpoints, other), path.join(checkpoints, "best"), { recursive: true });
  killedBeforeFirstCheckpoint(stopped);
  const refused = runCli(["-q", "train", "--resume", stopped]);
  assert.equal(refused.status, 1);
  assert.ok(!existsSync(path.join(stopped, "metrics.jsonl")) && !existsSync(path.join(stopped, "checkpoints")), "a refused start-over writes nothing");
  assert.match(refused.stderr, /started from the weights of .*source\/checkpoints\/best \(model sha256 \w{12}\), which now holds others \(\w{12}\); it has no checkpoint of its own/);
});
