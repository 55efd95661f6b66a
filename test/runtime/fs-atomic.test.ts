import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { replaceFilesTogether, writeDirAtomic, writeFileAtomic, writeIntoEmptyDirectory } from "../../src/runtime/fs-atomic.js";
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

test("writeFileAtomic takes a path through a directory that does not exist and back (missing/..), and removes a killed writer's temporary of the file", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const orphan = `.f.json.tmp-${deadPid()}-0badf00d`;
  writeFileSync(path.join(dir, orphan), "half");
  await writeFileAtomic(path.join(dir, "missing", "..", "f.json"), "{}");
  assert.deepEqual(readdirSync(dir), ["f.json"]);
});

test("writeIntoEmptyDirectory fills the directory itself, the last names last; what appears there meanwhile stays, unless it takes an output's name", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const target = path.join(dir, "out");
  mkdirSync(target);
  await writeIntoEmptyDirectory(
    target,
    async (tmp) => {
      writeFileSync(path.join(tmp, "manifest.json"), "{}");
      writeFileSync(path.join(tmp, "steps.arrow"), "steps");
      writeFileSync(path.join(target, "notes.txt"), "the user's"); // written by someone else meanwhile
    },
    ["manifest.json"],
  );
  assert.deepEqual(readdirSync(target).sort(), ["manifest.json", "notes.txt", "steps.arrow"]);
  // The manifest moved last: it is the newest entry.
  assert.ok(statSync(path.join(target, "manifest.json")).ctimeMs >= statSync(path.join(target, "steps.arrow")).ctimeMs);
  const again = path.join(dir, "again");
  mkdirSync(again);
  await assert.rejects(
    writeIntoEmptyDirectory(again, async (tmp) => {
      writeFileSync(path.join(tmp, "steps.arrow"), "steps");
      writeFileSync(path.join(again, "steps.arrow"), "another writer's");
    }, []),
    (err: unknown) => err instanceof SnndtError && /again\/steps\.arrow appeared while the output was being written/.test(err.message),
  );
  assert.deepEqual(readdirSync(again), ["steps.arrow"]);
  assert.equal(readFileSync(path.join(again, "steps.arrow"), "utf8"), "another writer's");
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

test("replaceFilesTogether replaces every file or, when a write fails, none", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const [a, b, gone, stale] = ["a.txt", "sub/b.txt", "gone.json", "stale.svg"].map((name) => path.join(dir, name));
  mkdirSync(path.dirname(b!));
  for (const file of [a!, b!, gone!, stale!]) writeFileSync(file, "old");
  // The last file cannot be written (its directory is a file): the others stay old, no temporary is left.
  writeFileSync(path.join(dir, "blocked"), "a file");
  const blocked = { target: path.join(dir, "blocked", "c.txt"), data: "new" };
  const inNewDirectory = { target: path.join(dir, "made", "for", "d.txt"), data: "new" };
  await assert.rejects(replaceFilesTogether([{ target: a!, data: "new" }, inNewDirectory, { target: b!, data: "new" }, blocked], { removeFirst: [gone!] }));
  assert.deepEqual([a!, b!, gone!].map((file) => readFileSync(file, "utf8")), ["old", "old", "old"]);
  assert.deepEqual(readdirSync(dir).sort(), ["a.txt", "blocked", "gone.json", "stale.svg", "sub"]);
  assert.deepEqual(readdirSync(path.dirname(b!)), ["b.txt"]);
  // A killed writer's temporary of a target is swept; a live writer's is not.
  const [orphan, live] = [`.a.txt.tmp-${deadPid()}-0badf00d`, `.a.txt.tmp-${process.pid}-0000beef`];
  for (const name of [orphan, live]) writeFileSync(path.join(dir, name), "half");
  await replaceFilesTogether([{ target: a!, data: "new" }, { target: b!, data: "new" }], { removeFirst: [gone!], removeAfter: [stale!] });
  rmSync(path.join(dir, live));
  assert.deepEqual([a!, b!].map((file) => readFileSync(file, "utf8")), ["new", "new"]);
  assert.deepEqual(readdirSync(dir).sort(), ["a.txt", "blocked", "sub"]);
});

test("replaceFilesTogether interrupted while it writes leaves the old files whole", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  const targets = ["one.txt", "two.txt", "three.bin"].map((name) => path.join(dir, name));
  for (const file of targets) writeFileSync(file, "old");
  const inNewDirectory = path.join(dir, "made", "for", "four.txt");
  // Two small files, then a large one: interrupted while the last is written, the first two must
  // still be old (written one after another, they would already be new). As the CLI does, an
  // interrupt becomes process.exit, whose listener removes the temporaries.
  const script = `
    const { replaceFilesTogether } = await import(${JSON.stringify(new URL("../../src/runtime/fs-atomic.js", import.meta.url).href)});
    process.on("SIGINT", () => process.exit(130));
    const [one, two, three] = ${JSON.stringify(targets)};
    const four = ${JSON.stringify(inNewDirectory)};
    await replaceFilesTogether([{ target: one, data: "new" }, { target: four, data: "new" }, { target: two, data: "new" }, { target: three, data: new Uint8Array(256 << 20).fill(7) }]);
    process.stdout.write("finished");`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  while (!readdirSync(dir).some((name) => name.startsWith(".three.bin.tmp-")) && child.exitCode === null) await new Promise((r) => setTimeout(r, 2));
  child.kill("SIGINT");
  const [code] = await once(child, "exit");
  assert.equal(output, "", "interrupted before it finished");
  assert.equal(code, 130);
  assert.deepEqual(targets.map((file) => readFileSync(file, "utf8")), ["old", "old", "old"]);
  assert.deepEqual(readdirSync(dir).sort(), ["one.txt", "three.bin", "two.txt"], "no temporary, and no directory it made");
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

test("a name as long as a file system takes (255 bytes) is written, its temporary's name cut to fit; a killed writer's such temporary is removed", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-atomic-"));
  // 255 bytes, two-byte characters first: the cut must not split one.
  const file = `${"é".repeat(124)}ab.json`;
  assert.equal(Buffer.byteLength(file), 255);
  const dead = deadPid();
  // As a killed writer named it: the target's first 232 bytes (233 would end inside an "é").
  const orphan = `.${"é".repeat(116)}.tmp-${dead}-0badf00d`;
  assert.ok(Buffer.byteLength(orphan) <= 255);
  writeFileSync(path.join(dir, orphan), "half");
  await writeFileAtomic(path.join(dir, file), "{}");
  assert.deepEqual(readdirSync(dir), [file]);
  const folder = "d".repeat(255);
  await writeDirAtomic(path.join(dir, folder), async (tmp) => writeFileSync(path.join(tmp, "v"), "1"));
  await writeDirAtomic(path.join(dir, folder), async (tmp) => writeFileSync(path.join(tmp, "v"), "2"), { replace: true });
  assert.deepEqual(readdirSync(dir).sort(), [file, folder].sort());
  assert.equal(readFileSync(path.join(dir, folder, "v"), "utf8"), "2");
});
