import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/paths.js";

// `npm run results` end to end on one environment and seed, with models small enough to train in
// seconds: the six models train, evaluate and sweep for real, and the report is built from them.
const SCRIPT = path.join(REPO_ROOT, "dist", "scripts", "results.js");
const TINY = [
  "train.steps=4", "train.batch_size=8", "train.eval_every=2", "train.checkpoint_every=2", "train.val_batches=1",
  "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.context=4", "model.lif.T=2",
].flatMap((set) => ["--set", set]);
const MODELS = ["baseline", "pos-only", "route-only", "full", "full+plasticity", "dt"];

let base = "";

function results(extra: string[]): { status: number; stderr: string } {
  const args = ["--env", "CartPole-v1", "--seeds", "0", "--episodes", "1", "--out", path.join(base, "runs"), "--docs", path.join(base, "docs"), ...TINY, ...extra];
  const res = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8", timeout: 300_000 });
  return { status: res.status ?? -1, stderr: res.stderr };
}

interface ResultsJson {
  rows: { model: string; target: number; episodes: number; normalisedMean: number | null; sweep?: { target: number }[] }[];
  targetSupport: Record<string, { target: number; atOrAbove: number; episodes: number; sweep: { target: number; atOrAbove: number }[] }>;
  staleRuns: string[];
}

const readJson = (): ResultsJson => JSON.parse(readFileSync(path.join(base, "docs", "results.json"), "utf8")) as ResultsJson;

before(() => {
  base = mkdtempSync(path.join(tmpdir(), "snndt-results-"));
  const first = results([]);
  assert.equal(first.status, 0, first.stderr);
});

test("the suite trains and evaluates every model, and reports the data support of its targets", () => {
  const json = readJson();
  assert.deepEqual(json.rows.map((r) => r.model), MODELS);
  for (const row of json.rows) {
    assert.equal(row.episodes, 1, row.model);
    assert.equal(row.target, 500, `${row.model}: conditioned on the CartPole dataset's best return`);
    assert.ok(Number.isFinite(row.normalisedMean), row.model);
  }
  // 55 of the shipped CartPole dataset's 120 episodes reach 500 (its 50 expert episodes and 5 medium ones); all reach the worst return.
  const support = json.targetSupport["CartPole-v1"]!;
  assert.deepEqual({ target: support.target, atOrAbove: support.atOrAbove, episodes: support.episodes }, { target: 500, atOrAbove: 55, episodes: 120 });
  assert.deepEqual(support.sweep.map((s) => s.target), json.rows.find((r) => r.model === "full")!.sweep!.map((s) => s.target));
  assert.equal(support.sweep[0]!.atOrAbove, 120);
  assert.deepEqual(json.staleRuns, []);
  const markdown = readFileSync(path.join(base, "docs", "results.md"), "utf8");
  assert.match(markdown, /Conditioned on 500, which 55 of the dataset's 120 episodes reach\./);
  assert.match(markdown, /\| dataset episodes >= target \| 120 of 120 \|/);
  assert.doesNotMatch(markdown, /Trained with another configuration/);
});

test("--resume skips finished runs; a report over runs trained with another config names them and the keys", () => {
  const resumed = results(["--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /start (train|eval|sweep)/);
  assert.match(resumed.stderr, /finished job\(s\) skipped/);

  const report = results(["--report-only", "--set", "train.lr=0.002"]);
  assert.equal(report.status, 0, report.stderr);
  const json = readJson();
  assert.equal(json.staleRuns.length, MODELS.length);
  for (const line of json.staleRuns) assert.match(line, /on CartPole-v1: `train\.lr` \(seed 0\)$/);
  assert.match(readFileSync(path.join(base, "docs", "results.md"), "utf8"), /Trained with another configuration/);
});
