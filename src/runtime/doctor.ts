/**
 * What `snndt doctor` reports: the runtime, which TensorFlow.js packages are installed, which
 * backend `auto` picks and why, and how to get the native CPU and GPU backends.
 */
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { readFileSync } from "node:fs";
import { BACKEND_CHOICES, isInstalled, selectBackend, type BackendInfo } from "./backend.js";
import { SNNDT_VERSION } from "./version.js";

const require = createRequire(import.meta.url);

const TFJS_PACKAGES = [
  "@tensorflow/tfjs",
  "@tensorflow/tfjs-backend-wasm",
  "@tensorflow/tfjs-node",
  "@tensorflow/tfjs-node-gpu",
] as const;

/** tfjs-node(-gpu) 4.x is built on libtensorflow 2.9: these are the versions its GPU build needs. */
export const GPU_REQUIREMENTS = {
  cuda: "11.2",
  cudnn: "8.1",
  nvidiaDriver: ">= 450",
  install: "npm install @tensorflow/tfjs-node-gpu@4.22.0   # inside the snndt checkout; needs Linux x86_64 and network access to download libtensorflow",
};

/** The native backend without a GPU: libtensorflow on every CPU core, where WASM uses one. */
export const NATIVE_CPU = {
  install: "npm install @tensorflow/tfjs-node@4.22.0   # inside the snndt checkout; needs network access to download libtensorflow",
};

/**
 * Why a native package may be missing: both are optional dependencies, and npm skips one whose
 * install script (the libtensorflow download) fails, offline or on an unsupported platform.
 */
export const NATIVE_SKIPPED =
  "@tensorflow/tfjs-node and -node-gpu are optional: npm install/ci skips them when their install cannot download libtensorflow, as offline or on an unsupported platform; snndt then runs on WASM.";

export interface DoctorReport {
  snndt: string;
  node: string;
  platform: string;
  cpus: number;
  memoryGiB: number;
  packages: Record<string, string | null>;
  chosen: BackendInfo | { error: string };
  backends: readonly string[];
  gpu: typeof GPU_REQUIREMENTS;
  cpu: typeof NATIVE_CPU;
  /** Said when neither native package is installed. */
  nativeMissing: string | null;
}

function installedVersion(pkg: string): string | null {
  if (!isInstalled(pkg)) return null;
  try {
    const main = require.resolve(pkg);
    let dir = path.dirname(main);
    for (;;) {
      try {
        const json = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
        if (json.name === pkg) return json.version ?? "unknown";
      } catch {
        // keep walking up to the package's own package.json
      }
      const parent = path.dirname(dir);
      if (parent === dir) return "unknown";
      dir = parent;
    }
  } catch {
    return "unknown";
  }
}

export async function doctorReport(): Promise<DoctorReport> {
  const packages: Record<string, string | null> = {};
  for (const pkg of TFJS_PACKAGES) packages[pkg] = installedVersion(pkg);
  let chosen: DoctorReport["chosen"];
  try {
    chosen = await selectBackend("auto");
  } catch (err) {
    chosen = { error: (err as Error).message };
  }
  return {
    snndt: SNNDT_VERSION,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    packages,
    chosen,
    backends: BACKEND_CHOICES,
    gpu: GPU_REQUIREMENTS,
    cpu: NATIVE_CPU,
    nativeMissing: packages["@tensorflow/tfjs-node"] === null && packages["@tensorflow/tfjs-node-gpu"] === null ? NATIVE_SKIPPED : null,
  };
}

export function formatDoctorReport(report: DoctorReport): string {
  const lines = [
    `snndt ${report.snndt} on Node ${report.node} (${report.platform}, ${report.cpus} CPUs, ${report.memoryGiB} GiB)`,
    "",
    "TensorFlow.js packages:",
    ...Object.entries(report.packages).map(([pkg, v]) => `  ${pkg.padEnd(32)} ${v ?? "not installed"}`),
    ...(report.nativeMissing ? [`  (${report.nativeMissing})`] : []),
    "",
    "chosen backend (--backend auto):",
    "error" in report.chosen
      ? `  none: ${report.chosen.error}`
      : `  ${report.chosen.name}${report.chosen.nativePackage ? ` (${report.chosen.nativePackage})` : ""}: ${report.chosen.reason}`,
    "",
    `other choices: --backend ${report.backends.join(" | ")}`,
    "",
    "native CPU backend (every core; no GPU needed):",
    `  install: ${report.cpu.install}`,
    "",
    "GPU backend (CUDA):",
    `  needs CUDA ${report.gpu.cuda}, cuDNN ${report.gpu.cudnn}, NVIDIA driver ${report.gpu.nvidiaDriver}`,
    `  install: ${report.gpu.install}`,
    "  then `snndt doctor` should show tensorflow (@tensorflow/tfjs-node-gpu) as the chosen backend.",
  ];
  return lines.join("\n");
}
