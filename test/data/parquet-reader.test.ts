/**
 * Parquet files read to the same episodes as the Arrow files they were made from. The Arrow files
 * are the polars-written samples; their tables are written as Parquet by parquet-wasm (arrow-rs)
 * with each codec and with several row groups. pyarrow and polars are not installable here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { loadDataset } from "../../src/data/dataset.js";
import { registerArrowCodecs } from "../../src/data/codecs.js";
import { InputError } from "../../src/runtime/errors.js";
import { withTmp, writeParquet } from "./make-files.js";
import { FIXTURES } from "../helpers/paths.js";
import { runCli } from "../helpers/cli.js";

const SAMPLES = path.join(FIXTURES, "samples");

function sampleTable(name: string) {
  registerArrowCodecs();
  return tableFromIPC(readFileSync(path.join(SAMPLES, name)));
}

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
