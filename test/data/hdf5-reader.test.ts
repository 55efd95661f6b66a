/**
 * HDF5 inputs written by h5wasm's writer inside the test: D4RL flat layout (gzip-compressed chunked
 * datasets, (N,1) rewards, int8 flags, integer actions) and Minari episode groups.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadDataset } from "../../src/data/dataset.js";
import { InputError } from "../../src/runtime/errors.js";
import { FIXTURES } from "../helpers/paths.js";
import { parsePythonJson } from "../../src/data/minari-metadata.js";
import { d4rlArrays, h5wasm, withTmp, writeHdf5 } from "./make-files.js";

test(
  "D4RL gzip: episodes end at terminals|timeouts, slices cross chunk and slice boundaries, partial tail dropped",
  withTmp(async (dir) => {
    const file = path.join(dir, "d4rl.h5");
    // 3 episodes, 150_000 steps in all: more than one 131,072-row read slice.
    const lengths = [60_000, 50_000, 40_000];
    const a = d4rlArrays(lengths, 5, 2, 37);
    await writeHdf5(file, {
      observations: { data: a.observations, shape: [a.n, 5], gzip: true },
      next_observations: { data: a.observations, shape: [a.n, 5], gzip: true },
      actions: { data: a.actions, shape: [a.n, 2], gzip: true },
      rewards: { data: a.rewards, shape: [a.n, 1], gzip: true },
      terminals: { data: a.terminals, shape: [a.n], gzip: true },
      timeouts: { data: a.timeouts, shape: [a.n], gzip: true },
      "infos/qpos": { data: a.observations.subarray(0, a.n * 2), shape: [a.n, 2] },
    });
    const data = await loadDataset(file);
    assert.deepEqual(data.episodes.map((ep) => ep.length), lengths);
    assert.equal(data.manifest.dropped.partial_steps, 37);
    assert.deepEqual(data.episodes.map((ep) => [ep.terminated, ep.truncated]), [[true, false], [false, true], [true, false]]);
    // Every value arrives in place: compare the second episode with the arrays written.
    const ep = data.episodes[1]!;
    assert.deepEqual(ep.observations, a.observations.subarray(60_000 * 5, 110_000 * 5));
    assert.deepEqual(ep.actions, a.actions.subarray(60_000 * 2, 110_000 * 2));
    // RTG of the last step is its reward; of the first, the sum of the episode's rewards (float64).
    let sum = 0;
    for (let i = 60_000; i < 110_000; i++) sum += a.rewards[i]!;
    assert.equal(ep.returnsToGo[ep.length - 1], a.rewards[110_000 - 1]);
    assert.equal(ep.returnsToGo[0], Math.fround(sum));
    assert.equal(data.actionSpace.kind, "continuous");
    assert.equal(data.obsDim, 5);
    const kept = await loadDataset(file, { keepPartial: true });
    assert.deepEqual(kept.episodes.map((e) => e.length), [...lengths, 37]);
  }),
);

test(
  "D4RL small by hand: (N,) integer actions are discrete, returns-to-go, no timeouts dataset",
  withTmp(async (dir) => {
    const file = path.join(dir, "tiny.hdf5");
    await writeHdf5(file, {
      observations: { data: Float32Array.of(0, 1, 2, 3, 4), shape: [5, 1] },
      actions: { data: BigInt64Array.of(2n, 0n, 1n, 1n, 0n), shape: [5] },
      rewards: { data: Float64Array.of(0.5, 0.5, 1, -1, 3), shape: [5] },
      terminals: { data: Int8Array.of(0, 0, 1, 0, 1), shape: [5] },
    });
    const data = await loadDataset(file);
    assert.deepEqual(data.actionSpace, { kind: "discrete", n: 3 });
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), [[2, 1.5, 1], [2, 3]]);
    assert.deepEqual(data.manifest.source.columns, { observations: "observations", actions: "actions", rewards: "rewards", terminals: "terminals" });
    assert.deepEqual(data.manifest.lengths.quantiles.p50, 2.5);
  }),
);

test(
  "datasets in subgroups (infos/qpos) are named by their path, in D4RL and Minari files",
  withTmp(async (dir) => {
    const file = path.join(dir, "nested.hdf5");
    await writeHdf5(file, {
      observations: { data: Float32Array.of(0, 1, 2), shape: [3, 1] },
      "infos/qpos": { data: Float32Array.of(0, 0, 1, 1, 2, 2), shape: [3, 2] },
      actions: { data: Float32Array.of(0.1, 0.2, 0.3), shape: [3, 1] },
      rewards: { data: Float32Array.of(1, 1, 1), shape: [3] },
      "infos/done": { data: Int8Array.of(0, 0, 1), shape: [3] },
    });
    const data = await loadDataset(file, { columns: { observations: "infos/qpos", terminals: "infos/done" } });
    assert.equal(data.obsDim, 2);
    assert.deepEqual([...data.episodes[0]!.observations], [0, 0, 1, 1, 2, 2]);
    assert.deepEqual(data.manifest.source.columns, { observations: "infos/qpos", actions: "actions", rewards: "rewards", terminals: "infos/done" });
    // Paths as h5ls and h5py print them name the same datasets, and the manifest names them one way.
    const printed = await loadDataset(file, { columns: { observations: "/infos/qpos/", terminals: "infos//done" } });
    assert.deepEqual(printed.manifest.source.columns, data.manifest.source.columns);
    await assert.rejects(
      loadDataset(file, { columns: { observations: "infos/qvel", terminals: "infos/done" } }),
      /--obs-column names "infos\/qvel", but there is no such column; found datasets \(one in a subgroup is named by its path, such as "infos\/qpos"\): "actions", "infos", "observations", "rewards"/,
    );
    await assert.rejects(loadDataset(file, { columns: { observations: "infos", terminals: "infos/done" } }), /"infos" is a group .*; expected a numeric dataset of one row a step/);

    const minari = path.join(dir, "main_data.hdf5");
    await writeHdf5(minari, {
      "episode_0/observations": { data: Float32Array.of(0, 1, 2), shape: [3, 1] },
      "episode_0/infos/pos": { data: Float32Array.of(5, 6, 7), shape: [3, 1] },
      "episode_0/actions": { data: Float32Array.of(0.5, 0.5), shape: [2, 1] },
      "episode_0/rewards": { data: Float64Array.of(1, 2), shape: [2] },
      "episode_0/terminations": { data: Int8Array.of(0, 1), shape: [2] },
      "episode_0/truncations": { data: Int8Array.of(0, 0), shape: [2] },
    });
    const fromMinari = await loadDataset(minari, { columns: { observations: "infos/pos" } });
    assert.deepEqual([...fromMinari.episodes[0]!.observations], [5, 6]);
    // Below each episode group: a path from the file's root names no dataset there (it would give
    // every episode the same data).
    await assert.rejects(loadDataset(minari, { columns: { rewards: "/episode_0/rewards" } }), /--reward-column names "episode_0\/rewards", but there is no such column; found datasets in "episode_0"/);
  }),
);

test(
  "D4RL observations of more than one axis a step (small images) are read flat, in row-major order",
  withTmp(async (dir) => {
    const file = path.join(dir, "frames.hdf5");
    // 3 steps of 2x3 frames: value = 10 * step + position in the frame.
    const frames = Uint8Array.from({ length: 18 }, (_, i) => 10 * Math.floor(i / 6) + (i % 6));
    await writeHdf5(file, {
      observations: { data: frames, shape: [3, 2, 3] },
      actions: { data: Float32Array.of(0.1, 0.2, 0.3), shape: [3, 1] },
      rewards: { data: Float32Array.of(1, 1, 1), shape: [3] },
      terminals: { data: Int8Array.of(0, 0, 1), shape: [3] },
    });
    const data = await loadDataset(file);
    assert.equal(data.obsDim, 6);
    assert.deepEqual([...data.episodes[0]!.observations], [...frames]);
  }),
);

test(
  "Minari: 12 episode groups are read in numeric order (episode_10 after episode_9), final observation dropped",
  withTmp(async (dir) => {
    const file = path.join(dir, "main_data.hdf5");
    const datasets: Parameters<typeof writeHdf5>[1] = {};
    for (let e = 0; e < 12; e++) {
      const length = 3 + e;
      // Episode e: every reward is e, so its return is e * length and order is visible.
      datasets[`episode_${e}/observations`] = { data: Float32Array.from({ length: (length + 1) * 2 }, (_, i) => e * 1000 + i), shape: [length + 1, 2], gzip: e % 2 === 0 };
      datasets[`episode_${e}/actions`] = { data: Float32Array.from({ length: length * 1 }, (_, i) => (i % 3) * 0.5 - 0.5), shape: [length, 1] };
      datasets[`episode_${e}/rewards`] = { data: new Float64Array(length).fill(e), shape: [length] };
      const terminations = new Int8Array(length);
      const truncations = new Int8Array(length);
      if (e % 3 === 0) terminations[length - 1] = 1;
      else truncations[length - 1] = 1;
      datasets[`episode_${e}/terminations`] = { data: terminations, shape: [length] };
      datasets[`episode_${e}/truncations`] = { data: truncations, shape: [length] };
    }
    await writeHdf5(file, datasets);
    const data = await loadDataset(file);
    assert.equal(data.manifest.source.layout, "minari");
    assert.deepEqual(data.episodes.map((ep) => ep.length), Array.from({ length: 12 }, (_, e) => 3 + e));
    assert.deepEqual(data.episodes.map((ep) => ep.returnsToGo[0]), Array.from({ length: 12 }, (_, e) => e * (3 + e)));
    assert.deepEqual(data.episodes.map((ep) => ep.terminated), Array.from({ length: 12 }, (_, e) => e % 3 === 0));
    const ep10 = data.episodes[10]!;
    assert.equal(ep10.observations.length, 13 * 2);
    assert.equal(ep10.observations[ep10.observations.length - 1], 10_000 + 13 * 2 - 1);
    assert.deepEqual(data.actionSpace, { kind: "continuous", dim: 1, low: [-0.5], high: [0.5] });
  }),
);

test("a float16 dataset (h5py writes them; h5wasm cannot read them) is named with its type, not called corrupt", async () => {
  const file = path.join(FIXTURES, "hdf5", "observations-float16.hdf5");
  await assert.rejects(loadDataset(file), (err: unknown) => {
    assert.ok(err instanceof InputError);
    assert.match(err.message, /observations-float16\.hdf5: dataset "observations" has type float16; expected float32 or float64/);
    assert.doesNotMatch(err.message, /corrupt/);
    return true;
  });
});

test("a dataset compressed by an HDF5 plugin (h5py's LZF) is named with its filter, not called corrupt; gzip is read", async () => {
  const file = path.join(FIXTURES, "hdf5", "observations-lzf.hdf5");
  await assert.rejects(loadDataset(file), (err: unknown) => {
    assert.ok(err instanceof InputError);
    assert.match(err.message, /observations-lzf\.hdf5: dataset "observations" is compressed with the lzf filter \(HDF5 filter 32000\), a plugin snndt's HDF5 reader does not have; expected no compression or gzip \(rewrite it, e\.g\. with h5py: compression="gzip"\)/);
    assert.doesNotMatch(err.message, /corrupt/);
    return true;
  });
  // Its gzip-compressed actions are read (with the observations taken from another dataset).
  const data = await loadDataset(file, { columns: { observations: "rewards" } });
  assert.equal(data.manifest.steps, 20);
});

test(
  "Minari: the action space declared by metadata.json (0.5) or the root attribute (0.4) is the dataset's, unless a flag declares another",
  withTmp(async (dir) => {
    // Two episodes of one-dimensional actions in [-0.5, 0.5].
    const datasets: Parameters<typeof writeHdf5>[1] = {};
    for (const e of [0, 1]) {
      datasets[`episode_${e}/observations`] = { data: Float32Array.from({ length: 4 * 2 }, (_, i) => i + e), shape: [4, 2] };
      datasets[`episode_${e}/actions`] = { data: Float32Array.of(-0.5, 0.25, 0.5), shape: [3, 1] };
      datasets[`episode_${e}/rewards`] = { data: Float64Array.of(1, 2, 3), shape: [3] };
      datasets[`episode_${e}/terminations`] = { data: Int8Array.of(0, 0, 1), shape: [3] };
      datasets[`episode_${e}/truncations`] = { data: Int8Array.of(0, 0, 0), shape: [3] };
    }
    const v05 = path.join(dir, "v05", "data");
    mkdirSync(v05, { recursive: true });
    const file = path.join(v05, "main_data.hdf5");
    await writeHdf5(file, datasets);
    // As Python's json.dump writes it: each space a JSON string, unbounded observations as bare Infinity.
    const box = (low: number[], high: number[]) => JSON.stringify({ type: "Box", dtype: "float32", shape: [low.length], low, high });
    const metadata = (actionSpace: string) =>
      `{"total_episodes": 2, "total_steps": 6, "data_format": "hdf5", ` +
      `"observation_space": ${JSON.stringify(box([0, 0], [1, 1]).replace(/\[0, ?0\]/, "[-Infinity, -Infinity]"))}, ` +
      `"action_space": ${JSON.stringify(actionSpace)}, "minari_version": "0.5.2"}`;
    const metadataFile = path.join(v05, "metadata.json");
    writeFileSync(metadataFile, metadata(box([-2], [2])));
    assert.match(readFileSync(metadataFile, "utf8"), /\[-Infinity, -Infinity\]/);
    const declared = await loadDataset(file);
    assert.deepEqual(declared.actionSpace, { kind: "continuous", dim: 1, low: [-2], high: [2] });
    assert.equal(declared.manifest.action_space_declared_by, `${metadataFile}: "action_space"`);
    const flagged = await loadDataset(file, { actionSpace: { kind: "continuous", bounds: { low: [-1], high: [1] } } });
    assert.deepEqual([flagged.actionSpace, flagged.manifest.action_space_declared_by], [{ kind: "continuous", dim: 1, low: [-1], high: [1] }, "--action-low/--action-high"]);
    assert.match(flagged.manifest.warnings.join("\n"), /the action space continuous, low \[-2\], high \[2\] declared by .*metadata\.json: "action_space" is set aside for continuous, low \[-1\], high \[1\], as the command line declares/);
    // A flag naming only the kind the file declares keeps the file's bounds.
    assert.deepEqual((await loadDataset(file, { actionSpace: { kind: "continuous" } })).actionSpace, declared.actionSpace);

    // A declared space the data breaks is an error naming the metadata; one snndt cannot use is a warning.
    writeFileSync(metadataFile, metadata(box([-0.25], [1])));
    await assert.rejects(
      loadDataset(file),
      (err: unknown) =>
        err instanceof InputError &&
        err.message.includes(`holds -0.5, outside the action bounds [-0.25, 1] declared by ${metadataFile}: "action_space". Declare the space with --action-n or --action-low/--action-high to set the file's declaration aside.`),
    );
    writeFileSync(metadataFile, metadata(JSON.stringify({ type: "Discrete", dtype: "int64", start: 1, n: 3 })));
    const shifted = await loadDataset(file);
    assert.deepEqual([shifted.actionSpace, shifted.manifest.action_space_declared_by], [{ kind: "continuous", dim: 1, low: [-0.5], high: [0.5] }, null]);
    assert.match(shifted.manifest.warnings.join("\n"), /"action_space" declares Discrete\(3, start=1\); snndt's discrete actions are indices from 0; the action space is read off the data instead/);
    writeFileSync(metadataFile, "{not json");
    assert.match((await loadDataset(file)).manifest.warnings.join("\n"), /metadata\.json is not valid JSON .*; the action space is read off the data instead/);

    // Minari 0.4: the same string as an attribute of the HDF5 file's root, no metadata.json.
    const v04 = path.join(dir, "v04.hdf5");
    await writeHdf5(v04, datasets);
    const h5 = await h5wasm();
    const f = new h5.File(v04, "a");
    f.create_attribute("action_space", box([-1], [1]));
    f.close();
    const fromAttribute = await loadDataset(v04);
    assert.deepEqual(fromAttribute.actionSpace, { kind: "continuous", dim: 1, low: [-1], high: [1] });
    assert.equal(fromAttribute.manifest.action_space_declared_by, `the file's root attribute "action_space"`);
    // metadata.json speaks for main_data.hdf5 only, and only when it names an action space.
    const beside = path.join(v05, "other.hdf5");
    copyFileSync(v04, beside);
    writeFileSync(metadataFile, metadata(box([-2], [2])));
    assert.equal((await loadDataset(beside)).manifest.action_space_declared_by, `the file's root attribute "action_space"`);
    copyFileSync(v04, file);
    writeFileSync(metadataFile, `{"total_episodes": 2, "data_format": "hdf5"}`);
    assert.deepEqual((await loadDataset(file)).actionSpace, fromAttribute.actionSpace);
    writeFileSync(metadataFile, "{not json");
    const broken = await loadDataset(file);
    assert.deepEqual(broken.actionSpace, fromAttribute.actionSpace);
    assert.match(broken.manifest.warnings.join("\n"), /metadata\.json is not valid JSON .*; the file's root attribute declares the action space instead/);
    // A discrete declaration over actions that are not indices names who declared it.
    writeFileSync(metadataFile, metadata(JSON.stringify({ type: "Discrete", dtype: "int64", start: 0, n: 3 })));
    await assert.rejects(
      loadDataset(file),
      (err: unknown) => err instanceof InputError && /holds -0\.5, but .*metadata\.json: "action_space" declares a discrete space, whose actions are non-negative integer indices\. Declare the space/.test(err.message),
    );
  }),
);

test("parsePythonJson reads the bare Infinity and NaN Python writes, and leaves strings alone", () => {
  assert.deepEqual(parsePythonJson('{"low": [-Infinity, 0], "high": [Infinity, NaN], "name": "Infinity \\" NaN"}'), {
    low: [-Infinity, 0],
    high: [Infinity, null],
    name: 'Infinity " NaN',
  });
});

test(
  "a D4RL-style file with no episode ends is refused, and so are both end flags declared absent",
  withTmp(async (dir) => {
    const file = path.join(dir, "no-ends.hdf5");
    await writeHdf5(file, {
      observations: { data: Float32Array.from([0, 1, 2, 3]), shape: [4, 1] },
      actions: { data: Float32Array.from([0, 1, 0, 1]), shape: [4] },
      rewards: { data: Float32Array.from([1, 1, 1, 1]), shape: [4] },
    });
    await assert.rejects(loadDataset(file), /no-ends\.hdf5: no "terminals" or "timeouts" dataset \(or --terminal-column \/ --timeout-column\), so episode ends cannot be found; found datasets: "actions", "observations", "rewards".*\. If the episodes are of one fixed length, say 200 steps, one after another, add a "timeouts" dataset true at each episode's last step \(h5py: f\["timeouts"\] = numpy\.arange\(len\(f\["rewards"\]\)\) % 200 == 199\)\./);
    // One flag declared absent, the other missing: the datasets found are listed, as above.
    await assert.rejects(loadDataset(file, { columns: { terminals: "none" } }), /no-ends\.hdf5: no "terminals" or "timeouts" dataset .*found datasets: "actions", "observations", "rewards".*\. If the episodes are of one fixed length, say 200 steps, one after another, add a "timeouts" dataset true at each episode's last step \(h5py: f\["timeouts"\] = numpy\.arange\(len\(f\["rewards"\]\)\) % 200 == 199\)\./);
    // The file's own flags set aside: the list of what it holds says why they were not taken.
    const onlyTerminals = path.join(dir, "only-terminals.hdf5");
    await writeHdf5(onlyTerminals, {
      observations: { data: Float32Array.from([0, 1, 2, 3]), shape: [4, 1] },
      actions: { data: Float32Array.from([0, 1, 0, 1]), shape: [4] },
      rewards: { data: Float32Array.from([1, 1, 1, 1]), shape: [4] },
      terminals: { data: Int8Array.from([0, 1, 0, 1]), shape: [4] },
    });
    await assert.rejects(
      loadDataset(onlyTerminals, { columns: { terminals: "none" } }),
      /found datasets: "actions", "observations", "rewards", "terminals"; --terminal-column none said not to look for that: name the ones that mark episodes instead\./,
    );
    const sample = path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5");
    // A flag dataset named for a second role: refused, in D4RL and Minari files alike.
    await assert.rejects(
      loadDataset(sample, { columns: { timeouts: "terminals" } }),
      /pendulum-d4rl\.hdf5: dataset "terminals" would be read as both terminals \(found by its name\) and timeouts \(--timeout-column\); name another dataset for one of them \(none for terminals or timeouts not to be read\)/,
    );
    await assert.rejects(
      loadDataset(path.join(FIXTURES, "samples", "pendulum-minari.hdf5"), { columns: { timeouts: "terminations" } }),
      /pendulum-minari\.hdf5: dataset "terminations" would be read as both terminals \(found by its name\) and timeouts \(--timeout-column\)/,
    );
    await assert.rejects(
      loadDataset(sample, { columns: { terminals: "none", timeouts: "none" } }),
      /--terminal-column\/--timeout-column none leave no "terminals" or "timeouts" dataset to end episodes at; a D4RL-style file needs at least one of them/,
    );
  }),
);

test("observations that never change are warned about: a model trained on them cannot see the state", async () => {
  // The D4RL sample's infos/qpos is all zeros: a plausible but wrong --obs-column.
  const sample = path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5");
  const blind = await loadDataset(sample, { columns: { observations: "infos/qpos" } });
  assert.ok(
    blind.manifest.warnings.some((w) => w.includes('every observation value is the same at every step (std 0 in each of its 2 dimensions): a model trained on it cannot see the state; check the observation column ("infos/qpos")')),
    blind.manifest.warnings.join("\n"),
  );
  const seeing = await loadDataset(sample);
  assert.ok(!seeing.manifest.warnings.some((w) => w.includes("std 0")));
});
