import { test } from "node:test";
import assert from "node:assert/strict";
import { isInstalled, selectBackend } from "../../src/runtime/backend.js";
import { runCli } from "../helpers/cli.js";

test("wasm and cpu backends initialise when named", async () => {
  assert.equal((await selectBackend("cpu")).name, "cpu");
  const wasm = await selectBackend("wasm");
  assert.equal(wasm.name, "wasm");
  assert.match(wasm.reason, /requested \(backend: wasm\)/);
});

test("auto picks a backend and says why", async () => {
  const info = await selectBackend("auto");
  assert.ok(["tensorflow", "wasm", "cpu"].includes(info.name));
  assert.ok(info.reason.length > 10);
  if (!isInstalled("@tensorflow/tfjs-node") && !isInstalled("@tensorflow/tfjs-node-gpu")) {
    assert.equal(info.name, "wasm");
    assert.match(info.reason, /tfjs-node-gpu is not installed/);
  }
});

test("a requested native backend that is missing is an error, not a silent fallback", { skip: isInstalled("@tensorflow/tfjs-node") || isInstalled("@tensorflow/tfjs-node-gpu") }, async () => {
  await assert.rejects(selectBackend("tensorflow"), /"tensorflow" was requested but is not available.*--backend wasm/s);
});

test("snndt doctor reports packages, the chosen backend and GPU requirements", () => {
  const res = runCli(["--json", "doctor"]);
  assert.equal(res.status, 0, res.stderr);
  const report = JSON.parse(res.stdout) as { packages: Record<string, string | null>; chosen: { name: string }; gpu: { cuda: string } };
  assert.equal(report.packages["@tensorflow/tfjs"], "4.22.0");
  assert.ok(typeof report.chosen.name === "string");
  assert.equal(report.gpu.cuda, "11.2");
  const text = runCli(["doctor"]);
  assert.match(text.stdout, /chosen backend/);
  assert.match(text.stdout, /cuDNN 8\.1/);
  assert.match(text.stdout, /native CPU backend \(every core; no GPU needed\):\n  install: npm install @tensorflow\/tfjs-node@4\.22\.0/);
  // Why the native packages are missing, where they are.
  const native = report.packages["@tensorflow/tfjs-node"] !== null || report.packages["@tensorflow/tfjs-node-gpu"] !== null;
  assert.equal(/are optional: npm install\/ci skips them when their install cannot download libtensorflow/.test(text.stdout), !native);
});
