import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/paths.js";
import { arrowEpisodeReturns } from "../helpers/returns.js";

// `npm run results` end to end on one environment and seed, with models small enough to train in
// seconds: the six models train, evaluate and sweep for real, and the report is built from them.
const SCRIPT = path.join(REPO_ROOT, "dist", "scripts", "results.js");
const TINY = [
  "train.steps=4", "train.batch_size=8", "train.eval_every=2", "train.checkpoint_every=2", "train.val_batches=1",
  "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.context=4", "model.lif.T=2",
].flatMap((set) => ["--set", set]);
const MODELS = ["baseline", "pos-only", "route-only", "full", "full+plasticity", "dt"];

let base = "";

function results(extra: string[]): { status: number | null; stderr: string } {
  const args = ["--env", "CartPole-v1", "--seeds", "0", "--episodes", "1", "--out", path.join(base, "runs"), "--docs", path.join(base, "docs"), ...TINY, ...extra];
  const res = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8", timeout: 300_000 });
  const failure = res.error ? `${res.error.message} (signal ${res.signal})\n` : "";
  return { status: res.status, stderr: failure + res.stderr };
}

interface ResultsJson {
  rows: { model: string; target: number; episodes: number; normalisedMean: number | null; sweep?: { target: number }[] }[];
  targetSupport: Record<string, { target: number; atOrAbove: number; episodes: number; sweep: { target: number; atOrAbove: number }[] }>;
  staleRuns: { env: string; model: string; seeds: number[]; keys: string[]; error?: string }[];
}

interface SuiteInvocation {
  command: string;
  machine: { cpus: number };
}
const suiteRecord = (): { made: SuiteInvocation; continued: SuiteInvocation[] } =>
  JSON.parse(readFileSync(path.join(base, "runs", "suite.json"), "utf8")) as { made: SuiteInvocation; continued: SuiteInvocation[] };
const readJson = (): ResultsJson => JSON.parse(readFileSync(path.join(base, "docs", "results.json"), "utf8")) as ResultsJson;
const savedConfig = (model: string) => path.join(base, "runs", "CartPole-v1", model, "seed0", "config.resolved.yaml");

before(() => {
  base = mkdtempSync(path.join(tmpdir(), "snndt-results-"));
  const first = results([]);
  assert.equal(first.status, 0, first.stderr);
});

after(() => rmSync(base, { recursive: true, force: true }));

test("the suite trains and evaluates every model, and reports the data support of its targets", () => {
  const json = readJson();
  const returns = arrowEpisodeReturns(path.join(REPO_ROOT, "datasets", "cartpole-mixed.arrow"));
  const best = Math.max(...returns);
  const reaching = (target: number) => returns.filter((r) => r >= target).length;
  assert.deepEqual(json.rows.map((r) => r.model), MODELS);
  for (const row of json.rows) {
    assert.equal(row.episodes, 1, row.model);
    assert.equal(row.target, best, `${row.model}: conditioned on the dataset's best return`);
    assert.ok(Number.isFinite(row.normalisedMean), row.model);
  }
  const support = json.targetSupport["CartPole-v1"]!;
  assert.deepEqual({ target: support.target, atOrAbove: support.atOrAbove, episodes: support.episodes }, { target: best, atOrAbove: reaching(best), episodes: returns.length });
  const sweepTargets = json.rows.find((r) => r.model === "full")!.sweep!.map((s) => s.target);
  assert.deepEqual(support.sweep, sweepTargets.map((target) => ({ target, atOrAbove: reaching(target) })));
  assert.deepEqual(json.staleRuns, []);
  const markdown = readFileSync(path.join(base, "docs", "results.md"), "utf8");
  assert.ok(markdown.includes(`Conditioned on ${best}, which ${reaching(best)} of the dataset's ${returns.length} episodes reach.`));
  assert.match(markdown, /\| dataset episodes >= target \|/);
  assert.doesNotMatch(markdown, /Trained with another configuration/);
  // Provenance: the command that made the runs, runnable as printed, the machine, and every seed's config hash.
  const runs = path.join(base, "runs");
  const recorded = suiteRecord().made;
  assert.ok(recorded.command.startsWith(`npm run results -- --env CartPole-v1 --seeds 0 --episodes 1 --out ${runs} --docs ${path.join(base, "docs")} --set train.steps=4`), recorded.command);
  assert.ok(markdown.includes(`The runs were made by \`${recorded.command}\``));
  assert.match(markdown, new RegExp(`on a ${recorded.machine.cpus}-core \\w+/\\w+ machine \\(.*\\), TensorFlow\\.js backend wasm, 2 runs at a time\\.`));
  const hashes = (model: string) => (JSON.parse(readFileSync(path.join(runs, "CartPole-v1", model, "seed0", "summary.json"), "utf8")) as { configHash: string }).configHash.slice(0, 12);
  assert.ok(markdown.includes(`Config hashes (seeds 0): ${MODELS.map((m) => `${m} \`${hashes(m)}\``).join("; ")}.`));
  assert.ok(markdown.includes(`snndt train --config configs/cartpole.yaml --set model.kind=dt ${TINY.join(" ")} --seed 0 --out ${path.join(runs, "CartPole-v1", "dt", "seed0")}`), "training commands name the runs' real place");
});

test("--resume skips finished runs; the report names runs whose saved config differs from today's, with the keys", () => {
  const resumed = results(["--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /start (train|eval|sweep)/);
  assert.match(resumed.stderr, /finished job\(s\) skipped/);
  assert.deepEqual(suiteRecord().continued, [], "a --resume that only skipped made none of the runs");

  // Another --set for the report: every run was trained without it.
  const another = results(["--report-only", "--set", "train.lr=0.002"]);
  assert.equal(another.status, 0, another.stderr);
  assert.deepEqual(readJson().staleRuns, MODELS.map((model) => ({ env: "CartPole-v1", model, seeds: [0], keys: ["train.lr"] })));
  // The regenerated report says how it was made, and still what made the runs.
  assert.match(readFileSync(path.join(base, "docs", "results.md"), "utf8"), /--set train\.lr=0\.002 --report-only`\. The runs were made by `npm run results -- [^`]*--set model\.lif\.T=2` \(started /);

  // Saved configs from an older snndt: one without a key, one with another value, one that does not parse.
  writeFileSync(savedConfig("baseline"), readFileSync(savedConfig("baseline"), "utf8").replace(/^ {4}eta_local: .*\n/m, ""));
  writeFileSync(savedConfig("dt"), readFileSync(savedConfig("dt"), "utf8").replace(/^ {2}weight_decay: .*$/m, "  weight_decay: 0.5"));
  writeFileSync(savedConfig("full"), "model: [unclosed\n");
  const report = results(["--report-only"]);
  assert.equal(report.status, 0, report.stderr);
  const stale = readJson().staleRuns;
  assert.deepEqual(stale.map((s) => [s.model, s.keys]), [["baseline", ["model.plasticity.eta_local"]], ["full", []], ["dt", ["train.weight_decay"]]]);
  assert.match(stale[1]!.error!, /^config\.resolved\.yaml does not parse/);
  assert.match(report.stderr, /trained with another configuration: dt on CartPole-v1: train\.weight_decay \(seed 0\)/);
  assert.match(readFileSync(path.join(base, "docs", "results.md"), "utf8"), /- `baseline` on CartPole-v1: `model\.plasticity\.eta_local` \(seed 0\)/);
});

test("evaluations made with other settings are named and made again on --resume; a run on another dataset version is named", () => {
  const evaluated = () => (JSON.parse(readFileSync(path.join(base, "docs", "results.json"), "utf8")) as { evaluatedWithOtherSettings: string[] }).evaluatedWithOtherSettings;
  // The suite evaluated 1 episode per target; a report for 2 names every main evaluation (the
  // sweeps, 2 / 5 rounded up to 1 episode, still match).
  const report = results(["--report-only", "--episodes", "2"]);
  assert.equal(report.status, 0, report.stderr);
  assert.deepEqual(evaluated(), MODELS.map((model) => `${model} on CartPole-v1, seed 0 (evaluation): 1 episodes per target instead of 2`));
  assert.match(readFileSync(path.join(base, "docs", "results.md"), "utf8"), /\*\*Evaluated with other settings\*\*/);

  const resumed = results(["--resume", "--episodes", "2"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /start (train|sweep)/);
  assert.match(resumed.stderr, /eval CartPole-v1 dt seed 0 again: 1 episodes per target instead of 2/);
  assert.deepEqual(evaluated(), []);
  assert.ok(readJson().rows.every((row) => row.episodes === 2));
  // That --resume made evaluations: the record keeps the first command and adds this one.
  const record = suiteRecord();
  assert.match(record.made.command, /--episodes 1 /);
  assert.equal(record.continued.length, 1);
  assert.equal(record.continued[0]!.command, `${record.made.command.replace("--episodes 1 ", "--episodes 2 ")} --resume`);
  assert.match(readFileSync(path.join(base, "docs", "results.md"), "utf8"), /; continued by `npm run results -- [^`]*--episodes 2 [^`]*--resume` \(/);

  // An evaluation made by an older eval method (no methodVersion) is named too, and --resume would make it again.
  const dtEval = path.join(base, "runs", "CartPole-v1", "dt", "seed0", "eval", "eval.json");
  writeFileSync(dtEval, readFileSync(dtEval, "utf8").replace(/\n {2}"methodVersion": 3,/, ""));
  assert.equal(results(["--report-only", "--episodes", "2"]).status, 0);
  assert.deepEqual(evaluated(), [
    "dt on CartPole-v1, seed 0 (evaluation): made by eval method 1, not 3 (method 2: q/k/v spikes carry no synaptic operations (539c954) and target returns are paired (9e0ed7b); " +
      "method 3: the action never comes from the spike-counting pass, so --stats-every no longer changes returns)",
  ]);

  // A run whose summary records another dataset hash was trained on another version of the data.
  const summary = path.join(base, "runs", "CartPole-v1", "route-only", "seed0", "summary.json");
  writeFileSync(summary, readFileSync(summary, "utf8").replace(/"datasetManifestHash": "[0-9a-f]+"/, '"datasetManifestHash": "0000"'));
  const stale = results(["--report-only", "--episodes", "2"]);
  assert.equal(stale.status, 0, stale.stderr);
  assert.deepEqual(readJson().staleRuns.find((s) => s.model === "route-only")?.keys, ["another version of datasets/cartpole-mixed.arrow"]);

  // How the suite evaluates is its own: an eval key in --set is refused, not half-applied.
  const evalSet = results(["--report-only", "--set", "eval.target_returns=[400]"]);
  assert.equal(evalSet.status, 1);
  assert.match(evalSet.stderr, /--set eval\.target_returns=\[400\]: the suite sets how it evaluates/);
});

test("bad option lists are refused; --report-only without the suite's runs writes nothing", () => {
  for (const [option, value, message] of [
    ["--seeds", "0,", /--seeds takes a comma-separated list without empty items, got "0,"/],
    ["--seeds", "1,1", /--seeds lists 1 twice/],
    ["--env", "CartPole-v1,CartPole-v1", /--env lists CartPole-v1 twice/],
    ["--episodes", "5,9", /--episodes takes one number, got "5,9"/],
    ["--jobs", "0", /--jobs takes a positive integer, got 0/],
  ] as const) {
    const res = spawnSync(process.execPath, [SCRIPT, option, value, "--report-only", "--out", path.join(base, "runs")], { encoding: "utf8" });
    assert.equal(res.status, 1, `${option} ${value}: ${res.stderr}`);
    assert.match(res.stderr, message);
  }
  // A --set that would run another model under a row's name is refused; a mistyped one fails before anything is made.
  const variant = spawnSync(process.execPath, [SCRIPT, "--set", "model.variant=baseline", "--report-only", "--out", path.join(base, "runs")], { encoding: "utf8" });
  assert.equal(variant.status, 1, variant.stderr);
  assert.match(variant.stderr, /--set model\.variant=baseline: the suite sets each row's model \(model\.kind, model\.variant, model\.plasticity\.enabled\)/);
  const map = spawnSync(process.execPath, [SCRIPT, "--env", "CartPole-v1", "--set", "model={kind: dt}", "--report-only", "--out", path.join(base, "runs"), "--docs", path.join(base, "docs-map")], { encoding: "utf8" });
  assert.equal(map.status, 1, map.stderr);
  assert.match(map.stderr, /--set model=\{kind: dt\}: changes the model of the baseline row \(model\.kind, model\.variant, model\.plasticity\.enabled\)/);
  const mistyped = path.join(base, "mistyped-runs");
  const typo = spawnSync(process.execPath, [SCRIPT, "--env", "CartPole-v1", "--set", "train.stepz=3", "--out", mistyped, "--docs", path.join(base, "docs-typo")], { encoding: "utf8" });
  assert.equal(typo.status, 1, typo.stderr);
  assert.match(typo.stderr, /train\.stepz/);
  assert.ok(!existsSync(mistyped), "no empty results directory left to block the corrected command");
  const docs = path.join(base, "docs-untouched");
  const missing = path.join(base, "no-such-runs");
  const res = spawnSync(process.execPath, [SCRIPT, "--report-only", "--out", missing, "--docs", docs], { encoding: "utf8" });
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /--report-only reports the runs in .*no-such-runs, which does not exist/);
  assert.ok(!existsSync(missing) && !existsSync(docs), "nothing made");
});

// SIGINT: exit code 130. SIGHUP (the terminal closed): the suite ends by the signal itself, as a
// process without a handler would, since writing its exit to a closed terminal can crash Node.
for (const [signal, status, endedBy] of [["SIGINT", 130, null], ["SIGHUP", null, "SIGHUP"]] as const) {
  test(`${signal} to the suite alone interrupts its running jobs and waits for them, then ends (${status ?? endedBy}); no training left running`, async () => {
    const out = path.join(base, `interrupted-${signal}`);
    const args = ["--env", "CartPole-v1", "--seeds", "0", "--episodes", "1", "--out", out, "--docs", path.join(base, `docs-${signal}`), ...TINY, "--set", "train.steps=400"];
    // Its own process group, as a job control shell would give it: the signal goes to the script only.
    const suite = spawn(process.execPath, [SCRIPT, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    suite.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(suite, "exit");
    // Interrupt once the first training is under way (it has written a checkpoint).
    const checkpoints = path.join(out, "CartPole-v1", "baseline", "seed0", "checkpoints");
    let poll: NodeJS.Timeout | undefined;
    const training = new Promise<void>((resolve) => {
      poll = setInterval(() => existsSync(checkpoints) && resolve(), 20);
    });
    await Promise.race([training, exited]).finally(() => clearInterval(poll));
    suite.kill(signal);
    const [code, bySignal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.deepEqual([code, bySignal], [status, endedBy], stderr);
    assert.match(stderr, new RegExp(`${signal}: interrupting the [12] job\\(s\\) running`));
    // Each interrupted training stopped with a checkpoint and released its lock before the suite exited.
    const locks = MODELS.map((model) => path.join(out, "CartPole-v1", model, "seed0", ".snndt-train.lock")).filter((lock) => existsSync(lock));
    assert.deepEqual(locks, [], "trainings still running after the suite exited");
    assert.ok(!existsSync(path.join(out, "CartPole-v1", "baseline", "seed0", "summary.json")), "the training was interrupted, not finished");
  });
}
