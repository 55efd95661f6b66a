import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { runCli } from "../helpers/cli.js";
import { SNNDT_BIN } from "../helpers/paths.js";
import { collectEpisodes } from "../../src/eval/collect.js";

const dir = mkdtempSync(path.join(tmpdir(), "snndt-collect-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("snndt collect writes one Arrow row per step with the episodes the collector plays", async () => {
  const out = path.join(dir, "cartpole.arrow");
  const res = runCli(["--json", "collect", "--env", "CartPole-v1", "--policy", "mixed", "--episodes", "6", "--seed", "4", "--out", out]);
  assert.equal(res.status, 0, res.stderr);
  const summary = JSON.parse(res.stdout) as { returns: { episodes: number; steps: number; mean: number }; byQuality: object };
  assert.match(res.stderr, /collected CartPole-v1 with the mixed policy \(seed 4\)/);
  assert.match(res.stderr, /returns: mean/);

  const expected = await collectEpisodes({ envId: "CartPole-v1", quality: "mixed", episodes: 6, seed: 4 });
  assert.deepEqual(summary.returns, expected.summary.returns);
  const table = tableFromIPC(readFileSync(out));
  const steps = expected.episodes.reduce((n, e) => n + e.length, 0);
  assert.equal(table.numRows, steps);
  assert.equal(table.schema.metadata.get("snndt.env"), "CartPole-v1");
  assert.equal(table.schema.metadata.get("snndt.episode_qualities"), expected.qualities.join(","));
  const episodeIds = table.getChild("episode_id")!.toArray() as Int32Array;
  const actions = table.getChild("action")!.toArray() as Int32Array;
  const rtg = table.getChild("return_to_go")!.toArray() as Float32Array;
  const terminated = table.getChild("terminated")!;
  let row = 0;
  expected.episodes.forEach((episode, e) => {
    for (let t = 0; t < episode.length; t++, row++) {
      assert.equal(episodeIds[row], e);
      assert.equal(actions[row], episode.actions[t]);
      assert.equal(rtg[row], episode.returnsToGo[t]);
      assert.equal(terminated.get(row), t === episode.length - 1 && episode.terminated);
    }
  });
  // No temporary files are left beside the output.
  assert.deepEqual(readdirSync(dir), ["cartpole.arrow"]);
});

test("snndt collect writes continuous actions as vectors", () => {
  const out = path.join(dir, "pendulum.arrow");
  const res = runCli(["collect", "--env", "Pendulum-v1", "--policy", "expert", "--episodes", "2", "--out", out]);
  assert.equal(res.status, 0, res.stderr);
  const table = tableFromIPC(readFileSync(out));
  assert.equal(table.numRows, 400);
  const first = table.getChild("action")!.get(0) as { length: number; get(i: number): number };
  assert.equal(first.length, 1);
  assert.ok(Math.abs(first.get(0)) <= 2);
});

test("snndt collect refuses to overwrite without --force, and rejects bad arguments", () => {
  const out = path.join(dir, "mc.arrow");
  assert.equal(runCli(["collect", "--env", "MountainCar-v0", "--episodes", "1", "--out", out]).status, 0);
  const again = runCli(["collect", "--env", "MountainCar-v0", "--episodes", "1", "--out", out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(runCli(["collect", "--env", "MountainCar-v0", "--episodes", "1", "--out", out, "--force"]).status, 0);

  const badEnv = runCli(["collect", "--env", "Pong-v5", "--out", path.join(dir, "x.arrow")]);
  assert.equal(badEnv.status, 2);
  assert.match(badEnv.stderr, /unknown environment "Pong-v5"; known environments: CartPole-v1/);
  const badCount = runCli(["collect", "--env", "CartPole-v1", "--episodes", "0", "--out", path.join(dir, "x.arrow")]);
  assert.equal(badCount.status, 2);
  assert.match(badCount.stderr, /--episodes must be an integer >= 1, got "0"/);
  // Seeds are 32-bit; 2^32 would silently replay seed 0.
  const bigSeed = runCli(["collect", "--env", "CartPole-v1", "--seed", "4294967296", "--out", path.join(dir, "x.arrow")]);
  assert.equal(bigSeed.status, 2);
  assert.match(bigSeed.stderr, /--seed must be an integer in \[0, 4294967295\], got "4294967296"/);
  const badPolicy = runCli(["collect", "--env", "CartPole-v1", "--policy", "great", "--out", path.join(dir, "x.arrow")]);
  assert.notEqual(badPolicy.status, 0);
  assert.match(badPolicy.stderr, /great/);
  assert.equal(existsSync(path.join(dir, "x.arrow")), false);
});

test("snndt collect --out below a file, on a directory or empty: a usage error naming the path, before any episode", () => {
  const file = path.join(dir, "a-file");
  writeFileSync(file, "mine");
  // The file is the output's directory, or further up.
  for (const out of [path.join(file, "out.arrow"), path.join(file, "sub", "out.arrow")]) {
    const res = runCli(["collect", "--env", "CartPole-v1", "--policy", "random", "--episodes", "1", "--out", out]);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /snndt: error: --out .*a-file.*out\.arrow: .*a-file is a file; the output's directory cannot be made/);
  }
  assert.equal(readFileSync(file, "utf8"), "mine");
  const onDirectory = runCli(["collect", "--env", "CartPole-v1", "--episodes", "1", "--out", dir, "--force"]);
  assert.equal(onDirectory.status, 2, onDirectory.stderr);
  assert.match(onDirectory.stderr, /--out .* is a directory; expected the Arrow file to write/);
  const empty = runCli(["collect", "--env", "CartPole-v1", "--episodes", "1", "--out", ""]);
  assert.equal(empty.status, 2, empty.stderr);
  assert.match(empty.stderr, /--out is empty/);
});

test("Ctrl-C while episodes are played exits 130 at once and writes nothing", async () => {
  const out = path.join(dir, "interrupted", "mountaincar.arrow");
  // Far more episodes than the test waits for: only the interrupt can end it in time.
  const child = spawn(process.execPath, [SNNDT_BIN, "collect", "--env", "MountainCar-v0", "--policy", "expert", "--episodes", "1000000", "--out", out], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = once(child, "exit");
  // Interrupt once episodes are being played (the start is logged just before).
  let stderr = "";
  await new Promise<void>((resolve) =>
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("collecting")) setTimeout(resolve, 300);
    }),
  );
  child.kill("SIGINT");
  // Not a speed check: before, the signal waited for the whole collection (about 20 minutes here).
  let timer: NodeJS.Timeout | undefined;
  const ignored = new Promise<"ignored">((resolve) => (timer = setTimeout(() => resolve("ignored"), 20_000)));
  const outcome = await Promise.race([exited, ignored]).finally(() => clearTimeout(timer));
  if (outcome === "ignored") child.kill("SIGKILL");
  assert.notEqual(outcome, "ignored", "collect went on playing after SIGINT");
  assert.equal((outcome as [number | null])[0], 130);
  assert.ok(!existsSync(path.dirname(out)) || readdirSync(path.dirname(out)).length === 0, "nothing written");
});
