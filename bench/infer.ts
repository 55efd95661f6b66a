/**
 * `npm run bench -- infer [--steps N] [--backend NAME]... [--kind snn-dt|dt]... [--no-torch]`:
 * latency of one batch-1 decision (a full window of K = 20 steps, the default model shapes) on each
 * installed backend: through `createDecisionRunner` as eval uses it, along one episode (each window
 * slides one step, so the runner reuses the token rows of the steps it has seen), through a new
 * runner for every decision (nothing reused), and through the plain `forward`; beside
 * bench/torch_peer.py's batch-1 forward in PyTorch (no_grad, one thread) when python3 with torch is
 * present. Targets: < 1 ms and <= PyTorch.
 */
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { EpisodeHistory, type WindowBatch } from "../src/data/windows.js";
import { createDecisionRunner, createModel, disposeInputs, inputsFromBatch } from "../src/model/index.js";
import { selectBackend, tf } from "../src/runtime/backend.js";
import { Rng } from "../src/runtime/rng.js";
import {
  CHILD_FLAG,
  DEFAULT_SHAPE,
  SMALL_SHAPE,
  findTorchPython,
  ACTIONS,
  OBS_DIM,
  median,
  memoryNow,
  mib,
  modelConfig,
  parseBenchArgs,
  runChild,
  runTorchPeer,
  shapeText,
  type Kind,
  type Shape,
} from "./train.js";

/** The train benchmark's options: the two time the same models. */
export { usage } from "./train.js";

interface InferMeasurement {
  decideMs: number;
  decideFreshMs: number;
  forwardMs: number;
  peakRssBytes: number;
  wasmHeapBytes: number | null;
}

/** The windows of consecutive decisions of one random episode, from step K - 1 on (full windows). */
function episodeWindows(context: number, count: number, seed: number): WindowBatch[] {
  const rng = new Rng(seed);
  const history = new EpisodeHistory({
    context,
    obsDim: OBS_DIM,
    actionSpace: { kind: "discrete", n: ACTIONS },
    rtgScale: 1,
    stateStats: { mean: new Array<number>(OBS_DIM).fill(0), std: new Array<number>(OBS_DIM).fill(1) },
    maxEpLen: context + count,
  });
  const windows: WindowBatch[] = [];
  for (let t = 0; t < context - 1 + count; t++) {
    history.observe(Array.from({ length: OBS_DIM }, () => rng.normal()), 1 - t / (context + count));
    if (t >= context - 1) windows.push(structuredClone(history.window()));
    history.act([rng.int(ACTIONS)]);
  }
  return windows;
}

function measureDecisions(kind: Kind, shape: Shape, repeats: number): InferMeasurement {
  const warmUp = Math.max(5, repeats / 10);
  // One episode holds every window, so its timesteps must fit the model (never clipped).
  const config = { ...modelConfig(kind, shape), max_ep_len: Math.max(1000, shape.context + warmUp + repeats) };
  const model = createModel(config, 0);
  const windows = episodeWindows(shape.context, warmUp + repeats, 2);
  const runner = createDecisionRunner(model);
  const ways: { run: (window: WindowBatch) => void; ms: number[] }[] = [
    { run: (window) => runner.decide(window), ms: [] },
    // A new runner has seen no step, so it computes every token row.
    { run: (window) => createDecisionRunner(model).decide(window), ms: [] },
    {
      run: (window) => {
        const inputs = inputsFromBatch(window);
        const output = model.forward(inputs, { training: false });
        output.actions.dataSync();
        output.actions.dispose();
        disposeInputs(inputs);
      },
      ms: [],
    },
  ];
  // The three ways take turns on each window, in rotating order, so warm-up and the machine's
  // load fall on all of them alike.
  windows.forEach((window, i) => {
    for (let j = 0; j < ways.length; j++) {
      const way = ways[(i + j) % ways.length]!;
      const start = performance.now();
      way.run(window);
      if (i >= warmUp) way.ms.push(performance.now() - start);
    }
  });
  if (tf.memory().numTensors > model.variables.length + 10) throw new Error(`bench infer: ${tf.memory().numTensors} tensors alive (a leak)`);
  const [decideMs, decideFreshMs, forwardMs] = ways.map((way) => median(way.ms)) as [number, number, number];
  return { decideMs, decideFreshMs, forwardMs, ...memoryNow() };
}

export async function run(args: string[]): Promise<void> {
  const options = parseBenchArgs("infer", args, 200);
  const python = options.torch ? findTorchPython() : null;
  const lines: string[] = [`batch-1 decision (full window, along one episode), median of ${options.steps} decisions after a warm-up`];
  const torchMs = new Map<Kind, number>();
  if (python) {
    for (const kind of options.kinds) {
      const peer = runTorchPeer(python, kind, "infer", { ...DEFAULT_SHAPE, batch: 1 }, options.steps);
      if (peer.result) {
        torchMs.set(kind, peer.result.ms);
        lines.push(`  pytorch ${peer.result.torch} (1 thread, no_grad)  ${kind.padEnd(6)} ${peer.result.ms.toFixed(2).padStart(7)} ms/decision`);
      } else {
        lines.push(`  pytorch ${kind}: failed (${peer.error})`);
      }
    }
  } else {
    lines.push(`  pytorch: ${options.torch ? "no python3 with torch found" : "skipped (--no-torch)"}; no ratio`);
  }
  for (const backend of options.backends) {
    const shape = backend === "cpu" ? SMALL_SHAPE : DEFAULT_SHAPE;
    for (const kind of options.kinds) {
      const { result, error } = runChild<InferMeasurement>(import.meta.url, { backend, kind, shape, steps: backend === "cpu" ? Math.min(options.steps, 20) : options.steps });
      if (!result) {
        lines.push(`  snndt ${backend.padEnd(10)} ${kind}: failed (${error})`);
        process.exitCode = 1; // a measurement that did not run is a failed benchmark (targets missed are only reported)
        continue;
      }
      const peer = shape === DEFAULT_SHAPE ? torchMs.get(kind) : undefined;
      const target = shape === DEFAULT_SHAPE ? ` (target < 1 ms: ${result.decideMs < 1 ? "OK" : "ABOVE"})` : "";
      const ratio = peer ? `  ${(result.decideMs / peer).toFixed(2)}x pytorch (target <= 1x) ${result.decideMs <= peer ? "OK" : "ABOVE TARGET"}` : "";
      lines.push(
        `  snndt ${backend.padEnd(10)} ${kind.padEnd(6)} decide ${result.decideMs.toFixed(2).padStart(7)} ms${target}, ` +
          `without reuse ${result.decideFreshMs.toFixed(2)} ms, full forward ${result.forwardMs.toFixed(2)} ms, ` +
          `peak RSS ${mib(result.peakRssBytes)}, wasm heap ${mib(result.wasmHeapBytes)}${ratio}  [${shapeText({ ...shape, batch: 1 })}]`,
      );
    }
  }
  process.stdout.write(lines.join("\n") + "\n");
}

async function child(request: { backend: string; kind: Kind; shape: Shape; steps: number }): Promise<void> {
  await selectBackend(request.backend as "wasm" | "cpu" | "tensorflow");
  process.stdout.write(JSON.stringify(measureDecisions(request.kind, request.shape, request.steps)) + "\n");
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await child(JSON.parse(process.argv[3]!) as { backend: string; kind: Kind; shape: Shape; steps: number });
}
