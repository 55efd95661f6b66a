import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { InputError } from "../../src/runtime/errors.js";
import { MetricsWriter, readMetrics } from "../../src/train/metrics.js";

function runDir(): string {
  return mkdtempSync(path.join(tmpdir(), "snndt-metrics-"));
}

const HEADER = "step,epoch,train_loss,val_loss,val_accuracy,lr,grad_norm,steps_per_s,tokens_per_s,spike_rate.blocks.0,spike_rate.blocks.1";

test("rows go to metrics.jsonl and metrics.csv under a fixed header, missing values empty/null", async () => {
  const dir = runDir();
  const writer = await MetricsWriter.open(dir, { spikeLayers: ["blocks.0", "blocks.1"] });
  assert.equal(writer.columns.join(","), HEADER);
  writer.append({ step: 10, epoch: 0, train_loss: 0.5, lr: 1e-4, grad_norm: 2.5, steps_per_s: 0.4, tokens_per_s: 1536, spike_rate: { "blocks.0": 0.12, "blocks.1": 0.08 } });
  writer.append({ step: 20, epoch: 0, train_loss: NaN, val_loss: 0.4, val_accuracy: 0.75 });
  assert.equal(
    readFileSync(path.join(dir, "metrics.csv"), "utf8"),
    `${HEADER}\n10,0,0.5,,,0.0001,2.5,0.4,1536,0.12,0.08\n20,0,NaN,0.4,0.75,,,,,,\n`,
  );
  const rows = readMetrics(dir);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows[1], {
    step: 20, epoch: 0, train_loss: null, val_loss: 0.4, val_accuracy: 0.75, lr: null, grad_norm: null,
    steps_per_s: null, tokens_per_s: null, "spike_rate.blocks.0": null, "spike_rate.blocks.1": null,
  });
  assert.equal(rows[0]!["spike_rate.blocks.0"], 0.12);
  assert.throws(() => writer.append({ step: 30, spike_rate: { "blocks.9": 1 } }), /unknown layer\(s\) blocks\.9/);
  assert.throws(() => writer.append({ step: 1.5 }), /integer >= 0/);
  const summary = await writer.writeSummary({ best_val_loss: 0.4, steps: 20 });
  assert.deepEqual(JSON.parse(readFileSync(summary, "utf8")), { best_val_loss: 0.4, steps: 20 });
  assert.deepEqual(readdirSync(dir).sort(), ["metrics.csv", "metrics.jsonl", "summary.json"]);
});

test("resume: truncateAfter drops later rows (and a torn last line) so the curve continues exactly", async () => {
  // The uninterrupted run logs steps 10..60.
  const straight = runDir();
  const w1 = await MetricsWriter.open(straight, { spikeLayers: ["l0"] });
  for (let s = 10; s <= 60; s += 10) w1.append({ step: s, train_loss: 1 / s, spike_rate: { l0: s / 100 } });

  // The interrupted run logged up to 50 (and crashed mid-row), its checkpoint is at step 30.
  const resumed = runDir();
  const w2 = await MetricsWriter.open(resumed, { spikeLayers: ["l0"] });
  for (let s = 10; s <= 50; s += 10) w2.append({ step: s, train_loss: 1 / s, spike_rate: { l0: s / 100 } });
  appendFileSync(path.join(resumed, "metrics.jsonl"), '{"step":60,"tra');
  appendFileSync(path.join(resumed, "metrics.csv"), "60,,0.01");
  const w3 = await MetricsWriter.open(resumed, { spikeLayers: ["l0"] });
  await w3.truncateAfter(30);
  assert.deepEqual(readMetrics(resumed).map((r) => r.step), [10, 20, 30]);
  for (let s = 40; s <= 60; s += 10) w3.append({ step: s, train_loss: 1 / s, spike_rate: { l0: s / 100 } });
  for (const file of ["metrics.jsonl", "metrics.csv"]) {
    assert.equal(readFileSync(path.join(resumed, file), "utf8"), readFileSync(path.join(straight, file), "utf8"), file);
  }
});

test("a resumed run with other columns, or a corrupt metrics file, is a clear error", async () => {
  const dir = runDir();
  await MetricsWriter.open(dir, { spikeLayers: ["l0"] });
  await assert.rejects(MetricsWriter.open(dir, { spikeLayers: ["l0", "l1"] }), (err: unknown) => err instanceof InputError && /metrics\.csv has the columns ".*spike_rate\.l0", but this run writes ".*spike_rate\.l1"/.test(err.message));
  const writer = await MetricsWriter.open(dir, { spikeLayers: ["l0"] });
  writer.append({ step: 1 });
  writeFileSync(path.join(dir, "metrics.jsonl"), 'garbage\n{"step":2}\n');
  await assert.rejects(writer.truncateAfter(5), /metrics\.jsonl: line 1 is not a metrics row: "garbage"/);
  assert.throws(() => readMetrics(dir), /metrics\.jsonl: line 1 is not valid JSON/);
  assert.throws(() => readMetrics(runDir()), /metrics\.jsonl: no such file/);
  await assert.rejects(MetricsWriter.open(dir, { spikeLayers: ["a,b"] }), /cannot go in a CSV header/);
});

test("a header cut short as the run began (a full disk: an empty or partial metrics.csv) is written again, not taken for other columns", async () => {
  for (const cut of ["", "step,ep"]) {
    const dir = runDir();
    writeFileSync(path.join(dir, "metrics.csv"), cut);
    const writer = await MetricsWriter.open(dir, { spikeLayers: ["l0"] });
    writer.append({ step: 1 });
    const lines = readFileSync(path.join(dir, "metrics.csv"), "utf8").split("\n");
    assert.match(lines[0]!, /^step,.*,spike_rate\.l0$/);
    assert.match(lines[1]!, /^1,/);
  }
  // A complete header of other columns is still refused.
  const other = runDir();
  writeFileSync(path.join(other, "metrics.csv"), "step,loss\n");
  await assert.rejects(MetricsWriter.open(other, { spikeLayers: [] }), /metrics\.csv has the columns "step,loss"/);
});

test("a row that cannot be written (a full disk) is an error naming the metrics file", { skip: existsSync("/dev/full") ? false : "needs Linux's /dev/full" }, async () => {
  const dir = runDir();
  // /dev/full refuses every write with ENOSPC, as a full disk does; the write call's own error names no file.
  symlinkSync("/dev/full", path.join(dir, "metrics.jsonl"));
  const writer = await MetricsWriter.open(dir, { spikeLayers: [] });
  assert.throws(
    () => writer.append({ step: 1 }),
    (err: NodeJS.ErrnoException) => err.code === "ENOSPC" && err.path === path.join(dir, "metrics.jsonl"),
  );
});
