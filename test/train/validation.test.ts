import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend } from "../../src/runtime/backend.js";
import { createModel } from "../../src/model/index.js";
import { validate } from "../../src/train/validation.js";
import { CONTINUOUS, DISCRETE, randomRaw, rawRows, tinyConfig, windowBatch, type RawInputs } from "../model/tiny.js";

before(async () => {
  await selectBackend("wasm");
});

/** Windows `from` to `to` (exclusive) of a raw batch as a WindowBatch. */
const windows = (raw: RawInputs, from: number, to: number) => windowBatch(rawRows(raw, from, to));

test("validation loss and accuracy weight every real step alike, however the windows are split into batches", () => {
  for (const kind of ["snn-dt", "dt"] as const) {
    for (const space of [DISCRETE, CONTINUOUS]) {
      const model = createModel(tinyConfig({ kind, action_space: space }), 3);
      // Window 0 has one real step (three of its four are padding), windows 1 and 2 have four.
      const raw = randomRaw(model.config, 3, 11, [3, 0, 0]);
      const together = validate(model, [windows(raw, 0, 3)], space);
      const apart = validate(model, [windows(raw, 0, 1), windows(raw, 1, 3)], space);
      const name = `${kind} ${space.kind}`;
      assert.ok(Math.abs(apart.loss - together.loss) < 1e-5 * Math.max(1, together.loss), `${name}: ${apart.loss} vs ${together.loss}`);
      // The single real step of window 0 alone differs from the other eight steps' loss, so a plain
      // mean over the two batches would not match.
      const first = validate(model, [windows(raw, 0, 1)], space).loss;
      const rest = validate(model, [windows(raw, 1, 3)], space).loss;
      assert.ok(Math.abs((first + rest) / 2 - together.loss) > 1e-3, `${name}: the test needs batches whose losses differ`);
      assert.ok(Math.abs((first * 1 + rest * 8) / 9 - together.loss) < 1e-5 * Math.max(1, together.loss), name);
      if (space.kind === "discrete") assert.equal(apart.accuracy, together.accuracy, name);
      else assert.equal(apart.accuracy, null);
      model.dispose();
    }
  }
});
