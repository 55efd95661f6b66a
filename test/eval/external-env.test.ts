import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ExternalEnvError, spawnExternalEnv, type AsyncEnvironment } from "../../src/eval/external-env.js";
import { EnvironmentError } from "../../src/eval/envs/environment.js";
import { SnndtError } from "../../src/runtime/errors.js";
import { FIXTURES } from "../helpers/paths.js";

const POINT_ENV = path.join(FIXTURES, "external-env", "point-env.mjs");
const GOAL = 0.5;
/** For hang tests: the child must first start (Node's start-up on a busy machine can take a while). */
const STARTED_TIMEOUT_MS = 1500;

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A shell command running the fixture environment with `flags`, recording its pids in a fresh file. */
function pointEnv(...flags: string[]): { command: string; pidFile: string } {
  const pidFile = path.join(mkdtempSync(path.join(tmpdir(), "snndt-extenv-")), "pids.json");
  const command = [process.execPath, POINT_ENV, ...flags, `--pid-file=${pidFile}`].map(shellQuote).join(" ");
  return { command, pidFile };
}

/** True if `pid` is a running process (a zombie waiting to be reaped counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Asserts that every process the fixture recorded is gone (allowing a moment for the kernel to finish). */
async function assertNoProcessLeft(pidFile: string, expectedCount: number): Promise<void> {
  const pids = Object.values(JSON.parse(readFileSync(pidFile, "utf8")) as Record<string, number>);
  assert.equal(pids.length, expectedCount, "pids recorded by the fixture");
  const deadline = Date.now() + 2000;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(pids.filter(isAlive), [], "processes left running");
}

async function stepUntilDone(env: AsyncEnvironment, action: number, limit: number) {
  const results = [];
  for (let i = 0; i < limit; i++) {
    const result = await env.step(action);
    results.push(result);
    if (result.terminated || result.truncated) break;
  }
  return results;
}

test("discrete round trip: spec, seeded reset, steps to the goal, close", async () => {
  const { command, pidFile } = pointEnv();
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  assert.equal(env.id, "PointGoal-v0");
  assert.deepEqual(env.observationSpace, { shape: [2], low: [-1, -Infinity], high: [1, Infinity] });
  assert.deepEqual(env.actionSpace, { kind: "discrete", n: 3 });
  assert.equal(env.maxEpisodeSteps, 50);
  assert.equal(env.rewardThreshold, -5);

  const first = await env.reset(7);
  assert.ok(first instanceof Float32Array && first.length === 2);
  assert.ok(first[0]! >= -1 && first[0]! <= -0.5, `start ${first[0]}`);
  assert.ok(Math.abs(first[1]! - (GOAL - first[0]!)) < 1e-6);
  assert.deepEqual(await env.reset(7), first, "same seed, same start");
  assert.notDeepEqual(await env.reset(8), first, "another seed, another start");

  let x = (await env.reset(7))[0]!;
  const results = await stepUntilDone(env, 2, 100);
  for (const [index, result] of results.entries()) {
    const expectedX = x + 0.1;
    assert.ok(Math.abs(result.observation[0]! - expectedX) < 1e-5, `step ${index}: x ${result.observation[0]} vs ${expectedX}`);
    assert.ok(Math.abs(result.reward + Math.abs(GOAL - result.observation[0]!)) < 1e-5, `step ${index}: reward`);
    assert.equal(result.terminated, index === results.length - 1, `step ${index}: terminated`);
    assert.equal(result.truncated, false);
    x = result.observation[0]!;
  }
  assert.ok(Math.abs(GOAL - x) < 0.05, "ended at the goal");
  assert.ok(results.length >= 10 && results.length <= 16, `${results.length} steps from [-1, -0.5] to 0.5`);

  await assert.rejects(env.step(2), (error: unknown) => error instanceof SnndtError && /reset/.test(error.message));
  await env.close();
  await env.close(); // idempotent
  await assertNoProcessLeft(pidFile, 1);
});

test("truncation: the child's own time limit, and snndt's for a child without one", async () => {
  const own = await spawnExternalEnv(pointEnv().command, { timeoutMs: 5000 });
  await own.reset(1);
  const stay = await stepUntilDone(own, 1, 100);
  assert.equal(stay.length, 50);
  assert.deepEqual(stay.map((r) => r.truncated), [...new Array(49).fill(false), true]);
  assert.ok(stay.every((r) => !r.terminated));
  await own.close();

  const none = await spawnExternalEnv(pointEnv("--no-time-limit", "--max-steps=5").command, { timeoutMs: 5000 });
  assert.equal(none.maxEpisodeSteps, 5);
  await none.reset(1);
  const limited = await stepUntilDone(none, 1, 100);
  assert.deepEqual(limited.map((r) => r.truncated), [false, false, false, false, true]);
  // a fresh episode starts after reset
  await none.reset(2);
  assert.equal((await none.step(1)).truncated, false);
  await none.close();
});

test("continuous actions go as lists; invalid actions are refused before sending", async () => {
  const env = await spawnExternalEnv(pointEnv("--continuous").command, { timeoutMs: 5000 });
  assert.deepEqual(env.actionSpace, { kind: "continuous", dim: 1, low: [-1], high: [1] });
  assert.equal(env.rewardThreshold, undefined);
  const start = await env.reset(3);
  const a = await env.step(new Float32Array([0.5]));
  assert.ok(Math.abs(a.observation[0]! - (start[0]! + 0.05)) < 1e-5);
  const b = await env.step([3]); // the environment clips, as Gymnasium's do
  assert.ok(Math.abs(b.observation[0]! - (a.observation[0]! + 0.1)) < 1e-5);
  await assert.rejects(env.step([0.1, 0.2]), /expected 1 finite action values, found \[0.1,0.2\]/);
  await assert.rejects(env.step([Number.NaN]), /expected 1 finite action values/);
  // the environment is still usable after a refused action
  assert.equal((await env.step(0)).observation.length, 2);
  await env.close();

  const discrete = await spawnExternalEnv(pointEnv().command, { timeoutMs: 5000 });
  await discrete.reset(3);
  await assert.rejects(
    discrete.step(3),
    (error: unknown) => error instanceof EnvironmentError && /expected one integer action in 0\.\.2, found \[3\]/.test(error.message),
  );
  await assert.rejects(discrete.step(1.5), /expected one integer action/);
  assert.equal((await discrete.step(new Float32Array([2]))).observation.length, 2);
  await assert.rejects(discrete.reset(-1), /non-negative integer/);
  await discrete.close();
});

test("an error reply rejects that call and leaves the environment usable", async () => {
  const env = await spawnExternalEnv(pointEnv().command, { timeoutMs: 5000 });
  await assert.rejects(
    env.reset(5000),
    (error: unknown) =>
      error instanceof ExternalEnvError &&
      /reported an error for the "reset" request \(id 1\): "seed 5000 is out of range/.test(error.message),
  );
  assert.equal((await env.reset(3)).length, 2);
  await env.close();
});

test("a command that dies at start: exit code and its last stderr lines", async () => {
  const { command, pidFile } = pointEnv("--mode=die-at-start");
  const stderrLines: string[] = [];
  const options = { timeoutMs: 5000, onStderr: (line: string) => stderrLines.push(line) };
  await assert.rejects(spawnExternalEnv(command, options), (error: unknown) => {
    assert.ok(error instanceof ExternalEnvError);
    assert.match(error.message, /point-env\.mjs/);
    assert.match(error.message, /exited with code 3 while snndt was waiting for the answer to the "spec" request/);
    assert.match(error.message, /loading the simulator\n {2}fatal: simulator library not found/);
    return true;
  });
  assert.deepEqual(stderrLines, ["loading the simulator", "fatal: simulator library not found"]);
  await assertNoProcessLeft(pidFile, 1);
});

test("a command the shell cannot find", async () => {
  await assert.rejects(
    spawnExternalEnv("snndt-no-such-environment-program --flag", { timeoutMs: 5000 }),
    /"snndt-no-such-environment-program --flag" exited with code 127 .*did not find the program.*not found/s,
  );
});

test("a working directory that does not exist", async () => {
  await assert.rejects(
    spawnExternalEnv(pointEnv().command, { cwd: "/nonexistent/snndt-dir" }),
    /could not be started in "\/nonexistent\/snndt-dir" \(does that directory exist\?\)/,
  );
});

test("a command that dies during a step; later calls give the same error", async () => {
  const { command, pidFile } = pointEnv("--mode=die-on-step");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  const died = /exited with code 4 while snndt was waiting for the answer to the "step" request \(id 2\).*RuntimeError: physics exploded/s;
  await assert.rejects(env.step(1), died);
  await assert.rejects(env.reset(1), died);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("a command that hangs at start is killed after the timeout, grandchildren too", async () => {
  const { command, pidFile } = pointEnv("--mode=hang-at-start", "--grandchild");
  const started = Date.now();
  // STARTED_TIMEOUT_MS: the child must have started and recorded its pids before it is killed.
  await assert.rejects(
    spawnExternalEnv(command, { timeoutMs: STARTED_TIMEOUT_MS }),
    /did not answer the "spec" request \(id 0\) within 1500 ms; the process was killed/,
  );
  assert.ok(Date.now() - started < STARTED_TIMEOUT_MS + 3000, "gave up in time");
  await assertNoProcessLeft(pidFile, 2);
});

test("a command that hangs on a step is killed after the timeout", async () => {
  const { command, pidFile } = pointEnv("--mode=hang-on-step", "--grandchild");
  const env = await spawnExternalEnv(command, { timeoutMs: STARTED_TIMEOUT_MS });
  await env.reset(1);
  await assert.rejects(env.step(1), /did not answer the "step" request \(id 2\) within 1500 ms/);
  await assertNoProcessLeft(pidFile, 2);
  await env.close();
});

test("a malformed line is quoted (truncated) in the error", async () => {
  const { command, pidFile } = pointEnv("--mode=garbage-on-step");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  await assert.rejects(env.step(1), (error: unknown) => {
    assert.ok(error instanceof ExternalEnvError);
    assert.match(error.message, /wrote a line that is not JSON in answer to the "step" request \(id 2\): "Stepping the simulator\.\.\. done!/);
    assert.match(error.message, /… \(\d+ more characters\)/);
    assert.match(error.message, /logs belong on stderr/);
    return true;
  });
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("an observation of the wrong shape", async () => {
  const { command, pidFile } = pointEnv("--mode=wrong-shape");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  await assert.rejects(env.step(1), /sent "observation" in its step reply = \[.*\]; expected a list of 2 numbers, found 3/);
  await assert.rejects(env.reset(1), /expected a list of 2 numbers, found 3/, "the environment is broken afterwards");
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("an observation finite in JSON but beyond float32's range is refused, not passed on as Infinity", async () => {
  const { command, pidFile } = pointEnv("--mode=float32-overflow");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  await assert.rejects(env.step(1), /sent "observation" in its step reply = \[1e\+39,.*\]; entry 0 \(1e\+39\) is beyond float32's range/);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("a reply out of order", async () => {
  const { command, pidFile } = pointEnv("--mode=out-of-order");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  await assert.rejects(
    env.step(1),
    /replied out of order: expected the answer to the "step" request \(id 2\), found a reply with id 3/,
  );
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("bad specs: Python's Infinity, another protocol version", async () => {
  const infinity = pointEnv("--mode=infinity-in-spec");
  await assert.rejects(
    spawnExternalEnv(infinity.command, { timeoutMs: 5000 }),
    /not JSON in answer to the "spec" request.*NaN and Infinity are not JSON.*null for an unbounded limit/s,
  );
  await assertNoProcessLeft(infinity.pidFile, 1);

  const future = pointEnv("--mode=future-protocol");
  await assert.rejects(
    spawnExternalEnv(future.command, { timeoutMs: 5000 }),
    /speaks protocol version 2; this snndt speaks version 1/,
  );
  await assertNoProcessLeft(future.pidFile, 1);
});

test("close kills a child that ignores the close request, and its children", async () => {
  const { command, pidFile } = pointEnv("--mode=ignore-close", "--grandchild");
  const env = await spawnExternalEnv(command, { timeoutMs: STARTED_TIMEOUT_MS });
  await env.reset(1);
  const started = Date.now();
  await env.close();
  assert.ok(Date.now() - started < STARTED_TIMEOUT_MS + 2000, "close gave up waiting in time");
  await assertNoProcessLeft(pidFile, 2);
  await assert.rejects(env.reset(1), /has been closed/);
});

test("a runaway stdout line is refused as one, not mistaken for a slow environment", async () => {
  const { command, pidFile } = pointEnv("--mode=runaway-on-step");
  // Reading 70 MB takes a second or two; read quadratically, it took minutes and ended in this timeout.
  const env = await spawnExternalEnv(command, { timeoutMs: 20_000 });
  await env.reset(1);
  await assert.rejects(env.step(1), /wrote more than 67108864 characters on stdout without a newline; expected one JSON reply per line/);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("a reply left without its newline when the command exits is quoted in the error", async () => {
  const { command, pidFile } = pointEnv("--mode=no-newline-then-exit");
  const env = await spawnExternalEnv(command, { timeoutMs: 5000 });
  await env.reset(1);
  await assert.rejects(env.step(1), /exited with code 0 while snndt was waiting for the answer to the "step" request \(id 2\)\. Its stdout ends in "\{\\"id\\":2,\\"observation\\".*" without a newline; every reply must end with one\. It wrote nothing to stderr\./);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("a reply left without its newline by a command that stays alive is quoted in the timeout", async () => {
  const { command, pidFile } = pointEnv("--mode=no-newline-then-wait");
  const env = await spawnExternalEnv(command, { timeoutMs: STARTED_TIMEOUT_MS });
  await env.reset(1);
  await assert.rejects(env.step(1), /did not answer the "step" request \(id 2\) within 1500 ms; .* Its stdout ends in "\{\\"id\\":2,.*" without a newline; every reply must end with one\./);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});

test("a progress line redrawn with carriage returns on stderr is one line: its last drawing", async () => {
  const { command, pidFile } = pointEnv("--mode=progress-on-stderr");
  const stderrLines: string[] = [];
  const env = await spawnExternalEnv(command, { timeoutMs: 5000, onStderr: (line) => stderrLines.push(line) });
  await env.reset(1);
  for (let i = 0; i < 3; i++) await env.step(1);
  await assert.rejects(env.step(1), /exited with code 5 while snndt was waiting for the answer to the "step" request \(id 5\)\. Its last stderr lines:\n {2}stepping ###$/);
  assert.deepEqual(stderrLines, ["stepping ###"]);
  await env.close();
  await assertNoProcessLeft(pidFile, 1);
});
