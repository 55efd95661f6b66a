/**
 * `npm run bench -- envs [--steps N] [--env ID]`: environment steps per second, single-threaded,
 * for each built-in environment (compare with a Gymnasium Python loop on the same machine).
 * Actions are drawn beforehand from a seeded Rng so the timing is of reset + step alone.
 */
import { ENV_IDS, makeEnv, type Action } from "../src/eval/envs/index.js";
import { randomAction } from "../src/eval/policies/index.js";
import { Rng } from "../src/runtime/rng.js";
import { BenchUsageError } from "./usage.js";

export const usage = "[--steps N] [--env ID ...]";

function parseArgs(args: string[]): { steps: number; envs: string[] } {
  let steps = 200_000;
  const envs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if (flag === "--steps" && value !== undefined && /^\d+$/.test(value) && Number(value) > 0) {
      steps = Number(value);
      i++;
    } else if (flag === "--env" && value !== undefined) {
      if (!ENV_IDS.includes(value)) throw new BenchUsageError(`bench envs: no built-in environment "${value}" (built in: ${ENV_IDS.join(", ")})`);
      envs.push(value);
      i++;
    } else {
      throw new BenchUsageError(`bench envs: unknown or malformed argument "${flag}"`);
    }
  }
  return { steps, envs: envs.length > 0 ? envs : [...ENV_IDS] };
}

/** Steps `env` with the given actions (cycling), resetting at episode ends; returns seconds taken. */
function timeSteps(id: string, actions: Action[], steps: number): number {
  const env = makeEnv(id);
  env.reset(0);
  const start = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) {
    const result = env.step(actions[i % actions.length]!);
    if (result.terminated || result.truncated) env.reset();
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function run(args: string[]): Promise<void> {
  const { steps, envs } = parseArgs(args);
  const rng = new Rng(0);
  process.stdout.write(`environment steps per second (single thread, ${steps} steps each, random actions)\n`);
  for (const id of envs) {
    const space = makeEnv(id).actionSpace;
    const actions = Array.from({ length: 4096 }, () => randomAction(space, rng));
    timeSteps(id, actions, Math.min(steps, 20_000)); // warm-up for the JIT
    const seconds = timeSteps(id, actions, steps);
    process.stdout.write(`${id.padEnd(26)} ${Math.round(steps / seconds).toLocaleString("en-US").padStart(12)} steps/s\n`);
  }
}
