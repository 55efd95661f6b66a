/**
 * Parquet files read to the same episodes as the Arrow files they were made from. The Arrow files
 * are the polars-written samples; their tables are written as Parquet by parquet-wasm (arrow-rs)
 * with each codec and with several row groups. pyarrow and polars are not installable here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import * as path from "node:path";
import { Float16, Float32, Table, TimestampMillisecond, tableFromIPC } from "apache-arrow";
import { loadDataset } from "../../src/data/dataset.js";
import { registerArrowCodecs } from "../../src/data/codecs.js";
import { InputError } from "../../src/runtime/errors.js";
import type { ProgressFactory } from "../../src/runtime/progress.js";
import { bool, fixedList, int32, vec, withTmp, writeParquet } from "./make-files.js";
import { FIXTURES, SNNDT_BIN } from "../helpers/paths.js";
import { runCli } from "../helpers/cli.js";

const SAMPLES = path.join(FIXTURES, "samples");

function sampleTable(name: string) {
  registerArrowCodecs();
  return tableFromIPC(readFileSync(path.join(SAMPLES, name)));
}

test(
  "Parquet: decoding, the long part of reading a large file, shows a bar with its time, stopped when done",
  withTmp(async (dir) => {
    const file = path.join(dir, "steps.parquet");
    await writeParquet(file, sampleTable("cartpole-steps-lz4.feather"), { compression: "zstd" });
    const bars: { label: string; format: string | undefined; values: number[]; stopped: boolean }[] = [];
    const progress: ProgressFactory = {
      enabled: true,
      start(label, _total, options) {
        const bar = { label, format: options?.format, values: [] as number[], stopped: false };
        bars.push(bar);
        return { update: (value) => bar.values.push(value), increment: () => {}, stop: () => (bar.stopped = true) };
      },
      stopAll() {},
    };
    await loadDataset(file, { progress });
    assert.deepEqual(bars.map((bar) => [bar.label, bar.values, bar.stopped]), [[`decoding steps.parquet (${Math.round(statSync(file).size / 1e6)} MB)`, [1], true]]);
    assert.match(bars[0]!.format!, /\{duration_formatted\}$/);
  }),
);

test(
  "Parquet: the polars samples' tables, written as Parquet with every codec and in several row groups, read to the same episodes",
  withTmp(async (dir) => {
    for (const [name, layout] of [["cartpole-steps-lz4.feather", "per-step"], ["cartpole-episodes.arrows", "per-episode"]] as const) {
      const fromArrow = await loadDataset(path.join(SAMPLES, name));
      for (const compression of ["snappy", "zstd", "gzip", "none"] as const) {
        const file = path.join(dir, `${name}.${compression}.parquet`);
        await writeParquet(file, sampleTable(name), { compression, rowGroupRows: 5 });
        const fromParquet = await loadDataset(file);
        assert.equal(fromParquet.episodesSha256, fromArrow.episodesSha256, `${name} ${compression}`);
        assert.deepEqual([fromParquet.manifest.source.format, fromParquet.manifest.source.layout], ["parquet", layout]);
        assert.deepEqual(fromParquet.actionSpace, { kind: "discrete", n: 2 });
        assert.deepEqual(fromParquet.manifest.source.columns, fromArrow.manifest.source.columns);
      }
    }
  }),
);

test(
  "Parquet: a cut or damaged file is an error naming it, and nothing is written",
  withTmp(async (dir) => {
    const file = path.join(dir, "steps.parquet");
    await writeParquet(file, sampleTable("cartpole-steps-lz4.feather"));
    const bytes = readFileSync(file);
    const cut = path.join(dir, "cut.parquet");
    writeFileSync(cut, bytes);
    truncateSync(cut, statSync(cut).size - 10);
    await assert.rejects(loadDataset(cut), (err: unknown) => err instanceof InputError && /cut\.parquet: the file starts like a Parquet file but does not end with the "PAR1" footer magic/.test(err.message));
    // The footer's length field (the 4 bytes before the final magic) pointing past the start.
    const damaged = path.join(dir, "damaged.parquet");
    const copy = Buffer.from(bytes);
    copy.writeUInt32LE(copy.length * 2, copy.length - 8);
    writeFileSync(damaged, copy);
    await assert.rejects(loadDataset(damaged), (err: unknown) => err instanceof InputError && /damaged\.parquet: cannot read it as a Parquet file \(.+\); the file is corrupt/.test(err.message));
    const out = path.join(dir, "out");
    const result = runCli(["prepare-dataset", damaged, "--out", out]);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /damaged\.parquet: cannot read it as a Parquet file/);
    assert.throws(() => statSync(out), /ENOENT/);
  }),
);

test(
  "Parquet: column flags and --keep-partial reach the reader; a half-precision or timestamp column is named with what to do",
  withTmp(async (dir) => {
    // The per-step sample with its observation column renamed and its last episode's end flags cleared.
    const table = sampleTable("cartpole-steps-lz4.feather");
    const names = table.schema.fields.map((f) => f.name);
    const columns = Object.fromEntries(names.map((name) => [name === "observation" ? "cart_state" : name, table.getChild(name)!]));
    const file = path.join(dir, "renamed.parquet");
    await writeParquet(file, new Table(columns));
    await assert.rejects(loadDataset(file), /no observations column/);
    const renamed = await loadDataset(file, { columns: { observations: "cart_state" } });
    assert.equal(renamed.episodesSha256, (await loadDataset(path.join(SAMPLES, "cartpole-steps-lz4.feather"))).episodesSha256);
    assert.equal(renamed.manifest.source.columns["observations"], "cart_state");

    const rows = table.numRows;
    const lastEpisode = table.getChild("episode_id")!.get(rows - 1);
    const cleared = (name: string) => vec(Array.from({ length: rows }, (_, r) => (table.getChild("episode_id")!.get(r) === lastEpisode ? false : Boolean(table.getChild(name)!.get(r)))), bool);
    const flagNames = names.filter((name) => /^(terminated|truncated|terminals|timeouts)$/.test(name));
    assert.equal(flagNames.length, 2, `flag columns of the sample: ${names.join(", ")}`);
    const partial = path.join(dir, "partial.parquet");
    await writeParquet(partial, new Table({ ...columns, ...Object.fromEntries(flagNames.map((name) => [name, cleared(name)])) }));
    const dropped = await loadDataset(partial, { columns: { observations: "cart_state" } });
    const kept = await loadDataset(partial, { columns: { observations: "cart_state" }, keepPartial: true });
    assert.equal(kept.episodes.length, dropped.episodes.length + 1);
    assert.ok(dropped.manifest.dropped.partial_steps > 0);

    const half = path.join(dir, "half.parquet");
    await writeParquet(half, new Table({ ...columns, reward: vec(Array(rows).fill(1), new Float16()) }));
    await assert.rejects(loadDataset(half, { columns: { observations: "cart_state" } }), /half\.parquet: column "reward" has type Float16, half-precision floats, which snndt does not read; store it as float32/);
    // One-element lists are one number a row, for steps as for rewards and flags.
    const listed = path.join(dir, "listed.parquet");
    const steps = table.getChild("step")!;
    await writeParquet(listed, new Table({ ...columns, step: vec(Array.from({ length: rows }, (_, r) => [Number(steps.get(r))]), fixedList(1, int32)) }));
    assert.equal((await loadDataset(listed, { columns: { observations: "cart_state" } })).episodesSha256, renamed.episodesSha256);
    await writeParquet(listed, new Table({ ...columns, step: vec(Array.from({ length: rows }, (_, r) => [Number(steps.get(r)), 0]), fixedList(2, int32)) }));
    await assert.rejects(loadDataset(listed, { columns: { observations: "cart_state" } }), /column "step" has 2 values at row 0|column "step" holds several values a row; expected one step index a row/);
    const stamped = path.join(dir, "stamped.parquet");
    await writeParquet(stamped, new Table({ ...Object.fromEntries(Object.entries(columns).filter(([name]) => name !== "step")), timestep: vec(Array.from({ length: rows }, (_, r) => r), new TimestampMillisecond()) }));
    await assert.rejects(loadDataset(stamped, { columns: { observations: "cart_state" } }), /column "timestep" has type Timestamp.*; expected step indices \(integers\)\. If it holds no step index, pass --step-column none\./);
  }),
);

/** A sparse file of `bytes` bytes that starts with `head` and ends with `tail`. */
function sparseFile(file: string, bytes: number, head: string, tail: string): void {
  writeFileSync(file, head);
  truncateSync(file, bytes);
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.from(tail, "latin1"), 0, tail.length, bytes - tail.length);
  closeSync(fd);
}

test(
  "Arrow and Parquet files over 2 GiB, and a prepared steps file over 2 GiB, are refused before reading, with what to do",
  withTmp(async (dir) => {
    const big = 2 ** 31 + 100;
    const parquet = path.join(dir, "big.parquet");
    sparseFile(parquet, big, "PAR1", "PAR1");
    await assert.rejects(loadDataset(parquet), /big\.parquet: the Parquet file is 2147483748 bytes; snndt reads such files whole, up to 2147483647 bytes \(2 GiB\)\. Split it/);
    const arrow = path.join(dir, "big.arrow");
    sparseFile(arrow, big, "ARROW1\0\0", "ARROW1");
    await assert.rejects(loadDataset(arrow), /big\.arrow: the Arrow IPC file is 2147483748 bytes; snndt reads such files whole/);
    const prepared = path.join(dir, "prepared");
    const source = path.join(SAMPLES, "cartpole-episodes.arrows");
    assert.equal(runCli(["prepare-dataset", source, "--out", prepared]).status, 0);
    sparseFile(path.join(prepared, "steps.arrow"), big, "ARROW1\0\0", "ARROW1");
    await assert.rejects(loadDataset(prepared), (err: unknown) => err instanceof InputError && err.message.includes(`its prepared steps file is 2147483748 bytes, more than snndt reads back whole (2147483647 bytes, 2 GiB); give train and eval the source itself (--data ${source})`));
  }),
);

test(
  "Parquet decoding runs in a worker that starts whatever Node flags snndt runs under",
  withTmp(async (dir) => {
    const file = path.join(dir, "steps.parquet");
    await writeParquet(file, sampleTable("cartpole-steps-lz4.feather"));
    const run = spawnSync(process.execPath, ["--expose-gc", SNNDT_BIN, "--json", "prepare-dataset", "--inspect", file], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { source: { format: string } }).source.format, "parquet");
  }),
);

test(
  "prepare-dataset reads a Parquet file of one row an episode (the Hugging Face decision-transformer layout)",
  withTmp(async (dir) => {
    const file = path.join(dir, "train-00000-of-00001.parquet");
    await writeParquet(file, sampleTable("cartpole-episodes.arrows"));
    const inspect = runCli(["prepare-dataset", "--inspect", file]);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /parquet, per-episode layout/);
    const prepared = runCli(["--json", "prepare-dataset", file, "--out", path.join(dir, "prepared")]);
    assert.equal(prepared.status, 0, prepared.stderr);
    const manifest = JSON.parse(prepared.stdout) as { episodes: number; source: { format: string } };
    assert.deepEqual([manifest.episodes, manifest.source.format], [(await loadDataset(path.join(SAMPLES, "cartpole-episodes.arrows"))).episodes.length, "parquet"]);
  }),
);

test(
  "Parquet: a directory of parts (pyarrow's unpadded part-0 ... part-11, a _SUCCESS marker, checksums) reads as the one file it was cut from",
  withTmp(async (dir) => {
    const table = sampleTable("cartpole-steps-lz4.feather");
    const parts = path.join(dir, "parts");
    mkdirSync(parts);
    // Cut at rows, not episodes: episodes go on from one part into the next, so part order matters.
    const count = 12;
    const rows = Math.ceil(table.numRows / count);
    for (let i = 0; i < count; i++) await writeParquet(path.join(parts, `part-${i}.parquet`), table.slice(i * rows, (i + 1) * rows));
    writeFileSync(path.join(parts, "_SUCCESS"), "");
    writeFileSync(path.join(parts, ".part-0.parquet.crc"), "crc");
    const whole = await loadDataset(path.join(SAMPLES, "cartpole-steps-lz4.feather"));
    const read = await loadDataset(parts);
    assert.equal(read.episodesSha256, whole.episodesSha256);
    assert.deepEqual([read.manifest.source.format, read.manifest.source.layout], ["parquet", "per-step"]);

    // Parts without rows (Dask and Spark write some) add none, wherever they are.
    for (const name of ["part-0b.parquet", "part-99.parquet"]) await writeParquet(path.join(parts, name), table.slice(0, 0));
    assert.equal((await loadDataset(parts)).episodesSha256, whole.episodesSha256);

    // A part of other columns is named; a directory with other entries is no parts directory, and says which.
    await writeParquet(path.join(parts, "part-12.parquet"), new Table({ reward: vec([1], new Float32()) }));
    await assert.rejects(loadDataset(parts), (err: unknown) => err instanceof InputError && /part-12\.parquet: its columns \(reward: Float32\) differ from those of part-0\.parquet \(.*\); the parts of one dataset must have the same columns/.test(err.message));
    mkdirSync(path.join(parts, "year=2020"));
    await assert.rejects(loadDataset(parts), /parts is a directory, but neither a prepared dataset .* nor a directory of Parquet parts \(.*; "year=2020" is none\)/);

    // Two splits side by side are not merged; a missing shard is named.
    const splits = path.join(dir, "splits");
    mkdirSync(splits);
    for (const name of ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet", "test-00000-of-00001.parquet"]) await writeParquet(path.join(splits, name), table.slice(0, rows));
    await assert.rejects(loadDataset(splits), /splits: its Parquet files are named in 2 ways \(test-00000-of-00001\.parquet, train-00000-of-00002\.parquet\), so they may be more than one dataset or split/);
    rmSync(path.join(splits, "test-00000-of-00001.parquet"));
    rmSync(path.join(splits, "train-00000-of-00002.parquet"));
    await assert.rejects(loadDataset(splits), /splits: its shards are numbered k-of-2, but shard 0 is missing/);

    // No rows at all is an error, not a crash.
    const empty = path.join(dir, "empty");
    mkdirSync(empty);
    await writeParquet(path.join(empty, "part-0.parquet"), table.slice(0, 0));
    await assert.rejects(loadDataset(empty), (err: unknown) => err instanceof InputError && /empty: its 1 Parquet part holds no rows/.test(err.message));
    await assert.rejects(loadDataset(path.join(empty, "part-0.parquet")), (err: unknown) => err instanceof InputError && /part-0\.parquet: the Parquet file holds no rows/.test(err.message));
  }),
);
