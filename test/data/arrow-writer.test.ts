import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { tableFromIPC, type Vector } from "apache-arrow";
import { writeStepsArrow } from "../../src/data/arrow-writer.js";
import type { Episode } from "../../src/data/types.js";
import { InputError } from "../../src/runtime/errors.js";
import { withTmp } from "./make-files.js";
import { deadPid } from "../helpers/processes.js";

function episode(length: number, obsDim: number, actWidth: number, flags: { terminated: boolean; truncated: boolean }, base: number): Episode {
  const rewards = Float32Array.from({ length }, (_, t) => base + t);
  const returnsToGo = new Float32Array(length);
  let g = 0;
  for (let t = length - 1; t >= 0; t--) returnsToGo[t] = g += rewards[t]!;
  return {
    length,
    observations: Float32Array.from({ length: length * obsDim }, (_, i) => base * 100 + i),
    actions: Float32Array.from({ length: length * actWidth }, (_, i) => (actWidth === 1 ? i % 3 : i / 10)),
    rewards,
    returnsToGo,
    ...flags,
  };
}

test(
  "discrete steps file: schema, values, flags on last rows, metadata",
  withTmp(async (dir) => {
    const file = path.join(dir, "steps.arrow");
    const episodes = [
      episode(3, 2, 1, { terminated: true, truncated: false }, 1),
      episode(2, 2, 1, { terminated: false, truncated: true }, 5),
    ];
    await writeStepsArrow(file, episodes, { kind: "discrete", n: 3 }, { env: "CartPole-v1", seed: "7" });
    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(0, 6).toString("latin1"), "ARROW1");
    const table = tableFromIPC(bytes);
    assert.deepEqual(
      table.schema.fields.map((f) => `${f.name}:${String(f.type)}`),
      [
        "episode_id:Int32",
        "step:Int32",
        "observation:FixedSizeList[2]<Float32>",
        "action:Int32",
        "reward:Float32",
        "return_to_go:Float32",
        "terminated:Bool",
        "truncated:Bool",
      ],
    );
    assert.equal(table.schema.metadata.get("env"), "CartPole-v1");
    assert.equal(table.schema.metadata.get("seed"), "7");
    const col = (name: string): unknown[] => [...(table.getChild(name) as Vector)];
    assert.deepEqual(col("episode_id"), [0, 0, 0, 1, 1]);
    assert.deepEqual(col("step"), [0, 1, 2, 0, 1]);
    assert.deepEqual(col("action"), [0, 1, 2, 0, 1]);
    assert.deepEqual(col("reward"), [1, 2, 3, 5, 6]);
    assert.deepEqual(col("return_to_go"), [6, 5, 3, 11, 6]);
    assert.deepEqual(col("terminated"), [false, false, true, false, false]);
    assert.deepEqual(col("truncated"), [false, false, false, false, true]);
    const obs = (table.getChild("observation") as Vector).get(4) as Vector;
    assert.deepEqual([...obs], [502, 503]);
    assert.deepEqual(readdirSync(dir), ["steps.arrow"], "no temporary file is left behind");
  }),
);

test(
  "continuous steps file spans several record batches and keeps every row",
  withTmp(async (dir) => {
    const file = path.join(dir, "big.arrow");
    // 70 episodes of 1000 steps cross the 65,536-row batch size.
    const episodes = Array.from({ length: 70 }, (_, e) => episode(1000, 3, 2, { terminated: e % 2 === 0, truncated: e % 2 === 1 }, e));
    await writeStepsArrow(file, episodes, { kind: "continuous", dim: 2, low: [0, 0], high: [200, 200] });
    const table = tableFromIPC(readFileSync(file));
    assert.ok(table.batches.length >= 2, `expected several batches, got ${table.batches.length}`);
    assert.equal(table.numRows, 70_000);
    const ids = table.getChild("episode_id")!.toArray() as Int32Array;
    assert.equal(ids[69_999], 69);
    const action = (table.getChild("action") as Vector).get(69_999) as Vector;
    assert.deepEqual([...action].map((x) => Math.round((x as number) * 10)), [1998, 1999]);
    const terminated = [...(table.getChild("terminated") as Vector)].filter(Boolean).length;
    const truncated = [...(table.getChild("truncated") as Vector)].filter(Boolean).length;
    assert.equal(terminated, 35);
    assert.equal(truncated, 35);
  }),
);

test(
  "inconsistent episodes are refused and nothing is written",
  withTmp(async (dir) => {
    const file = path.join(dir, "bad.arrow");
    const a = episode(3, 2, 1, { terminated: true, truncated: false }, 0);
    const b = episode(2, 3, 1, { terminated: true, truncated: false }, 0);
    await assert.rejects(writeStepsArrow(file, [a, b], { kind: "discrete", n: 3 }), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /episode 1 has observations of width 3, earlier episodes have width 2/);
      return true;
    });
    await assert.rejects(writeStepsArrow(file, [a], { kind: "discrete", n: 2 }), /episode 0 step 2 has action 2, expected an integer in \[0, 2\)/);
    assert.deepEqual(readdirSync(dir), []);
  }),
);

test(
  "a steps file's path may pass through a directory that does not exist and back (missing/..); a killed writer's hidden temporary of it goes",
  withTmp(async (dir) => {
    const orphan = `.steps.arrow.tmp-${deadPid()}-0badf00d`;
    writeFileSync(path.join(dir, orphan), "half a file");
    await writeStepsArrow(path.join(dir, "missing", "..", "steps.arrow"), [episode(2, 2, 1, { terminated: true, truncated: false }, 1)], { kind: "discrete", n: 3 });
    assert.deepEqual(readdirSync(dir), ["steps.arrow"]);
  }),
);
