/**
 * Progress bars draw only on a terminal, so these tests run the real CLI under a pseudo-terminal
 * (util-linux `script`): a command that fails while a bar is drawn must report and exit, not hang
 * on the bar's redraw timer. Without a terminal, progress is logged in lines.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import test from "node:test";
import { writeHdf5, withTmp } from "../data/make-files.js";
import { SNNDT_BIN } from "../helpers/paths.js";
import { pino } from "pino";
import { createProgressFactory, formatDuration } from "../../src/runtime/progress.js";

const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;

test(
  "a command failing while a progress bar is drawn on a terminal exits with its error",
  { skip: hasScript ? false : "util-linux `script` (a pseudo-terminal) is not installed" },
  withTmp(async (dir) => {
    // Minari layout whose second episode has fewer actions than rewards: the reader fails after
    // its bar has started.
    const h5 = path.join(dir, "bad-minari.hdf5");
    await writeHdf5(h5, {
      "episode_0/observations": { data: new Float32Array(6 * 2), shape: [6, 2] },
      "episode_0/actions": { data: new Float32Array(5), shape: [5] },
      "episode_0/rewards": { data: new Float64Array(5), shape: [5] },
      "episode_1/observations": { data: new Float32Array(5 * 2), shape: [5, 2] },
      "episode_1/actions": { data: new Float32Array(3), shape: [3] },
      "episode_1/rewards": { data: new Float64Array(4), shape: [4] },
    });
    const command = [process.execPath, SNNDT_BIN, "prepare-dataset", h5, "--out", path.join(dir, "out")].map((a) => `'${a}'`).join(" ");
    const env = { ...process.env };
    delete env["CI"]; // bars are off under CI=true
    const res = spawnSync("script", ["-qefc", command, "/dev/null"], { encoding: "utf8", env, timeout: 60_000 });
    assert.equal(res.signal, null, `the command did not exit within 60 s (killed by ${res.signal}); output:\n${res.stdout}`);
    assert.equal(res.status, 1, res.stdout);
    assert.match(res.stdout, /reading bad-minari\.hdf5/, "the bar was drawn");
    assert.match(res.stdout, /snndt: error: .*episode_1/);
  }),
);

test(
  "a second Ctrl-C during training exits at once and gives the terminal back its cursor and line wrapping",
  { skip: hasScript ? false : "util-linux `script` (a pseudo-terminal) is not installed" },
  withTmp(async (dir) => {
    const train = [process.execPath, SNNDT_BIN, "train", "--set", "model.d_model=16", "--set", "model.n_layers=1", "--set", "model.context=5", "--set", "train.steps=100000", "--out", path.join(dir, "run")];
    // The shell prints its pid, then becomes the training process, so the test can signal it alone.
    const command = `echo PID:$$; exec ${train.map((a) => `'${a}'`).join(" ")}`;
    const env = { ...process.env };
    delete env["CI"]; // bars are off under CI=true
    const child = spawn("script", ["-qefc", command, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const deadline = Date.now() + 90_000;
    while (!/train \[/.test(out) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(out, /train \[/, "the training bar was drawn");
    const pid = Number(/PID:(\d+)/.exec(out)![1]);
    process.kill(pid, "SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(pid, "SIGINT");
    const [status] = (await once(child, "close")) as [number | null];
    assert.equal(status, 130, out);
    assert.match(out, /second SIGINT: exiting without a checkpoint/);
    // The bar hid the cursor (ESC[?25l) and turned off wrapping (ESC[?7l); both come back after.
    assert.ok(out.lastIndexOf("\x1b[?25h") > out.lastIndexOf("\x1b[?25l"), "the cursor is shown again");
    assert.ok(out.lastIndexOf("\x1b[?7h") > out.lastIndexOf("\x1b[?7l"), "line wrapping is on again");
  }),
);

test(
  "what a progress bar shows stays off the terminal but reaches --log-file; without bars it is logged on stderr too",
  { skip: hasScript ? false : "util-linux `script` (a pseudo-terminal) is not installed" },
  withTmp(async (dir) => {
    const tiny = ["--set", "model.d_model=16", "--set", "model.n_layers=1", "--set", "model.n_heads=2", "--set", "model.context=5", "--set", "train.steps=4", "--set", "train.log_every=2"];
    const stepRecords = (file: string) =>
      readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { msg: string; step?: number }).filter((r) => r.msg === "training").map((r) => r.step);
    const onTerminal = path.join(dir, "terminal.jsonl");
    const train = [process.execPath, SNNDT_BIN, "--log-file", onTerminal, "train", ...tiny, "--out", path.join(dir, "run")];
    const env = { ...process.env };
    delete env["CI"]; // bars are off under CI=true
    const res = spawnSync("script", ["-qefc", train.map((a) => `'${a}'`).join(" "), "/dev/null"], { encoding: "utf8", env, timeout: 120_000 });
    assert.equal(res.status, 0, res.stdout);
    assert.match(res.stdout, /train \[/, "the training bar was drawn");
    assert.doesNotMatch(res.stdout, /INFO.*: training/, "the bar's records stay off the terminal");
    assert.deepEqual(stepRecords(onTerminal), [2, 4], "and reach the log file");
    // Without a terminal (no bars), the same records are logged on stderr as well.
    const piped = path.join(dir, "piped.jsonl");
    const plain = spawnSync(process.execPath, [SNNDT_BIN, "--log-file", piped, "train", ...tiny, "--out", path.join(dir, "run-piped")], { encoding: "utf8", timeout: 120_000 });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stderr, /INFO.*: training/);
    assert.deepEqual(stepRecords(piped), [2, 4]);
  }),
);

test("without a bar, long work logs its count and time left at most every 10 s; short work and the end log nothing", () => {
  const lines: { label: string; done: number; of: number; timeLeft: string; msg: string }[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  let now = 0;
  const progress = createProgressFactory(false, logger, () => now);
  const eval_ = progress.start("eval", 100);
  now = 9_000;
  eval_.update(15); // under 10 s: nothing yet
  now = 10_000;
  eval_.increment(5); // 20 of 100 in 10 s: 40 s left
  now = 15_000;
  eval_.update(30); // 5 s after the last line
  now = 21_000;
  eval_.update(70); // 70 in 21 s: 9 s left
  now = 40_000;
  eval_.update(100); // done: the command's result says so
  assert.deepEqual(
    lines.map(({ label, done, of, timeLeft, msg }) => ({ label, done, of, timeLeft, msg })),
    [
      { label: "eval", done: 20, of: 100, timeLeft: "40s", msg: "progress" },
      { label: "eval", done: 70, of: 100, timeLeft: "9s", msg: "progress" },
    ],
  );
  // Work that logs its own lines (training, with its losses) gets none from here.
  const train = progress.start("train", 10, { logsItself: true });
  now = 100_000;
  train.update(5);
  assert.equal(lines.length, 2);
  assert.deepEqual([5, 59.6, 65, 3599, 3600, 3725].map(formatDuration), ["5s", "1m 00s", "1m 05s", "59m 59s", "1h 00m", "1h 02m"]);
});
