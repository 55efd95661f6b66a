import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { lockRunDirectory, RUN_LOCK_FILE } from "../../src/runtime/run-lock.js";
import { UsageError } from "../../src/runtime/errors.js";
import { deadPid } from "../helpers/processes.js";

const LOCK_MODULE = pathToFileURL(path.resolve("dist/src/runtime/run-lock.js")).href;


test("a held lock refuses a second holder until released; the directories made for the lock go with it", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "snndt-lock-"));
  const run = path.join(root, "runs", "cartpole", "run");
  const release = await lockRunDirectory(run);
  assert.ok(existsSync(path.join(run, RUN_LOCK_FILE)));
  await assert.rejects(lockRunDirectory(run), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.match(err.message, new RegExp(`is being trained by another snndt process \\(pid ${process.pid}\\)`));
    return true;
  });
  release();
  assert.deepEqual(readdirSync(root), [], "the empty directories made for the lock are removed, its parents too");
  const again = await lockRunDirectory(run);
  writeFileSync(path.join(run, "metrics.jsonl"), "");
  again();
  assert.deepEqual(readdirSync(run), ["metrics.jsonl"]);
  // A directory that was there before is never removed.
  const existing = mkdtempSync(path.join(tmpdir(), "snndt-lock-"));
  (await lockRunDirectory(existing))();
  assert.ok(existsSync(existing));
});

test("a lock left by a dead process is taken over by exactly one of several processes starting at once", async () => {
  const run = mkdtempSync(path.join(tmpdir(), "snndt-lock-stale-"));
  writeFileSync(path.join(run, RUN_LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), token: "dead" }));
  // The contenders start, then wait for one common moment, so their attempts overlap; a winner
  // holds the lock for 3 s, until every other attempt is over.
  const startAt = Date.now() + 2000;
  const script = `
    const { lockRunDirectory } = await import(${JSON.stringify(LOCK_MODULE)});
    while (Date.now() < ${startAt});
    try {
      const release = await lockRunDirectory(${JSON.stringify(run)});
      process.stdout.write("won");
      setTimeout(release, 3000);
    } catch (err) {
      process.stdout.write(/another snndt process/.test(err.message) ? "refused" : "error: " + err.message);
    }`;
  const contenders = Array.from({ length: 6 }, () => spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] }));
  const outcomes = await Promise.all(
    contenders.map(async (child) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      await once(child, "exit");
      return out;
    }),
  );
  assert.deepEqual(outcomes.filter((o) => o !== "won" && o !== "refused"), [], "no other outcome");
  assert.equal(outcomes.filter((o) => o === "won").length, 1, `outcomes: ${outcomes.join(", ")}`);
  assert.deepEqual(readdirSync(run), [], "the lock and every temporary are gone");
});

test("a dead owner's pid given to another process (pid 1 in a new container, here this very process) does not keep its lock", async () => {
  const run = mkdtempSync(path.join(tmpdir(), "snndt-lock-reused-"));
  const lock = path.join(run, RUN_LOCK_FILE);
  // Same pid and host as this process, another start time: the process that wrote it is gone.
  writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), token: "dead", started: "1" }));
  const release = await lockRunDirectory(run);
  const owner = JSON.parse(readFileSync(lock, "utf8")) as { token: string; started: string };
  assert.notEqual(owner.token, "dead");
  assert.match(owner.started, /^\d+$/, "the new lock records its own start time");
  release();
  // A pid reused by another live process: the lock names a start time that process does not have.
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  try {
    writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, host: hostname(), token: "dead", started: "1" }));
    (await lockRunDirectory(run))();
    // The same live process, its start time matching (or an older lock without one): still refused.
    for (const started of [readFileSync(`/proc/${sleeper.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19], undefined]) {
      writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, host: hostname(), token: "live", started }));
      await assert.rejects(lockRunDirectory(run), /is being trained by another snndt process/);
    }
  } finally {
    sleeper.kill();
  }
});
