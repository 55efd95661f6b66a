/**
 * Minari dataset directories: the arrow and parquet storages (one part-0.arrow or part-0.parquet an
 * episode, every column one row longer than the steps) read to the same episodes as the hdf5
 * storage, their declared action space, and the ways such a directory can be incomplete. The files
 * are written here by apache-arrow and parquet-wasm in the layout Minari's storages write through
 * pyarrow (pyarrow is not installable here); the episodes are those of the h5py-written Minari sample.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Field, Struct, Table, Utf8, type Vector } from "apache-arrow";
import { datasetKindAt, loadDataset } from "../../src/data/dataset.js";
import { minariDatasetName } from "../../src/data/minari-directory.js";
import { InputError, UsageError } from "../../src/runtime/errors.js";
import { bool, f64, fixedList, h5wasm, int32, int64, vec, withTmp, writeArrow, writeHdf5, writeParquet } from "./make-files.js";
import { FIXTURES } from "../helpers/paths.js";
import { runCli } from "../helpers/cli.js";

const SAMPLE = path.join(FIXTURES, "samples", "pendulum-minari.hdf5");
const truth = JSON.parse(readFileSync(path.join(FIXTURES, "samples", "truth.json"), "utf8")) as Record<string, { episodes: Array<{ length: number; return: number }> }>;

/** One episode as Minari holds it: T+1 observations, T of the rest. */
interface SourceEpisode {
  observations: number[][];
  actions: number[][] | number[];
  rewards: number[];
  terminations: boolean[];
  truncations: boolean[];
}

/** The episodes of the h5py-written Minari sample, final observations included. */
async function sampleEpisodes(): Promise<SourceEpisode[]> {
  const mod = await h5wasm();
  const f = new mod.File(SAMPLE, "r");
  try {
    const names = f.keys().sort((a, b) => Number(a.split("_")[1]) - Number(b.split("_")[1]));
    return names.map((name) => {
      const read = (what: string): { values: number[]; width: number } => {
        const ds = f.get(`${name}/${what}`) as import("h5wasm").Dataset;
        const shape = ds.shape!;
        return { values: Array.from(ds.value as ArrayLike<number>, Number), width: shape.length > 1 ? shape[1]! : 1 };
      };
      const rows = ({ values, width }: { values: number[]; width: number }) => Array.from({ length: values.length / width }, (_, r) => values.slice(r * width, (r + 1) * width));
      return {
        observations: rows(read("observations")),
        actions: rows(read("actions")),
        rewards: read("rewards").values,
        terminations: read("terminations").values.map(Boolean),
        truncations: read("truncations").values.map(Boolean),
      };
    });
  } finally {
    f.close();
  }
}

const box = (low: number[], high: number[]): string => JSON.stringify({ type: "Box", dtype: "float32", shape: [low.length], low, high });

interface WriteOptions {
  actionSpace: string;
  observationSpace?: string;
  /** Replace an episode's observation column (a Dict space's struct, say). */
  observationColumn?: (episode: SourceEpisode) => Vector;
  /** Leave out the padding row Minari appends (a storage written some other way). */
  unpadded?: boolean;
  storage?: "arrow" | "parquet";
  /** The type of Discrete actions: int32 (Minari's current writer) or the space's dtype (int64, its earlier one). */
  discreteType?: typeof int32 | typeof int64;
}

/**
 * Write `episodes` as Minari's ArrowStorage (or ParquetStorage) does: data/metadata.json (json.dump
 * of the dataset's metadata, each space a JSON string), and for episode i data/i/part-0.arrow (or
 * .parquet; the partition column episode_id left out of the file) with data/i/metadata.json.
 */
async function writeMinariDataset(root: string, episodes: SourceEpisode[], options: WriteOptions): Promise<string> {
  const data = path.join(root, "data");
  mkdirSync(data, { recursive: true });
  for (const [id, ep] of episodes.entries()) {
    const dir = path.join(data, String(id));
    mkdirSync(dir);
    const steps = ep.rewards.length;
    const pad = options.unpadded ? 0 : 1;
    const rows = steps + pad;
    const discrete = typeof ep.actions[0] === "number";
    const actions = discrete
      ? vec(
          [...(ep.actions as number[]), ...Array(pad).fill(0)].map((a) => (options.discreteType === int64 ? BigInt(a) : a)),
          options.discreteType ?? int32,
        )
      : vec([...(ep.actions as number[][]), ...Array(pad).fill((ep.actions as number[][])[0]!.map(() => 0))], fixedList((ep.actions as number[][])[0]!.length));
    const observations = options.observationColumn?.(ep) ?? vec(ep.observations.slice(0, rows), fixedList(ep.observations[0]!.length));
    const columns = {
      observations,
      actions,
      rewards: vec([...ep.rewards, ...Array(pad).fill(0)], f64),
      terminations: vec([...ep.terminations, ...Array(pad).fill(false)], bool),
      truncations: vec([...ep.truncations, ...Array(pad).fill(false)], bool),
      infos: vec(Array(rows).fill("{}"), new Utf8()),
    };
    if (options.storage === "parquet") await writeParquet(path.join(dir, "part-0.parquet"), new Table(columns));
    else await writeArrow(path.join(dir, "part-0.arrow"), columns);
    writeFileSync(path.join(dir, "metadata.json"), `{"id": ${id}, "total_steps": ${steps}, "seed": ${100 + id}}`);
  }
  const steps = episodes.reduce((sum, ep) => sum + ep.rewards.length, 0);
  const observationSpace = options.observationSpace ?? box([-1, -1, -8], [1, 1, 8]);
  writeFileSync(
    path.join(data, "metadata.json"),
    `{"total_episodes": ${episodes.length}, "total_steps": ${steps}, "data_format": "${options.storage ?? "arrow"}", ` +
      `"observation_space": ${JSON.stringify(observationSpace)}, "action_space": ${JSON.stringify(options.actionSpace)}, ` +
      `"dataset_id": "test/pendulum/arrow-v0", "minari_version": "0.5.3"}`,
  );
  return data;
}

/** What `sha256sum metadata.json 0/part-0.arrow 1/part-0.arrow ... | sha256sum` prints in data/. */
function listingSha256(data: string, episodes: number): { sha256: string; bytes: number } {
  const files = ["metadata.json", ...Array.from({ length: episodes }, (_, id) => `${id}/part-0.arrow`)];
  const listing = files.map((file) => `${createHash("sha256").update(readFileSync(path.join(data, file))).digest("hex")}  ${file}\n`).join("");
  return { sha256: createHash("sha256").update(listing).digest("hex"), bytes: files.reduce((sum, file) => sum + statSync(path.join(data, file)).size, 0) };
}

test(
  "Minari arrow storage: the dataset directory or its data/ reads to the episodes of the hdf5 storage, with the declared action space",
  withTmp(async (dir) => {
    const episodes = await sampleEpisodes();
    assert.equal(episodes.length, 12);
    const data = await writeMinariDataset(dir, episodes, { actionSpace: box([-2], [2]) });
    const fromHdf5 = await loadDataset(SAMPLE);
    for (const input of [dir, data]) {
      const loaded = await loadDataset(input);
      // Episode 10 comes after 9 although its directory name sorts before 2.
      assert.equal(loaded.episodesSha256, fromHdf5.episodesSha256, input);
      assert.deepEqual(
        loaded.episodes.map((ep) => ep.length),
        truth["pendulum-minari.hdf5"]!.episodes.map((ep) => ep.length),
      );
      loaded.episodes.forEach((ep, e) => assert.ok(Math.abs(ep.returnsToGo[0]! - truth["pendulum-minari.hdf5"]!.episodes[e]!.return) < 1e-3));
      assert.ok(loaded.episodes.every((ep) => ep.truncated && !ep.terminated));
      const { source } = loaded.manifest;
      assert.deepEqual([source.format, source.layout, source.path], ["arrow-file", "minari", data]);
      assert.deepEqual(source.columns, { observations: "observations", actions: "actions", rewards: "rewards", terminals: "terminations", timeouts: "truncations" });
      assert.deepEqual({ sha256: source.sha256, bytes: source.bytes }, listingSha256(data, 12));
      assert.deepEqual(loaded.actionSpace, { kind: "continuous", dim: 1, low: [-2], high: [2] });
      assert.equal(loaded.manifest.action_space_declared_by, `${path.join(data, "metadata.json")}: "action_space"`);
      assert.deepEqual(loaded.manifest.warnings, []);
    }
    // The hash covers the metadata, which declares the space.
    const before = (await loadDataset(dir)).manifest.source.sha256;
    appendFileSync(path.join(data, "metadata.json"), "\n");
    assert.notEqual((await loadDataset(dir)).manifest.source.sha256, before);
  }),
);

test(
  "Minari parquet storage: read to the episodes of the hdf5 storage",
  withTmp(async (dir) => {
    const data = await writeMinariDataset(dir, await sampleEpisodes(), { actionSpace: box([-2], [2]), storage: "parquet" });
    const loaded = await loadDataset(dir);
    assert.equal(loaded.episodesSha256, (await loadDataset(SAMPLE)).episodesSha256);
    assert.deepEqual([loaded.manifest.source.format, loaded.manifest.source.layout, loaded.manifest.source.path], ["parquet", "minari", data]);
    assert.deepEqual(loaded.actionSpace, { kind: "continuous", dim: 1, low: [-2], high: [2] });
    // An arrow file where the metadata names parquet is not an episode of this storage.
    writeFileSync(path.join(data, "5", "part-0.arrow"), "");
    await assert.rejects(loadDataset(dir), /data\/5: expected one episode file part-0\.parquet \(and metadata\.json\), as Minari writes them, but found: part-0\.arrow, part-0\.parquet/);
  }),
);

test(
  "Minari arrow storage: Discrete actions (int32) are discrete, with the declared n",
  withTmp(async (dir) => {
    // Twelve CartPole-like episodes that only ever push left: n = 2 comes from the declaration.
    const episodes: SourceEpisode[] = Array.from({ length: 12 }, (_, e) => {
      const steps = 3 + e;
      return {
        observations: Array.from({ length: steps + 1 }, (_, t) => [t, e, 0.5, -0.5]),
        actions: Array(steps).fill(0),
        rewards: Array(steps).fill(1),
        terminations: Array.from({ length: steps }, (_, t) => t === steps - 1),
        truncations: Array(steps).fill(false),
      };
    });
    await writeMinariDataset(dir, episodes, { actionSpace: JSON.stringify({ type: "Discrete", dtype: "int64", start: 0, n: 2 }), observationSpace: box([-5, -5, -1, -1], [5, 5, 1, 1]) });
    const loaded = await loadDataset(dir);
    assert.deepEqual(loaded.actionSpace, { kind: "discrete", n: 2 });
    assert.deepEqual(loaded.episodes.map((ep) => ep.length), episodes.map((ep) => ep.rewards.length));
    assert.deepEqual(Array.from(loaded.episodes[11]!.observations.slice(0, 8)), [0, 11, 0.5, -0.5, 1, 11, 0.5, -0.5]);
    assert.ok(loaded.episodes.every((ep) => ep.terminated && !ep.truncated));
  }),
);

test(
  "Minari dataset directories: an incomplete or unreadable one is an error naming the file and what was expected",
  withTmp(async (dir) => {
    const episodes = (await sampleEpisodes()).slice(0, 4);
    const rejects = async (input: string, pattern: RegExp, kind: typeof InputError | typeof UsageError = InputError, options = {}) =>
      assert.rejects(loadDataset(input, options), (err: unknown) => {
        assert.ok(err instanceof kind, String(err));
        assert.match((err as Error).message, pattern);
        return true;
      });
    const fresh = async (name: string, options: WriteOptions = { actionSpace: box([-2], [2]) }): Promise<string> => {
      const root = path.join(dir, name);
      await writeMinariDataset(root, episodes, options);
      return root;
    };

    const missing = await fresh("missing");
    rmSync(path.join(missing, "data", "2"), { recursive: true });
    await rejects(missing, /data\/metadata\.json: "total_episodes" is 4, so episodes 0\.\.3, but .*data holds 3 episode directories; missing: 2; the dataset is incomplete/);
    // Minari names episode 2's directory "2": a "02" is no episode of the dataset.
    const padded = await fresh("padded");
    renameSync(path.join(padded, "data", "2"), path.join(padded, "data", "02"));
    await rejects(padded, /"total_episodes" is 4, so episodes 0\.\.3, but .*data holds 3 episode directories; missing: 2;/);
    // Four directories, but not episodes 0..3; more directories than episodes.
    // A link that points at itself is no episode directory.
    const looped = await fresh("looped");
    rmSync(path.join(looped, "data", "1"), { recursive: true });
    symlinkSync("1", path.join(looped, "data", "1"));
    await rejects(looped, /holds 3 episode directories; missing: 1;/);
    const moved = await fresh("moved");
    renameSync(path.join(moved, "data", "3"), path.join(moved, "data", "9"));
    await rejects(moved, /holds 4 episode directories; missing: 3;/);
    const beyond = await fresh("beyond");
    const beyondMetadata = path.join(beyond, "data", "metadata.json");
    writeFileSync(beyondMetadata, readFileSync(beyondMetadata, "utf8").replace('"total_episodes": 4', '"total_episodes": 3'));
    await rejects(beyond, /"total_episodes" is 3, so episodes 0\.\.2, but .*data holds 4 episode directories; beyond them: 3;/);
    // A count no dataset has is named at once, without walking it.
    writeFileSync(beyondMetadata, readFileSync(beyondMetadata, "utf8").replace('"total_episodes": 3', '"total_episodes": 3000000000'));
    await rejects(beyond, /"total_episodes" is 3000000000, so episodes 0\.\.2999999999, but .*holds 4 episode directories; missing: 4, 5, 6, 7, 8, \.\.\./);
    writeFileSync(beyondMetadata, readFileSync(beyondMetadata, "utf8").replace('"total_episodes": 3000000000', '"total_episodes": "4"'));
    await rejects(beyond, /data\/metadata\.json: "total_episodes" is "4"; expected a count \(a non-negative integer\)/);
    writeFileSync(beyondMetadata, readFileSync(beyondMetadata, "utf8").replace('"total_episodes": "4"', '"total_episodes": 0'));
    await rejects(beyond, /"total_episodes" is 0; the dataset is empty/);
    writeFileSync(beyondMetadata, "[1]");
    await rejects(beyond, /data\/metadata\.json: holds \[1\]; expected Minari's dataset metadata \(a JSON object\)/);
    writeFileSync(beyondMetadata, `{"total_episodes": 4}`);
    await rejects(beyond, /data\/metadata\.json: names no "data_format", and no main_data\.hdf5 is beside it/);
    const episodeSteps = await fresh("episode-steps");
    writeFileSync(path.join(episodeSteps, "data", "1", "metadata.json"), `{"id": 1, "total_steps": 200.5}`);
    await rejects(episodeSteps, /data\/1\/metadata\.json: "total_steps" is 200\.5; expected a count/);

    await rejects(await fresh("unpadded", { actionSpace: box([-2], [2]), unpadded: true }), /data\/0\/part-0\.arrow: holds 200 rows, but .*data\/0\/metadata\.json records total_steps 200; expected 201 rows/);

    const cut = await fresh("cut");
    const part = path.join(cut, "data", "1", "part-0.arrow");
    truncateSync(part, statSync(part).size - 100);
    await rejects(cut, new RegExp(`${part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the file starts like an Arrow IPC file .* truncated or corrupt`));

    const dangling = await fresh("dangling");
    const danglingPart = path.join(dangling, "data", "1", "part-0.arrow");
    rmSync(danglingPart);
    symlinkSync(path.join(dir, "not-fetched"), danglingPart);
    await rejects(dangling, /data\/1\/part-0\.arrow: no such file \(a link to a file that is not there\?\); the dataset is incomplete/);
    rmSync(danglingPart);
    mkdirSync(danglingPart);
    await rejects(dangling, /data\/1\/part-0\.arrow is not a file; expected the episode's arrow file/);
    rmSync(danglingPart, { recursive: true });
    writeFileSync(danglingPart, "");
    await rejects(dangling, /data\/1\/part-0\.arrow is not a dataset snndt can read: .* but found an empty file/);

    // Older pyarrow named the same file part-0.feather.
    const feather = await fresh("feather");
    renameSync(path.join(feather, "data", "2", "part-0.arrow"), path.join(feather, "data", "2", "part-0.feather"));
    assert.equal((await loadDataset(feather)).episodes.length, 4);

    const extra = await fresh("extra");
    writeFileSync(path.join(extra, "data", "3", "part-1.arrow"), "");
    await rejects(extra, /data\/3: expected one episode file part-0\.arrow \(and metadata\.json\), as Minari writes them, but found: part-0\.arrow, part-1\.arrow/);

    const steps = await fresh("steps");
    const metadataFile = path.join(steps, "data", "metadata.json");
    writeFileSync(metadataFile, readFileSync(metadataFile, "utf8").replace(/"total_steps": \d+/, '"total_steps": 5'));
    await rejects(steps, /"total_steps" is 5, but the episode files hold 800 steps/);

    const unknown = await fresh("unknown");
    writeFileSync(path.join(unknown, "data", "metadata.json"), `{"total_episodes": 4, "data_format": "zarr"}`);
    await rejects(unknown, /data\/metadata\.json: "data_format" is "zarr"; expected "hdf5", "arrow" or "parquet" \(Minari's storages\)/);

    const dict = await fresh("dict", {
      actionSpace: box([-2], [2]),
      observationColumn: (ep) =>
        vec(
          ep.observations.map(([c, s, w]) => ({ angle: [c, s], velocity: w })),
          new Struct([new Field("angle", fixedList(2)), new Field("velocity", f64)]),
        ),
    });
    await rejects(dict, /part-0\.arrow: "observations" is a group of 2 parts, but the declared space is a Box \(declared by .*metadata\.json: "observation_space"\)/);

    await rejects(await fresh("flags"), /--episode-column applies to Arrow and Parquet files of a row a step only; a Minari dataset's episodes are its episode directories/, UsageError, { columns: { episode: "episode_id" } });
    await rejects(await fresh("shared"), /part-0\.arrow: column "terminations" would be read as both terminals \(found by its name\) and timeouts \(--timeout-column\)/, UsageError, { columns: { timeouts: "terminations" } });

    const plain = path.join(dir, "plain");
    mkdirSync(plain);
    await rejects(plain, /plain is a directory, but neither a prepared dataset \(no manifest\.json\) nor a Minari dataset \(no data\/metadata\.json or data\/main_data\.hdf5\)/);
  }),
);

test(
  "Minari arrow storage: symbolic links to episode directories, a missing episode metadata.json and int64 Discrete actions",
  withTmp(async (dir) => {
    const episodes: SourceEpisode[] = [3, 4, 5].map((steps) => ({
      observations: Array.from({ length: steps + 1 }, (_, t) => [t, steps]),
      actions: Array.from({ length: steps }, (_, t) => t % 3),
      rewards: Array(steps).fill(-1),
      terminations: Array.from({ length: steps }, (_, t) => t === steps - 1),
      truncations: Array(steps).fill(false),
    }));
    const data = await writeMinariDataset(path.join(dir, "store"), episodes, { actionSpace: JSON.stringify({ type: "Discrete", dtype: "int64", start: 0, n: 4 }), observationSpace: box([0, 0], [9, 9]), discreteType: int64 });
    // A dataset assembled from links into a cache, one of whose episodes lost its metadata.
    const linked = path.join(dir, "linked", "data");
    mkdirSync(linked, { recursive: true });
    copyFileSync(path.join(data, "metadata.json"), path.join(linked, "metadata.json"));
    for (const id of [0, 1, 2]) symlinkSync(path.join(data, String(id)), path.join(linked, String(id)));
    rmSync(path.join(data, "2", "metadata.json"));
    const loaded = await loadDataset(path.join(dir, "linked"));
    assert.deepEqual(loaded.episodes.map((ep) => ep.length), [3, 4, 5]);
    assert.deepEqual(loaded.actionSpace, { kind: "discrete", n: 4 });
    assert.deepEqual(Array.from(loaded.episodes[2]!.actions), [0, 1, 2, 0, 1]);
    assert.equal(loaded.manifest.source.path, linked);
    // Named by the dataset_id its metadata records, which names the environment, not by its directory.
    assert.equal(minariDatasetName(linked), "test-pendulum-arrow-v0");
    assert.equal(minariDatasetName(path.join(dir, "linked")), "test-pendulum-arrow-v0");
    writeFileSync(path.join(linked, "metadata.json"), readFileSync(path.join(linked, "metadata.json"), "utf8").replace('"dataset_id": "test/pendulum/arrow-v0", ', ""));
    assert.equal(minariDatasetName(linked), "linked", "without a dataset_id: the dataset's directory");
  }),
);

test(
  "Minari hdf5 storage by its directory: with data_format, without it, without metadata.json (Minari 0.4), with unusable metadata",
  withTmp(async (dir) => {
    const fromFile = await loadDataset(SAMPLE);
    const data = path.join(dir, "pendulum-v0", "data");
    mkdirSync(data, { recursive: true });
    copyFileSync(SAMPLE, path.join(data, "main_data.hdf5"));
    const metadataFile = path.join(data, "metadata.json");
    const read = async () => {
      const loaded = await loadDataset(path.join(dir, "pendulum-v0"));
      assert.equal(loaded.episodesSha256, fromFile.episodesSha256);
      assert.deepEqual([loaded.manifest.source.format, loaded.manifest.source.layout, loaded.manifest.source.path], ["hdf5", "minari", path.join(data, "main_data.hdf5")]);
      return loaded;
    };
    assert.equal((await read()).manifest.action_space_declared_by, null);
    writeFileSync(metadataFile, `{"total_episodes": 12, "data_format": "hdf5", "action_space": ${JSON.stringify(box([-2], [2]))}}`);
    assert.equal((await read()).manifest.action_space_declared_by, `${metadataFile}: "action_space"`);
    writeFileSync(metadataFile, `{"total_episodes": 12, "action_space": ${JSON.stringify(box([-2], [2]))}}`);
    assert.equal((await read()).manifest.action_space_declared_by, `${metadataFile}: "action_space"`);
    // The counts the metadata records are checked, as for the other storages.
    writeFileSync(metadataFile, `{"total_episodes": 13, "total_steps": 2400, "data_format": "hdf5"}`);
    await assert.rejects(loadDataset(path.join(dir, "pendulum-v0")), /metadata\.json: "total_episodes" is 13, but .*main_data\.hdf5 holds 12 episode groups; the dataset is incomplete or was changed/);
    writeFileSync(metadataFile, `{"total_episodes": 12, "total_steps": 2500, "data_format": "hdf5"}`);
    await assert.rejects(loadDataset(path.join(dir, "pendulum-v0")), /metadata\.json: "total_steps" is 2500, but .*main_data\.hdf5 holds 2400 steps/);
    writeFileSync(metadataFile, `{"total_episodes": 12, "total_steps": 2400, "data_format": "hdf5"}`);
    await read();
    writeFileSync(metadataFile, "[1]");
    assert.match((await read()).manifest.warnings.join("\n"), /metadata\.json holds no JSON object; the action space is read off the data instead/);
    writeFileSync(metadataFile, `{"data_format": "hdf5"}`);
    rmSync(path.join(data, "main_data.hdf5"));
    await assert.rejects(loadDataset(data), /metadata\.json: "data_format" is "hdf5", but .*main_data\.hdf5 is missing; the dataset is incomplete/);
  }),
);

test(
  "prepare-dataset reads a Minari dataset directory: --inspect prints it, --out writes it",
  withTmp(async (dir) => {
    const root = path.join(dir, "pendulum-arrow-v0");
    await writeMinariDataset(root, (await sampleEpisodes()).slice(0, 3), { actionSpace: box([-2], [2]) });
    const inspect = runCli(["prepare-dataset", "--inspect", root]);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /arrow-file, minari layout/);
    assert.match(inspect.stdout, /episodes {4}3 \(0 terminated, 3 truncated\), steps 600/);
    const out = path.join(dir, "prepared");
    const prepare = runCli(["prepare-dataset", root, "--out", out]);
    assert.equal(prepare.status, 0, prepare.stderr);
    assert.ok(existsSync(path.join(out, "steps.arrow")));
    const manifest = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8")) as { source: { path: string }; action_space: unknown };
    assert.equal(manifest.source.path, path.join(root, "data"));
    assert.deepEqual(manifest.action_space, { kind: "continuous", dim: 1, low: [-2], high: [2] });
  }),
);

/** A Dict observation space (keys declared out of order), and its parts as the sample's episodes fill them. */
const dictSpace = JSON.stringify({
  type: "Dict",
  subspaces: {
    velocity: { type: "Box", dtype: "float32", shape: [1], low: [-8], high: [8] },
    angle: { type: "Box", dtype: "float32", shape: [2], low: [-1, -1], high: [1, 1] },
    phase: { type: "Discrete", dtype: "int64", start: 1, n: 3 },
  },
});
const phaseAt = (t: number): number => (t % 3) + 1;

/** Write the sample's episodes with Dict observations as Minari's hdf5 storage does: episode_i/observations/<key> datasets. */
async function writeMinariHdf5(root: string, episodes: SourceEpisode[], observationSpace: string | null, omit: readonly string[] = []): Promise<string> {
  const data = path.join(root, "data");
  mkdirSync(data, { recursive: true });
  const datasets: Record<string, { data: Float32Array | Float64Array | BigInt64Array | Uint8Array; shape: number[] }> = {};
  for (const [id, ep] of episodes.entries()) {
    const rows = ep.observations.length;
    const steps = ep.rewards.length;
    const g = `episode_${id}`;
    // h5py lists a group's members by name; the reader must not depend on that.
    datasets[`${g}/observations/velocity`] = { data: Float32Array.from(ep.observations, (o) => o[2]!), shape: [rows, 1] };
    datasets[`${g}/observations/angle`] = { data: Float32Array.from(ep.observations.flatMap((o) => [o[0]!, o[1]!])), shape: [rows, 2] };
    datasets[`${g}/observations/phase`] = { data: BigInt64Array.from(ep.observations, (_, t) => BigInt(phaseAt(t))), shape: [rows] };
    datasets[`${g}/actions`] = { data: Float32Array.from((ep.actions as number[][]).flat()), shape: [steps, 1] };
    datasets[`${g}/rewards`] = { data: Float64Array.from(ep.rewards), shape: [steps] };
    datasets[`${g}/terminations`] = { data: Uint8Array.from(ep.terminations, Number), shape: [steps] };
    datasets[`${g}/truncations`] = { data: Uint8Array.from(ep.truncations, Number), shape: [steps] };
  }
  for (const name of omit) delete datasets[name];
  await writeHdf5(path.join(data, "main_data.hdf5"), datasets);
  const declared = observationSpace === null ? "" : `"observation_space": ${JSON.stringify(observationSpace)}, `;
  writeFileSync(path.join(data, "metadata.json"), `{"total_episodes": ${episodes.length}, "data_format": "hdf5", ${declared}"action_space": ${JSON.stringify(box([-2], [2]))}}`);
  return data;
}

/** The sample's observation at step t flattened as gymnasium.spaces.flatten does for dictSpace: angle, phase one-hot, velocity. */
function flattenedDict(o: number[], t: number): number[] {
  const oneHot = [0, 0, 0];
  oneHot[phaseAt(t) - 1] = 1;
  return [o[0]!, o[1]!, ...oneHot, o[2]!];
}

test(
  "Minari Dict observations are flattened as Gymnasium's flatten does (sorted keys, Discrete one-hot), alike in the arrow, parquet and hdf5 storages",
  withTmp(async (dir) => {
    const episodes = (await sampleEpisodes()).slice(0, 3);
    const dictColumn = (ep: SourceEpisode): Vector =>
      vec(
        ep.observations.map((o, t) => ({ velocity: [o[2]], angle: [o[0], o[1]], phase: phaseAt(t) })),
        new Struct([new Field("velocity", fixedList(1)), new Field("angle", fixedList(2)), new Field("phase", int32)]),
      );
    const arrow = await writeMinariDataset(path.join(dir, "arrow"), episodes, { actionSpace: box([-2], [2]), observationSpace: dictSpace, observationColumn: dictColumn });
    const parquet = await writeMinariDataset(path.join(dir, "parquet"), episodes, { actionSpace: box([-2], [2]), observationSpace: dictSpace, observationColumn: dictColumn, storage: "parquet" });
    const hdf5 = await writeMinariHdf5(path.join(dir, "hdf5"), episodes, dictSpace);
    const expectedParts = [
      { name: "angle", start: 0, width: 2 },
      { name: "phase", start: 2, width: 3, one_hot: { n: 3, start: 1 } },
      { name: "velocity", start: 5, width: 1 },
    ];
    const loaded = await loadDataset(arrow);
    assert.equal(loaded.obsDim, 6);
    assert.deepEqual(loaded.manifest.observation_parts, expectedParts);
    loaded.episodes.forEach((ep, e) => {
      const expected = episodes[e]!.observations.slice(0, ep.length).flatMap(flattenedDict);
      assert.deepEqual(Array.from(ep.observations), Array.from(Float32Array.from(expected)), `episode ${e}`);
    });
    for (const other of [parquet, hdf5]) {
      const again = await loadDataset(other);
      assert.equal(again.episodesSha256, loaded.episodesSha256, other);
      assert.deepEqual(again.manifest.observation_parts, expectedParts, other);
    }
    const inspect = runCli(["prepare-dataset", "--inspect", path.join(dir, "hdf5")]);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /obs_dim {5}6, flattened from angle \[0, 2\), phase \[2, 5\) one-hot of Discrete\(3, start=1\), velocity \[5, 6\)/);
    // Prepared and loaded again, the manifest still says where each part is.
    const out = path.join(dir, "prepared");
    const prepare = runCli(["prepare-dataset", path.join(dir, "parquet"), "--out", out]);
    assert.equal(prepare.status, 0, prepare.stderr);
    const prepared = await loadDataset(out);
    assert.equal(prepared.episodesSha256, loaded.episodesSha256);
    assert.deepEqual(prepared.manifest.observation_parts, expectedParts);
  }),
);

test(
  "Minari Dict and Tuple observations: undeclared parts are read as values, Tuple parts in index order, and a declaration the data contradicts is refused",
  withTmp(async (dir) => {
    const episodes = (await sampleEpisodes()).slice(0, 2);
    // Undeclared (Minari 0.4 had no metadata.json): the Discrete part is read as the number it holds.
    const undeclared = await writeMinariHdf5(path.join(dir, "undeclared"), episodes, null);
    const plain = await loadDataset(undeclared);
    assert.deepEqual(plain.manifest.observation_parts, [
      { name: "angle", start: 0, width: 2 },
      { name: "phase", start: 2, width: 1 },
      { name: "velocity", start: 3, width: 1 },
    ]);
    const o = episodes[0]!.observations[4]!;
    assert.deepEqual(Array.from(plain.episodes[0]!.observations.subarray(16, 20)), Array.from(Float32Array.from([o[0]!, o[1]!, phaseAt(4), o[2]!])));
    const ragged = await writeMinariHdf5(path.join(dir, "ragged"), episodes, null, ["episode_1/observations/phase"]);
    await assert.rejects(loadDataset(ragged), /"episode_1\/observations" holds the parts "angle" \(2\), "velocity" \(1\) but earlier episodes hold the parts "angle" \(2\), "phase" \(1\), "velocity" \(1\) \(ragged observations\)/);

    // A Tuple (angle, Dict(velocity)) stored with its fields out of order: flattened by index, nested parts included.
    const tupleSpace = JSON.stringify({
      type: "Tuple",
      subspaces: [
        { type: "Box", dtype: "float32", shape: [2], low: [-1, -1], high: [1, 1] },
        { type: "Dict", subspaces: { velocity: { type: "Box", dtype: "float32", shape: [1], low: [-8], high: [8] } } },
      ],
    });
    const tuple = await writeMinariDataset(path.join(dir, "tuple"), episodes, {
      actionSpace: box([-2], [2]),
      observationSpace: tupleSpace,
      observationColumn: (ep) =>
        vec(
          ep.observations.map((ob) => ({ 1: { velocity: [ob[2]] }, 0: [ob[0], ob[1]] })),
          new Struct([new Field("1", new Struct([new Field("velocity", fixedList(1))])), new Field("0", fixedList(2))]),
        ),
    });
    const fromTuple = await loadDataset(tuple);
    assert.deepEqual(fromTuple.manifest.observation_parts, [
      { name: "0", start: 0, width: 2 },
      { name: "1/velocity", start: 2, width: 1 },
    ]);
    const fromBox = await loadDataset(SAMPLE);
    assert.deepEqual(Array.from(fromTuple.episodes[1]!.observations), Array.from(fromBox.episodes[1]!.observations));

    // Declarations the data does not match, and a Discrete part outside its space.
    const mismatched = (space: object): string => JSON.stringify({ type: "Dict", subspaces: { ...JSON.parse(dictSpace).subspaces, ...space } });
    const rejects = async (name: string, space: string, pattern: RegExp): Promise<void> => {
      const data = await writeMinariHdf5(path.join(dir, name), episodes, space);
      await assert.rejects(loadDataset(data), (err: unknown) => err instanceof InputError && pattern.test(err.message), name);
    };
    await rejects("extra-key", mismatched({ goal: { type: "Box", shape: [2], low: [0, 0], high: [1, 1] } }), /"episode_0\/observations" holds the parts "angle", "phase", "velocity", but the declared Dict has "angle", "goal", "phase", "velocity" \(declared by .*metadata\.json: "observation_space"\)/);
    await rejects("narrow-phase", mismatched({ phase: { type: "Discrete", start: 1, n: 2 } }), /"episode_0\/observations\/phase" row 2 holds 3; expected an index of Discrete\(2, start=1\)/);
    await rejects("box-size", mismatched({ angle: { type: "Box", shape: [3], low: [0, 0, 0], high: [1, 1, 1] } }), /"episode_0\/observations\/angle" has 2 values a step, but .* declares a Box of 3/);

    // A part of a space with no numeric form is refused, naming it; a malformed declaration is set aside, with a warning.
    await rejects("text", mismatched({ velocity: { type: "Text", max_length: 4 } }), /"episode_0\/observations\/velocity" is a Text space, which snndt cannot read as numbers/);
    const malformed = await writeMinariHdf5(path.join(dir, "malformed"), episodes, mismatched({ phase: { type: "Discrete", n: 0 } }));
    const withMalformed = await loadDataset(malformed);
    assert.equal(withMalformed.obsDim, 4);
    assert.match(withMalformed.manifest.warnings.join("\n"), /"observation_space" cannot be used \(the space\.phase declares Discrete with n = 0, start = 0\); the observation's parts are read off the file, every one as the values stored/);
    // A one-hot too wide to allocate is refused before it is.
    await rejects("huge-n", mismatched({ phase: { type: "Discrete", start: 0, n: 1e9 } }), /flattened, the observation would hold 1000000002 or more values a step \("episode_0\/observations\/phase": 1000000000, a one-hot of Discrete\(1000000000\)\); snndt reads up to 65536/);
  }),
);

test(
  "Minari observation parts: MultiDiscrete one-hots, MultiBinary and a Box of several dimensions (raveled), digit-named Dict keys, and Tuple parts named as the storage names them",
  withTmp(async (dir) => {
    const rows = 4;
    const steps = rows - 1;
    const grid = Float32Array.from({ length: rows * 4 }, (_, i) => i / 10);
    const datasets = {
      "episode_0/observations/grid": { data: grid, shape: [rows, 2, 2] },
      "episode_0/observations/keys": { data: BigInt64Array.from([0n, 2n, 1n, 3n, 2n, 1n, 0n, 4n].map((v) => v)), shape: [rows, 2] },
      "episode_0/observations/lamp": { data: Uint8Array.from([1, 0, 0, 1, 1, 1, 0, 0]), shape: [rows, 2] },
      "episode_0/actions": { data: Float32Array.from([0, 1, 0]), shape: [steps] },
      "episode_0/rewards": { data: Float64Array.from([1, 1, 1]), shape: [steps] },
      "episode_0/terminations": { data: Uint8Array.from([0, 0, 1]), shape: [steps] },
      "episode_0/truncations": { data: Uint8Array.from([0, 0, 0]), shape: [steps] },
    };
    const space = JSON.stringify({
      type: "Dict",
      subspaces: {
        grid: { type: "Box", dtype: "float32", shape: [2, 2], low: [[0, 0], [0, 0]], high: [[1, 1], [1, 1]] },
        keys: { type: "MultiDiscrete", dtype: "int64", nvec: [3, 5], start: [0, 0] },
        lamp: { type: "MultiBinary", n: 2 },
      },
    });
    const data = path.join(dir, "md", "data");
    mkdirSync(data, { recursive: true });
    await writeHdf5(path.join(data, "main_data.hdf5"), datasets);
    writeFileSync(path.join(data, "metadata.json"), JSON.stringify({ data_format: "hdf5", total_episodes: 1, observation_space: space }));
    const loaded = await loadDataset(data);
    assert.deepEqual(loaded.manifest.observation_parts, [
      { name: "grid", start: 0, width: 4 },
      { name: "keys", start: 4, width: 8, one_hots: { nvec: [3, 5], start: [0, 0] } },
      { name: "lamp", start: 12, width: 2 },
    ]);
    // Step 1: grid row 1, keys (1, 3) as one-hots of 3 and 5, lamp (0, 1).
    assert.deepEqual(Array.from(loaded.episodes[0]!.observations.subarray(14, 28)), Array.from(Float32Array.from([0.4, 0.5, 0.6, 0.7, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1])));

    // Undeclared digit-named keys in HDF5 are a Dict's (its Tuples are _index_N): sorted as strings, 10 before 2.
    const digits: Record<string, { data: Float32Array | Float64Array | Uint8Array; shape: number[] }> = {
      "episode_0/actions": datasets["episode_0/actions"],
      "episode_0/rewards": datasets["episode_0/rewards"],
      "episode_0/terminations": datasets["episode_0/terminations"],
      "episode_0/truncations": datasets["episode_0/truncations"],
    };
    for (const key of [0, 1, 2, 10]) digits[`episode_0/observations/${key}`] = { data: Float32Array.from({ length: rows }, () => key), shape: [rows] };
    const digitsFile = path.join(dir, "digits.hdf5");
    await writeHdf5(digitsFile, digits);
    assert.deepEqual((await loadDataset(digitsFile)).manifest.observation_parts!.map((p) => p.name), ["0", "1", "10", "2"]);
    // The same names under the Tuple naming of HDF5 are a Tuple's, in index order; a gap in it makes no Tuple.
    const tuple: typeof digits = { ...digits };
    for (const key of [0, 1, 2, 10]) delete tuple[`episode_0/observations/${key}`];
    for (const key of [0, 1, 2]) tuple[`episode_0/observations/_index_${key}`] = { data: Float32Array.from({ length: rows }, () => key), shape: [rows] };
    const tupleFile = path.join(dir, "tuple.hdf5");
    await writeHdf5(tupleFile, tuple);
    assert.deepEqual((await loadDataset(tupleFile)).manifest.observation_parts!.map((p) => p.name), ["_index_0", "_index_1", "_index_2"]);
    const gap: typeof digits = { ...tuple };
    delete gap["episode_0/observations/_index_1"];
    const gapData = path.join(dir, "gap", "data");
    mkdirSync(gapData, { recursive: true });
    await writeHdf5(path.join(gapData, "main_data.hdf5"), gap);
    const tupleSpace = JSON.stringify({ type: "Tuple", subspaces: [0, 1, 2].map(() => ({ type: "Box", shape: [], low: 0, high: 9 })) });
    writeFileSync(path.join(gapData, "metadata.json"), JSON.stringify({ data_format: "hdf5", total_episodes: 1, observation_space: tupleSpace }));
    await assert.rejects(loadDataset(gapData), /"episode_0\/observations" holds the parts "_index_0", "_index_2", but the declared Tuple has 3, stored as _index_0, _index_1, \.\.\./);
  }),
);

test(
  "datasetKindAt tells a dataset's directory (prepared, Minari) from one that merely holds files of those names",
  withTmp(async (dir) => {
    const minari = path.join(dir, "minari");
    await writeMinariDataset(minari, (await sampleEpisodes()).slice(0, 2), { actionSpace: box([-2], [2]) });
    assert.match(datasetKindAt(minari)!, /^a Minari dataset \(.*minari\/data\/metadata\.json\)$/);
    assert.match(datasetKindAt(path.join(minari, "data"))!, /^a Minari dataset/);
    const notes = path.join(dir, "notes");
    mkdirSync(notes);
    writeFileSync(path.join(notes, "metadata.json"), `{"author": "me"}`);
    writeFileSync(path.join(notes, "steps.arrow"), "");
    assert.equal(datasetKindAt(notes), null);
    writeFileSync(path.join(notes, "manifest.json"), "{}");
    assert.equal(datasetKindAt(notes), null);
    const prepared = path.join(dir, "prepared");
    assert.equal(runCli(["-q", "prepare-dataset", SAMPLE, "--out", prepared]).status, 0);
    assert.equal(datasetKindAt(prepared), "a prepared dataset (manifest.json)");
  }),
);

test("Dict observations written by h5py and pyarrow in Minari's three storages read to what gymnasium.spaces.flatten gives", async () => {
  // test/fixtures/minari-dict/make.py wrote the files and, with Gymnasium's own flatten, expected.json.
  const root = path.join(FIXTURES, "minari-dict");
  const expected = JSON.parse(readFileSync(path.join(root, "expected.json"), "utf8")) as { flatdim: number; episodes: number[][][]; returns: number[] };
  const hashes = new Set<string>();
  for (const storage of ["hdf5", "arrow", "parquet"]) {
    const loaded = await loadDataset(path.join(root, storage));
    assert.equal(loaded.obsDim, expected.flatdim, storage);
    assert.deepEqual(loaded.episodes.map((ep) => ep.length), expected.episodes.map((ep) => ep.length), storage);
    loaded.episodes.forEach((ep, e) => {
      assert.deepEqual(Array.from(ep.observations), Array.from(Float32Array.from(expected.episodes[e]!.flat())), `${storage} episode ${e}`);
      assert.ok(Math.abs(ep.returnsToGo[0]! - expected.returns[e]!) < 1e-5, `${storage} episode ${e} return`);
    });
    hashes.add(loaded.episodesSha256);
  }
  assert.equal(hashes.size, 1);
});
