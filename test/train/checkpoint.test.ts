import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, mkdirSync, cpSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { InputError, SnndtError } from "../../src/runtime/errors.js";
import { Rng } from "../../src/runtime/rng.js";
import { SNNDT_VERSION } from "../../src/runtime/version.js";
import {
  checkpointDir,
  latestCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  restoreOptimizer,
  restoreVariables,
  saveCheckpoint,
  type CheckpointState,
  type NamedParameters,
} from "../../src/train/checkpoint.js";
import { createModel } from "../../src/model/index.js";
import { tinyConfig } from "../model/tiny.js";
import { configHash, schemaDefaults } from "../../src/train/config.js";
import { AdamW, GradientAccumulator, clipByGlobalNorm } from "../../src/train/optimizer.js";
import { decodeSafetensors } from "../../src/train/safetensors.js";
import { learningRate, type LrSchedule } from "../../src/train/schedule.js";
import { deadPid } from "../helpers/processes.js";

before(async () => {
  await selectBackend("wasm");
});

const OPTIONS = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 };
const SCHEDULE: LrSchedule = { lr: 0.05, warmupSteps: 2, totalSteps: 8, kind: "cosine", minLrRatio: 0.1 };

function runDir(): string {
  return mkdtempSync(path.join(tmpdir(), "snndt-ckpt-"));
}

/** A tiny model: y = tanh(x W1 + b1) W2, named like a real one. Fresh variables from a seed. */
function makeModel(seed: number): tf.Variable[] {
  const rng = Rng.derive(seed, "init");
  const init = (shape: number[]) => tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.5), shape);
  return [
    tf.variable(init([3, 4]), true, "layer1.weight"),
    tf.variable(tf.zeros([4]), true, "layer1.bias"),
    tf.variable(init([4, 2]), true, "head.weight"),
  ];
}

/** Test variables are created under their stable names. */
function named(variables: tf.Variable[]): NamedParameters {
  return { variables, parameterNames: variables.map((v) => v.name) };
}

function disposeAll(variables: tf.Variable[], optimizer?: AdamW, accumulator?: GradientAccumulator): void {
  tf.dispose(variables);
  optimizer?.dispose();
  accumulator?.dispose();
}

// A fixed dataset of 32 rows; each step samples rows with the "sampler" stream, two micro-batches accumulated.
const DATA_RNG = new Rng(7);
const XS = Array.from({ length: 32 }, () => [DATA_RNG.normal(), DATA_RNG.normal(), DATA_RNG.normal()]);
const YS = XS.map(([a, b, c]) => [Math.sin(a!) + 0.5 * b!, c! * a!]);

function trainSteps(variables: tf.Variable[], optimizer: AdamW, accumulator: GradientAccumulator, sampler: Rng, steps: number): number[] {
  const [w1, b1, w2] = variables as [tf.Variable, tf.Variable, tf.Variable];
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    let lossSum = 0;
    for (let micro = 0; micro < 2; micro++) {
      const rows = Array.from({ length: 4 }, () => sampler.int(XS.length));
      tf.tidy(() => {
        const x = tf.tensor2d(rows.map((r) => XS[r]!));
        const y = tf.tensor2d(rows.map((r) => YS[r]!));
        const { value, grads } = tf.variableGrads(() => x.matMul(w1).add(b1).tanh().matMul(w2).sub(y).square().mean() as tf.Scalar, variables);
        lossSum += value.dataSync()[0]!;
        accumulator.add(grads);
      });
    }
    tf.tidy(() => {
      const { grads } = clipByGlobalNorm(accumulator.mean(), 0.5);
      optimizer.applyGradients(grads, learningRate(optimizer.step, SCHEDULE));
    });
    accumulator.reset();
    losses.push(lossSum / 2);
  }
  return losses;
}

function stateFor(step: number, sampler: Rng, bestValLoss: number | null = null): Omit<CheckpointState, "formatVersion"> {
  const config = schemaDefaults();
  return {
    step,
    epoch: 0,
    rng: { sampler: sampler.getState(), dropout: Rng.derive(1, "dropout").getState() },
    bestValLoss,
    config,
    configHash: configHash(config),
    datasetManifestHash: "ab".repeat(32),
    normalisation: {
      stateMean: [0.1, 0.2, 0.3],
      stateStd: [1, 2, 3],
      rtgScale: 500,
      context: 20,
      maxEpLen: 500,
      actionSpace: { kind: "discrete", n: 2 },
      obsDim: 3,
    },
    model: { kind: "snn-dt", variant: "full" },
    snndtVersion: SNNDT_VERSION,
    backend: tf.getBackend(),
    trainer: { lossWindow: { sum: 1.25, count: 3 }, bestValStep: step, plasticity: { "head.eligibility": { shape: [2, 2], data: [0.5, -0.25, 1e-8, 3] } } },
  };
}

async function saveSimple(dir: string, seed = 1): Promise<{ variables: tf.Variable[]; optimizer: AdamW }> {
  const variables = makeModel(seed);
  const optimizer = new AdamW(variables, OPTIONS);
  const accumulator = new GradientAccumulator(variables);
  const sampler = Rng.derive(seed, "sampler");
  trainSteps(variables, optimizer, accumulator, sampler, 2);
  await saveCheckpoint(dir, { parameters: named(variables), optimizer, state: stateFor(2, sampler, 0.5) });
  accumulator.dispose();
  return { variables, optimizer };
}

test("a checkpoint holds the documented files; weights, moments and state load back exactly", async () => {
  const run = runDir();
  const dir = checkpointDir(run, 2);
  assert.equal(dir, path.join(run, "checkpoints", "step-2"));
  const { variables, optimizer } = await saveSimple(dir);
  assert.deepEqual(readdirSync(dir).sort(), ["checksums.json", "model.safetensors", "optimizer.safetensors", "state.json"]);
  assert.deepEqual(readdirSync(path.join(run, "checkpoints")), ["step-2"]);
  const checksums = JSON.parse(readFileSync(path.join(dir, "checksums.json"), "utf8")) as Record<string, string>;
  for (const file of ["model.safetensors", "optimizer.safetensors", "state.json"]) {
    assert.equal(checksums[file], createHash("sha256").update(readFileSync(path.join(dir, file))).digest("hex"));
  }
  // The weights file is plain safetensors keyed by variable name.
  const model = decodeSafetensors(readFileSync(path.join(dir, "model.safetensors")), "model.safetensors");
  assert.deepEqual([...model.tensors.keys()], ["layer1.weight", "layer1.bias", "head.weight"]);
  assert.deepEqual(model.tensors.get("head.weight")!.shape, [4, 2]);
  const optimizerFile = decodeSafetensors(readFileSync(path.join(dir, "optimizer.safetensors")), "optimizer.safetensors");
  assert.equal(optimizerFile.metadata.step, "2");
  assert.ok(optimizerFile.tensors.has("exp_avg/layer1.bias") && optimizerFile.tensors.has("exp_avg_sq/head.weight"));

  const loaded = await loadCheckpoint(dir);
  const { rng, ...rest } = loaded.state;
  const { rng: _unused, ...expected } = stateFor(2, new Rng(1), 0.5);
  assert.deepEqual(rest, { formatVersion: 1, ...expected });
  assert.deepEqual(Object.keys(rng), ["sampler", "dropout"]);
  assert.deepEqual(rng.dropout, Rng.derive(1, "dropout").getState());
  assert.equal(loaded.state.step, 2);
  assert.equal(loaded.state.bestValLoss, 0.5);
  assert.equal(loaded.optimizer.step, 2);
  for (const variable of variables) assert.deepEqual(loaded.weights.get(variable.name)!.data, await variable.data());
  const saved = await optimizer.getState();
  for (const [name, m] of saved.moments) {
    assert.deepEqual(loaded.optimizer.moments.get(name)!.m, m.m);
    assert.deepEqual(loaded.optimizer.moments.get(name)!.v, m.v);
  }
  disposeAll(variables, optimizer);
});

test("save -> load -> continue reproduces the uninterrupted run exactly (weights, moments, schedule, RNG)", async () => {
  // Uninterrupted: 8 steps.
  let variables = makeModel(3);
  let optimizer = new AdamW(variables, OPTIONS);
  let accumulator = new GradientAccumulator(variables);
  const straightLosses = trainSteps(variables, optimizer, accumulator, Rng.derive(3, "sampler"), 8);
  const straight = await Promise.all(variables.map((v) => v.data()));
  disposeAll(variables, optimizer, accumulator);

  // Interrupted after 5 steps, checkpointed, then continued from the files by fresh objects.
  const run = runDir();
  variables = makeModel(3);
  optimizer = new AdamW(variables, OPTIONS);
  accumulator = new GradientAccumulator(variables);
  let sampler = Rng.derive(3, "sampler");
  const firstLosses = trainSteps(variables, optimizer, accumulator, sampler, 5);
  await saveCheckpoint(checkpointDir(run, 5), { parameters: named(variables), optimizer, state: stateFor(5, sampler) });
  disposeAll(variables, optimizer, accumulator);

  variables = makeModel(99); // different init: everything must come from the checkpoint
  optimizer = new AdamW(variables, OPTIONS);
  accumulator = new GradientAccumulator(variables);
  const latest = await latestCheckpoint(run);
  assert.equal(latest, checkpointDir(run, 5));
  const loaded = await loadCheckpoint(latest!);
  restoreVariables(named(variables), loaded.weights);
  restoreOptimizer(named(variables), optimizer, loaded.optimizer);
  sampler = new Rng(loaded.state.rng.sampler!);
  const restLosses = trainSteps(variables, optimizer, accumulator, sampler, 3);
  assert.deepEqual([...firstLosses, ...restLosses], straightLosses);
  const resumed = await Promise.all(variables.map((v) => v.data()));
  assert.deepEqual(resumed, straight);
  disposeAll(variables, optimizer, accumulator);
});

test("checkpoints key weights and moments by stable names, whatever tfjs names live models carry", async () => {
  const config = tinyConfig({ kind: "dt" });
  const alive = createModel(config, 1); // holds the plain tfjs names
  const saved = createModel(config, 2);
  const restored = createModel(config, 3); // suffixed differently again
  const optimizer = new AdamW(saved.variables, OPTIONS);
  const restoredOptimizer = new AdamW(restored.variables, OPTIONS);
  try {
    assert.ok(saved.variables.every((v) => v.name.includes("#")), "a second live model's tfjs names are suffixed");
    const grads = new Map(saved.variables.map((v, i) => [v.name, tf.fill(v.shape, i + 1)]));
    optimizer.applyGradients(grads, 0.01);
    tf.dispose([...grads.values()]);
    const dir = checkpointDir(runDir(), 1);
    await saveCheckpoint(dir, { parameters: saved, optimizer, state: stateFor(1, new Rng(0)) });

    const loaded = await loadCheckpoint(dir);
    assert.deepEqual([...loaded.weights.keys()], saved.parameterNames);
    assert.deepEqual([...loaded.optimizer.moments.keys()], saved.parameterNames);

    restoreVariables(restored, loaded.weights, dir);
    restoreOptimizer(restored, restoredOptimizer, loaded.optimizer);
    for (let i = 0; i < saved.variables.length; i++) {
      assert.deepEqual(await restored.variables[i]!.data(), await saved.variables[i]!.data(), saved.parameterNames[i]);
    }
    const [before, after] = [await optimizer.getState(), await restoredOptimizer.getState()];
    assert.equal(after.step, 1);
    assert.deepEqual([...after.moments.values()], [...before.moments.values()]);
  } finally {
    for (const model of [alive, saved, restored]) model.dispose();
    optimizer.dispose();
    restoredOptimizer.dispose();
  }
});

test("restoreVariables refuses a checkpoint of another model shape, naming each variable and both shapes", async () => {
  const run = runDir();
  const { variables, optimizer } = await saveSimple(checkpointDir(run, 2));
  const loaded = await loadCheckpoint(checkpointDir(run, 2));
  disposeAll(variables, optimizer);
  const other = [
    tf.variable(tf.zeros([3, 8]), true, "layer1.weight"),
    tf.variable(tf.zeros([8]), true, "layer1.bias"),
    tf.variable(tf.zeros([8, 2]), true, "head.weight"),
    tf.variable(tf.zeros([2]), true, "head.bias"),
  ];
  const before = await other[0]!.data();
  assert.throws(
    () => restoreVariables(named(other), loaded.weights, "step-2"),
    (err: unknown) =>
      err instanceof InputError &&
      /"layer1\.weight" is \[3,4\] in step-2 but \[3,8\] in the model/.test(err.message) &&
      /"head\.bias" \[2\] is missing from step-2/.test(err.message),
  );
  assert.deepEqual(await other[0]!.data(), before); // nothing assigned
  tf.dispose(other.splice(3, 1));
  tf.dispose(other);
  const fewer = [tf.variable(tf.zeros([3, 4]), true, "layer1.weight")];
  assert.throws(() => restoreVariables(named(fewer), loaded.weights), /"layer1\.bias" \[4\] in the checkpoint is not in the model/);
  tf.dispose(fewer);
});

test("corrupt, incomplete and half-written checkpoints are refused with a clear error", async () => {
  const run = runDir();
  const dir = checkpointDir(run, 2);
  const { variables, optimizer } = await saveSimple(dir);
  disposeAll(variables, optimizer);
  const variant = (name: string, change: (d: string) => void): string => {
    const copy = path.join(run, name);
    cpSync(dir, copy, { recursive: true });
    change(copy);
    return copy;
  };
  const rejects = async (target: string, pattern: RegExp) =>
    assert.rejects(loadCheckpoint(target), (err: unknown) => err instanceof InputError && pattern.test(err.message));

  const flipped = variant("flipped", (d) => {
    const bytes = readFileSync(path.join(d, "model.safetensors"));
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(path.join(d, "model.safetensors"), bytes);
  });
  await rejects(flipped, /flipped\/model\.safetensors is corrupt: its sha256 is [0-9a-f]{64}, checksums\.json records/);
  await rejects(variant("no-opt", (d) => rmSync(path.join(d, "optimizer.safetensors"))), /not a complete checkpoint: optimizer\.safetensors is missing/);
  await rejects(variant("no-sums", (d) => rmSync(path.join(d, "checksums.json"))), /checksums\.json \(written last\) is missing/);
  await rejects(variant("bad-sums", (d) => writeFileSync(path.join(d, "checksums.json"), "{")), /checksums\.json is not valid JSON/);
  await rejects(variant("null-sums", (d) => writeFileSync(path.join(d, "checksums.json"), "null")), /checksums\.json holds null; expected an object mapping each checkpoint file to its sha256/);
  await rejects(variant(".step-4.tmp-123-abcd", () => undefined), /half-written checkpoint/);
  await rejects(path.join(run, "nope"), /cannot read checkpoint directory .*nope: no such directory/);
  // A state.json edited to disagree with the optimizer (checksums updated to match) is still refused.
  const edited = variant("edited", (d) => {
    const state = JSON.parse(readFileSync(path.join(d, "state.json"), "utf8")) as CheckpointState;
    state.step = 3;
    const text = JSON.stringify(state);
    writeFileSync(path.join(d, "state.json"), text);
    const sums = JSON.parse(readFileSync(path.join(d, "checksums.json"), "utf8")) as Record<string, string>;
    sums["state.json"] = createHash("sha256").update(text).digest("hex");
    writeFileSync(path.join(d, "checksums.json"), JSON.stringify(sums));
  });
  await rejects(edited, /inconsistent: state\.json says step 3, optimizer\.safetensors says 2/);
  const rewrite = (name: string, edit: (state: Record<string, unknown>) => void) =>
    variant(name, (d) => {
      const state = JSON.parse(readFileSync(path.join(d, "state.json"), "utf8")) as Record<string, unknown>;
      edit(state);
      const text = JSON.stringify(state);
      writeFileSync(path.join(d, "state.json"), text);
      const sums = JSON.parse(readFileSync(path.join(d, "checksums.json"), "utf8")) as Record<string, string>;
      sums["state.json"] = createHash("sha256").update(text).digest("hex");
      writeFileSync(path.join(d, "checksums.json"), JSON.stringify(sums));
    });
  await rejects(rewrite("no-norm", (st) => delete st.normalisation), /state\.json: field "normalisation" should be object, found nothing/);
  await rejects(
    rewrite("config-edit", (st) => ((st.config as { train: { lr: number } }).train.lr = 0.5)),
    /the stored config does not match its configHash/,
  );
});

test("a checkpoint that cannot be written is a clear error and leaves the earlier ones intact", async () => {
  const run = runDir();
  const { variables, optimizer } = await saveSimple(checkpointDir(run, 2));
  // "checkpoints/step-4" cannot be created under a path whose parent is a regular file.
  writeFileSync(path.join(run, "blocker"), "");
  const sampler = Rng.derive(1, "sampler");
  await assert.rejects(
    saveCheckpoint(path.join(run, "blocker", "step-4"), { parameters: named(variables), optimizer, state: stateFor(2, sampler) }),
    (err: unknown) => err instanceof SnndtError && /cannot write checkpoint .*blocker\/step-4: .*earlier checkpoints are intact/.test(err.message),
  );
  await assert.rejects(
    saveCheckpoint(checkpointDir(run, 3), { parameters: named(variables), optimizer, state: stateFor(3, sampler) }),
    /state\.step 3 disagrees with the optimizer's 2 updates/,
  );
  assert.deepEqual(readdirSync(path.join(run, "checkpoints")), ["step-2"]);
  assert.equal((await loadCheckpoint(checkpointDir(run, 2))).state.step, 2);
  disposeAll(variables, optimizer);
});

test("latestCheckpoint ignores temp and incomplete dirs; prune keeps the newest N and best/; best/ is replaced whole", async () => {
  const run = runDir();
  assert.equal(await latestCheckpoint(run), undefined);
  const variables = makeModel(5);
  const optimizer = new AdamW(variables, OPTIONS);
  const sampler = Rng.derive(5, "sampler");
  for (const n of [10, 2, 30, 100]) {
    // Same optimizer step (0) stored under different directory numbers is enough for listing and pruning.
    await saveCheckpoint(checkpointDir(run, n), { parameters: named(variables), optimizer, state: stateFor(0, sampler) });
  }
  await saveCheckpoint(checkpointDir(run, "best"), { parameters: named(variables), optimizer, state: stateFor(0, sampler, 2.0) });
  await saveCheckpoint(checkpointDir(run, "best"), { parameters: named(variables), optimizer, state: stateFor(0, sampler, 1.0) });
  assert.equal((await loadCheckpoint(checkpointDir(run, "best"))).state.bestValLoss, 1.0);
  // An interrupted save leaves a temp dir (here: of a killed process, and of a live writer); a hand-made step dir lacks checksums.
  const dead = deadPid();
  mkdirSync(path.join(run, "checkpoints", `.step-500.tmp-${dead}-0000ffff`));
  mkdirSync(path.join(run, "checkpoints", `.step-600.tmp-${process.pid}-0000eeee`));
  mkdirSync(path.join(run, "checkpoints", "step-400"));
  assert.equal(await latestCheckpoint(run), checkpointDir(run, 100));
  rmSync(path.join(run, "checkpoints", "step-400"), { recursive: true });

  const removed = await pruneCheckpoints(run, 2);
  assert.deepEqual(removed.sort(), [checkpointDir(run, 10), checkpointDir(run, 2)].sort());
  // The killed process's half-written save goes; the live writer's stays.
  assert.deepEqual(readdirSync(path.join(run, "checkpoints")).sort(), [`.step-600.tmp-${process.pid}-0000eeee`, "best", "step-100", "step-30"]);
  assert.ok(existsSync(path.join(checkpointDir(run, "best"), "checksums.json")));
  await assert.rejects(pruneCheckpoints(run, 0), /keepLast must be an integer >= 1/);
  disposeAll(variables, optimizer);
});

test("a checkpoint written at an interrupt is kept while it is the newest, and does not push one on schedule out", async () => {
  const run = mkdtempSync(path.join(tmpdir(), "snndt-prune-"));
  const onSchedule = (step: number) => step % 20 === 0;
  const steps = () => readdirSync(path.join(run, "checkpoints")).sort();
  // Interrupted at step 26 with keep_last 3: step-26 is what a resume starts from.
  for (const step of [20, 26]) mkdirSync(checkpointDir(run, step), { recursive: true });
  assert.deepEqual(await pruneCheckpoints(run, 3, onSchedule), []);
  // Resumed: from step-40 on, step-26 has done its job; the kept set is an uninterrupted run's.
  for (const step of [40, 60]) {
    mkdirSync(checkpointDir(run, step));
    await pruneCheckpoints(run, 3, onSchedule);
  }
  assert.deepEqual(steps(), ["step-20", "step-40", "step-60"]);
  mkdirSync(checkpointDir(run, 80));
  assert.deepEqual(await pruneCheckpoints(run, 3, onSchedule), [checkpointDir(run, 20)]);
});
