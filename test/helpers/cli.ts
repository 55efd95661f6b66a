import { spawnSync } from "node:child_process";
import { SNNDT_BIN } from "./paths.js";

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the real `snndt` executable as a user would. */
export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const res = spawnSync(process.execPath, [SNNDT_BIN, ...args], {
    cwd: options.cwd,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    killSignal: "SIGKILL", // a process spinning in a system call may never act on SIGTERM
    env: { ...process.env, CI: "true" },
  });
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}
