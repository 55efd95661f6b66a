/**
 * `prepareDataset` / `snndt prepare-dataset`: the prepared directory (steps.arrow + manifest.json)
 * loads back to the same episodes as the raw file, the manifest carries what training needs, and
 * the CLI's --json, --inspect and --help behave.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { loadDataset, prepareDataset, type DatasetManifest } from "../../src/data/dataset.js";
import { InputError } from "../../src/runtime/errors.js";
import { SNNDT_VERSION } from "../../src/runtime/version.js";
import { runCli } from "../helpers/cli.js";
import { quietContext } from "../helpers/context.js";
import { FIXTURES } from "../helpers/paths.js";
import { d4rlArrays, withTmp, writeHdf5 } from "./make-files.js";

const SAMPLES = path.join(FIXTURES, "samples");
const ctx = quietContext();

test(
  "a prepared directory loads back to the raw file's episodes; the manifest describes it",
  withTmp(async (dir) => {
    const input = path.join(SAMPLES, "pendulum-d4rl.hdf5");
    const out = path.join(dir, "pendulum");
    const manifest = await prepareDataset(input, out, { keepPartial: true }, ctx);
    assert.deepEqual(readdirSync(out).sort(), ["manifest.json", "steps.arrow"]);
    const onDisk = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8")) as DatasetManifest;
    assert.deepEqual(onDisk, manifest);
    assert.equal(manifest.snndt_version, SNNDT_VERSION);
    assert.equal(manifest.source.path, input);
    assert.equal(manifest.source.sha256, createHash("sha256").update(readFileSync(input)).digest("hex"));
    assert.equal(manifest.sha256, createHash("sha256").update(readFileSync(path.join(out, "steps.arrow"))).digest("hex"));
    assert.equal(manifest.steps_file, "steps.arrow");
    assert.deepEqual([manifest.episodes, manifest.steps, manifest.obs_dim], [12, 2300, 3]);
    assert.deepEqual([manifest.lengths.min, manifest.lengths.max, manifest.lengths.quantiles.p50], [100, 200, 200]);
    assert.equal(manifest.truncated_episodes, 11);
    assert.equal(manifest.state_mean.length, 3);
    assert.ok(manifest.returns.min <= manifest.returns.quantiles.p25 && manifest.returns.quantiles.p75 <= manifest.returns.max);

    const raw = await loadDataset(input, { keepPartial: true });
    const prepared = await loadDataset(out);
    assert.deepEqual(prepared.manifest, manifest);
    assert.deepEqual(prepared.actionSpace, raw.actionSpace);
    assert.deepEqual(prepared.stateStats, raw.stateStats);
    assert.equal(prepared.episodes.length, raw.episodes.length);
    prepared.episodes.forEach((ep, e) => {
      const want = raw.episodes[e]!;
      assert.equal(ep.length, want.length);
      assert.deepEqual(ep.observations, want.observations);
      assert.deepEqual(ep.actions, want.actions);
      assert.deepEqual(ep.rewards, want.rewards);
      assert.deepEqual(ep.returnsToGo, want.returnsToGo);
      assert.deepEqual([ep.terminated, ep.truncated], [want.terminated, want.truncated]);
    });
  }),
);

test(
  "a damaged steps file is detected by its sha256; --force replaces an existing output",
  withTmp(async (dir) => {
    const out = path.join(dir, "cartpole");
    await prepareDataset(path.join(SAMPLES, "cartpole-episodes.arrows"), out, {}, ctx);
    const steps = path.join(out, "steps.arrow");
    const bytes = readFileSync(steps);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(steps, bytes);
    await assert.rejects(loadDataset(out), (err: unknown) => err instanceof InputError && /sha256 is [0-9a-f]{64} but .*manifest\.json records/.test(err.message));
    // Cut short, the file no longer parses: the hash mismatch is still what is reported.
    writeFileSync(steps, bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(loadDataset(out), (err: unknown) => err instanceof InputError && /sha256 is [0-9a-f]{64} but .*manifest\.json records/.test(err.message));
    const manifest = await prepareDataset(path.join(SAMPLES, "pendulum-minari.hdf5"), out, { force: true }, ctx);
    assert.equal(manifest.source.layout, "minari");
    assert.equal((await loadDataset(out)).episodes.length, 12);
  }),
);

test(
  "CLI: prepare with --json prints the manifest; --inspect prints a histogram and writes nothing",
  withTmp(async (dir) => {
    const out = path.join(dir, "steps-ds");
    const prepared = runCli(["--json", "prepare-dataset", path.join(SAMPLES, "cartpole-steps-lz4.feather"), "--out", out]);
    assert.equal(prepared.status, 0, prepared.stderr);
    const manifest = JSON.parse(prepared.stdout) as DatasetManifest;
    assert.deepEqual([manifest.episodes, manifest.steps], [12, 4343]);
    assert.deepEqual(manifest.action_space, { kind: "discrete", n: 2 });
    assert.ok(existsSync(path.join(out, "steps.arrow")));
    const inspectDir = runCli(["prepare-dataset", "--inspect", out]);
    assert.equal(inspectDir.status, 0, inspectDir.stderr);
    assert.match(inspectDir.stdout, /episodes {4}12 \(4 terminated, 8 truncated\), steps 4343/);

    const inspected = runCli(["prepare-dataset", "--inspect", path.join(SAMPLES, "pendulum-d4rl.hdf5")], { cwd: dir });
    assert.equal(inspected.status, 0, inspected.stderr);
    assert.match(inspected.stdout, /episodes {4}11 \(0 terminated, 11 truncated\), steps 2200/);
    assert.match(inspected.stdout, /dropped {5}100 steps of an unfinished last episode/);
    assert.match(inspected.stdout, /episode returns \(histogram\):\n(  \[.*\n){10}/);
    assert.match(inspected.stdout, /#{40} 6/);
    assert.match(inspected.stderr, /dropped the last 100 steps/);
    assert.deepEqual(readdirSync(dir), ["steps-ds"], "--inspect writes nothing");

    const json = runCli(["--json", "prepare-dataset", "--inspect", path.join(SAMPLES, "cartpole-episodes.arrows")]);
    assert.equal(json.status, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as DatasetManifest).source.layout, "per-episode");

    const help = runCli(["prepare-dataset", "--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /\$ snndt prepare-dataset hopper-medium-v2\.hdf5 --out datasets\/hopper-medium/);
    assert.match(help.stdout, /--keep-partial/);

    const noOut = runCli(["prepare-dataset", path.join(SAMPLES, "cartpole-episodes.arrows")]);
    assert.equal(noOut.status, 2);
    assert.match(noOut.stderr, /needs --out <dir>/);
  }),
);

test(
  "a declared action space replaces the one read off the data, and every action is checked against it",
  withTmp(async (dir) => {
    // Two action dimensions in [-0.5, 0.5], from a policy that never reached its box's edges.
    const h5 = path.join(dir, "narrow.hdf5");
    const a = d4rlArrays([6, 5], 3, 2);
    await writeHdf5(h5, {
      observations: { data: a.observations, shape: [a.n, 3] },
      actions: { data: a.actions, shape: [a.n, 2] },
      rewards: { data: a.rewards, shape: [a.n] },
      terminals: { data: a.terminals, shape: [a.n] },
      timeouts: { data: a.timeouts, shape: [a.n] },
    });
    const observed = await loadDataset(h5);
    assert.ok(observed.actionSpace.kind === "continuous" && observed.actionSpace.high[0]! < 0.51);
    assert.equal(observed.manifest.action_space_declared_by, null);

    const out = path.join(dir, "declared");
    const box = runCli(["--json", "prepare-dataset", h5, "--out", out, "--action-low", "-1", "--action-high", "1,2"]);
    assert.equal(box.status, 0, box.stderr);
    const manifest = JSON.parse(box.stdout) as DatasetManifest;
    assert.deepEqual(manifest.action_space, { kind: "continuous", dim: 2, low: [-1, -1], high: [1, 2] });
    assert.equal(manifest.action_space_declared_by, "--action-low/--action-high");
    assert.deepEqual((await loadDataset(out)).actionSpace, manifest.action_space, "training reads the declared box");
    const redeclared = runCli(["prepare-dataset", "--inspect", out, "--action-n", "4", "--keep-partial"]);
    assert.equal(redeclared.status, 2);
    assert.match(redeclared.stderr, /declared is a prepared dataset, read when it was prepared: --action-n, --keep-partial apply to raw files only/);
    const notPrepared = runCli(["prepare-dataset", "--inspect", dir, "--action-n", "4"]);
    assert.match(notPrepared.stderr, /is a directory, but neither a prepared dataset \(no manifest\.json\) nor a Minari dataset/);
    const inspected = runCli(["prepare-dataset", "--inspect", out]);
    assert.match(inspected.stdout, /actions {5}continuous, dim = 2, declared low \[-1, -1\], high \[1, 2\] \(declared by --action-low\/--action-high\)/);

    // An action outside the declared box, a bound count that fits neither form, low >= high: refused, nothing written.
    const refused = path.join(dir, "refused");
    const cases: Array<[string[], number, RegExp]> = [
      [["--action-low=-0.25", "--action-high", "1"], 1, /narrow\.hdf5: column "actions" at row \d+, element [01], holds -0\.\d+, outside the action bounds \[-0\.25, 1\] declared by --action-low\/--action-high/],
      [["--action-low", "-1,-1,-1", "--action-high", "1"], 2, /the low bounds declared by --action-low\/--action-high are 3 numbers, but column "actions" has 2 a step/],
      [["--action-low", "1", "--action-high", "1"], 2, /--action-low\/--action-high declares the action bounds \[1, 1\] for dimension 0; expected low < high/],
      [["--action-low", "-1"], 2, /--action-low and --action-high go together/],
      [["--action-low", "-1", "--action-high", "x"], 2, /--action-high must be a number or comma-separated numbers, got "x"/],
      [["--action-low", "-1,,1", "--action-high", "1"], 2, /--action-low must be a number or comma-separated numbers, got "-1,,1"/],
      [["--action-low", "-1", "--action-high", "1", "--action-space", "discrete"], 2, /declare a continuous space, but --action-space says discrete/],
      [["--action-n", "3", "--action-low", "-1", "--action-high", "1"], 2, /give one or the other/],
      [["--action-n", "3"], 2, /--action-n declares a discrete space, which needs one action index a step or one-hot rows, but column "actions" has 2 values a step/],
    ];
    for (const [flags, status, message] of cases) {
      const res = runCli(["prepare-dataset", h5, "--out", refused, ...flags]);
      assert.equal(res.status, status, `${flags.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.equal(existsSync(refused), false);
    }

    // Discrete: a declared n larger than the data's actions use; an action at or beyond n is refused.
    const feather = path.join(SAMPLES, "cartpole-steps-lz4.feather");
    const three = await prepareDataset(feather, path.join(dir, "three"), { actionSpace: { kind: "discrete", n: 3 } }, ctx);
    assert.deepEqual([three.action_space, three.action_space_declared_by], [{ kind: "discrete", n: 3 }, "--action-n"]);
    const one = runCli(["prepare-dataset", feather, "--out", refused, "--action-n", "1"]);
    assert.equal(one.status, 1, one.stderr);
    assert.match(one.stderr, /cartpole-steps-lz4\.feather: column "action" at row \d+ holds action 1, but --action-n declares 1 actions, 0\.\.0/);
    const zero = runCli(["prepare-dataset", feather, "--out", refused, "--action-n", "0"]);
    assert.match(zero.stderr, /--action-n must be an integer >= 1, got "0"/);
  }),
);
