/**
 * Backend selection. snndt computes with TensorFlow.js; which kernels run depends on what is
 * installed: `@tensorflow/tfjs-node-gpu` (CUDA), `@tensorflow/tfjs-node` (native CPU), the WASM
 * backend (always installed, SIMD, one thread) or the pure-JS `cpu` backend (slow; tiny tests only).
 * `auto` takes the first that works, in that order, and says why; a named backend that is missing
 * is an error, never a silent fallback.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { SnndtError } from "./errors.js";

export const BACKEND_CHOICES = ["auto", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tfjs backend name actually in use: "tensorflow", "wasm" or "cpu". */
  name: string;
  /** Native package providing "tensorflow", when that is the backend. */
  nativePackage?: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node";
  /** Why this backend was chosen, for logs and `snndt doctor`. */
  reason: string;
  tfjsVersion: string;
}

const require = createRequire(import.meta.url);

export const NATIVE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** Whether a package can be resolved, without loading it. */
export function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Load a native tfjs package (registers the "tensorflow" backend); returns the load error, if any. */
async function loadNative(pkg: (typeof NATIVE_PACKAGES)[number]): Promise<Error | undefined> {
  try {
    await import(pkg);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** Whether the loaded native backend sees a CUDA GPU (tfjs-node-gpu without a device runs on CPU). */
function nativeSeesGpu(): boolean {
  try {
    const backend = tf.findBackend("tensorflow") as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
    return backend?.binding?.isUsingGpuDevice?.() === true;
  } catch {
    return false;
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** Select and initialise a backend. Throws a SnndtError when a named backend cannot be had. */
export async function selectBackend(choice: BackendChoice): Promise<BackendInfo> {
  const version = tf.version.tfjs;
  if (choice === "tensorflow" || choice === "auto") {
    const tried: string[] = [];
    for (const pkg of NATIVE_PACKAGES) {
      if (!isInstalled(pkg)) {
        tried.push(`${pkg} is not installed`);
        continue;
      }
      const err = await loadNative(pkg);
      if (err) {
        tried.push(`${pkg} failed to load (${err.message.split("\n")[0]})`);
        continue;
      }
      if (await activate("tensorflow")) {
        const gpu = nativeSeesGpu();
        if (pkg === "@tensorflow/tfjs-node-gpu" && !gpu && choice === "auto") {
          tried.push(`${pkg} is installed but sees no CUDA device`);
        }
        return {
          name: "tensorflow",
          nativePackage: pkg,
          reason: `${pkg} loaded${pkg.endsWith("gpu") ? (gpu ? " and sees a CUDA device" : " (no CUDA device: running on CPU)") : ""}`,
          tfjsVersion: version,
        };
      }
      tried.push(`${pkg} loaded but the "tensorflow" backend did not initialise`);
    }
    if (choice === "tensorflow") {
      throw new SnndtError(
        `backend "tensorflow" was requested but is not available: ${tried.join("; ")}. ` +
          "Install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA), or use --backend wasm. " +
          "Run `snndt doctor` for details.",
      );
    }
    if (await activate("wasm")) {
      return { name: "wasm", reason: `WASM backend (SIMD, one thread): ${tried.join("; ")}`, tfjsVersion: version };
    }
    if (await activate("cpu")) {
      return { name: "cpu", reason: `pure-JS cpu backend (slow): WASM failed to initialise; ${tried.join("; ")}`, tfjsVersion: version };
    }
    throw new SnndtError("no TensorFlow.js backend could be initialised (tried tensorflow, wasm, cpu)");
  }
  if (!(await activate(choice))) {
    throw new SnndtError(`backend "${choice}" was requested but could not be initialised; run \`snndt doctor\` for details`);
  }
  return { name: choice, reason: `requested (backend: ${choice})`, tfjsVersion: version };
}

export { tf };
