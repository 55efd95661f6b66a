import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runCli } from "./helpers/cli.js";
import { FIXTURES, SNNDT_BIN } from "./helpers/paths.js";

test("snndt --help lists the subcommands and global options", () => {
  const res = runCli(["--help"]);
  assert.equal(res.status, 0, res.stderr);
  for (const word of ["prepare-dataset", "train", "eval", "--log-level", "--log-file", "--quiet", "--json"]) {
    assert.match(res.stdout, new RegExp(word.replace(/-/g, "\\-")));
  }
});

test("an unknown subcommand exits non-zero with a hint", () => {
  const res = runCli(["frobnicate"]);
  assert.equal(res.status, 2, "a usage error");
  assert.match(res.stderr, /unknown command/);
  // The argument parser's own errors inside a subcommand are usage errors too (exit 2), as snndt's are.
  const choice = runCli(["collect", "--env", "CartPole-v1", "--policy", "foo", "--out", "x.arrow"]);
  assert.equal(choice.status, 2, choice.stderr);
  assert.match(choice.stderr, /argument 'foo' is invalid/);
});

test("an unknown train flag that spells a config key names the --set that sets it", () => {
  const steps = runCli(["train", "--steps", "10"]);
  assert.equal(steps.status, 2);
  assert.match(steps.stderr, /unknown option '--steps'\nconfig keys are set with --set: --set train\.steps=<value>/);
  assert.match(runCli(["train", "--batch-size", "8"]).stderr, /--set train\.batch_size=<value>/);
  assert.match(runCli(["train", "--steps=10"]).stderr, /config keys are set with --set: --set train\.steps=10\n/);
  const other = runCli(["train", "--colour"]);
  assert.equal(other.status, 2);
  assert.doesNotMatch(other.stderr, /config keys are set with --set/);
  // A run given as an argument, or a --set value after a space: what train takes instead.
  for (const args of [["train", "runs/cartpole"], ["train", "--set", "train.steps", "20"]]) {
    const stray = runCli(args);
    assert.equal(stray.status, 2);
    assert.match(stray.stderr, /too many arguments for 'train'.*\ntrain takes no arguments: continue a run with --resume <run>, start one from a run's weights with --init-from <run>, set config keys with --set key=value/);
  }
});

test("train's numeric flags are read as every numeric flag is; the config then checks their range and names them", () => {
  for (const [flag, value, expected] of [
    ["--keep-last", "abc", /--keep-last must be an integer >= 0, got "abc"/],
    ["--keep-last", "0x3", /--keep-last must be an integer >= 0, got "0x3"/],
    ["--keep-last", "0", /--keep-last 0: config key "train\.keep_last" is out of range: found 0/],
    ["--val-fraction", "1e0", /--val-fraction 1: config key "data\.val_fraction" is out of range/],
    ["--val-fraction", "half", /--val-fraction must be a number, got "half"/],
  ] as const) {
    const res = runCli(["train", flag, value, "--out", path.join(tmpdir(), "snndt-never-made")]);
    assert.equal(res.status, 2, `${flag} ${value}: ${res.stderr}`);
    assert.match(res.stderr, expected);
  }
});

test("an option given an empty value is refused, not read as the current directory", () => {
  for (const args of [["train", "--out", ""], ["eval", "runs/none", "--out", " "], ["--log-file", "", "doctor"], ["prepare-dataset", "x.arrow", "--out", ""]]) {
    const res = runCli(args);
    assert.equal(res.status, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, /--(out|log-file) is empty; give it a value/);
  }
});

test("--quiet never shows what a stricter --log-level hides; a --log-file below a file is the user's error", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-cli-"));
  // This file ends in an unfinished episode, which prepare-dataset drops with a warning.
  const sample = path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5");
  const quiet = runCli(["-q", "prepare-dataset", sample, "--out", path.join(dir, "a")]);
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.match(quiet.stderr, /WARN: .*dropped the last 100 steps/);
  const strict = runCli(["-q", "--log-level", "error", "prepare-dataset", sample, "--out", path.join(dir, "b")]);
  assert.equal(strict.status, 0, strict.stderr);
  assert.doesNotMatch(strict.stderr, /WARN/);

  const file = path.join(dir, "a-file");
  writeFileSync(file, "x");
  const logged = runCli(["--log-file", path.join(file, "log.jsonl"), "doctor"]);
  assert.equal(logged.status, 1, logged.stderr);
  assert.match(logged.stderr, /snndt: error: cannot open the log file .*a-file\/log\.jsonl \(--log-file\): cannot mkdir .*a-file: a part of the path is a file, not a directory/);

  // A log file that cannot be opened (here a link to nowhere) is named before any work starts.
  const dangling = path.join(dir, "dangling.jsonl");
  symlinkSync(path.join(dir, "no-such-dir", "log.jsonl"), dangling);
  const out = path.join(dir, "c");
  const unopened = runCli(["--log-file", dangling, "prepare-dataset", sample, "--out", out]);
  assert.equal(unopened.status, 1, unopened.stderr);
  assert.match(unopened.stderr, /snndt: error: cannot open the log file .*dangling\.jsonl \(--log-file\): ENOENT/);
  assert.doesNotMatch(unopened.stderr, /internal error/);
  assert.equal(existsSync(out), false, "nothing is prepared when the log file cannot be opened");

  // One that opens but refuses writes (/dev/full: no space) costs the log, not the work.
  const full = runCli(["--log-file", "/dev/full", "prepare-dataset", sample, "--out", out]);
  assert.equal(full.status, 0, full.stderr);
  assert.equal((full.stderr.match(/warning: cannot write the log file \/dev\/full \(--log-file\): ENOSPC/g) ?? []).length, 1, full.stderr);
  assert.equal(existsSync(path.join(out, "manifest.json")), true);

  // Records are appended: a file that is no log (the command's own input, named by a slip) is refused
  // untouched, a log written before is appended to.
  const config = path.join(dir, "my.yaml");
  writeFileSync(config, "seed: 3\n");
  const slip = runCli(["--log-file", config, "prepare-dataset", sample, "--out", path.join(dir, "d")]);
  assert.equal(slip.status, 2, slip.stderr);
  assert.match(slip.stderr, /snndt: error: --log-file .*my\.yaml exists and is no log \(its first line is not a JSON record\); records are appended, which would change it: choose another --log-file\./);
  assert.equal(readFileSync(config, "utf8"), "seed: 3\n");
  const log = path.join(dir, "log.jsonl");
  for (const name of ["e", "f"]) assert.equal(runCli(["--log-file", log, "prepare-dataset", sample, "--out", path.join(dir, name)]).status, 0);
  assert.equal(readFileSync(log, "utf8").split("\n").filter((line) => line.includes("dropped the last 100 steps")).length, 2);
  // Logs it cannot tell from others are appended to: another tool's JSON lines, a first record cut
  // short (a full disk), /dev/stderr (which may lead to a shell's redirect file).
  const others = [path.join(dir, "winston.log"), path.join(dir, "torn.log")];
  writeFileSync(others[0]!, '{"level":"info","message":"job started"}\n');
  writeFileSync(others[1]!, '{"level":30,"time":17966794');
  for (const [i, other] of others.entries()) assert.equal(runCli(["--log-file", other, "prepare-dataset", sample, "--out", path.join(dir, `g${i}`)]).status, 0, other);
  const jobLog = path.join(dir, "job.log");
  writeFileSync(jobLog, "job started\n");
  const jobFd = openSync(jobLog, "a");
  try {
    const toJobLog = spawnSync(process.execPath, [SNNDT_BIN, "--log-file", "/dev/stderr", "prepare-dataset", sample, "--out", path.join(dir, "h")], { stdio: ["ignore", "pipe", jobFd], env: { ...process.env, CI: "true" } });
    assert.equal(toJobLog.status, 0, readFileSync(jobLog, "utf8"));
  } finally {
    closeSync(jobFd);
  }
});

test("a directory the file system will not make (procfs answers mkdir with ENOENT) is an error, not an endless loop", () => {
  const sample = path.join(FIXTURES, "samples", "pendulum-d4rl.hdf5");
  for (const args of [["--log-file", "/proc/snndt-none/log.jsonl", "doctor"], ["prepare-dataset", sample, "--out", "/proc/snndt-none/out"]]) {
    const res = runCli(args, { timeoutMs: 30_000 });
    assert.equal(res.status, 1, `${args.join(" ")}: exit ${res.status}, ${res.stderr}`);
    assert.match(res.stderr, /cannot make the directory \/proc\/snndt-none: its file system does not allow it \(ENOENT\)/);
  }
});

test("an --out that cannot be made is reported before the input is read", () => {
  // The input is garbage: had it been read first, its error would have come instead.
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-out-first-"));
  const garbage = path.join(dir, "garbage.arrow");
  writeFileSync(garbage, "not a trajectory file\n");
  const res = runCli(["prepare-dataset", garbage, "--out", "/proc/snndt-none/out"], { timeoutMs: 30_000 });
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /cannot make the directory \/proc\/snndt-none/);
  assert.doesNotMatch(res.stderr, /garbage\.arrow/);
  // With an --out that can be made, the input's error comes, and the directories made for it go.
  const nested = runCli(["prepare-dataset", garbage, "--out", path.join(dir, "made", "for", "out")]);
  assert.equal(nested.status, 1, nested.stderr);
  assert.match(nested.stderr, /garbage\.arrow/);
  assert.equal(existsSync(path.join(dir, "made")), false, "the parents made for the output are removed");
  rmSync(dir, { recursive: true, force: true });
});

test("a reader that closes stdout early (snndt --help | head -1) ends the output, not with a crash", async () => {
  const child = spawn(process.execPath, [SNNDT_BIN, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [status] = (await once(child, "close")) as [number | null];
  assert.equal(status, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE/);
});

test("an output directory that cannot be written is refused before the work (collect plays nothing)", () => {
  // procfs refuses writes to a process's directory, also to root (EPERM; EACCES for others).
  const res = runCli(["collect", "--env", "CartPole-v1", "--episodes", "2", "--out", "/proc/self/c.arrow"]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /^snndt: error: cannot write into \/proc\/self: cannot access \/proc\/self: (operation not permitted|permission denied); change its permissions, or choose another path \((EPERM|EACCES)\)\.$/m);
  assert.doesNotMatch(res.stderr, /collecting/);
});

test("collect checks the path it writes: --out link/../c.arrow is c.arrow beside the link, refused without --force when it exists", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-cli-"));
  const cwd = path.join(dir, "cwd");
  mkdirSync(path.join(dir, "elsewhere", "deep"), { recursive: true });
  mkdirSync(cwd);
  symlinkSync(path.join(dir, "elsewhere", "deep"), path.join(cwd, "link"));
  writeFileSync(path.join(cwd, "c.arrow"), "PRECIOUS");
  const res = runCli(["collect", "--env", "CartPole-v1", "--episodes", "1", "--out", "link/../c.arrow"], { cwd });
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /link\/\.\.\/c\.arrow already exists; pass --force to overwrite it/);
  assert.equal(readFileSync(path.join(cwd, "c.arrow"), "utf8"), "PRECIOUS");
});

test("standard output on a full disk (> /dev/full) is said in one line with exit 1, not an uncaught crash", () => {
  const full = openSync("/dev/full", "w");
  try {
    const res = spawnSync(process.execPath, [SNNDT_BIN, "prepare-dataset", path.join(FIXTURES, "samples", "pendulum-minari.hdf5"), "--inspect", "--json"], { stdio: ["ignore", full, "pipe"], encoding: "utf8" });
    assert.equal(res.status, 1, res.stderr);
    assert.equal(res.stderr, "snndt: error: cannot write to standard output (no space left on the device).\n");
  } finally {
    closeSync(full);
  }
});

test("under --json a failure is a JSON error on stdout as well as the message on stderr, by kind and exit code", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-json-error-"));
  const cases: { args: string[]; kind: string; exitCode: number; message: RegExp }[] = [
    { args: ["--json", "eval", path.join(dir, "nowhere")], kind: "input", exitCode: 1, message: /nowhere: no such run or checkpoint directory\.$/ },
    // A flag commander refuses, before snndt's own parsing: --json is read from the command line.
    { args: ["--json", "train", "--bogus"], kind: "usage", exitCode: 2, message: /^unknown option '--bogus'$/ },
    { args: ["train", "--json", "--set", "train.stepz=5"], kind: "usage", exitCode: 2, message: /^--set train\.stepz=5: unknown config key/ },
  ];
  for (const { args, kind, exitCode, message } of cases) {
    const res = runCli(args);
    assert.equal(res.status, exitCode, res.stderr);
    const { error } = JSON.parse(res.stdout) as { error: { kind: string; message: string; exitCode: number } };
    assert.equal(error.kind, kind, args.join(" "));
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, message);
    assert.ok(res.stderr.includes(error.message), `stderr says it too: ${res.stderr}`);
  }
  // Bare snndt: commander shows the help.
  const bare = runCli(["--json"]);
  assert.equal(bare.status, 2);
  assert.deepEqual(JSON.parse(bare.stdout), { error: { kind: "usage", message: "no command given; snndt --help lists them", exitCode: 2 } });
  // Without --json, stdout stays empty.
  assert.equal(runCli(["eval", path.join(dir, "nowhere")]).stdout, "");
});

test("under --json an interrupted command says so on stdout: kind interrupted, exit code 130", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-json-interrupt-"));
  const log = path.join(dir, "log.jsonl");
  const args = ["--json", "--log-file", log, "collect", "--env", "CartPole-v1", "--episodes", "100000", "--out", path.join(dir, "c.arrow")];
  const child = spawn(process.execPath, [SNNDT_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  // Once it logs that it collects (its handlers are in place; 100000 episodes take far longer).
  const poll = setInterval(() => {
    if (existsSync(log) && readFileSync(log, "utf8").includes('"msg":"collecting"')) {
      clearInterval(poll);
      child.kill("SIGINT");
    }
  }, 20);
  const [status] = (await once(child, "exit")) as [number | null];
  clearInterval(poll);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(status, 130);
  assert.deepEqual(JSON.parse(stdout), { error: { kind: "interrupted", message: "SIGINT: interrupted, nothing more written", exitCode: 130 } });
});

test("integer flags are plain decimal digits in every subcommand; a seed list refuses repeats; --env-timeout fits Node's timers", () => {
  for (const [args, message] of [
    [["train", "--seed", "1e3"], /--seed must be an integer in \[0, 4294967295\], got "1e3"/],
    [["collect", "--env", "CartPole-v1", "--seed", "0x10", "--out", "x.arrow"], /--seed must be an integer in \[0, 4294967295\], got "0x10"/],
    [["eval", "no-such-run", "--episodes", "5.0"], /--episodes must be an integer in \[1, 100000\], got "5\.0"/],
    [["eval", "no-such-run", "--seeds", "3,3"], /--seeds lists 3 twice, got "3,3"/],
    [["eval", "no-such-run", "--seeds", "3,"], /--seeds must be comma-separated integers in \[0, 4294967295\], got "3,"/],
    // Node fires a longer timer at once, so every request would "time out" immediately.
    [["eval", "no-such-run", "--env-cmd", "x", "--env-timeout", "3000000000"], /--env-timeout must be a positive number of milliseconds up to 2147483647/],
  ] as const) {
    const res = runCli([...args]);
    assert.equal(res.status, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, message);
  }
});

test("eval's usage mistakes name the fix: a second target given without its flag, a checkpoint file for its directory", () => {
  const targets = runCli(["eval", "no-such-run", "--target-return", "400", "500"]);
  assert.equal(targets.status, 2, targets.stderr);
  assert.match(targets.stderr, /eval takes one run \(got 2: no-such-run, 500\); 500 looks like a target return: repeat --target-return for each target or give them as one list \(.*--target-return 400,500\)/);
  const badList = runCli(["eval", "no-such-run", "--target-return", "400,,500"]);
  assert.equal(badList.status, 2, badList.stderr);
  assert.match(badList.stderr, /--target-return must be a number or comma-separated numbers, got "400,,500"/);
  const seeds = runCli(["eval", "no-such-run", "--seeds", "1001", "1002"]);
  assert.equal(seeds.status, 2, seeds.stderr);
  assert.match(seeds.stderr, /1002 looks like a seed: give --seeds one comma-separated list \(--seeds 1001,1002\)/);
  const both = runCli(["eval", "no-such-run", "--seeds=1001", "1002", "--target-return", "400"]);
  assert.match(both.stderr, /1002 looks like a flag's value: a flag takes one value, so repeat --target-return for each target .*, and give --seeds one comma-separated list/);
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-cli-"));
  const file = path.join(dir, "model.safetensors");
  writeFileSync(file, "x");
  const res = runCli(["eval", file]);
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /model\.safetensors is a file; expected a run directory or a checkpoint directory \(the one holding checksums\.json, e\.g\. .*snndt-cli-/);
  // A file named without a directory still gets a directory to try.
  const bare = runCli(["eval", "model.safetensors"], { cwd: dir });
  assert.ok(bare.stderr.includes(`e.g. ${dir})`), bare.stderr);
  writeFileSync(path.join(dir, "eval.json"), "{}");
  assert.match(runCli(["eval", path.join(dir, "eval.json")]).stderr, /eval\.json is an evaluation's output; to read it, and others beside it, use snndt eval --compare /);
  const timeout = runCli(["eval", "no-such-run", "--env-timeout", "100"]);
  assert.equal(timeout.status, 2, timeout.stderr);
  assert.match(timeout.stderr, /--env-timeout times the messages of an external environment; it applies with --env-cmd only/);
});
