import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { runCli } from "../helpers/cli.js";
import { FIXTURES } from "../helpers/paths.js";
import { readMetrics } from "../../src/train/metrics.js";

/**
 * A real full disk: a tmpfs of a few pages. Mounting one needs root (or CAP_SYS_ADMIN), which this
 * project's machines and CI have; elsewhere these tests are skipped with that reason.
 */
function mountSmallDisk(kib: number, options = ""): string {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-full-disk-"));
  const res = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k${options}`, "tmpfs", dir], { encoding: "utf8" });
  if (res.status !== 0) {
    rmSync(dir, { recursive: true });
    throw new Error(`mount failed: ${res.stderr || res.error?.message}`);
  }
  return dir;
}

function resize(dir: string, kib: number): void {
  const res = spawnSync("mount", ["-o", `remount,size=${kib}k`, dir], { encoding: "utf8" });
  assert.equal(res.status, 0, res.stderr);
}

function unmount(dir: string): void {
  // Removed only once unmounted: a disk still mounted keeps its files for a look.
  if (spawnSync("umount", [dir]).status === 0) rmSync(dir, { recursive: true, force: true });
}

const cannotMount = ((): string | false => {
  try {
    unmount(mountSmallDisk(4));
    return false;
  } catch (err) {
    return `needs a small tmpfs, which only root can mount (${(err as Error).message.trim()})`;
  }
})();

/** Every file and directory under `dir` (a temporary left behind shows here). */
function entriesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

const SAMPLE = path.join(FIXTURES, "samples", "cartpole-steps-lz4.feather");

test("prepare-dataset and collect on a full disk name the file they could not write and leave nothing", { skip: cannotMount }, () => {
  const disk = mountSmallDisk(64); // the sample's steps file is ~1 MB
  try {
    const prepared = runCli(["prepare-dataset", SAMPLE, "--out", path.join(disk, "prepared")]);
    assert.equal(prepared.status, 1, prepared.stderr);
    // The output's own path, not the hidden temporary's, and no --resume hint (that is train's).
    assert.match(prepared.stderr, new RegExp(`cannot write ${path.join(disk, "prepared", "steps.arrow")}: no space left on the device; free some space and try again \\(ENOSPC\\)\\.\\n$`));
    assert.deepEqual(entriesUnder(disk), []);

    // An empty --out made beforehand is filled in place: it stays, empty.
    mkdirSync(path.join(disk, "made"));
    const into = runCli(["prepare-dataset", SAMPLE, "--out", path.join(disk, "made")]);
    assert.equal(into.status, 1, into.stderr);
    assert.match(into.stderr, new RegExp(`cannot write ${path.join(disk, "made", "steps.arrow")}: no space left`));
    assert.deepEqual(entriesUnder(disk), ["made"]);

    const collected = runCli(["-q", "collect", "--env", "CartPole-v1", "--policy", "random", "--episodes", "200", "--out", path.join(disk, "c.arrow")]);
    assert.equal(collected.status, 1, collected.stderr);
    assert.match(collected.stderr, new RegExp(`cannot write ${path.join(disk, "c.arrow")}: no space left`));
    assert.deepEqual(entriesUnder(disk), ["made"]);
  } finally {
    unmount(disk);
  }
});

test("a directory that cannot be made for want of space, and a mount point --force cannot replace, are named as the output", { skip: cannotMount }, () => {
  // Out of inodes: the output's hidden temporary directory is the first thing refused.
  const disk = mountSmallDisk(1024, ",nr_inodes=1");
  try {
    const res = runCli(["prepare-dataset", SAMPLE, "--out", path.join(disk, "prepared")]);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`cannot mkdir ${path.join(disk, "prepared")}: no space left on the device`));
    assert.deepEqual(entriesUnder(disk), []);
  } finally {
    unmount(disk);
  }
  const parent = mkdtempSync(path.join(tmpdir(), "snndt-full-disk-parent-"));
  const point = path.join(parent, "point");
  mkdirSync(point);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", point]);
  assert.equal(mounted.status, 0);
  try {
    assert.equal(runCli(["-q", "prepare-dataset", SAMPLE, "--out", point]).status, 0); // an empty mount point is filled in place
    const res = runCli(["-q", "prepare-dataset", SAMPLE, "--out", point, "--force"]);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`cannot rename ${point}: it is in use \\(a mount point`));
    assert.deepEqual(readdirSync(parent), ["point"]);
  } finally {
    unmount(point);
    rmSync(parent, { recursive: true, force: true });
  }
});

/** A small model on the shipped CartPole data: two checkpoints, at steps 3 and 6. */
const TINY = [
  "--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1", "--set", "model.context=5",
  "--set", "model.lif.T=3", "--set", "train.batch_size=16", "--set", "train.val_batches=2", "--set", "train.warmup_steps=5",
  "--set", "train.lr=0.003", "--set", "train.steps=6", "--set", "train.log_every=2", "--set", "train.eval_every=3",
  "--set", "train.checkpoint_every=3",
];

/** KiB a directory's files take on a tmpfs, which charges whole 4 KiB pages. */
function kibOnDisk(dir: string): number {
  return entriesUnder(dir)
    .map((entry) => statSync(path.join(dir, entry)))
    .filter((stat) => stat.isFile())
    .reduce((sum, stat) => sum + Math.ceil(stat.size / 4096) * 4, 0);
}

test("a disk that fills during training stops the run with the file and --resume; with space again, it resumes to the same run", { skip: cannotMount }, () => {
  const straight = path.join(mkdtempSync(path.join(tmpdir(), "snndt-full-disk-straight-")), "run");
  assert.equal(runCli(["-q", "train", "--out", straight, ...TINY]).status, 0);
  // Room for everything the run holds after its step-3 checkpoint (its config, metrics, lock file,
  // step-3 and best/), not for another checkpoint.
  // No room even for the first checkpoint: --resume starts the run over.
  const tiny = mountSmallDisk(32);
  try {
    const res = runCli(["-q", "train", "--out", path.join(tiny, "run"), ...TINY]);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /no space left on the device; .* The run starts over from step 0 \(it has no checkpoint yet\) with snndt train --resume \S+\.\n$/);
  } finally {
    unmount(tiny);
  }
  const checkpoint = kibOnDisk(path.join(straight, "checkpoints", "step-6"));
  const disk = mountSmallDisk(kibOnDisk(straight) - checkpoint - 4 + 8);
  try {
    const run = path.join(disk, "run");
    const stopped = runCli(["-q", "train", "--out", run, ...TINY]);
    assert.equal(stopped.status, 1, stopped.stderr);
    assert.match(
      stopped.stderr,
      new RegExp(`cannot write ${path.join(run, "checkpoints")}/(best|step-6)/[a-z.]+: no space left on the device; .*\\(ENOSPC\\)\\. The run continues from its newest checkpoint with snndt train --resume ${run}\\.\\n$`),
    );
    assert.ok(entriesUnder(run).includes(path.join("checkpoints", "step-3", "model.safetensors")), "the step-3 checkpoint was kept");
    assert.ok(!entriesUnder(run).some((entry) => entry.includes(".tmp-")), `a temporary was left: ${entriesUnder(run).join(", ")}`);

    resize(disk, 4096);
    const resumed = runCli(["-q", "train", "--resume", run]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const weights = (dir: string): Buffer => readFileSync(path.join(dir, "checkpoints", "step-6", "model.safetensors"));
    assert.ok(weights(run).equals(weights(straight)), "the resumed run's weights differ from the uninterrupted run's");
    const losses = (dir: string) => readMetrics(dir).map((row) => [row["step"], row["train_loss"], row["val_loss"]]);
    assert.deepEqual(losses(run), losses(straight));
  } finally {
    unmount(disk);
    rmSync(path.dirname(straight), { recursive: true, force: true });
  }
});
