import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.js";

test("snndt --help lists the subcommands and global options", () => {
  const res = runCli(["--help"]);
  assert.equal(res.status, 0, res.stderr);
  for (const word of ["prepare-dataset", "train", "eval", "--log-level", "--log-file", "--quiet", "--json"]) {
    assert.match(res.stdout, new RegExp(word.replace(/-/g, "\\-")));
  }
});

test("an unknown subcommand exits non-zero with a hint", () => {
  const res = runCli(["frobnicate"]);
  assert.notEqual(res.status, 0);
  assert.match(res.stderr, /unknown command/);
});

test("train's own flags reach the config as typed, so its errors quote them", () => {
  const res = runCli(["train", "--keep-last", "abc"]);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /--keep-last abc: config key "train\.keep_last" has the wrong type: found string "abc"/);
});
