/**
 * The shipped datasets are what their README commands make: re-run every `snndt collect` line of
 * datasets/README.md (in-process, through the same collect-and-write path as the CLI) and compare
 * the bytes with the shipped file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/paths.js";
import { collectEpisodes, writeCollection } from "../../src/eval/collect.js";
import type { Quality } from "../../src/eval/policies/index.js";

const readme = readFileSync(path.join(REPO_ROOT, "datasets", "README.md"), "utf8");
const commands = [...readme.matchAll(/^npx snndt collect (.+)$/gm)].map((m) => {
  const flags = new Map<string, string>();
  const words = m[1]!.trim().split(/\s+/);
  for (let i = 0; i < words.length; i += 2) flags.set(words[i]!, words[i + 1]!);
  return flags;
});
const dir = mkdtempSync(path.join(tmpdir(), "snndt-datasets-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("the README lists one command per shipped dataset", () => {
  assert.deepEqual(
    commands.map((c) => c.get("--out")).sort(),
    ["acrobot", "cartpole", "mountaincar", "pendulum"].map((n) => `datasets/${n}-mixed.arrow`),
  );
});

for (const flags of commands) {
  const out = flags.get("--out")!;
  test(`${out} is reproduced bit for bit by its README command`, async () => {
    const shipped = path.join(REPO_ROOT, out);
    assert.ok(statSync(shipped).size <= 1.5 * 1024 * 1024, `${out} is over 1.5 MB`);
    const result = await collectEpisodes({
      envId: flags.get("--env")!,
      quality: flags.get("--policy")! as Quality,
      episodes: Number(flags.get("--episodes")),
      seed: Number(flags.get("--seed")),
    });
    // A good share of expert data, so offline RL on it can reach expert returns.
    const expertShare = result.qualities.filter((q) => q === "expert").length / result.qualities.length;
    assert.ok(expertShare >= 0.4, `${out}: only ${(100 * expertShare).toFixed(0)}% expert episodes`);
    const remade = path.join(dir, path.basename(out));
    await writeCollection(remade, result);
    assert.ok(readFileSync(remade).equals(readFileSync(shipped)), `${out} differs from a fresh collection`);
  });
}
