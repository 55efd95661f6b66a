/**
 * Progress bars draw only on a terminal, so this test runs the real CLI under a pseudo-terminal
 * (util-linux `script`): a command that fails while a bar is drawn must report and exit, not hang
 * on the bar's redraw timer.
 */
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import * as path from "node:path";
import test from "node:test";
import { writeHdf5, withTmp } from "../data/make-files.js";
import { SNNDT_BIN } from "../helpers/paths.js";

const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;

test(
  "a command failing while a progress bar is drawn on a terminal exits with its error",
  { skip: hasScript ? false : "util-linux `script` (a pseudo-terminal) is not installed" },
  withTmp(async (dir) => {
    // Minari layout whose second episode has fewer actions than rewards: the reader fails after
    // its bar has started.
    const h5 = path.join(dir, "bad-minari.hdf5");
    await writeHdf5(h5, {
      "episode_0/observations": { data: new Float32Array(6 * 2), shape: [6, 2] },
      "episode_0/actions": { data: new Float32Array(5), shape: [5] },
      "episode_0/rewards": { data: new Float64Array(5), shape: [5] },
      "episode_1/observations": { data: new Float32Array(5 * 2), shape: [5, 2] },
      "episode_1/actions": { data: new Float32Array(3), shape: [3] },
      "episode_1/rewards": { data: new Float64Array(4), shape: [4] },
    });
    const command = [process.execPath, SNNDT_BIN, "prepare-dataset", h5, "--out", path.join(dir, "out")].map((a) => `'${a}'`).join(" ");
    const env = { ...process.env };
    delete env["CI"]; // bars are off under CI=true
    const res = spawnSync("script", ["-qefc", command, "/dev/null"], { encoding: "utf8", env, timeout: 60_000 });
    assert.equal(res.signal, null, `the command did not exit within 60 s (killed by ${res.signal}); output:\n${res.stdout}`);
    assert.equal(res.status, 1, res.stdout);
    assert.match(res.stdout, /reading bad-minari\.hdf5/, "the bar was drawn");
    assert.match(res.stdout, /snndt: error: .*episode_1/);
  }),
);
