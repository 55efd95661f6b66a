import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, existsSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { writeDirAtomic, writeFileAtomic } from "../../src/runtime/fs-atomic.js";
import { SnndtError } from "../../src/runtime/errors.js";
import { deadPid } from "../helpers/processes.js";

test("writeFileAtomic leaves only the finished file", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const target = path.join(dir, "a", "out.txt");
  await writeFileAtomic(target, "hello");
  assert.equal(readFileSync(target, "utf8"), "hello");
  assert.deepEqual(readdirSync(path.dirname(target)), ["out.txt"]);
});

test("writeDirAtomic leaves nothing behind when the build fails", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const target = path.join(dir, "out");
  await assert.rejects(
    writeDirAtomic(target, async (tmp) => {
      writeFileSync(path.join(tmp, "partial.bin"), "x");
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(existsSync(target), false);
  assert.deepEqual(readdirSync(dir), []);
});

test("writeDirAtomic replaces an existing directory only when asked", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const target = path.join(dir, "out");
  await writeDirAtomic(target, async (tmp) => writeFileSync(path.join(tmp, "v"), "1"));
  // Another process's output that appeared meanwhile is the user's situation to resolve, not an snndt bug.
  await assert.rejects(writeDirAtomic(target, async (tmp) => writeFileSync(path.join(tmp, "v"), "2")), (err: unknown) => {
    assert.ok(err instanceof SnndtError);
    assert.match(err.message, /out appeared while it was being written \(another snndt writing the same output\?\); it was left as it is/);
    return true;
  });
  assert.equal(readFileSync(path.join(target, "v"), "utf8"), "1");
  await writeDirAtomic(target, async (tmp) => writeFileSync(path.join(tmp, "v"), "2"), { replace: true });
  assert.equal(readFileSync(path.join(target, "v"), "utf8"), "2");
  assert.deepEqual(readdirSync(dir), ["out"]);
});

test("writeDirAtomic removes the hidden temporaries a killed writer of the same output left, not a live writer's or another output's", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const dead = deadPid();
  const orphan = `.out.tmp-${dead}-0badf00d`;
  const live = `.out.tmp-${process.pid}-0000beef`;
  const other = `.other.tmp-${dead}-0000cafe`;
  for (const name of [orphan, live, other]) mkdirSync(path.join(dir, name));
  writeFileSync(path.join(dir, orphan, "steps.arrow"), "half");
  await writeDirAtomic(path.join(dir, "out"), async (tmp) => writeFileSync(path.join(tmp, "v"), "1"));
  assert.deepEqual(readdirSync(dir).sort(), [live, other, "out"].sort());
});

test("a directory path through a broken symbolic link is named as such", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  symlinkSync(path.join(dir, "gone"), path.join(dir, "link"));
  await assert.rejects(writeFileAtomic(path.join(dir, "link", "sub", "x.txt"), "x"), (err: unknown) => {
    assert.ok(err instanceof SnndtError);
    assert.match(err.message, /cannot make the directory .*link: it is a symbolic link to a path that does not exist/);
    return true;
  });
});
