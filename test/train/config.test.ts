import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import {
  CONFIGS_DIR,
  DEFAULT_CONFIG_PATH,
  DEFAULT_YAML_HEADER,
  canonicalJson,
  configDifferences,
  configHash,
  loadConfig,
  parseOverride,
  renderConfigReference,
  renderConfigYaml,
  resolvePackagePath,
  schemaDefaults,
  schemaKeyPaths,
  schemaNodeAt,
  writeResolvedConfig,
} from "../../src/train/config.js";
import { BACKEND_CHOICES } from "../../src/runtime/backend.js";
import { UsageError } from "../../src/runtime/errors.js";
import { PACKAGE_ROOT } from "../../src/runtime/version.js";

const ENV_FILES = ["cartpole", "mountaincar", "acrobot", "pendulum"];

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-config-"));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function leafPaths(value: unknown, prefix = ""): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [prefix.slice(0, -1)];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix + k + "."));
}

/** Assert a UsageError whose message matches every pattern. */
function assertUsage(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test("default.yaml is exactly the schema rendered with its defaults (generated, in sync)", () => {
  const text = readFileSync(DEFAULT_CONFIG_PATH, "utf8");
  assert.equal(text, renderConfigYaml(schemaDefaults(), DEFAULT_YAML_HEADER));
  assert.deepEqual(YAML.parse(text), schemaDefaults());
  assert.deepEqual(leafPaths(YAML.parse(text)).sort(), schemaKeyPaths().sort());
});

test("configs/README.md is the generated reference of every key", () => {
  const text = readFileSync(path.join(CONFIGS_DIR, "README.md"), "utf8");
  assert.equal(text, renderConfigReference());
  for (const key of schemaKeyPaths()) assert.ok(text.includes(`| \`${key}\` |`), key);
});

test("every key of every shipped config exists in the schema, and each file loads", () => {
  const files = readdirSync(CONFIGS_DIR).filter((f) => f.endsWith(".yaml")).sort();
  assert.deepEqual(files, ["acrobot.yaml", "cartpole.yaml", "default.yaml", "mountaincar.yaml", "pendulum.yaml"]);
  const valid = new Set(schemaKeyPaths());
  for (const env of ENV_FILES) {
    const file = path.join(CONFIGS_DIR, `${env}.yaml`);
    const text = readFileSync(file, "utf8");
    for (const key of leafPaths(YAML.parse(text))) assert.ok(valid.has(key), `${env}.yaml: ${key}`);
    const config = loadConfig({ configPath: file });
    assert.equal(config.data.path, `datasets/${env}-mixed.arrow`);
    assert.deepEqual(config.eval.target_returns, []);
  }
  const ids = ENV_FILES.map((env) => loadConfig({ configPath: path.join(CONFIGS_DIR, `${env}.yaml`) }).eval.env);
  assert.deepEqual(ids, ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1"]);
  const limits: Record<string, number> = { cartpole: 500, mountaincar: 200, acrobot: 500, pendulum: 200 };
  for (const env of ENV_FILES) {
    const config = loadConfig({ configPath: path.join(CONFIGS_DIR, `${env}.yaml`) });
    assert.ok(config.model.max_ep_len >= limits[env]!, env);
  }
});

test("schema defaults match the brief's model defaults and the backend choices", () => {
  const d = schemaDefaults();
  assert.equal(d.model.d_model, 128);
  assert.equal(d.model.n_heads, 4);
  assert.equal(d.model.n_layers, 2);
  assert.equal(d.model.context, 20);
  assert.equal(d.model.lif.T, 10);
  assert.equal(d.model.lif.tau_m, 20);
  assert.equal(d.model.surrogate.k, 10);
  assert.equal(d.model.dropout, 0.1);
  const backend = schemaNodeAt("backend");
  assert.ok(backend?.kind === "leaf");
  assert.deepEqual(backend.choices, BACKEND_CHOICES);
});

test("layers resolve in order: defaults <- file <- --set (in order) <- flags", () => {
  const file = tempFile("env.yaml", "seed: 5\ntrain:\n  lr: 0.001\n  steps: 50\nmodel:\n  lif:\n    T: 4\n");
  const config = loadConfig({
    configPath: file,
    overrides: ["train.eps=1e-7", "train.steps=70", "model.lif.T=6", "train.steps=80", "eval.target_returns=[100, 200.5]", "model.lif.current_scale=2"],
    seed: 9,
    data: "some/dir",
    backend: "cpu",
  });
  assert.equal(config.seed, 9);
  assert.equal(config.train.lr, 0.001);
  assert.equal(config.train.eps, 1e-7);
  assert.equal(config.train.steps, 80);
  assert.equal(config.model.lif.T, 6);
  assert.equal(config.model.lif.tau_m, 20);
  assert.deepEqual(config.eval.target_returns, [100, 200.5]);
  assert.equal(config.model.lif.current_scale, 2);
  assert.equal(config.data.path, path.resolve("some/dir"));
  assert.equal(config.backend, "cpu");
  // --data resolves as data.path does: a shipped dataset is found from any directory.
  const elsewhere = mkdtempSync(path.join(tmpdir(), "snndt-cwd-"));
  const cwd = process.cwd();
  try {
    process.chdir(elsewhere);
    assert.equal(loadConfig({ data: "datasets/acrobot-mixed.arrow" }).data.path, path.join(PACKAGE_ROOT, "datasets", "acrobot-mixed.arrow"));
    assert.equal(loadConfig({ data: "mine/data" }).data.path, path.join(process.cwd(), "mine", "data"));
  } finally {
    process.chdir(cwd);
  }
  assert.equal(loadConfig({ overrides: ["model.lif.current_scale=null"] }).model.lif.current_scale, null);
  const flagged = loadConfig({
    overrides: ["train.keep_last=9", "data.val_fraction=0.3"],
    flags: [
      { flag: "--keep-last", key: "train.keep_last", value: "5" },
      { flag: "--val-fraction", key: "data.val_fraction", value: 0.2 },
    ],
  });
  assert.equal(flagged.train.keep_last, 5);
  assert.equal(flagged.data.val_fraction, 0.2);
  assertUsage(
    () => loadConfig({ flags: [{ flag: "--keep-last", key: "train.keep_last", value: "0" }] }),
    /^--keep-last 0: config key "train\.keep_last" is out of range: found 0; expected integer in \[1, 100000\]/,
  );
  // Flags and YAML's non-finite numbers are quoted as given, not as JSON's null.
  assertUsage(() => loadConfig({ flags: [{ flag: "--keep-last", key: "train.keep_last", value: "abc" }] }), /^--keep-last abc: config key "train\.keep_last" has the wrong type: found string "abc"/);
  assertUsage(() => loadConfig({ flags: [{ flag: "--val-fraction", key: "data.val_fraction", value: "" }] }), /^--val-fraction "": config key "data\.val_fraction" is empty/);
  assertUsage(() => loadConfig({ overrides: ["train.steps=.inf"] }), /config key "train\.steps" has the wrong type: found number Infinity/);
  assert.equal(loadConfig({ overrides: ["model.plasticity.enabled=true"] }).model.plasticity.enabled, true);
  assert.equal(loadConfig({ overrides: ["model.kind=dt"] }).model.kind, "dt");
});

test("unknown or misspelt keys name the key, suggest the closest and list the valid ones", () => {
  assertUsage(() => loadConfig({ overrides: ["train.learning_rat=0.1"] }), /--set train\.learning_rat=0\.1/, /unknown config key "train\.learning_rat"/, /Valid keys in "train": steps, batch_size/);
  assertUsage(() => loadConfig({ overrides: ["train.wieght_decay=0.1"] }), /did you mean "train\.weight_decay"\?/);
  assertUsage(() => loadConfig({ overrides: ["model.lif.tau=3"] }), /did you mean "model\.lif\.tau_m"\?/, /Valid keys in "model\.lif": T, dt, tau_m/);
  assertUsage(() => loadConfig({ overrides: ["modle.d_model=3"] }), /did you mean "model"\?/, /Valid keys at the top level: seed, backend, data, model, train, eval/);
  const file = tempFile("typo.yaml", "# comment\ntrain:\n  steps: 10\n  batchsize: 8\n");
  assertUsage(() => loadConfig({ configPath: file }), /typo\.yaml:4: unknown config key "train\.batchsize" \(did you mean "train\.batch_size"\?\)/);
});

test("wrong types and out-of-range values name the key, the source line and the valid range", () => {
  const file = tempFile("bad.yaml", "model:\n  d_model: 64\n  n_heads: two\n");
  assertUsage(() => loadConfig({ configPath: file }), /bad\.yaml:3: config key "model\.n_heads" has the wrong type: found string "two"; expected integer in \[1, 64\]/);
  assertUsage(() => loadConfig({ overrides: ["train.lr=0"] }), /"train\.lr" is out of range: found 0; expected number in \(0, 1\]/);
  assertUsage(() => loadConfig({ overrides: ["model.dropout=1"] }), /"model\.dropout" is out of range.*\[0, 1\)/);
  assertUsage(() => loadConfig({ overrides: ["train.batch_size=6.5"] }), /"train\.batch_size" must be an integer, found 6\.5/);
  assertUsage(() => loadConfig({ overrides: ["model.variant=half"] }), /"model\.variant" has an invalid value "half"; expected one of baseline, pos-only, route-only, full/);
  assertUsage(() => loadConfig({ overrides: ["train.steps="] }), /"train\.steps" is empty \(null\)/);
  assertUsage(() => loadConfig({ overrides: ["eval.seeds=[1, -2]"] }), /"eval\.seeds" has an out-of-range item at index 1: -2/);
  // Lists eval would refuse are refused before training.
  assertUsage(() => loadConfig({ overrides: ["eval.seeds=[]"] }), /"eval\.seeds" has 0 items; give at least 1/);
  assertUsage(() => loadConfig({ overrides: ["eval.seeds=[7, 7]"] }), /"eval\.seeds" lists 7 twice; list each once/);
  assertUsage(() => loadConfig({ overrides: ["eval.target_returns=[400, 400]"] }), /"eval\.target_returns" lists 400 twice/);
  assertUsage(() => loadConfig({ overrides: ["model.lif=3"] }), /"model\.lif" is a section and needs a mapping of its keys \(T, dt, tau_m/);
  assertUsage(() => loadConfig({ backend: "gpu" }), /--backend: config key "backend" has an invalid value "gpu"; expected one of auto, tensorflow, wasm, cpu/);
  assertUsage(() => loadConfig({ seed: -1 }), /--seed: config key "seed" is out of range/);
  assertUsage(() => loadConfig({ overrides: ["model.d_model=100", "model.n_heads=3"] }), /"model\.d_model" \(100\) and "model\.n_heads" \(3\) disagree/);
  assertUsage(() => loadConfig({ overrides: ["model.lif.v_th=-1"] }), /"model\.lif\.v_th" \(-1\) and "model\.lif\.v_rest" \(0\) disagree/);
  assertUsage(() => loadConfig({ overrides: ["model.lif.dt=50"] }), /"model\.lif\.dt" \(50\) and "model\.lif\.tau_m" \(20\) disagree: with dt above tau_m the Euler leak factor 1 - dt\/tau_m is negative/);
  assert.equal(loadConfig({ overrides: ["model.lif.dt=20"] }).model.lif.dt, 20, "dt = tau_m (no memory) is allowed");
  assertUsage(() => loadConfig({ overrides: ["model.context=600", "model.max_ep_len=500"] }), /"model\.context" \(600\) and "model\.max_ep_len" \(500\) disagree: a window never holds more steps than an episode/);
});

test("bad --set syntax and unreadable or invalid YAML files are usage errors naming the file and line", () => {
  assertUsage(() => parseOverride("train.lr"), /--set train\.lr: expected key=value/);
  assertUsage(() => parseOverride("=3"), /expected key=value/);
  assertUsage(() => parseOverride("train..lr=3"), /"train\.\.lr" is not a dotted key path/);
  assertUsage(() => parseOverride("train.lr=[1, 2"), /the value "\[1, 2" is not valid YAML/);
  assert.deepEqual(parseOverride("model.lif.T=8"), { model: { lif: { T: 8 } } });
  // " #" would cut the value short as a comment: refused, with the quoted form; quoted, it is kept.
  assertUsage(() => parseOverride("data.path=my #1.arrow"), /the value holds a "#" that YAML reads as the start of a comment; .*--set 'data\.path="my #1\.arrow"'/);
  assert.deepEqual(parseOverride('data.path="my #1.arrow"'), { data: { path: "my #1.arrow" } });
  assert.deepEqual(parseOverride("eval.env=a#b"), { eval: { env: "a#b" } });
  assertUsage(() => parseOverride("model.lif.current_scale=#0.5"), /holds a "#" that YAML reads as the start of a comment/);
  assertUsage(() => parseOverride("data.path=x: 1 #c"), /holds a "#" that YAML reads as the start of a comment/);
  // The suggested quoted form keeps the value as typed (JSON escapes are YAML's double-quoted ones).
  const suggestion = (() => {
    try {
      parseOverride("data.path=C:\\new #1.arrow");
    } catch (err) {
      return /--set '(data\.path=.*)'\)/.exec((err as Error).message)![1]!;
    }
    throw new Error("not refused");
  })();
  assert.deepEqual(parseOverride(suggestion), { data: { path: "C:\\new #1.arrow" } });
  assertUsage(() => loadConfig({ configPath: "/nonexistent/x.yaml" }), /cannot read config file \/nonexistent\/x\.yaml: no such file/);
  const broken = tempFile("broken.yaml", "train:\n  lr: 0.1\n   steps: [1, 2\n");
  assertUsage(() => loadConfig({ configPath: broken }), /invalid YAML in config file .*broken\.yaml:\d+:\d+/);
  const dup = tempFile("dup.yaml", "train:\n  lr: 0.1\n  lr: 0.2\n");
  assertUsage(() => loadConfig({ configPath: dup }), /invalid YAML in config file .*dup\.yaml:3:\d+: .*[Uu]nique/);
  const list = tempFile("list.yaml", "- 1\n- 2\n");
  assertUsage(() => loadConfig({ configPath: list }), /list\.yaml must hold a mapping of keys/);
  // Aliases that expand beyond the yaml package's cap are an invalid file, not an internal error.
  const aliases = tempFile("aliases.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
  assertUsage(() => loadConfig({ configPath: aliases }), /invalid YAML in config file .*aliases\.yaml: Excessive alias count/);
  const empty = tempFile("empty.yaml", "# nothing\n");
  assert.deepEqual(loadConfig({ configPath: empty }), loadConfig());
});

test("configHash is the sha256 of canonical JSON: key order does not matter, values do", () => {
  const a = schemaDefaults();
  const reordered = JSON.parse(canonicalJson(a)) as typeof a;
  assert.equal(configHash(reordered), configHash(a));
  assert.match(configHash(a), /^[0-9a-f]{64}$/);
  assert.equal(canonicalJson({ b: 1, a: [2, { d: 1, c: null }] }), '{"a":[2,{"c":null,"d":1}],"b":1}');
  const changed = loadConfig({ overrides: ["train.lr=0.0002"] });
  assert.notEqual(configHash(changed), configHash(loadConfig()));
});

test("writeResolvedConfig writes a YAML that loads back to the same config", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-run-"));
  const config = loadConfig({ configPath: path.join(CONFIGS_DIR, "pendulum.yaml"), overrides: ["model.lif.current_scale=1.5"] });
  const file = await writeResolvedConfig(dir, config);
  assert.equal(file, path.join(dir, "config.resolved.yaml"));
  assert.deepEqual(readdirSync(dir), ["config.resolved.yaml"]);
  const text = readFileSync(file, "utf8");
  assert.ok(text.includes(configHash(config)));
  assert.deepEqual(YAML.parse(text), config);
  assert.deepEqual(loadConfig({ configPath: file }), config);
  // A string with a line break (set through --set) loads back too.
  const multiline = loadConfig({ overrides: ['eval.env="My\\nEnv"'] });
  assert.equal(multiline.eval.env, "My\nEnv");
  assert.deepEqual(loadConfig({ configPath: await writeResolvedConfig(mkdtempSync(path.join(tmpdir(), "snndt-run-")), multiline) }), multiline);
});

test("resolvePackagePath: absolute as is, else the cwd if it exists there, else the checkout", () => {
  assert.equal(resolvePackagePath("/abs/x.arrow", "/cwd", () => false), "/abs/x.arrow");
  assert.equal(resolvePackagePath("d/x.arrow", "/cwd", (p) => p === "/cwd/d/x.arrow"), "/cwd/d/x.arrow");
  assert.equal(resolvePackagePath("d/x.arrow", "/cwd", (p) => p === path.join(PACKAGE_ROOT, "d/x.arrow")), path.join(PACKAGE_ROOT, "d/x.arrow"));
  assert.equal(resolvePackagePath("d/x.arrow", "/cwd", () => false), "/cwd/d/x.arrow");
  assert.equal(resolvePackagePath("~/d/x.arrow", "/cwd", () => false), path.join(homedir(), "d/x.arrow"));
});

test("--config configs/<env>.yaml finds the shipped config from any directory, as the help's examples assume", () => {
  const elsewhere = mkdtempSync(path.join(tmpdir(), "snndt-cwd-"));
  const cwd = process.cwd();
  process.chdir(elsewhere);
  try {
    const config = loadConfig({ configPath: "configs/pendulum.yaml" });
    assert.equal(config.eval.env, "Pendulum-v1");
    assert.throws(() => loadConfig({ configPath: "configs/nope.yaml" }), /cannot read config file .*configs\/nope\.yaml: no such file/);
  } finally {
    process.chdir(cwd);
  }
});

test("configDifferences names exactly the keys two configs disagree on, including keys only one has; a saved config matches its source", async () => {
  const base = loadConfig({ configPath: path.join(CONFIGS_DIR, "mountaincar.yaml"), seed: 1 });
  assert.deepEqual(configDifferences(base, base), []);
  const changed = loadConfig({ configPath: path.join(CONFIGS_DIR, "mountaincar.yaml"), seed: 2, overrides: ["model.lif.T=8", "eval.seeds=[1,2]"] });
  assert.deepEqual(configDifferences(base, changed), ["seed", "model.lif.T", "eval.seeds"]);
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-config-"));
  const file = await writeResolvedConfig(dir, changed);
  assert.deepEqual(configDifferences(YAML.parse(readFileSync(file, "utf8")), changed), []);
  assert.equal(configHash(loadConfig({ configPath: file })), configHash(changed));
  // A key only one side has (a file written before the key existed, or after it was removed) differs too.
  const { eta_local: _dropped, ...plasticity } = changed.model.plasticity;
  const older = { ...changed, model: { ...changed.model, plasticity } };
  assert.deepEqual(configDifferences(older, changed), ["model.plasticity.eta_local"]);
  assert.deepEqual(configDifferences({ ...changed, extra: null }, changed), ["extra"]);
});
