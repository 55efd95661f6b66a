/**
 * `npm run bench -- train [--steps N] [--backend NAME]... [--kind snn-dt|dt]... [--no-torch]`:
 * milliseconds per training step of the default SNN-DT (variant full) and the plain DT
 * (d 128, 2 layers, 4 heads, K 20, T 10, batch 64: forward, backward, clipping, AdamW) on each
 * installed backend, with peak memory; the pure-JS cpu backend runs a small model only (it is ~100x
 * slower). When /usr/bin/python3 or python3 has torch, bench/torch_peer.py runs the same shapes in
 * PyTorch (one thread) and the ratio snndt / PyTorch is printed. Targets: step <= 2x PyTorch, peak
 * memory of a default training run < 1 GiB.
 *
 * Every measurement runs in its own child process, so its peak RSS and WASM heap are its own.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { WindowBatch } from "../src/data/windows.js";
import { createModel, DEFAULT_MODEL_CONFIG, disposeInputs, inputsFromBatch, actionLoss, type ModelConfig } from "../src/model/index.js";
import { isInstalled, selectBackend, tf } from "../src/runtime/backend.js";
import { Rng } from "../src/runtime/rng.js";
import { PACKAGE_ROOT } from "../src/runtime/version.js";
import { AdamW, clipByGlobalNorm } from "../src/train/optimizer.js";
import { BenchUsageError } from "./usage.js";

export type Kind = "snn-dt" | "dt";
export const KINDS: Kind[] = ["snn-dt", "dt"];
export const OBS_DIM = 4;
export const ACTIONS = 2;

/** The model and batch sizes one measurement uses. */
export interface Shape {
  d_model: number;
  n_layers: number;
  n_heads: number;
  context: number;
  T: number;
  batch: number;
}

export const DEFAULT_SHAPE: Shape = { d_model: 128, n_layers: 2, n_heads: 4, context: 20, T: 10, batch: 64 };
/** The cpu backend's quick line: ~100x slower than WASM, so a small model. */
export const SMALL_SHAPE: Shape = { d_model: 32, n_layers: 1, n_heads: 2, context: 8, T: 4, batch: 8 };

export interface Measurement {
  ms: number;
  peakRssBytes: number;
  /** WASM memory size at the end (it only grows, so this is its peak); null off WASM. */
  wasmHeapBytes: number | null;
}

export function modelConfig(kind: Kind, shape: Shape): ModelConfig {
  return {
    ...DEFAULT_MODEL_CONFIG,
    kind,
    d_model: shape.d_model,
    n_layers: shape.n_layers,
    n_heads: shape.n_heads,
    context: shape.context,
    lif: { ...DEFAULT_MODEL_CONFIG.lif, T: shape.T },
    max_ep_len: 1000,
    obs_dim: OBS_DIM,
    action_space: { kind: "discrete", n: ACTIONS },
  };
}

/** A full (unpadded) batch of random windows. */
function randomBatch(size: number, context: number, seed: number): WindowBatch {
  const rng = new Rng(seed);
  const start = Array.from({ length: size }, () => rng.int(1000 - context));
  return {
    size,
    context,
    obsDim: OBS_DIM,
    actionWidth: 1,
    returnsToGo: Float32Array.from({ length: size * context }, () => rng.uniform()),
    states: Float32Array.from({ length: size * context * OBS_DIM }, () => rng.normal()),
    actions: Float32Array.from({ length: size * context }, () => rng.int(ACTIONS)),
    timesteps: Int32Array.from({ length: size * context }, (_, i) => start[Math.floor(i / context)]! + (i % context)),
    mask: new Float32Array(size * context).fill(1),
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Peak RSS of this process and the WASM memory size (null when the backend is not WASM). */
export function memoryNow(): { peakRssBytes: number; wasmHeapBytes: number | null } {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return { peakRssBytes: process.resourceUsage().maxRSS * 1024, wasmHeapBytes: backend.wasm ? backend.wasm.HEAPU8.buffer.byteLength : null };
}

/** One training step as the trainer runs it: loss, gradients, global-norm clipping, AdamW. */
async function measureTraining(kind: Kind, shape: Shape, steps: number): Promise<Measurement> {
  const config = modelConfig(kind, shape);
  const model = createModel(config, 0);
  const optimizer = new AdamW(model.variables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4 });
  const batch = randomBatch(shape.batch, shape.context, 1);
  const times: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const start = performance.now();
    const inputs = inputsFromBatch(batch);
    const { value, grads } = tf.variableGrads(() => {
      const output = model.forward(inputs, { training: true, dropoutSeed: i + 1 });
      return actionLoss(output.actions, inputs, config.action_space);
    }, model.variables);
    const clipped = clipByGlobalNorm(grads, 1.0);
    tf.dispose(Object.values(grads));
    optimizer.applyGradients(clipped.grads, 1e-4);
    tf.dispose([...clipped.grads.values(), clipped.norm]);
    disposeInputs(inputs);
    const loss = (await value.data())[0]!;
    value.dispose();
    if (!Number.isFinite(loss)) throw new Error(`bench train: loss ${loss} at step ${i}`);
    if (i >= 2) times.push(performance.now() - start);
  }
  return { ms: median(times), ...memoryNow() };
}

/** Where this module runs as a child: `node dist/bench/train.js --child <json>`. */
export const CHILD_FLAG = "--child";

/** Run `moduleUrl`'s child mode with `request`, returning its JSON result (or the error text). */
export function runChild<T>(moduleUrl: string, request: object): { result?: T; error?: string } {
  const child = spawnSync(process.execPath, [fileURLToPath(moduleUrl), CHILD_FLAG, JSON.stringify(request)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) return { error: (child.stderr || `exit ${child.status}`).trim().split("\n").slice(-3).join(" | ") };
  return { result: JSON.parse(child.stdout.trim().split("\n").pop()!) as T };
}

/** The Python with torch, if any: /usr/bin/python3 first (Debian's torch), then python3 on PATH. */
export function findTorchPython(): string | null {
  for (const python of ["/usr/bin/python3", "python3"]) {
    if (python.startsWith("/") && !existsSync(python)) continue;
    const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8" });
    if (probe.status === 0) return python;
  }
  return null;
}

export interface TorchResult {
  ms: number;
  peak_rss_mb: number;
  torch: string;
}

/** Run bench/torch_peer.py with the given shape (one thread). */
export function runTorchPeer(python: string, kind: Kind, mode: "train" | "infer", shape: Shape, steps: number): { result?: TorchResult; error?: string } {
  const script = path.join(PACKAGE_ROOT, "bench", "torch_peer.py");
  const args = [script, "--kind", kind, "--mode", mode, "--steps", String(steps)];
  args.push("--d-model", String(shape.d_model), "--layers", String(shape.n_layers), "--heads", String(shape.n_heads));
  args.push("--context", String(shape.context), "--T", String(shape.T), "--batch", String(shape.batch));
  args.push("--obs-dim", String(OBS_DIM), "--actions", String(ACTIONS));
  const child = spawnSync(python, args, { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } });
  if (child.status !== 0) return { error: (child.stderr || `exit ${child.status}`).trim().split("\n").slice(-2).join(" | ") };
  return { result: JSON.parse(child.stdout.trim().split("\n").pop()!) as TorchResult };
}

/** Backends to measure: tensorflow when installed, wasm, cpu. */
export function installedBackends(): string[] {
  const native = isInstalled("@tensorflow/tfjs-node") || isInstalled("@tensorflow/tfjs-node-gpu");
  return [...(native ? ["tensorflow"] : []), "wasm", "cpu"];
}

export interface BenchOptions {
  steps: number;
  backends: string[];
  kinds: Kind[];
  torch: boolean;
}

/** The options of the train and infer benchmarks. */
export const usage = "[--steps N] [--backend tensorflow|wasm|cpu ...] [--kind snn-dt|dt ...] [--no-torch]";

export function parseBenchArgs(name: string, args: string[], defaultSteps: number): BenchOptions {
  const options: BenchOptions = { steps: defaultSteps, backends: [], kinds: [], torch: true };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (flag === "--steps" && value !== undefined && /^\d+$/.test(value) && Number(value) > 0) options.steps = Number(args[++i]);
    else if (flag === "--backend" && value !== undefined && ["tensorflow", "wasm", "cpu"].includes(value)) options.backends.push(args[++i]!);
    else if (flag === "--kind" && (value === "snn-dt" || value === "dt")) options.kinds.push(args[++i] as Kind);
    else if (flag === "--no-torch") options.torch = false;
    else {
      throw new BenchUsageError(`bench ${name}: unknown or malformed argument "${flag}"`);
    }
  }
  if (options.backends.length === 0) options.backends = installedBackends();
  if (options.kinds.length === 0) options.kinds = [...KINDS];
  return options;
}

export const mib = (bytes: number | null): string => (bytes === null ? "-" : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
export const shapeText = (s: Shape): string => `d ${s.d_model}, ${s.n_layers} layers, ${s.n_heads} heads, K ${s.context}, T ${s.T}, batch ${s.batch}`;

export async function run(args: string[]): Promise<void> {
  const options = parseBenchArgs("train", args, 10);
  const python = options.torch ? findTorchPython() : null;
  const lines: string[] = [`training step (forward + backward + clip + AdamW), median of ${options.steps} steps after 2 warm-up steps`];
  const torchMs = new Map<Kind, number>();
  if (python) {
    for (const kind of options.kinds) {
      const peer = runTorchPeer(python, kind, "train", DEFAULT_SHAPE, options.steps);
      if (peer.result) {
        torchMs.set(kind, peer.result.ms);
        lines.push(`  pytorch ${peer.result.torch} (1 thread)  ${kind.padEnd(6)} ${peer.result.ms.toFixed(0).padStart(6)} ms/step  peak RSS ${mib(peer.result.peak_rss_mb * 2 ** 20)}  [${shapeText(DEFAULT_SHAPE)}]`);
      } else {
        lines.push(`  pytorch ${kind}: failed (${peer.error})`);
      }
    }
  } else {
    lines.push(`  pytorch: ${options.torch ? "no python3 with torch found" : "skipped (--no-torch)"}; no ratio`);
  }
  for (const backend of options.backends) {
    const shape = backend === "cpu" ? SMALL_SHAPE : DEFAULT_SHAPE;
    const steps = backend === "cpu" ? Math.min(options.steps, 3) : options.steps;
    for (const kind of options.kinds) {
      const { result, error } = runChild<Measurement>(import.meta.url, { backend, kind, shape, steps });
      if (!result) {
        lines.push(`  snndt ${backend.padEnd(10)} ${kind}: failed (${error})`);
        process.exitCode = 1; // a measurement that did not run is a failed benchmark (targets missed are only reported)
        continue;
      }
      const peer = shape === DEFAULT_SHAPE ? torchMs.get(kind) : undefined;
      const ratio = peer ? `  ${(result.ms / peer).toFixed(2)}x pytorch (target <= 2x) ${result.ms <= 2 * peer ? "OK" : "ABOVE TARGET"}` : "";
      const memory = `peak RSS ${mib(result.peakRssBytes)}, wasm heap ${mib(result.wasmHeapBytes)}${
        shape === DEFAULT_SHAPE ? (result.peakRssBytes < 2 ** 30 ? " (target < 1 GiB: OK)" : " (target < 1 GiB: ABOVE)") : ""
      }`;
      const stepsPerSecond = 1000 / result.ms;
      const tokensPerSecond = stepsPerSecond * shape.batch * 3 * shape.context;
      lines.push(
        `  snndt ${backend.padEnd(10)} ${kind.padEnd(6)} ${result.ms.toFixed(0).padStart(6)} ms/step (${stepsPerSecond.toFixed(2)} steps/s, ${tokensPerSecond.toFixed(0)} tokens/s)  ${memory}${ratio}  [${shapeText(shape)}]`,
      );
    }
  }
  process.stdout.write(lines.join("\n") + "\n");
}

async function child(request: { backend: string; kind: Kind; shape: Shape; steps: number }): Promise<void> {
  await selectBackend(request.backend as "wasm" | "cpu" | "tensorflow");
  const measurement = await measureTraining(request.kind, request.shape, request.steps);
  process.stdout.write(JSON.stringify(measurement) + "\n");
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await child(JSON.parse(process.argv[3]!) as { backend: string; kind: Kind; shape: Shape; steps: number });
}
