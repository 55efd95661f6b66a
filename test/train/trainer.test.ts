import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { runCli } from "../helpers/cli.js";
import { TINY_TRAIN_FLAGS as TINY } from "../helpers/tiny-model.js";
import { FIXTURES, REPO_ROOT, SNNDT_BIN } from "../helpers/paths.js";
import { readMetrics } from "../../src/train/metrics.js";
import { stepCheckpoints } from "../../src/train/checkpoint.js";
import { RUN_LOCK_FILE } from "../../src/runtime/run-lock.js";
import { checkEvalEnvironment } from "../../src/eval/policy.js";


function tmp(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `snndt-train-${label}-`));
}

function lossCurve(runDir: string): [number, number | null, number | null][] {
  return readMetrics(runDir).map((row) => [row["step"]!, row["train_loss"]!, row["val_loss"] ?? null]);
}

test("a short run on the shipped CartPole data lowers the validation loss and writes every output", () => {
  const out = path.join(tmp("short"), "run");
  const res = runCli(["--json", "train", "--out", out, ...TINY, "--set", "train.steps=60", "--set", "train.eval_every=20", "--set", "train.log_every=10", "--set", "train.checkpoint_every=20", "--set", "train.keep_last=2"]);
  assert.equal(res.status, 0, res.stderr);
  const result = JSON.parse(res.stdout) as { step: number; bestValLoss: number; interrupted: boolean };
  assert.equal(result.step, 60);
  assert.equal(result.interrupted, false);
  const vals = readMetrics(out).filter((r) => r["val_loss"] !== null).map((r) => r["val_loss"]!);
  assert.equal(vals.length, 3);
  assert.ok(vals[2]! < vals[0]!, `validation loss should fall: ${vals.join(" -> ")}`);
  for (const file of ["config.resolved.yaml", "metrics.jsonl", "metrics.csv", "summary.json"]) assert.ok(existsSync(path.join(out, file)), file);
  // --json prints the run's summary.json, as eval prints its eval.json.
  assert.equal(res.stdout, readFileSync(path.join(out, "summary.json"), "utf8"));
  assert.ok(existsSync(path.join(out, "checkpoints", "best", "model.safetensors")));
  // --keep-last 2: step-20 was pruned, step-40 and step-60 kept
  assert.deepEqual(
    readFileSync(path.join(out, "metrics.csv"), "utf8").split("\n")[0]!.split(","),
    ["step", "epoch", "train_loss", "val_loss", "val_accuracy", "lr", "grad_norm", "steps_per_s", "tokens_per_s", "spike_rate.block0"],
  );
  const state = JSON.parse(readFileSync(path.join(out, "checkpoints", "step-60", "state.json"), "utf8")) as {
    normalisation: { stateMean: number[]; rtgScale: number; context: number; maxEpLen: number };
  };
  assert.equal(state.normalisation.stateMean.length, 4);
  assert.equal(state.normalisation.rtgScale, 500);
  assert.equal(state.normalisation.context, 5);
  assert.equal(state.normalisation.maxEpLen, 500);
  assert.ok(!existsSync(path.join(out, "checkpoints", "step-20")));
  assert.ok(existsSync(path.join(out, "checkpoints", "step-40")));
});

test("two runs with the same seed give the same loss curve; another seed gives another", () => {
  const base = tmp("seed");
  const args = [...TINY, "--set", "train.steps=10", "--set", "train.log_every=5", "--set", "train.eval_every=5"];
  for (const [name, seed] of [["a", "3"], ["b", "3"], ["c", "4"]] as const) {
    const res = runCli(["-q", "train", "--out", path.join(base, name), "--seed", seed, ...args]);
    assert.equal(res.status, 0, res.stderr);
  }
  assert.deepEqual(lossCurve(path.join(base, "a")), lossCurve(path.join(base, "b")));
  assert.notDeepEqual(lossCurve(path.join(base, "a")), lossCurve(path.join(base, "c")));
});

test("grad_accum micro-batches train as one batch of their total size, padded windows included, plasticity too", () => {
  // Without dropout the only difference is how the batch is split. A 20-step context left-pads
  // the windows near an episode's start, so micro-batches can hold unequal numbers of real steps
  // (at seed 5, steps 3 and 4: 160 and 154, 160 and 127), where a plain mean of their mean losses
  // would weigh steps unequally: it fails at step 3. With plasticity, the local rule must see both
  // micro-batches; seeing only the last one changes the head and so the loss from step 2 on.
  const base = tmp("accum");
  const common = [...TINY, "--set", "model.context=20", "--set", "model.dropout=0", "--set", "train.steps=4", "--set", "train.log_every=1", "--set", "train.eval_every=2"];
  const whole = ["--set", "train.batch_size=16"];
  const split = ["--set", "train.batch_size=8", "--set", "train.grad_accum=2"];
  // A local rate large enough that the head's plasticity moves the loss well past float noise.
  const plastic = ["--set", "model.plasticity.enabled=true", "--set", "model.plasticity.eta_local=0.05"];
  for (const [name, sets] of Object.entries({ whole, split, wholePlastic: [...whole, ...plastic], splitPlastic: [...split, ...plastic] })) {
    const res = runCli(["-q", "train", "--out", path.join(base, name), "--seed", "5", ...common, ...sets]);
    assert.equal(res.status, 0, res.stderr);
  }
  for (const [wholeRun, splitRun] of [["whole", "split"], ["wholePlastic", "splitPlastic"]] as const) {
    const wholeCurve = lossCurve(path.join(base, wholeRun));
    const splitCurve = lossCurve(path.join(base, splitRun));
    assert.equal(splitCurve.length, wholeCurve.length);
    // Each step's loss follows every earlier update. Four steps: later, AdamW's normalisation turns
    // float noise in near-zero gradient components into full-size updates, and any two summation
    // orders drift apart. (Validation batches have train.batch_size windows, so the two runs
    // validate on different batches: not compared.)
    splitCurve.forEach(([step, train], i) => {
      const wantTrain = wholeCurve[i]![1]!;
      assert.ok(Math.abs(train! - wantTrain) < 1e-5 * Math.abs(wantTrain), `${splitRun} step ${step}: train loss ${train} vs ${wantTrain}`);
    });
  }
  // The plasticity runs must differ from the plain ones, or the comparison above says nothing about it.
  const lastLoss = (run: string) => lossCurve(path.join(base, run)).at(-1)![1]!;
  assert.ok(Math.abs(lastLoss("wholePlastic") - lastLoss("whole")) > 1e-3 * Math.abs(lastLoss("whole")), "plasticity did not move the loss");
});

/**
 * Copy a finished run as if it had died right after checkpoint `keep`: later step checkpoints and
 * the summary removed. Resuming it must reproduce the rest of the loss curve and the final weights.
 */
async function assertResumeReproduces(full: string, keep: number, last: number): Promise<void> {
  const partial = `${full}-partial`;
  cpSync(full, partial, { recursive: true });
  for (const { step, dir } of await stepCheckpoints(partial)) if (step > keep) rmSync(dir, { recursive: true });
  rmSync(path.join(partial, "summary.json"));
  const res = runCli(["-q", "train", "--resume", partial]);
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(lossCurve(partial), lossCurve(full));
  const weights = (dir: string) => readFileSync(path.join(dir, "checkpoints", `step-${last}`, "model.safetensors"));
  assert.ok(weights(partial).equals(weights(full)), "final weights differ after resume");
}

test("resuming from a checkpoint reproduces the uninterrupted run's remaining loss curve exactly", async () => {
  const full = path.join(tmp("resume"), "full");
  const args = [...TINY, "--set", "train.steps=30", "--set", "train.log_every=4", "--set", "train.eval_every=8", "--set", "train.checkpoint_every=10"];
  assert.equal(runCli(["-q", "train", "--out", full, ...args]).status, 0);
  await assertResumeReproduces(full, 10, 30);

  // Finished: --resume is refused and the summary is left as it was.
  const summaryOf = (run: string) => readFileSync(path.join(run, "summary.json"), "utf8");
  const finished = summaryOf(full);
  const again = runCli(["-q", "train", "--resume", full]);
  assert.equal(again.status, 1, again.stderr);
  assert.match(again.stderr, /finished: its last checkpoint is at step 30 of 30 \(train\.steps\) and it has summary\.json; nothing to resume/);
  assert.equal(summaryOf(full), finished);
  // Killed after its last checkpoint, before the summary: --resume writes the summary it would have written.
  const lastStep = `${full}-no-summary`;
  cpSync(full, lastStep, { recursive: true });
  rmSync(path.join(lastStep, "summary.json"));
  assert.equal(runCli(["-q", "train", "--resume", lastStep]).status, 0);
  const stable = (run: string) => {
    const { finalTrainLoss, bestValLoss, bestValStep, step } = JSON.parse(summaryOf(run)) as Record<string, unknown>;
    return { finalTrainLoss, bestValLoss, bestValStep, step };
  };
  assert.deepEqual(stable(lastStep), stable(full));
  assert.equal(typeof stable(full).finalTrainLoss, "number");
  // An edited config.resolved.yaml: the error names the file and the key that differs.
  const edited = `${full}-edited`;
  cpSync(full, edited, { recursive: true });
  for (const { step, dir } of await stepCheckpoints(edited)) if (step > 10) rmSync(dir, { recursive: true });
  rmSync(path.join(edited, "summary.json"));
  const resolved = path.join(edited, "config.resolved.yaml");
  const yaml = readFileSync(resolved, "utf8");
  assert.match(yaml, /^  steps: 30$/m);
  writeFileSync(resolved, yaml.replace(/^  steps: 30$/m, "  steps: 40"));
  const refused = runCli(["-q", "train", "--resume", edited]);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /step-10 was trained with another configuration than .*-edited\/config\.resolved\.yaml now holds: train\.steps 30 in the checkpoint, 40 in the file\./);
});

test("a run whose data moved resumes with --data naming where it is now, and only with the same episodes", async () => {
  const base = tmp("moved");
  const original = path.join(base, "before", "cartpole.arrow");
  mkdirSync(path.dirname(original));
  cpSync(path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"), original);
  const full = path.join(base, "full");
  const args = [...TINY, "--data", original, "--set", "train.steps=20", "--set", "train.log_every=4", "--set", "train.eval_every=10", "--set", "train.checkpoint_every=10"];
  assert.equal(runCli(["-q", "train", "--out", full, ...args]).status, 0);
  const partial = `${full}-partial`;
  cpSync(full, partial, { recursive: true });
  for (const { step, dir } of await stepCheckpoints(partial)) if (step > 10) rmSync(dir, { recursive: true });
  rmSync(path.join(partial, "summary.json"));
  const moved = path.join(base, "after", "cartpole.arrow");
  mkdirSync(path.dirname(moved));
  renameSync(original, moved);
  // A --data that is not there either is named as the user's own path.
  const nowhere = runCli(["-q", "train", "--resume", partial, "--data", path.join(base, "nowhere.arrow")]);
  assert.equal(nowhere.status, 1, nowhere.stderr);
  assert.match(nowhere.stderr, /--data .*nowhere\.arrow: no such file or directory/);
  // Without --data, the error says how to give the new place.
  const lost = runCli(["-q", "train", "--resume", partial]);
  assert.equal(lost.status, 1, lost.stderr);
  assert.match(lost.stderr, /before\/cartpole\.arrow, the data .*full-partial was trained on, is not there; if it moved, resume with --resume .*full-partial --data <where it is now>/);
  // Other CartPole data is refused by its episodes, whatever its path.
  // (Named relative to the working directory, as a new run's --data may be.)
  const wrong = runCli(["-q", "train", "--resume", partial, "--data", "cartpole-steps-lz4.feather"], { cwd: path.join(FIXTURES, "samples") });
  assert.equal(wrong.status, 1, wrong.stderr);
  assert.match(wrong.stderr, /step-10 was trained on another dataset \(hash [0-9a-f]{12}, .*cartpole-steps-lz4\.feather has [0-9a-f]{12}\)/);
  // The same episodes prepared with another declared action space would rescale the trained head: refused.
  const declared = path.join(base, "declared");
  assert.equal(runCli(["-q", "prepare-dataset", moved, "--out", declared, "--action-n", "3"]).status, 0);
  const rescaled = runCli(["-q", "train", "--resume", partial, "--data", declared]);
  assert.equal(rescaled.status, 1, rescaled.stderr);
  assert.match(rescaled.stderr, /step-10 was trained with the action space discrete, n = 2, but .*declared has discrete, n = 3 \(prepared with another declaration\?\)/);
  const res = runCli(["-q", "train", "--resume", partial, "--data", moved]);
  assert.equal(res.status, 0, res.stderr);
  // A continuous box declared wider for the same episodes: the old code resumed and rescaled the head in silence.
  const pendulum = path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5");
  const [observedBox, widerBox, pendulumRun] = ["observed-box", "wider-box", "pendulum-run"].map((name) => path.join(base, name));
  assert.equal(runCli(["-q", "prepare-dataset", pendulum, "--out", observedBox]).status, 0);
  assert.equal(runCli(["-q", "prepare-dataset", pendulum, "--out", widerBox, "--action-low=-2.5", "--action-high", "2.5"]).status, 0);
  const pendulumArgs = [...TINY, "--config", path.join(REPO_ROOT, "configs", "pendulum.yaml"), "--set", "model.kind=dt", "--set", "train.steps=4", "--set", "train.checkpoint_every=2"];
  assert.equal(runCli(["-q", "train", "--out", pendulumRun, "--data", observedBox, ...pendulumArgs]).status, 0);
  for (const { step, dir } of await stepCheckpoints(pendulumRun)) if (step > 2) rmSync(dir, { recursive: true });
  rmSync(path.join(pendulumRun, "summary.json"));
  const wider = runCli(["-q", "train", "--resume", pendulumRun, "--data", widerBox]);
  assert.equal(wider.status, 1, wider.stderr);
  assert.match(wider.stderr, /step-2 was trained with the action space continuous, low \[-2\], high \[2\], but .*wider-box has continuous, low \[-2\.5\], high \[2\.5\]/);
  assert.deepEqual(lossCurve(partial), lossCurve(full));
  const weights = (dir: string) => readFileSync(path.join(dir, "checkpoints", "step-20", "model.safetensors"));
  assert.ok(weights(partial).equals(weights(full)), "final weights differ after the move");
  // The run's config names the new place, so a later --resume needs no --data.
  assert.match(readFileSync(path.join(partial, "config.resolved.yaml"), "utf8"), new RegExp(`path: ${moved.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
  // A checkpoint written before the move records the old path; eval finds the data where the run's config says it is now.
  const beforeMove = path.join(partial, "checkpoints", "step-10");
  assert.match(readFileSync(path.join(beforeMove, "state.json"), "utf8"), /before\/cartpole\.arrow/);
  const offline = runCli(["-q", "--json", "eval", beforeMove, "--offline", "--latency-decisions", "1"]);
  assert.equal(offline.status, 0, offline.stderr);
  assert.match((JSON.parse(offline.stdout) as { offline: { source: string } }).offline.source, /after\/cartpole\.arrow: the run's held-out episodes/);
  // A config naming other data than the run's leaves the checkpoint's data missing, not replaced by it.
  const stray = `${full}-stray`;
  cpSync(partial, stray, { recursive: true });
  const strayConfig = path.join(stray, "config.resolved.yaml");
  writeFileSync(strayConfig, readFileSync(strayConfig, "utf8").replace(moved, path.join(FIXTURES, "samples", "cartpole-steps-lz4.feather")));
  const strayEval = runCli(["-q", "eval", path.join(stray, "checkpoints", "step-10"), "--offline", "--latency-decisions", "1"]);
  assert.equal(strayEval.status, 1, strayEval.stderr);
  assert.match(strayEval.stderr, /--offline measures the model on held-out data, but the run's dataset is missing \(.*before\/cartpole\.arrow \(not found\)\)/);
  // A run with no checkpoint records no data to check a new place against: --data is refused.
  const unstarted = `${full}-unstarted`;
  cpSync(full, unstarted, { recursive: true });
  rmSync(path.join(unstarted, "checkpoints"), { recursive: true });
  rmSync(path.join(unstarted, "summary.json"));
  const refused = runCli(["-q", "train", "--resume", unstarted, "--data", moved]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /has no checkpoint yet, so nothing records which data it was trained on and --data cannot move it/);
  // A finished run is said to be finished before its data is looked for (here it has gone).
  rmSync(moved);
  const done = runCli(["-q", "train", "--resume", partial]);
  assert.equal(done.status, 1, done.stderr);
  assert.match(done.stderr, /finished: its last checkpoint is at step 20 of 20 \(train\.steps\) and it has summary\.json; nothing to resume/);
});

test("a run stopped before its first checkpoint starts over on --resume and makes the same run", async () => {
  const full = path.join(tmp("nockpt"), "full");
  const args = [...TINY, "--set", "train.steps=6", "--set", "train.log_every=2", "--set", "train.eval_every=3", "--set", "train.checkpoint_every=3"];
  assert.equal(runCli(["-q", "train", "--out", full, ...args]).status, 0);
  // As if killed before step 3: no step checkpoint, no best/, no summary; only the saved config and some metrics rows.
  const partial = `${full}-partial`;
  cpSync(full, partial, { recursive: true });
  rmSync(path.join(partial, "checkpoints"), { recursive: true });
  rmSync(path.join(partial, "summary.json"));
  const res = runCli(["train", "--resume", partial]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /no checkpoint yet: starting the run over from step 0/);
  assert.deepEqual(lossCurve(partial), lossCurve(full));
  const weights = (dir: string) => readFileSync(path.join(dir, "checkpoints", "step-6", "model.safetensors"));
  assert.ok(weights(partial).equals(weights(full)), "final weights differ");
});

test("a resumed run's summary counts the training time of its earlier segment; checkpoints stay free of it", async () => {
  const base = tmp("walltime");
  const args = [...TINY, "--set", "train.steps=6", "--set", "train.checkpoint_every=3", "--set", "train.eval_every=3"];
  for (const name of ["a", "b"]) assert.equal(runCli(["-q", "train", "--out", path.join(base, name), ...args]).status, 0);
  // The wall time is beside the checkpoint, not in it: identical runs write identical checkpoints.
  for (const file of ["state.json", "checksums.json", "model.safetensors"]) {
    const bytes = (name: string) => readFileSync(path.join(base, name, "checkpoints", "step-3", file));
    assert.ok(bytes("a").equals(bytes("b")), `${file} differs between identical runs`);
  }
  // Say the first segment, up to step 3, took 1000 s.
  const full = path.join(base, "a");
  const elapsed = path.join(full, "checkpoints", "step-3", "elapsed.json");
  const recorded = (JSON.parse(readFileSync(elapsed, "utf8")) as { seconds: number }).seconds;
  assert.ok(recorded > 0 && recorded < 1000, `recorded ${recorded}`);
  writeFileSync(elapsed, JSON.stringify({ seconds: 1000 }));
  rmSync(path.join(full, "checkpoints", "step-6"), { recursive: true });
  rmSync(path.join(full, "summary.json"));
  assert.equal(runCli(["-q", "train", "--resume", full]).status, 0);
  const summary = JSON.parse(readFileSync(path.join(full, "summary.json"), "utf8")) as { wallSeconds: number };
  assert.ok(summary.wallSeconds > 1000 && summary.wallSeconds < 1100, `wallSeconds ${summary.wallSeconds}`);
  // A finished run without step checkpoints is not silently trained again.
  rmSync(path.join(full, "checkpoints"), { recursive: true });
  const again = runCli(["-q", "train", "--resume", full]);
  assert.equal(again.status, 1, again.stderr);
  assert.match(again.stderr, /finished \(it has summary\.json\) and keeps no step checkpoint to resume from/);
});

test("the plasticity trace is checkpointed under its stable name and resumes exactly", async () => {
  const full = path.join(tmp("plasticity"), "full");
  const args = [...TINY, "--set", "model.plasticity.enabled=true", "--set", "train.steps=8", "--set", "train.log_every=2", "--set", "train.eval_every=4", "--set", "train.checkpoint_every=4"];
  assert.equal(runCli(["-q", "train", "--out", full, ...args]).status, 0);
  const state = JSON.parse(readFileSync(path.join(full, "checkpoints", "step-4", "state.json"), "utf8")) as { trainer: { plasticity: Record<string, unknown> } };
  assert.deepEqual(Object.keys(state.trainer.plasticity), ["head.eligibility"]);
  await assertResumeReproduces(full, 4, 8);
});

test("Ctrl-C finishes the step, writes a checkpoint, exits 130, and --resume continues exactly", async () => {
  const base = tmp("sigint");
  const args = [...TINY, "--set", "train.steps=400", "--set", "train.log_every=5", "--set", "train.eval_every=1000", "--set", "train.checkpoint_every=5"];
  const interrupted = path.join(base, "interrupted");
  const child = spawn(process.execPath, [SNNDT_BIN, "-q", "train", "--out", interrupted, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // Interrupt once the first checkpoint exists (training is under way).
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (existsSync(path.join(interrupted, "checkpoints", "step-5", "checksums.json"))) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
  });
  // One training per run directory: a second one is refused while the first runs.
  const second = runCli(["-q", "train", "--resume", interrupted]);
  assert.equal(second.status, 2, second.stderr);
  assert.match(second.stderr, new RegExp(`is being trained by another snndt process \\(pid ${child.pid}\\)`));
  child.kill("SIGINT");
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 130, stderr);
  assert.ok(!existsSync(path.join(interrupted, RUN_LOCK_FILE)), "the lock is released on exit");
  // A lock whose process is gone (as after SIGKILL) is taken over by the next --resume below.
  writeFileSync(path.join(interrupted, RUN_LOCK_FILE), JSON.stringify({ pid: child.pid, host: hostname() }));
  const steps = await stepCheckpoints(interrupted);
  const stoppedAt = steps[0]!.step;
  assert.ok(stoppedAt >= 5 && stoppedAt < 400, `stopped at ${stoppedAt}`);
  assert.ok(!existsSync(path.join(interrupted, "summary.json")));

  // Resume to the end with a shorter horizon would change the schedule; instead compare the
  // resumed run's first rows after the interruption with an uninterrupted run of the same config.
  const resumed = runCli(["-q", "train", "--resume", interrupted, "--set", "train.steps=400"]);
  assert.equal(resumed.status, 2, "--set with --resume must be refused");
  assert.match(resumed.stderr, /--resume continues a run with its own saved config; drop --set/);

  const child2 = spawn(process.execPath, [SNNDT_BIN, "-q", "train", "--resume", interrupted], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr2 = "";
  child2.stderr.on("data", (d: Buffer) => (stderr2 += d.toString()));
  const child2Exit = new Promise<number | null>((resolve) => child2.on("exit", resolve));
  const target = stoppedAt + 10;
  let poll: NodeJS.Timeout | undefined;
  const reached = new Promise<void>((resolve) => {
    poll = setInterval(() => {
      const rows = readMetrics(interrupted);
      if (rows.some((r) => r["step"]! >= target)) resolve();
    }, 20);
  });
  await Promise.race([reached, child2Exit.then((exit) => assert.fail(`the resume exited (${exit}) before step ${target}: ${stderr2}`))]).finally(() => clearInterval(poll));
  child2.kill("SIGINT");
  assert.equal(await child2Exit, 130);

  const reference = path.join(base, "reference");
  const child3 = spawn(process.execPath, [SNNDT_BIN, "-q", "train", "--out", reference, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (existsSync(path.join(reference, "metrics.jsonl")) && readMetrics(reference).some((r) => r["step"]! >= target)) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
  });
  child3.kill("SIGINT");
  await new Promise((resolve) => child3.on("exit", resolve));
  const upTo = (rows: ReturnType<typeof lossCurve>) => rows.filter(([step]) => step <= target);
  assert.deepEqual(upTo(lossCurve(interrupted)), upTo(lossCurve(reference)));
});

test("Ctrl-C stops after the current step even when no checkpoint or validation is due", async () => {
  const out = path.join(tmp("sigint-between"), "run");
  const args = [...TINY, "--set", "train.steps=400", "--set", "train.log_every=1", "--set", "train.eval_every=1000", "--set", "train.checkpoint_every=1000"];
  const child = spawn(process.execPath, [SNNDT_BIN, "-q", "train", "--out", out, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let signalledAt = 0;
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      const rows = existsSync(path.join(out, "metrics.jsonl")) ? readMetrics(out) : [];
      if (rows.length >= 5) {
        clearInterval(poll);
        signalledAt = rows[rows.length - 1]!["step"]!;
        resolve();
      }
    }, 20);
  });
  child.kill("SIGINT");
  assert.equal(await new Promise<number | null>((resolve) => child.on("exit", resolve)), 130);
  // Before the fix the signal waited for the next file write: the checkpoint at step 400.
  const stoppedAt = (await stepCheckpoints(out))[0]!.step;
  assert.ok(stoppedAt >= signalledAt && stoppedAt <= signalledAt + 20, `signalled at step ${signalledAt}, stopped at ${stoppedAt}`);
});

test("config errors name the key, the valid ones and the closest match", () => {
  const misspelt = runCli(["train", "--out", path.join(tmp("cfg"), "x"), "--set", "model.d_modl=64"]);
  assert.equal(misspelt.status, 2);
  assert.match(misspelt.stderr, /model\.d_modl/);
  assert.match(misspelt.stderr, /d_model/);
  const range = runCli(["train", "--out", path.join(tmp("cfg"), "y"), "--set", "data.val_fraction=2"]);
  assert.equal(range.status, 2);
  assert.match(range.stderr, /data\.val_fraction/);
  const type = runCli(["train", "--out", path.join(tmp("cfg"), "z"), "--set", "train.steps=many"]);
  assert.equal(type.status, 2);
  assert.match(type.stderr, /train\.steps/);
  // A run to resume that is missing, or is no run, is a wrong input (exit 1), as eval's is.
  const nowhere = path.join(tmp("cfg"), "nowhere");
  const missing = runCli(["train", "--resume", nowhere]);
  assert.equal(missing.status, 1, missing.stderr);
  assert.match(missing.stderr, /--resume .*nowhere: no such run directory\./);
  const notRun = runCli(["train", "--resume", tmp("cfg")]);
  assert.equal(notRun.status, 1, notRun.stderr);
  assert.match(notRun.stderr, /is not a snndt run directory: config\.resolved\.yaml is missing\./);
});

test("a run directory moved away while it trains stops the run (exit 1) instead of being made again piecemeal at the old path", async () => {
  const parent = tmp("moved");
  const out = path.join(parent, "run");
  const child = spawn(process.execPath, [SNNDT_BIN, "-q", "train", "--out", out, ...TINY, "--set", "train.steps=5000", "--set", "train.checkpoint_every=5", "--set", "train.eval_every=5"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  // Moved once its first checkpoint is in place.
  while (!existsSync(path.join(out, "checkpoints", "step-5"))) await new Promise((wait) => setTimeout(wait, 50));
  renameSync(out, path.join(parent, "moved"));
  const status = await closed;
  assert.equal(status, 1, stderr);
  assert.match(stderr, /snndt: error: .*run was moved or removed while the run trained \(found at step \d+\); nothing more was written\. If it was moved, move it back and continue with --resume .*run\./);
  assert.equal(existsSync(out), false, "nothing is made again at the old path");
  // The run stays whole where it went, to be moved back and resumed.
  for (const entry of ["config.resolved.yaml", "metrics.csv", path.join("checkpoints", "step-5")]) assert.ok(existsSync(path.join(parent, "moved", entry)), entry);
});

test("a dataset whose episodes outgrow model.max_ep_len is refused before training", () => {
  // For a built-in eval.env, as too short for the environment (a config error)...
  const builtIn = runCli(["train", "--out", path.join(tmp("maxep"), "x"), ...TINY, "--set", "model.max_ep_len=100"]);
  assert.equal(builtIn.status, 2, builtIn.stderr);
  assert.match(builtIn.stderr, /eval\.env CartPole-v1 runs episodes of up to 500 steps but model\.max_ep_len is 100; set model\.max_ep_len to at least 500 \(snndt never clips timesteps\)\./);
  assert.doesNotMatch(builtIn.stderr, /Choose the data's environment/);
  // ...and for any other, as too short for the data.
  const external = runCli(["train", "--out", path.join(tmp("maxep-external"), "x"), ...TINY, "--set", "model.max_ep_len=100", "--set", "eval.env=MyCartPole-v0"]);
  assert.equal(external.status, 1, external.stderr);
  assert.match(external.stderr, /episode of 500 steps but model\.max_ep_len is 100/);
});

test("a corrupt checkpoint is refused on resume, and an existing run is not overwritten", () => {
  const out = path.join(tmp("corrupt"), "run");
  assert.equal(runCli(["-q", "train", "--out", out, ...TINY, "--set", "train.steps=5", "--set", "train.checkpoint_every=5"]).status, 0);
  const again = runCli(["-q", "train", "--out", out, ...TINY]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already holds a finished run; evaluate it with snndt eval .*run, or choose another --out to train a new one/);
  // A directory holding the user's own files (notes, the --log-file itself) takes a new run beside them,
  const beside = path.join(tmp("beside"), "run");
  mkdirSync(beside, { recursive: true });
  writeFileSync(path.join(beside, "notes.txt"), "mine");
  const logged = runCli(["-q", "--log-file", path.join(beside, "train.log"), "train", "--out", beside, ...TINY, "--set", "train.steps=2", "--set", "train.checkpoint_every=2"]);
  assert.equal(logged.status, 0, logged.stderr);
  assert.equal(readFileSync(path.join(beside, "notes.txt"), "utf8"), "mine");
  assert.ok(existsSync(path.join(beside, "checkpoints", "step-2")));
  // but not one holding a name a run writes, with no run to --resume.
  const clash = path.join(tmp("clash"), "run");
  mkdirSync(clash, { recursive: true });
  writeFileSync(path.join(clash, "metrics.csv"), "my numbers");
  const clashed = runCli(["-q", "train", "--out", clash, ...TINY]);
  assert.equal(clashed.status, 2, clashed.stderr);
  assert.match(clashed.stderr, /run holds metrics\.csv, which a run writes, but no config\.resolved\.yaml, so it is no run --resume could continue/);
  assert.equal(readFileSync(path.join(clash, "metrics.csv"), "utf8"), "my numbers");
  // Nor a dataset's directory, whose files a run's would mix with.
  const prepared = path.join(tmp("prepared-out"), "data");
  assert.equal(runCli(["-q", "prepare-dataset", path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5"), "--out", prepared]).status, 0);
  const intoData = runCli(["-q", "train", "--out", prepared, ...TINY]);
  assert.equal(intoData.status, 2, intoData.stderr);
  assert.match(intoData.stderr, /--out .*prepared-out-\w+\/data holds a prepared dataset \(manifest\.json\); a run's checkpoints and metrics would be mixed into it/);
  // Nor an evaluation's directory, whose eval.json would pass for the new run's.
  const evaluation = path.join(tmp("eval-out"), "eval");
  mkdirSync(evaluation, { recursive: true });
  writeFileSync(path.join(evaluation, "eval.json"), "{}");
  const intoEval = runCli(["-q", "train", "--out", evaluation, ...TINY]);
  assert.equal(intoEval.status, 2, intoEval.stderr);
  assert.match(intoEval.stderr, /--out .*eval-out-\w+\/eval holds an evaluation \(eval\.json\), which would pass for the new run's; choose another --out\./);
  const file = path.join(tmp("file"), "not-a-dir");
  writeFileSync(file, "x");
  const onFile = runCli(["-q", "train", "--out", file, ...TINY]);
  assert.equal(onFile.status, 2, onFile.stderr);
  assert.match(onFile.stderr, /--out .*not-a-dir is a file; a run needs a directory/);
  const below = runCli(["-q", "train", "--out", path.join(file, "run"), ...TINY]);
  assert.equal(below.status, 2, below.stderr);
  assert.match(below.stderr, /--out .*not-a-dir\/run: .*not-a-dir is a file; a run needs a directory/);
  // As if it had died while writing its summary (a finished run is refused as finished first).
  rmSync(path.join(out, "summary.json"));
  const weights = path.join(out, "checkpoints", "step-5", "model.safetensors");
  const bytes = readFileSync(weights);
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(weights, bytes);
  const res = runCli(["-q", "train", "--resume", out]);
  assert.equal(res.status, 1);
  assert.match(res.stderr, /model\.safetensors is corrupt: its sha256/);
  assert.doesNotMatch(res.stderr, /To resume from/, "no older checkpoint to offer");
  // With an intact older checkpoint, the error says how to resume from it.
  const longer = path.join(tmp("corrupt-newest"), "run");
  assert.equal(runCli(["-q", "train", "--out", longer, ...TINY, "--set", "train.steps=10", "--set", "train.checkpoint_every=5"]).status, 0);
  rmSync(path.join(longer, "summary.json"));
  const newest = path.join(longer, "checkpoints", "step-10", "model.safetensors");
  const damaged = readFileSync(newest);
  damaged[damaged.length - 3] ^= 0xff;
  writeFileSync(newest, damaged);
  const advised = runCli(["-q", "train", "--resume", longer]);
  assert.equal(advised.status, 1, advised.stderr);
  assert.match(advised.stderr, /step-10\/model\.safetensors is corrupt: its sha256 .* To resume from .*step-5 \(step 5\), the newest checkpoint before it, move .*step-10 out of .*checkpoints and run --resume again\./);
});

test("data that eval.env cannot play is refused before training; an eval.env that is not built in is a warning", () => {
  const out = path.join(tmp("misfit"), "run");
  const pendulum = path.join(REPO_ROOT, "datasets", "pendulum-mixed.arrow");
  const res = runCli(["train", "--data", pendulum, "--out", out, ...TINY]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /pendulum-mixed\.arrow does not fit eval\.env CartPole-v1, where snndt eval plays the trained model: observations have 3 dimensions in the data but 4 in CartPole-v1; the data has continuous actions, CartPole-v1 discrete\..*with the data's shapes: Pendulum-v1/);
  assert.ok(!existsSync(path.join(out, "checkpoints")), "nothing trained");
  const external = path.join(tmp("external-eval-env"), "run");
  const warned = runCli(["train", "--out", external, ...TINY, "--set", "train.steps=2", "--set", "eval.env=MyCartPole-v0"]);
  assert.equal(warned.status, 0, warned.stderr);
  assert.match(warned.stderr, /eval\.env "MyCartPole-v0" is not a built-in environment .*: its returns will need eval --env-cmd \(or --env with a built-in one\); eval --offline measures it on held-out data/);
  // A run shorter than its warm-up never reaches its learning rate: said.
  assert.match(warned.stderr, /WARN: train\.warmup_steps \(5\) exceeds train\.steps \(2\): the learning rate never reaches train\.lr/);
  // No terminal here, so no progress bar: each metrics row is logged instead.
  assert.match(warned.stderr, /INFO: training \{"step":2,"of":2,"trainLoss":[\d.]+,"stepsPerSecond":/);
});

test("data of another environment is named as such before its other misfits (max_ep_len)", () => {
  const out = path.join(tmp("misfit-first"), "run");
  const cartpole = path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow");
  // CartPole's 500-step episodes exceed Pendulum's model.max_ep_len (200) too: that is not the news.
  const res = runCli(["train", "--config", path.join(REPO_ROOT, "configs", "pendulum.yaml"), "--data", cartpole, "--out", out, ...TINY]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /cartpole-mixed\.arrow does not fit eval\.env Pendulum-v1/);
});

test("observations flattened from parts are said before training for a built-in environment, which observes one vector", () => {
  const data = {
    obsDim: 4,
    actionSpace: { kind: "discrete", n: 2 } as const,
    manifest: { observation_parts: [0, 1, 2, 3].map((start) => ({ name: ["th", "v", "w", "x"][start]!, start, width: 1 })) },
  };
  const [warning, ...more] = checkEvalEnvironment("CartPole-v1", 500, data, "cp-struct.arrow");
  assert.match(warning ?? "", /cp-struct\.arrow's observations were flattened from parts: th \[0, 1\), v \[1, 2\), w \[2, 3\), x \[3, 4\)\. CartPole-v1 observes one vector in its own order/);
  assert.deepEqual(more, []);
  assert.deepEqual(checkEvalEnvironment("CartPole-v1", 500, { ...data, manifest: {} }, "cp.arrow"), []);
});

test("data whose action box covers only part of eval.env's is said before training, not only at eval", () => {
  const data = { obsDim: 3, actionSpace: { kind: "continuous" as const, dim: 1, low: [-1], high: [1] }, manifest: {} };
  assert.deepEqual(checkEvalEnvironment("Pendulum-v1", 200, data, "gentle.arrow"), [
    "a model trained on gentle.arrow acts within its dataset's action box, which covers only part of Pendulum-v1's (dimension 0: [-1, 1] against [-2, 2]): it can never choose " +
      "the actions beyond. If they matter, declare the environment's box when preparing the data (prepare-dataset --action-low/--action-high) and train on the data so prepared.",
  ]);
  assert.deepEqual(checkEvalEnvironment("Pendulum-v1", 200, { ...data, actionSpace: { ...data.actionSpace, low: [-2], high: [2] } }, "full.arrow"), []);
});

test("discrete data with fewer actions than eval.env's is refused with the way to declare the environment's count", () => {
  // MountainCar data that never pushes right (action 2): counted as 2 actions.
  const data = { obsDim: 2, actionSpace: { kind: "discrete", n: 2 } as const, manifest: {} };
  assert.throws(
    () => checkEvalEnvironment("MountainCar-v0", 200, data, "mc.arrow"),
    /the data has 2 actions, MountainCar-v0 3\. If the data is of MountainCar-v0 and never takes its highest actions, declare them: prepare it with snndt prepare-dataset --action-n 3\. Choose/,
  );
  // More actions than the environment's, or other observations: no such hint.
  assert.throws(() => checkEvalEnvironment("CartPole-v1", 500, { ...data, obsDim: 4, actionSpace: { kind: "discrete", n: 3 } }, "cp.arrow"), (err: Error) => !err.message.includes("--action-n"));
  assert.throws(() => checkEvalEnvironment("MountainCar-v0", 200, { ...data, obsDim: 3 }, "mc.arrow"), (err: Error) => !err.message.includes("--action-n"));
});

test("training on a raw file logs what reading it dropped, as prepare-dataset does", () => {
  // The D4RL sample's last 100 steps carry no terminal or timeout flag: an unfinished episode.
  const out = path.join(tmp("raw-warnings"), "run");
  const res = runCli(["train", "--config", "configs/pendulum.yaml", "--data", path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5"), "--out", out, ...TINY, "--set", "train.steps=1"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: .*pendulum-d4rl\.hdf5: .*dropped the last 100 steps/);
  assert.doesNotMatch(res.stderr, /training on \d+ of/, "the config's split trains on most episodes");
});

test("a data.rtg_scale orders of magnitude from the data's returns is warned about, with a scale near them", () => {
  const out = path.join(tmp("rtg-scale"), "run");
  const res = runCli(["train", "--out", out, ...TINY, "--set", "train.steps=1", "--set", "data.rtg_scale=1"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: \S*cartpole-mixed\.arrow's episode returns reach 500 in size, 500 times data\.rtg_scale \(1\): returns-to-go would enter the model far above the order of 1; set data\.rtg_scale near the largest return \(--set data\.rtg_scale=500\)\./);
  const fitting = runCli(["train", "--out", path.join(tmp("rtg-scale-fits"), "run"), ...TINY, "--set", "train.steps=1"]);
  assert.equal(fitting.status, 0, fitting.stderr);
  assert.doesNotMatch(fitting.stderr, /rtg_scale/);
});

test("a validation split that rounds up to more episodes than training gets is warned about", () => {
  // 11 episodes at the largest fraction, 0.5: 5.5 rounds to 6 held out.
  const out = path.join(tmp("val-most"), "run");
  const res = runCli(["train", "--config", "configs/pendulum.yaml", "--data", path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5"), "--out", out, ...TINY, "--set", "train.steps=1", "--set", "data.val_fraction=0.5"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: training on 5 of 11 episodes: data\.val_fraction 0\.5 holds out 6; lower it \(or 0 to train on all, without validation\) to train on more\./);
  assert.doesNotMatch(res.stderr, /validation holds/);
});

test("a validation split of one or two episodes is warned about: best/ and the held-out scores rest on it", () => {
  // 11 episodes at the default fraction, 0.1: one held out.
  const out = path.join(tmp("val-one"), "run");
  const res = runCli(["train", "--config", "configs/pendulum.yaml", "--data", path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5"), "--out", out, ...TINY, "--set", "train.steps=1"]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /WARN: validation holds 1 of 11 episodes \(data\.val_fraction 0\.1\): the best\/ checkpoint and eval's held-out scores rest on it alone\. Raise data\.val_fraction for a steadier choice, or set it to 0/);
});

test("silent spiking blocks are warned about once each; a working model is not", () => {
  const silent = runCli(["train", "--out", path.join(tmp("silent"), "run"), ...TINY, "--set", "train.steps=4", "--set", "train.eval_every=2", "--set", "model.lif.v_th=1e6"]);
  assert.equal(silent.status, 0, silent.stderr);
  assert.equal((silent.stderr.match(/WARN: block0's neurons are almost silent \(/g) ?? []).length, 1, silent.stderr);
  const working = runCli(["train", "--out", path.join(tmp("firing"), "run"), ...TINY, "--set", "train.steps=2"]);
  assert.equal(working.status, 0, working.stderr);
  assert.doesNotMatch(working.stderr, /neurons are/);
});

test("a model whose weights and optimizer state cannot fit the WASM heap is refused before anything is allocated or written", () => {
  const out = path.join(tmp("too-big"), "run");
  const res = runCli(["train", "--out", out, "--backend", "wasm", "--set", "model.d_model=2048", "--set", "model.n_layers=8", "--set", "model.n_heads=8"]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /the model has 403M weights or more \(model\.n_layers 8, model\.d_model 2048\); training them needs about 6\.\d GB, beyond the 4\.0 GB heap of the WASM backend/);
  assert.equal(existsSync(out), false);
});

test("without --out a run is named after its --data (else its config), its model and seed", () => {
  const cwd = tmp("default-name");
  const data = path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow");
  const res = runCli(["-q", "train", "--data", data, "--seed", "3", ...TINY, "--set", "train.steps=2", "--set", "model.kind=dt"], { cwd });
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(
    readdirSync(path.join(cwd, "runs")).map((name) => name.replace(/-\d{8}-\d{6}$/, "-<time>")),
    ["cartpole-mixed-dt-seed3-<time>"],
  );
});

test("--backend tensorflow without tfjs-node is a clear error, not a silent fallback", { skip: existsSync(path.join(REPO_ROOT, "node_modules", "@tensorflow", "tfjs-node")) }, () => {
  const res = runCli(["train", "--out", path.join(tmp("backend"), "x"), "--backend", "tensorflow"]);
  assert.equal(res.status, 1);
  assert.match(res.stderr, /"tensorflow" was requested but is not available/);
});

test("a NaN loss stops training with the step and the batch's episode ids, keeping the last good checkpoint", async () => {
  const { writeStepsArrow } = await import("../../src/data/arrow-writer.js");
  const { Rng } = await import("../../src/runtime/rng.js");
  const { loadCheckpoint, latestCheckpoint } = await import("../../src/train/checkpoint.js");
  const rng = new Rng(9);
  const episode = (length: number, reward: number) => {
    const rewards = new Float32Array(length).fill(reward);
    const returnsToGo = Float32Array.from({ length }, (_, t) => reward * (length - t));
    return {
      length,
      observations: Float32Array.from({ length: length * 4 }, () => rng.normal()),
      actions: Float32Array.from({ length }, () => rng.int(2)),
      rewards,
      returnsToGo,
      terminated: true,
      truncated: false,
    };
  };
  // 30 ordinary episodes and four short ones (30..33) with finite rewards whose returns-to-go
  // overflow float32, so the model's arithmetic turns them into NaN; validation holds out only 3
  // episodes, so at least one poisoned episode is trained on.
  const episodes = Array.from({ length: 30 }, () => episode(20, 1));
  for (let i = 0; i < 4; i++) episodes.push(episode(4, 3e38));
  const dir = tmp("nan");
  const data = path.join(dir, "poisoned.arrow");
  await writeStepsArrow(data, episodes, { kind: "discrete", n: 2 });
  const out = path.join(dir, "run");
  const res = runCli(["train", "--data", data, "--out", out, ...TINY, "--set", "train.steps=200", "--set", "train.checkpoint_every=1", "--set", "train.eval_every=1000", "--set", "data.rtg_scale=1"]);
  assert.equal(res.status, 1, res.stderr);
  const match = /the training loss became (NaN|Infinity) at step (\d+) .*episodes ([\d, ]+)\. Training stopped; the last good checkpoint is (.+?)\. Try/s.exec(res.stderr);
  assert.ok(match, res.stderr);
  assert.ok(match[3]!.split(", ").some((id) => Number(id) >= 30), `a poisoned episode (30..33) must be named: ${match[3]}`);
  const step = Number(match[2]);
  if (step > 1) {
    const latest = await latestCheckpoint(out);
    assert.equal(latest, path.join(out, "checkpoints", `step-${step - 1}`));
    assert.equal((await loadCheckpoint(latest!)).state.step, step - 1);
  }
});
