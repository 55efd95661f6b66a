/**
 * Every kind of bad input gets one paragraph naming the file, the column/dataset and row where it
 * applies, what was expected and what was found; through the CLI it exits non-zero and writes nothing.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, symlinkSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadDataset, prepareDataset, type ReaderOptions } from "../../src/data/dataset.js";
import { InputError, SnndtError, UsageError } from "../../src/runtime/errors.js";
import { runCli } from "../helpers/cli.js";
import { quietContext } from "../helpers/context.js";
import { FIXTURES, SNNDT_BIN } from "../helpers/paths.js";
import { deadPid } from "../helpers/processes.js";
import { bool, d4rlArrays, f32, fixedList, int32, largeList, list, vec, withTmp, writeArrow, writeHdf5 } from "./make-files.js";

const SAMPLES = path.join(FIXTURES, "samples");

/** Expect loadDataset(file) to fail with an error of `type` whose one-paragraph message matches every pattern. */
async function expectError(file: string, patterns: RegExp[], options: ReaderOptions = {}, type: new (...args: never[]) => SnndtError = InputError): Promise<void> {
  await assert.rejects(loadDataset(file, options), (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.ok(!err.message.includes("\n"), `one paragraph: ${err.message}`);
    assert.ok(err.message.includes(file), `names the file: ${err.message}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

/** Per-step columns with one bad value at `row` of the observations. */
function stepsWithObservation(row: number, value: number) {
  const obs = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]];
  obs[row]![1] = value;
  return {
    episode_id: vec([0, 0, 0, 1, 1], int32),
    observations: vec(obs, fixedList(2)),
    actions: vec([0, 1, 0, 1, 1], int32),
    rewards: vec([1, 1, 1, 1, 1], f32),
  };
}

test(
  "prepare-dataset given a directory: a clear error (and a hint when it is already prepared), not an internal one",
  withTmp(async (dir) => {
    const folder = path.join(dir, "folder");
    mkdirSync(folder);
    const plain = runCli(["prepare-dataset", folder, "--out", path.join(dir, "out")]);
    assert.equal(plain.status, 1, plain.stderr);
    assert.match(plain.stderr, /folder is a directory, but neither a prepared dataset \(no manifest\.json\) nor a Minari dataset .*; expected one of those, or an Arrow, Parquet or HDF5 file\./);
    const prepared = path.join(dir, "prepared");
    assert.equal(runCli(["prepare-dataset", path.join(SAMPLES, "cartpole-episodes.arrows"), "--out", prepared]).status, 0);
    const again = runCli(["prepare-dataset", prepared, "--out", path.join(dir, "out")]);
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stderr, /prepared is a directory holding manifest\.json, so it is already a prepared dataset: give it to train or eval \(--data\)/);
    assert.ok(!existsSync(path.join(dir, "out")), "nothing written");
  }),
);

test(
  "truncated or corrupt Arrow: file without footer, stream without end marker, damaged LZ4 body",
  withTmp(async (dir) => {
    const whole = readFileSync(path.join(SAMPLES, "cartpole-steps-lz4.feather"));
    const cut = path.join(dir, "cut.feather");
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await expectError(cut, [/does not end with the "ARROW1" footer magic/, /truncated or corrupt/]);

    const stream = readFileSync(path.join(SAMPLES, "cartpole-episodes.arrows"));
    const cutStream = path.join(dir, "cut.arrows");
    writeFileSync(cutStream, stream.subarray(0, stream.length - 3));
    await expectError(cutStream, [/end-of-stream marker/, /truncated or corrupt/]);
    const halfStream = path.join(dir, "half.arrows");
    writeFileSync(halfStream, Buffer.concat([stream.subarray(0, stream.length >> 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]));
    await expectError(halfStream, [/cannot read it as an Arrow IPC stream/, /truncated or corrupt/]);

    // Break the magic of the first LZ4 frame inside the record batch body.
    const damaged = Buffer.from(whole);
    const at = damaged.indexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]));
    assert.ok(at > 0);
    damaged[at] = 0x05;
    const bad = path.join(dir, "damaged.feather");
    writeFileSync(bad, damaged);
    await expectError(bad, [/LZ4 frame, byte offsets from its start: bad magic/, /truncated or corrupt/]);

    // polars writes block and content checksums (FLG 0x54: no content size, so the first block's
    // size follows at byte 7 of the frame): a damaged block checksum is caught, not read past.
    const flipped = Buffer.from(whole);
    assert.equal(flipped[at + 4], 0x54);
    const blockLength = flipped.readUInt32LE(at + 7) & 0x7fffffff;
    flipped[at + 11 + blockLength]! ^= 0x01;
    const unchecked = path.join(dir, "bad-checksum.feather");
    writeFileSync(unchecked, flipped);
    await expectError(unchecked, [/LZ4 frame, byte offsets from its start: block checksum mismatch in the block at byte \d+: the file is corrupt/, /truncated or corrupt/]);
  }),
);

test(
  "truncated or corrupt HDF5: HDF5's own diagnosis is reported",
  withTmp(async (dir) => {
    const whole = readFileSync(path.join(SAMPLES, "pendulum-d4rl.hdf5"));
    const cut = path.join(dir, "cut.hdf5");
    writeFileSync(cut, whole.subarray(0, 50_000));
    await expectError(cut, [/truncated file: eof = 50000/, /stored_eof = 106502/]);
    const garbled = Buffer.from(whole);
    for (let i = 30_000; i < 60_000; i++) garbled[i]! ^= 0x5a;
    const bad = path.join(dir, "garbled.hdf5");
    writeFileSync(bad, garbled);
    await expectError(bad, [/HDF5 error while/, /truncated or corrupt/]);
  }),
);

test(
  "files of another type, an empty file and a missing file",
  withTmp(async (dir) => {
    const png = path.join(dir, "image.arrow");
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    await expectError(png, [/expected an Arrow IPC file/, /Parquet/, /HDF5/, /first bytes 89 50 4e 47 0d 0a 1a 0a/]);
    // A file's name does not decide its format: this one is read as the (cut) Parquet file it is.
    const parquet = path.join(dir, "data.feather");
    writeFileSync(parquet, Buffer.from("PAR1\x15\x04\x15\x10", "latin1"));
    await expectError(parquet, [/data\.feather: the file starts like a Parquet file but does not end with the "PAR1" footer magic/]);
    const empty = path.join(dir, "empty.hdf5");
    writeFileSync(empty, "");
    await expectError(empty, [/found an empty file/]);
    await expectError(path.join(dir, "nope.hdf5"), [/no such file/]);
  }),
);

test(
  "missing or misnamed columns list what the file holds",
  withTmp(async (dir) => {
    const file = path.join(dir, "norewards.arrow");
    await writeArrow(file, { episode: vec([0, 0], int32), obs: vec([[1], [2]], fixedList(1)), action: vec([0, 1], int32), score: vec([1, 2], f32) });
    await expectError(file, [/no rewards column/, /"rewards", "reward"/, /--reward-column/, /found columns: "episode", "obs", "action", "score"/]);
    await expectError(file, [/--obs-column names "observation", but there is no such column/, /"episode", "obs", "action", "score"/], {
      columns: { observations: "observation", rewards: "score" },
    });
    // One column named for a second role is refused: its flags would be read twice.
    const withDones = path.join(dir, "dones.arrow");
    await writeArrow(withDones, { obs: vec([[1], [2]], fixedList(1)), action: vec([0, 1], int32), reward: vec([1, 2], f32), dones: vec([false, true], bool) });
    await expectError(
      withDones,
      [/column "dones" would be read as both terminals \(found by its name\) and timeouts \(--timeout-column\); name another column for one of them \(none for terminals or timeouts not to be read\)/],
      { columns: { timeouts: "dones" } },
      UsageError,
    );
    const noEnds = path.join(dir, "noends.arrow");
    await writeArrow(noEnds, { obs: vec([[1], [2]], fixedList(1)), action: vec([0, 1], int32), reward: vec([1, 2], f32) });
    await expectError(noEnds, [/cannot tell where episodes end/, /found columns: "obs", "action", "reward"\. \(\S*noends\.arrow was read with prepare-dataset's defaults/]);
    // Columns set aside with "none" are still in the list: the message says why they were not taken.
    const setAside = path.join(dir, "set-aside.arrow");
    await writeArrow(setAside, { episode_id: vec([0, 0], int32), obs: vec([[1], [2]], fixedList(1)), action: vec([0, 1], int32), reward: vec([1, 2], f32), terminals: vec([0, 1], f32) });
    await expectError(
      setAside,
      [/found columns: "episode_id", "obs", "action", "reward", "terminals"; --episode-column none and --terminal-column none said not to look for those: name the ones that mark episodes instead\. \(\S* was read with prepare-dataset's defaults/],
      { columns: { episode: "none", terminals: "none" } },
    );
    const h5 = path.join(dir, "noactions.hdf5");
    await writeHdf5(h5, { observations: { data: Float32Array.of(1, 2), shape: [2, 1] }, rewards: { data: Float32Array.of(1, 2), shape: [2] }, terminals: { data: Int8Array.of(0, 1), shape: [2] } });
    await expectError(h5, [/no actions column/, /found datasets \(one in a subgroup is named by its path, such as "infos\/qpos"\): "observations", "rewards", "terminals"/]);

    // Every missing column in one error, with the flag for each, and the file's columns once.
    const others = path.join(dir, "others.arrow");
    await writeArrow(others, { s: vec([[1], [2]], fixedList(1)), a: vec([0, 1], int32), r: vec([1, 2], f32), done: vec([false, true], bool) });
    await expectError(others, [
      /^(?!.*found columns.*found columns)/,
      /others\.arrow: no observations column: expected one named "observations", .*--obs-column.*; no actions column: expected one named "actions", "action".*--action-column.*; no rewards column: expected one named "rewards", "reward" \(or name it with --reward-column\); found columns: "s", "a", "r", "done"\.( |$)/,
    ]);
    await expectError(others, [/others\.arrow: no actions column: .*; --episode-column names "ep", but there is no such column; found columns: "s", "a", "r", "done"\.( |$)/], {
      columns: { observations: "s", rewards: "r", episode: "ep" },
    });
    const h5Others = path.join(dir, "others.hdf5");
    await writeHdf5(h5Others, { observations: { data: Float32Array.of(1, 2), shape: [2, 1] }, act: { data: Float32Array.of(1, 2), shape: [2] }, rew: { data: Float32Array.of(1, 2), shape: [2] } });
    await expectError(h5Others, [/others\.hdf5: no actions column: .*; no rewards column: .*; found datasets .*"act", "observations", "rew"\.( |$)/]);
  }),
);

test(
  "mismatched lengths in per-episode Arrow and D4RL HDF5",
  withTmp(async (dir) => {
    const file = path.join(dir, "episodes.arrows");
    await writeArrow(
      file,
      {
        observations: vec([[[0], [1], [2]], [[3], [4], [5], [6], [7]]], list(fixedList(1))),
        actions: vec([[0, 1, 0], [1, 1, 1]], list(int32)),
        rewards: vec([[1, 1, 1], [1, 1, 1]], largeList(f32)),
        dones: vec([[false, false, true], [false, false, true]], largeList(bool)),
      },
      { stream: true },
    );
    await expectError(file, [
      /row 1 \(episode 1\): its columns hold different numbers of steps \("observations" 5, "actions" 3, "rewards" 3, "dones" 3\); expected the same number in each, observations one more if they include the final one \(mismatched lengths\)/,
    ]);
    await expectError(file, [/column "dones" would be read as both terminals \(found by its name\) and timeouts \(--timeout-column\)/], { columns: { timeouts: "dones" } }, UsageError);
    // Rewards one short: every count is named, so the short column shows itself (the old message blamed the actions).
    const shortRewards = path.join(dir, "short-rewards.arrows");
    await writeArrow(
      shortRewards,
      { observations: vec([[[0], [1], [2]]], list(fixedList(1))), actions: vec([[0, 1, 0]], list(int32)), rewards: vec([[1, 1]], largeList(f32)) },
      { stream: true },
    );
    await expectError(shortRewards, [/row 0 \(episode 0\): its columns hold different numbers of steps \("observations" 3, "actions" 3, "rewards" 2\)/]);
    // A reward column that is no list beside observations of episodes: the reward column is named, not the observations.
    const withLiteral = path.join(dir, "literal.arrows");
    await writeArrow(
      withLiteral,
      { observations: vec([[[0], [1]]], list(fixedList(1))), actions: vec([[0, 1]], list(int32)), rewards: vec([[1, 1]], largeList(f32)), literal: vec([true], bool) },
      { stream: true },
    );
    await expectError(withLiteral, [/column "literal" has type Bool; in the per-episode layout \(one row an episode: its observations are lists of steps\) it must be a list of steps\. If a row is one step whose observation is a list of lists \(a 2-D observation\), flatten it to one list a row/], { columns: { rewards: "literal" } });
    // A row a step with an observation of two fixed axes stays a row a step: that observation is what is refused.
    const grid = path.join(dir, "grid.arrow");
    await writeArrow(grid, { obs: vec([[[0, 1], [2, 3]], [[4, 5], [6, 7]]], fixedList(2, fixedList(2))), action: vec([0, 1], int32), reward: vec([1, 2], f32), episode_id: vec([0, 0], int32) });
    await expectError(grid, [/column "obs" is nested 2 lists deep; a per-step column holds a number or a list of numbers a row/]);
    // Flags of a row-a-step table are refused, not ignored, for a file of an episode a row.
    await expectError(withLiteral, [/--episode-column and --step-column apply to Arrow and Parquet files of a row a step only; this file holds an episode a row/], { columns: { episode: "nosuch", step: "nosuch" } }, UsageError);
    const h5 = path.join(dir, "d4rl.hdf5");
    const a = d4rlArrays([4, 4], 2, 1);
    await writeHdf5(h5, {
      observations: { data: a.observations, shape: [8, 2] },
      actions: { data: a.actions.subarray(0, 7), shape: [7, 1] },
      rewards: { data: a.rewards, shape: [8] },
      terminals: { data: a.terminals, shape: [8] },
    });
    await expectError(h5, [/dataset "actions" has 7 rows but "observations" has 8/, /mismatched lengths/]);
  }),
);

test(
  "ragged observation widths in per-step Arrow and Minari HDF5",
  withTmp(async (dir) => {
    const file = path.join(dir, "ragged.arrow");
    await writeArrow(file, {
      episode_id: vec([0, 0, 0], int32),
      observations: vec([[1, 2], [3, 4], [5, 6, 7]], list(f32)),
      actions: vec([0, 1, 0], int32),
      rewards: vec([1, 1, 1], f32),
    });
    await expectError(file, [/column "observations" has 3 values at row 2 but 2 at row 0/, /ragged observations/]);
    const h5 = path.join(dir, "minari.hdf5");
    const episode = (obsDim: number) => ({
      observations: { data: new Float32Array(3 * obsDim), shape: [3, obsDim] },
      actions: { data: Float32Array.of(0.5, 0.5), shape: [2, 1] },
      rewards: { data: Float64Array.of(1, 1), shape: [2] },
      terminations: { data: Int8Array.of(0, 1), shape: [2] },
      truncations: { data: Int8Array.of(0, 0), shape: [2] },
    });
    const datasets: Parameters<typeof writeHdf5>[1] = {};
    for (const [e, dim] of [[0, 3], [1, 3], [2, 4]] as const) {
      for (const [name, spec] of Object.entries(episode(dim))) datasets[`episode_${e}/${name}`] = spec;
    }
    await writeHdf5(h5, datasets);
    await expectError(h5, [/dataset "episode_2\/observations" has 4 values a step but earlier episodes have 3/, /ragged observations/]);
  }),
);

test(
  "HDF5 observations wider than snndt reads (images) are refused by shape, in D4RL and Minari layouts",
  withTmp(async (dir) => {
    const d4rl = path.join(dir, "wide.hdf5");
    await writeHdf5(d4rl, {
      observations: { data: new Float32Array(2 * 65_537), shape: [2, 65_537] },
      actions: { data: Float32Array.of(0, 1), shape: [2] },
      rewards: { data: Float32Array.of(1, 1), shape: [2] },
      terminals: { data: Int8Array.of(0, 1), shape: [2] },
    });
    await expectError(d4rl, [/dataset "observations" has shape \(2, 65537\), 65537 values a step; snndt reads HDF5 observations of up to 65536 values a step/, /embedded as one flat vector/]);
    const frames = path.join(dir, "frames.hdf5");
    await writeHdf5(frames, {
      observations: { data: new Uint8Array(2 * 210 * 160 * 3), shape: [2, 210, 160, 3] },
      actions: { data: Float32Array.of(0, 1), shape: [2] },
      rewards: { data: Float32Array.of(1, 1), shape: [2] },
      terminals: { data: Int8Array.of(0, 1), shape: [2] },
    });
    await expectError(frames, [/dataset "observations" has shape \(2, 210, 160, 3\), 100800 values a step/]);
    const empty = path.join(dir, "empty-rows.hdf5");
    await writeHdf5(empty, {
      observations: { data: new Float32Array(0), shape: [2, 3, 0] },
      actions: { data: Float32Array.of(0, 1), shape: [2] },
      rewards: { data: Float32Array.of(1, 1), shape: [2] },
      terminals: { data: Int8Array.of(0, 1), shape: [2] },
    });
    await expectError(empty, [/empty-rows\.hdf5: column "observations" holds no values a step; expected at least one/]);
    // A Minari Box of images, (steps + 1, 210, 160, 3) as Atari's: refused before its pixels are read.
    const minari = path.join(dir, "main_data.hdf5");
    await writeHdf5(minari, {
      "episode_0/observations": { data: new Uint8Array(2 * 210 * 160 * 3), shape: [2, 210, 160, 3] },
      "episode_0/actions": { data: Int32Array.of(1), shape: [1] },
      "episode_0/rewards": { data: Float64Array.of(1), shape: [1] },
      "episode_0/terminations": { data: Int8Array.of(1), shape: [1] },
      "episode_0/truncations": { data: Int8Array.of(0), shape: [1] },
    });
    await expectError(minari, [/dataset "episode_0\/observations" has shape \(2, 210, 160, 3\), 100800 values a step/]);
  }),
);

test(
  "NaN/Inf: an error naming column, row and element, or --drop-nonfinite drops the episode and says how many",
  withTmp(async (dir) => {
    const file = path.join(dir, "nan.arrow");
    await writeArrow(file, stepsWithObservation(3, Number.NaN));
    // Read raw by train or eval, which take no reading options: the way to give one is named.
    await expectError(file, [/column "observations" at row 3, element 1 holds NaN/, /--drop-nonfinite/, /nan\.arrow was read with prepare-dataset's defaults; to give it that option, prepare it first: snndt prepare-dataset \S*nan\.arrow <option> --out <dir>, then pass <dir> as --data\)$/]);
    const prepared = runCli(["prepare-dataset", file, "--out", path.join(dir, "nan-prepared")]);
    assert.equal(prepared.status, 1);
    assert.match(prepared.stderr, /--drop-nonfinite to drop the episodes/);
    assert.doesNotMatch(prepared.stderr, /prepare-dataset's defaults/);
    const kept = await loadDataset(file, { dropNonfinite: true });
    assert.equal(kept.episodes.length, 1);
    assert.equal(kept.manifest.dropped.nonfinite_episodes, 1);
    assert.match(kept.manifest.warnings.join("\n"), /dropped 1 of 2 episodes holding NaN or Inf/);
    const inf = path.join(dir, "inf.hdf5");
    const a = d4rlArrays([3, 3], 1, 1);
    a.rewards[4] = Number.POSITIVE_INFINITY;
    await writeHdf5(inf, {
      observations: { data: a.observations, shape: [6, 1] },
      actions: { data: a.actions, shape: [6] },
      rewards: { data: a.rewards, shape: [6] },
      terminals: { data: a.terminals, shape: [6] },
      timeouts: { data: a.timeouts, shape: [6] },
    });
    await expectError(inf, [/column "rewards" at row 4 holds Infinity/]);
  }),
);

test(
  "empty datasets: no rows, or only an unfinished episode",
  withTmp(async (dir) => {
    const file = path.join(dir, "empty.arrow");
    await writeArrow(file, { episode_id: vec([], int32), observations: vec([], fixedList(2)), actions: vec([], int32), rewards: vec([], f32) });
    await expectError(file, [/the dataset is empty: expected at least one episode with at least one step, but it holds no steps/]);
    const h5 = path.join(dir, "partial.hdf5");
    const a = d4rlArrays([], 1, 1, 5);
    await writeHdf5(h5, {
      observations: { data: a.observations, shape: [5, 1] },
      actions: { data: a.actions, shape: [5] },
      rewards: { data: a.rewards, shape: [5] },
      terminals: { data: a.terminals, shape: [5] },
    });
    await expectError(h5, [/the dataset is empty/, /5 steps form one unfinished episode/, /--keep-partial/]);
  }),
);


test(
  "an existing output is refused unless force; a failed prepare leaves nothing at --out",
  withTmp(async (dir) => {
    const out = path.join(dir, "prepared");
    mkdirSync(out);
    writeFileSync(path.join(out, "keep.txt"), "mine");
    await assert.rejects(prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), out, {}, quietContext()), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /already exists; choose another --out or pass --force/);
      return true;
    });
    assert.deepEqual(readdirSync(out), ["keep.txt"]);
    // --force replaces only what prepare-dataset wrote: not a directory of the user's files,
    await assert.rejects(prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), out, { force: true }, quietContext()), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /holds keep\.txt, which prepare-dataset did not write; --force replaces only a prepared dataset/);
      return true;
    });
    assert.deepEqual(readdirSync(out), ["keep.txt"]);
    // nor the user's own files that merely bear its names,
    const own = path.join(dir, "own");
    mkdirSync(own);
    writeFileSync(path.join(own, "steps.arrow"), "my steps");
    for (const manifest of [null, '{"steps": 3}']) {
      if (manifest !== null) writeFileSync(path.join(own, "manifest.json"), manifest);
      await assert.rejects(prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), own, { force: true }, quietContext()), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /own holds .*steps\.arrow.* but no manifest\.json written by prepare-dataset; --force replaces only a prepared dataset/);
        return true;
      });
      assert.equal(readFileSync(path.join(own, "steps.arrow"), "utf8"), "my steps");
    }
    rmSync(own, { recursive: true });
    // not the input itself, and not a directory holding the input.
    const input = path.join(out, "copy.hdf5");
    copyFileSync(path.join(SAMPLES, "pendulum-minari.hdf5"), input);
    for (const target of [input, out]) {
      await assert.rejects(prepareDataset(input, target, { force: true }, quietContext()), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, target === input ? /copy\.hdf5 is a file; a prepared dataset needs a directory/ : /holds the input .*copy\.hdf5; --force would delete it/);
        return true;
      });
    }
    assert.deepEqual(readdirSync(out).sort(), ["copy.hdf5", "keep.txt"]);
    rmSync(input);
    const below = path.join(out, "keep.txt", "prepared");
    await assert.rejects(prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), below, {}, quietContext()), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /keep\.txt is a file; a prepared dataset needs a directory/);
      return true;
    });
    const nan = path.join(dir, "nan.arrow");
    await writeArrow(nan, stepsWithObservation(0, Number.NEGATIVE_INFINITY));
    const fresh = path.join(dir, "fresh");
    await assert.rejects(prepareDataset(nan, fresh, {}, quietContext()), InputError);
    assert.equal(existsSync(fresh), false);
    // An empty directory, made for the output beforehand, loses nothing: written without --force (and kept if reading fails).
    // The directory itself stays (its permissions; a mount point cannot be replaced), and a killed
    // run's hidden temporary inside it does not count as content.
    const made = path.join(dir, "made");
    mkdirSync(made);
    chmodSync(made, 0o750);
    await assert.rejects(prepareDataset(nan, made, {}, quietContext()), InputError);
    assert.deepEqual(readdirSync(made), []);
    mkdirSync(path.join(made, `.output.tmp-${deadPid()}-0123abcd`));
    await prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), made, {}, quietContext());
    assert.deepEqual(readdirSync(made).sort(), ["manifest.json", "steps.arrow"]);
    assert.equal(statSync(made).mode & 0o777, 0o750);
    assert.deepEqual(readdirSync(dir).sort(), ["made", "nan.arrow", "prepared"], "no temporary directory is left");
  }),
);

test(
  "through the CLI: non-zero exit, one paragraph on stderr, nothing written",
  withTmp(async (dir) => {
    const out = path.join(dir, "out");
    const bad = path.join(dir, "nan.arrow");
    await writeArrow(bad, stepsWithObservation(4, Number.NaN));
    const failed = runCli(["prepare-dataset", bad, "--out", out]);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /snndt: error: .*nan\.arrow: column "observations" at row 4, element 1 holds NaN/);
    assert.equal(existsSync(out), false);

    const dropped = runCli(["prepare-dataset", bad, "--out", out, "--drop-nonfinite"]);
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.match(dropped.stderr, /dropped 1 of 2 episodes holding NaN or Inf/);
    assert.ok(existsSync(path.join(out, "manifest.json")));

    const again = runCli(["prepare-dataset", bad, "--out", out, "--drop-nonfinite"]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already exists/);

    const text = path.join(dir, "notes.h5");
    writeFileSync(text, "episode,reward\n0,1\n");
    const other = runCli(["prepare-dataset", text, "--out", path.join(dir, "other")]);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /notes\.h5 is not a dataset snndt can read/);
    assert.equal(existsSync(path.join(dir, "other")), false);
  }),
);

test(
  "through the CLI: Ctrl-C while the output is being made exits 130 and leaves nothing, not even a temporary directory or the parents made for it",
  withTmp(async (dir) => {
    // 200k steps: writing the steps file takes long enough (~0.5 s here) to be interrupted in the middle.
    const rows = 200_000;
    const input = path.join(dir, "big.arrow");
    await writeArrow(input, {
      observations: vec(Array.from({ length: rows }, (_, i) => [i % 7, 1, 2]), fixedList(3)),
      actions: vec(Array.from({ length: rows }, (_, i) => i % 2), f32),
      rewards: vec(new Array<number>(rows).fill(1), f32),
      terminals: vec(Array.from({ length: rows }, (_, i) => i % 500 === 499), bool),
    });
    const parent = path.join(dir, "made", "for");
    const out = path.join(parent, "prepared");
    const child = spawn(process.execPath, [SNNDT_BIN, "--quiet", "prepare-dataset", input, "--out", out], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const writing = () => existsSync(parent) && readdirSync(parent).some((entry) => entry.startsWith(".prepared.tmp-"));
    const poll = setInterval(() => {
      if (writing()) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    }, 2);
    const [status, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    clearInterval(poll);
    assert.equal(signal, null, `killed by ${signal} instead of exiting; stderr: ${stderr}`);
    assert.equal(status, 130, `finished before the interrupt arrived, or failed; stderr: ${stderr}`);
    assert.match(stderr, /SIGINT: interrupted, nothing more written/);
    assert.deepEqual(readdirSync(dir), ["big.arrow"]);
  }),
);

test("--episode-column or --step-column on an HDF5 file is refused, not silently ignored", async () => {
  await expectError(
    path.join(SAMPLES, "pendulum-d4rl.hdf5"),
    [/--episode-column and --step-column apply to Arrow and Parquet files of a row a step only; an HDF5 file's episodes end at its terminals\/timeouts/],
    { columns: { episode: "ep", step: "t" } },
    UsageError,
  );
});

test(
  "a FIFO or a device given as the data is refused before it is opened (opening a FIFO blocks, deaf to Ctrl-C)",
  withTmp(async (dir) => {
    const fifo = path.join(dir, "pipe.arrow");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
    await expectError(fifo, [/pipe\.arrow is a FIFO \(named pipe\); expected an Arrow, Parquet or HDF5 file \(snndt reads a file whole and seeks in it, so it cannot read a stream\)/]);
    const prepared = runCli(["prepare-dataset", "/dev/zero", "--inspect"], { timeoutMs: 30_000 });
    assert.equal(prepared.status, 1, prepared.stderr);
    assert.match(prepared.stderr, /\/dev\/zero is a character device; expected an Arrow, Parquet or HDF5 file/);
  }),
);

test(
  "a symbolic-link loop given as the data is said as such (exit 1), not an internal error",
  withTmp(async (dir) => {
    symlinkSync("loop-b", path.join(dir, "loop-a"));
    symlinkSync("loop-a", path.join(dir, "loop-b"));
    const res = runCli(["prepare-dataset", path.join(dir, "loop-a"), "--inspect"]);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /^snndt: error: cannot stat \S*loop-a: too many levels of symbolic links \(a link that leads back to itself\?\); give a path that resolves \(ELOOP\)\.$/m);
  }),
);
