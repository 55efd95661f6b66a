/**
 * Arrow inputs of every supported shape, written by apache-arrow's own writers inside the test:
 * IPC file and stream, LZ4_FRAME and ZSTD bodies, List / LargeList / FixedSizeList, Int64 columns,
 * several record batches, per-step (episode ids or flags) and per-episode layouts, column aliases.
 * Returns-to-go are checked against values worked out by hand.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { Dictionary, Field, Int32, Struct, Utf8, type DataType, type Vector } from "apache-arrow";
import { loadDataset, prepareDataset, type ReaderOptions } from "../../src/data/dataset.js";
import { writeStepsArrow } from "../../src/data/arrow-writer.js";
import { quietContext } from "../helpers/context.js";
import { bool, f32, f64, fixedList, int32, int64, largeList, list, vec, withTmp, writeArrow, type ArrowWriteOptions } from "./make-files.js";

/**
 * Two episodes by hand: rewards [1, 2, 3] and [10, -8].
 * Returns-to-go G_t = sum_{k>=t} r_k: [6, 5, 3] and [2, -8].
 */
const EPISODE_IDS = [7n, 7n, 7n, 9n, 9n];
const STEPS = [0, 1, 2, 0, 1];
const OBS = [
  [0.5, 1],
  [1.5, 2],
  [2.5, 3],
  [3.5, 4],
  [4.5, 5],
];
const REWARDS = [1, 2, 3, 10, -8];
const RTG = [
  [6, 5, 3],
  [2, -8],
];
const TERMINATED = [false, false, true, false, false];
const TRUNCATED = [false, false, false, false, true];

function perStepColumns(obsType: DataType) {
  return {
    episode_id: vec(EPISODE_IDS, int64),
    step: vec(STEPS, int32),
    observations: vec(OBS, obsType),
    actions: vec([1n, 0n, 2n, 1n, 1n], int64),
    rewards: vec(REWARDS, f32),
    terminals: vec(TERMINATED, bool),
    timeouts: vec(TRUNCATED, bool),
  };
}

async function checkHandEpisodes(file: string): Promise<void> {
  await checkHandEpisodesWith(file, {});
}

async function checkHandEpisodesWith(file: string, options: ReaderOptions): Promise<void> {
  const data = await loadDataset(file, options);
  assert.equal(data.episodes.length, 2);
  assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), RTG);
  assert.deepEqual([...data.episodes[0]!.observations], [0.5, 1, 1.5, 2, 2.5, 3]);
  assert.deepEqual([...data.episodes[1]!.actions], [1, 1]);
  assert.deepEqual(data.actionSpace, { kind: "discrete", n: 3 });
  assert.equal(data.episodes[0]!.terminated, true);
  assert.equal(data.episodes[1]!.truncated, true);
  assert.equal(data.obsDim, 2);
  // mean of the first dimension over 5 steps: (0.5+1.5+2.5+3.5+4.5)/5 = 2.5; population std sqrt(2).
  assert.ok(Math.abs(data.stateStats.mean[0]! - 2.5) < 1e-12);
  assert.ok(Math.abs(data.stateStats.std[0]! - Math.SQRT2) < 1e-12);
  assert.equal(data.manifest.returns.min, 2);
  assert.equal(data.manifest.returns.max, 6);
}


const variants: Array<[string, ArrowWriteOptions, DataType]> = [
  ["IPC file, FixedSizeList observations", {}, fixedList(2)],
  ["IPC stream, List<Float64> observations", { stream: true }, list(f64)],
  ["LZ4_FRAME file, LargeList observations", { compression: "lz4" }, largeList(f32)],
  ["ZSTD stream, FixedSizeList observations, one row a batch", { compression: "zstd", stream: true, batchRows: 1 }, fixedList(2)],
  // 64-bit columns need 8-byte-aligned buffers after decompression (pandas writes float64 and int64).
  ["ZSTD file, List<Float64> observations", { compression: "zstd" }, list(f64)],
  ["LZ4_FRAME stream, List<Float64> observations", { compression: "lz4", stream: true }, list(f64)],
];
for (const [name, options, obsType] of variants) {
  test(
    `per-step ${name}`,
    withTmp(async (dir) => {
      const file = path.join(dir, "steps.bin");
      await writeArrow(file, perStepColumns(obsType), options);
      await checkHandEpisodes(file);
    }),
  );
}

test(
  "per-step struct observations (a dict a row, as polars and pyarrow write them) are flattened in sorted key order, nested structs included",
  withTmp(async (dir) => {
    const file = path.join(dir, "struct.arrow");
    // Fields out of order, one nested: flattened as Gymnasium flattens Dict(goal=Dict(y), pos=Box(1)): goal/y, then pos.
    const type = new Struct([new Field("pos", f64), new Field("goal", new Struct([new Field("y", fixedList(1))]))]);
    await writeArrow(file, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([pos, y]) => ({ pos, goal: { y: [y] } })), type) });
    const data = await loadDataset(file);
    assert.deepEqual(data.manifest.observation_parts, [
      { name: "goal/y", start: 0, width: 1 },
      { name: "pos", start: 1, width: 1 },
    ]);
    assert.deepEqual([...data.episodes[0]!.observations], [1, 0.5, 2, 1.5, 3, 2.5]);
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), RTG);
    // A Dict's parts (nested, or wider than one value) are rightly sorted: no word of the file's order.
    assert.doesNotMatch(data.manifest.warnings.join("\n"), /sorted key order/);
    const goals = path.join(dir, "goals.arrow");
    const goalType = new Struct([new Field("observation", fixedList(1)), new Field("achieved_goal", fixedList(1))]);
    await writeArrow(goals, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([o, g]) => ({ observation: [o], achieved_goal: [g] })), goalType) });
    assert.doesNotMatch((await loadDataset(goals)).manifest.warnings.join("\n"), /sorted key order/);
    // Scalar fields in another order may be one vector's components in the file's order: said, with the way to keep it.
    const flatType = new Struct([new Field("x", f64), new Field("theta", f64)]);
    const flat = path.join(dir, "flat.arrow");
    await writeArrow(flat, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([x, theta]) => ({ x, theta })), flatType) });
    assert.match((await loadDataset(flat)).manifest.warnings.join("\n"), /not in the file's order \(x, theta\); .* \(polars: df\.unnest\("observations"\)\) and pass --obs-column x,theta/);
    // A dimension constant in the data is named (it is centred, not scaled, for the model).
    const constant = path.join(dir, "constant.arrow");
    await writeArrow(constant, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([x]) => [x, 3]), fixedList(2)) });
    assert.match((await loadDataset(constant)).manifest.warnings.join("\n"), /observation dimension 1 of 2 is the same at every step \(std 0\): centred but not scaled/);
    const sorted = path.join(dir, "sorted.arrow");
    await writeArrow(sorted, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([theta, x]) => ({ theta, x })), new Struct([new Field("theta", f64), new Field("x", f64)])) });
    assert.doesNotMatch((await loadDataset(sorted)).manifest.warnings.join("\n"), /sorted key order/);
    const nulls = path.join(dir, "nulls.arrow");
    await writeArrow(nulls, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([pos, y], r) => (r === 3 ? null : { pos, goal: { y: [y] } })), type) });
    await assert.rejects(loadDataset(nulls), /nulls\.arrow: column "observations" has 1 null rows; expected a value in every row/);
    // A NaN names the part it is in.
    const nan = path.join(dir, "nan.arrow");
    await writeArrow(nan, { ...perStepColumns(fixedList(2)), observations: vec(OBS.map(([pos, y], r) => ({ pos: r === 2 ? NaN : pos, goal: { y: [y] } })), type) });
    await assert.rejects(loadDataset(nan), /column "observations" at row 2, element 1 \(part "pos"\) holds NaN/);
  }),
);

test(
  "per-step with every column a List of one value a row (pyarrow's 2-D numpy columns): read per step, not as one-step episodes",
  withTmp(async (dir) => {
    const file = path.join(dir, "lists.arrow");
    const one = (values: number[]) => values.map((v) => [v]);
    await writeArrow(file, {
      observations: vec(OBS, list(f64)),
      actions: vec([1n, 0n, 2n, 1n, 1n].map((a) => [a]), list(int64)),
      rewards: vec(one(REWARDS), list(f64)),
      terminals: vec(one(TERMINATED.map(Number)), list(f64)),
      timeouts: vec(one(TRUNCATED.map(Number)), list(f64)),
    });
    const data = await loadDataset(file);
    assert.equal(data.manifest.source.layout, "per-step");
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), RTG);
    assert.equal(data.obsDim, 2);
    assert.deepEqual([...data.episodes[0]!.observations], [0.5, 1, 1.5, 2, 2.5, 3]);
    // One-step episodes in the per-episode layout stay episodes: their observations are two lists deep.
    const oneStep = path.join(dir, "one-step-episodes.arrow");
    await writeArrow(oneStep, {
      observations: vec([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 9], [0, 0]]], list(fixedList(2))),
      actions: vec([[0.5], [0.25], [1]], list(f32)),
      rewards: vec([[1], [2], [3]], list(f64)),
    });
    const episodes = await loadDataset(oneStep);
    assert.equal(episodes.manifest.source.layout, "per-episode");
    assert.deepEqual(episodes.episodes.map((ep) => [...ep.returnsToGo]), [[1], [2], [3]]);
  }),
);

test(
  "one-hot actions are read as discrete indices (with a warning), kept as vectors under --action-space continuous",
  withTmp(async (dir) => {
    const oneHot = (index: number) => [0, 1, 2].map((k) => (k === index ? 1 : 0));
    const file = path.join(dir, "one-hot.arrow");
    await writeArrow(file, { ...perStepColumns(fixedList(2)), actions: vec([1, 0, 2, 1, 1].map(oneHot), fixedList(3)) });
    await checkHandEpisodes(file);
    const data = await loadDataset(file);
    assert.deepEqual([...data.episodes[0]!.actions], [1, 0, 2]);
    assert.match(data.manifest.warnings.join("\n"), /column "actions" is one-hot \(3 wide, one 1 a row\): read as discrete action indices 0\.\.2/);
    const vectors = await loadDataset(file, { actionSpace: { kind: "continuous" } });
    assert.deepEqual(vectors.actionSpace, { kind: "continuous", dim: 3, low: [0, 0, 0], high: [1, 1, 1] });
    // Rows that are not all one-hot stay a continuous box.
    const mixed = path.join(dir, "not-one-hot.arrow");
    await writeArrow(mixed, { ...perStepColumns(fixedList(2)), actions: vec([oneHot(1), oneHot(0), [1, 1, 0], oneHot(1), oneHot(1)], fixedList(3)) });
    assert.equal((await loadDataset(mixed)).actionSpace.kind, "continuous");
    await assert.rejects(loadDataset(mixed, { actionSpace: { kind: "discrete" } }), /--action-space discrete declares a discrete space, which needs one action index a step or one-hot rows, but column "actions" has 3 values a step that are not all one-hot/);
  }),
);

test(
  "a column named like a step index or episode id that holds neither is refused with the way out, and ignored with --step-column / --episode-column none",
  withTmp(async (dir) => {
    // A time column "t" in seconds, and an "episode" column holding a task label that repeats.
    const file = path.join(dir, "time.arrow");
    const { episode_id: _ids, step: _steps, ...rest } = perStepColumns(fixedList(2));
    await writeArrow(file, { ...rest, t: vec([0, 0.05, 0.1, 0, 0.05], f64) });
    await assert.rejects(loadDataset(file), /column "t" at row 1 holds 0\.05 after 0 at row 0 in the same episode; expected consecutive steps in order \(if it holds no step index, pass --step-column none\)/);
    await checkHandEpisodesWith(file, { columns: { step: "none" } });
    const labels = path.join(dir, "labels.arrow");
    await writeArrow(labels, { ...rest, episode: vec([1n, 2n, 1n, 1n, 2n], int64) });
    await assert.rejects(loadDataset(labels), /the rows of episode 1 are not contiguous .*\(if the column holds no episode ids, pass --episode-column none\)/);
    await checkHandEpisodesWith(labels, { columns: { episode: "none" } });
  }),
);

test(
  "rows out of step order within their episodes (a query engine's or a shuffle's) are taken in step order, with a warning; a step twice in one episode is refused",
  withTmp(async (dir) => {
    const permuted = (rows: number[]) => {
      const pick = <T,>(values: T[]): T[] => rows.map((r) => values[r]!);
      return {
        episode_id: vec(pick(EPISODE_IDS), int64),
        step: vec(pick(STEPS), int32),
        observations: vec(pick(OBS), fixedList(2)),
        actions: vec(pick([1n, 0n, 2n, 1n, 1n]), int64),
        rewards: vec(pick(REWARDS), f32),
        terminals: vec(pick(TERMINATED), bool),
        timeouts: vec(pick(TRUNCATED), bool),
      };
    };
    const reversed = path.join(dir, "reversed.arrow");
    await writeArrow(reversed, permuted([2, 1, 0, 4, 3]));
    await checkHandEpisodes(reversed);
    assert.match((await loadDataset(reversed)).manifest.warnings.join("\n"), /the rows of episode 7 and 1 more are not in step order: each episode's rows were taken in the order of column "step"/);
    // The last episode cut off (no flag ends it) is dropped whatever the order of its rows: judged by its rows in the file.
    const cut = path.join(dir, "cut.arrow");
    await writeArrow(cut, { ...permuted([2, 1, 0, 4, 3]), timeouts: vec([false, false, false, false, false], bool) });
    const kept = await loadDataset(cut);
    assert.deepEqual(kept.episodes.map((ep) => [...ep.returnsToGo]), [RTG[0]]);
    assert.match(kept.manifest.warnings.join("\n"), /dropped the unfinished episode \(episode_id 9, its last row 4, 2 steps\): no terminal or timeout flag ends it/);
    const shuffled = path.join(dir, "shuffled.arrow");
    await writeArrow(shuffled, permuted([2, 4, 0, 3, 1]));
    await checkHandEpisodes(shuffled);
    assert.match((await loadDataset(shuffled)).manifest.warnings.join("\n"), /the rows of episode 7 and 1 more are not in step order, and episodes' rows are interleaved: each episode's rows were taken in the order of column "step"/);
    // A flag inside an episode: split by the ids, with a warning.
    const midFlag = path.join(dir, "mid-flag.arrow");
    await writeArrow(midFlag, { ...perStepColumns(fixedList(2)), timeouts: vec([true, false, false, false, true], bool) });
    assert.match(
      (await loadDataset(midFlag)).manifest.warnings.join("\n"),
      /episode 7 \(column "episode_id"\) has a terminal or timeout flag at row 0 \(0 rows into it\) but goes on for 2 more rows: episodes were split by "episode_id", not at the flags/,
    );
    assert.doesNotMatch((await loadDataset(reversed)).manifest.warnings.join("\n"), /goes on for/);
    // Discrete actions numbered from 1: n counts an action never taken, said.
    const fromOne = path.join(dir, "from-one.arrow");
    await writeArrow(fromOne, { ...perStepColumns(fixedList(2)), actions: vec([1n, 2n, 2n, 1n, 1n], int64) });
    const counted = await loadDataset(fromOne);
    assert.deepEqual(counted.actionSpace, { kind: "discrete", n: 3 });
    assert.match(counted.manifest.warnings.join("\n"), /action 0 never occurs in column "actions", so n = 3 counts an action the data never takes; if its actions are numbered from 1, subtract 1 from them/);
    assert.doesNotMatch((await loadDataset(fromOne, { actionSpace: { kind: "discrete", n: 3 } })).manifest.warnings.join("\n"), /never occurs/);
    assert.doesNotMatch((await loadDataset(reversed)).manifest.warnings.join("\n"), /never occurs/);
    // Flags under names snndt does not know: episodes come from the ids, and the unread flags are named.
    const { terminals, timeouts, ...noFlags } = perStepColumns(fixedList(2));
    const oddFlags = path.join(dir, "odd-flags.arrow");
    await writeArrow(oddFlags, { ...noFlags, is_terminal: terminals, is_timeout: timeouts });
    const odd = await loadDataset(oddFlags);
    assert.equal(odd.episodes.length, 2);
    assert.match(odd.manifest.warnings.join("\n"), /boolean columns "is_terminal", "is_timeout" were not read; if they mark episode ends, name them with --terminal-column \/ --timeout-column/);
    assert.doesNotMatch((await loadDataset(oddFlags, { columns: { terminals: "is_terminal", timeouts: "is_timeout" } })).manifest.warnings.join("\n"), /not read/);
    assert.doesNotMatch((await loadDataset(oddFlags, { columns: { terminals: "none", timeouts: "none" } })).manifest.warnings.join("\n"), /not read/);
    // Two recordings joined, their episode ids starting again: each step of episode 7 twice.
    const joined = path.join(dir, "joined.arrow");
    await writeArrow(joined, permuted([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]));
    await assert.rejects(
      loadDataset(joined),
      /joined\.arrow: column "step" holds step 0 at rows 0 and 5, both of episode 7 \(column "episode_id"\); expected each step once an episode \(two recordings joined with the same episode ids\? give each episode its own id\)/,
    );
  }),
);

test(
  "interleaved episodes (a vectorised logger's rows) are regrouped when a step column confirms their order; each environment's unfinished last episode is dropped",
  withTmp(async (dir) => {
    // Environments A (episode 7), B (episode 9) and C (episode 11, cut off: no flag) step in turn.
    const rows = [0, 3, 5, 1, 4, 6, 2];
    const pick = <T,>(values: T[], extra: [T, T]): T[] => rows.map((r) => (r < 5 ? values[r]! : extra[r - 5]!));
    const columns = {
      episode_id: vec(pick(EPISODE_IDS, [11n, 11n]), int64),
      step: vec(pick(STEPS, [0, 1]), int32),
      observations: vec(pick(OBS, [[9, 9], [9, 9]]), fixedList(2)),
      actions: vec(pick([1n, 0n, 2n, 1n, 1n], [0n, 0n]), int64),
      rewards: vec(pick(REWARDS, [100, 100]), f32),
      terminals: vec(pick(TERMINATED, [false, false]), bool),
      timeouts: vec(pick(TRUNCATED, [false, false]), bool),
    };
    const file = path.join(dir, "interleaved.arrow");
    await writeArrow(file, columns);
    await checkHandEpisodes(file);
    const data = await loadDataset(file);
    assert.equal(data.manifest.dropped.partial_steps, 2);
    const warnings = data.manifest.warnings.join("\n");
    assert.match(warnings, /dropped the unfinished episode \(episode_id 11, its last row 5, 2 steps\): no terminal or timeout flag ends it/);
    assert.match(warnings, /the rows of its episodes are interleaved/);
    const kept = await loadDataset(file, { keepPartial: true });
    assert.deepEqual(kept.episodes.map((ep) => [...ep.returnsToGo]), [...RTG, [200, 100]]);
    // Time limits without a flag (a terminals column only): episodes that ended before the last
    // one began are kept; those still running then, each environment's last, are the cut ones.
    const limits = path.join(dir, "time-limits.arrow");
    await writeArrow(limits, {
      episode_id: vec([1n, 2n, 1n, 2n, 3n, 4n, 3n, 4n], int64),
      step: vec([0, 0, 1, 1, 0, 0, 1, 1], int32),
      observations: vec([[0, 0], [1, 1], [0, 0], [1, 1], [2, 2], [3, 3], [2, 2], [3, 3]], fixedList(2)),
      actions: vec([0n, 1n, 0n, 1n, 0n, 1n, 0n, 1n], int64),
      rewards: vec([1, 2, 1, 2, 3, 4, 3, 4], f32),
      terminals: vec(Array(8).fill(false), bool),
    });
    const limited = await loadDataset(limits);
    assert.deepEqual(limited.episodes.map((ep) => [...ep.rewards]), [[1, 1], [2, 2]]);
    assert.equal(limited.manifest.dropped.partial_steps, 4);
    // A step missing inside an episode (its rows taken in step order) names the rows in the file.
    const gap = path.join(dir, "gap.arrow");
    await writeArrow(gap, { ...columns, step: vec([0, 0, 0, 3, 1, 1, 1], int32) });
    await assert.rejects(loadDataset(gap), /column "step" at row 3 holds 3 after 1 at row 6 in the same episode/);
    // Without a step column nothing confirms that the repeating ids are episodes: refused, with the ways out.
    const { step: _step, ...noSteps } = columns;
    const unconfirmed = path.join(dir, "unconfirmed.arrow");
    await writeArrow(unconfirmed, noSteps);
    await assert.rejects(loadDataset(unconfirmed), /the rows of episode 7 are not contiguous \(rows from 0 and again from row 3\); interleaved episodes .* are read when a step column confirms/);
  }),
);

test(
  "a vector spread over scalar columns (obs_0, obs_1, ... as pandas writes it, or a list given with --obs-column) is read as one",
  withTmp(async (dir) => {
    const { observations: _obs, ...rest } = perStepColumns(fixedList(2));
    const numbered = path.join(dir, "numbered.arrow");
    await writeArrow(numbered, { ...rest, obs_1: vec(OBS.map((o) => o[1]), f64), obs_0: vec(OBS.map((o) => o[0]), f64) });
    await checkHandEpisodes(numbered);
    assert.equal((await loadDataset(numbered)).manifest.source.columns["observations"], "obs_0..obs_1");
    // A NaN is named by the column it is in.
    const withNan = path.join(dir, "numbered-nan.arrow");
    await writeArrow(withNan, { ...rest, obs_0: vec(OBS.map((o) => o[0]), f64), obs_1: vec(OBS.map((o, i) => (i === 2 ? NaN : o[1])), f64) });
    await assert.rejects(loadDataset(withNan), /numbered-nan\.arrow: column "obs_1" at row 2 holds NaN/);
    const { actions: _actions, ...noActions } = rest;
    const actionsSpread = path.join(dir, "actions-inf.arrow");
    await writeArrow(actionsSpread, { ...noActions, obs_0: vec(OBS.map((o) => o[0]), f64), obs_1: vec(OBS.map((o) => o[1]), f64), action_0: vec([0, 0, 0, 0, 0], f64), action_1: vec([0, 0, 0, Infinity, 0], f64) });
    await assert.rejects(loadDataset(actionsSpread), /actions-inf\.arrow: column "action_1" at row 3 holds Infinity/);
    const named = path.join(dir, "named.arrow");
    await writeArrow(named, { ...rest, x: vec(OBS.map((o) => o[0]), f32), v: vec(OBS.map((o) => o[1]), f32) });
    await checkHandEpisodesWith(named, { columns: { observations: "x,v" } });
    await assert.rejects(loadDataset(named, { columns: { observations: "x,w" } }), /--obs-column names "w", but there is no such column; found columns: .*"x", "v"/);
    // With neither, the error names every way to give them.
    await assert.rejects(loadDataset(named), /no observations column: expected one named "observations", .*numbered scalar columns such as "observations_0", "observations_1", \.\.\. .*a comma-separated list for several columns/);
  }),
);

test(
  "episode ids are compared exactly: int64 ids beyond 2^53 that float64 would merge, string and dictionary-encoded ids",
  withTmp(async (dir) => {
    const base = 2n ** 53n;
    // As doubles, base and base + 1 are the same number, so episodes 1 and 2 would merge.
    const exactIds: Array<[string, Vector]> = [
      ["int64 beyond 2^53", vec([base, base, base, base + 1n, base + 1n], int64)],
      ["strings", vec(["run-a", "run-a", "run-a", "run-b", "run-b"], new Utf8())],
      ["dictionary-encoded strings", vec(["a", "a", "a", "b", "b"], new Dictionary(new Utf8(), new Int32()))],
    ];
    for (const [name, ids] of exactIds) {
      const file = path.join(dir, `${name}.arrow`);
      await writeArrow(file, { ...perStepColumns(fixedList(2)), episode_id: ids }, { batchRows: 2 });
      const data = await loadDataset(file);
      assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), RTG, name);
    }
    const withNull = path.join(dir, "null-id.arrow");
    await writeArrow(withNull, { ...perStepColumns(fixedList(2)), episode_id: vec(["a", "a", null, "b", "b"], new Utf8()) });
    await assert.rejects(loadDataset(withNull), /null-id\.arrow: column "episode_id" has 1 null value\(s\); expected an episode id on every row/);
  }),
);

test(
  "per-step with episode ids and flags: a last episode no flag ends is dropped with a warning, or kept (and stays kept once prepared)",
  withTmp(async (dir) => {
    const file = path.join(dir, "cut.arrow");
    // Episode 9's last step has no flag: the recording stopped inside it.
    await writeArrow(file, { ...perStepColumns(fixedList(2)), timeouts: vec([false, false, false, false, false], bool) });
    const dropped = await loadDataset(file);
    assert.deepEqual(dropped.episodes.map((ep) => [...ep.returnsToGo]), [RTG[0]]);
    assert.equal(dropped.manifest.dropped.partial_steps, 2);
    assert.match(dropped.manifest.warnings.join("\n"), /dropped the last episode \(episode_id 9, rows 3\.\.4, 2 steps\): no terminal or timeout flag ends it/);
    const kept = await loadDataset(file, { keepPartial: true });
    assert.deepEqual(kept.episodes.map((ep) => [...ep.returnsToGo]), RTG);
    const out = path.join(dir, "prepared");
    await prepareDataset(file, out, { keepPartial: true }, quietContext());
    assert.deepEqual((await loadDataset(out)).episodes.map((ep) => [...ep.returnsToGo]), RTG);
    // Its steps file given directly is still snndt's own: what was kept stays.
    assert.deepEqual((await loadDataset(path.join(out, "steps.arrow"))).episodes.map((ep) => [...ep.returnsToGo]), RTG);
  }),
);

test(
  "per-step with flags only: episodes end at terminal|timeout, the unfinished tail is dropped or kept",
  withTmp(async (dir) => {
    const file = path.join(dir, "flags.arrow");
    await writeArrow(file, {
      obs: vec([[0], [1], [2], [3], [4], [5]], fixedList(1)),
      action: vec([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6], [0.7, 0.8], [0.9, 1.0], [1.1, 1.2]], fixedList(2)),
      reward: vec([1, 1, 1, 2, 2, 5], f64),
      done: vec([0, 1, 0, 0, 0, 0], int32),
      truncated: vec([false, false, false, true, false, false], bool),
    });
    const dropped = await loadDataset(file);
    assert.deepEqual(dropped.episodes.map((ep) => [...ep.returnsToGo]), [[2, 1], [3, 2]]);
    assert.equal(dropped.manifest.dropped.partial_steps, 2);
    assert.deepEqual(dropped.manifest.source.columns, { observations: "obs", actions: "action", rewards: "reward", terminals: "done", timeouts: "truncated" });
    assert.equal(dropped.actionSpace.kind, "continuous");
    if (dropped.actionSpace.kind === "continuous") {
      assert.deepEqual(dropped.actionSpace.low.map((x) => Math.round(x * 10)), [1, -4]);
      assert.deepEqual(dropped.actionSpace.high.map((x) => Math.round(x * 10)), [7, 8]);
    }
    const kept = await loadDataset(file, { keepPartial: true });
    assert.deepEqual(kept.episodes.map((ep) => [...ep.returnsToGo]), [[2, 1], [3, 2], [7, 5]]);
    assert.equal(kept.episodes[2]!.terminated || kept.episodes[2]!.truncated, false);
  }),
);

test(
  "column flags name unusual columns; integer-valued float actions are discrete unless overridden",
  withTmp(async (dir) => {
    const file = path.join(dir, "named.arrow");
    await writeArrow(file, {
      traj: vec([0, 0, 1], int32),
      pixels: vec([[1, 2], [3, 4], [5, 6]], fixedList(2)),
      act: vec([0, 3, 1], f32),
      r: vec([0.5, 0.25, 1], f32),
    });
    const columns = { observations: "pixels", actions: "act", rewards: "r", episode: "traj" };
    const data = await loadDataset(file, { columns });
    assert.deepEqual(data.actionSpace, { kind: "discrete", n: 4 });
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), [[0.75, 0.25], [1]]);
    const continuous = await loadDataset(file, { columns, actionSpace: { kind: "continuous" } });
    assert.deepEqual(continuous.actionSpace, { kind: "continuous", dim: 1, low: [0], high: [3] });
  }),
);

test(
  "per-episode layout: List<FixedSizeList> observations with a final extra row, LargeList flags",
  withTmp(async (dir) => {
    const file = path.join(dir, "episodes.arrow");
    await writeArrow(
      file,
      {
        observations: vec(
          [
            [[0, 0, 0], [1, 1, 1], [2, 2, 2], [9, 9, 9]],
            [[3, 3, 3], [4, 4, 4], [9, 9, 9]],
          ],
          list(fixedList(3)),
        ),
        actions: vec([[[0.5], [0.25], [-1]], [[1], [0]]], largeList(fixedList(1))),
        rewards: vec([[1, 2, 3], [10, -8]], largeList(f64)),
        terminals: vec([[false, false, true], [false, false]], largeList(bool)),
        truncations: vec([[false, false, false], [false, true]], largeList(bool)),
        note: vec(["first", "second"], new Utf8()),
      },
      { compression: "lz4" },
    );
    const data = await loadDataset(file);
    assert.equal(data.manifest.source.layout, "per-episode");
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), RTG);
    assert.deepEqual(data.episodes.map((ep) => ep.length), [3, 2]);
    assert.deepEqual([...data.episodes[1]!.observations], [3, 3, 3, 4, 4, 4], "the final observation row is dropped");
    assert.deepEqual([data.episodes[0]!.terminated, data.episodes[1]!.truncated], [true, true]);
    assert.equal(data.actionSpace.kind, "continuous");
  }),
);

test(
  "snndt's own steps file reads back as a per-step layout with no flags",
  withTmp(async (dir) => {
    const file = path.join(dir, "collected.arrow");
    const episodes = [
      { length: 3, observations: Float32Array.of(1, 2, 3), actions: Float32Array.of(0, 1, 0), rewards: Float32Array.of(1, 1, 1), returnsToGo: Float32Array.of(3, 2, 1), terminated: true, truncated: false },
      { length: 2, observations: Float32Array.of(4, 5), actions: Float32Array.of(1, 1), rewards: Float32Array.of(0.5, 0.5), returnsToGo: Float32Array.of(1, 0.5), terminated: false, truncated: true },
    ];
    await writeStepsArrow(file, episodes, { kind: "discrete", n: 2 }, { env: "CartPole-v1" });
    const data = await loadDataset(file);
    assert.equal(data.manifest.source.layout, "per-step");
    assert.deepEqual(data.episodes.map((ep) => [...ep.returnsToGo]), [[3, 2, 1], [1, 0.5]]);
    assert.deepEqual(data.episodes.map((ep) => [ep.terminated, ep.truncated]), [[true, false], [false, true]]);
    assert.deepEqual(data.actionSpace, { kind: "discrete", n: 2 });
  }),
);

test(
  "a flag-delimited file of 150 thousand episodes (more than fit as call arguments) loads",
  withTmp(async (dir) => {
    const file = path.join(dir, "many.arrow");
    const n = 150_000; // one-step episodes; spreading one value per episode overflows the stack near 125k
    await writeArrow(file, {
      observations: vec(Array.from({ length: n }, (_, i) => [i]), fixedList(1)),
      actions: vec(new Array<number>(n).fill(0), int32),
      rewards: vec(Array.from({ length: n }, (_, i) => i % 7), f32),
      terminals: vec(new Array<boolean>(n).fill(true), bool),
    });
    const data = await loadDataset(file);
    assert.equal(data.episodes.length, n);
    assert.deepEqual([...data.episodes[n - 1]!.returnsToGo], [(n - 1) % 7]);
  }),
);
