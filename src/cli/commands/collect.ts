import { existsSync, statSync } from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { counted, printJson, printResult } from "../output.js";
import { UsageError } from "../../runtime/errors.js";
import { checkWritableDirectory, fileOnPath } from "../../runtime/fs-atomic.js";
import { MAX_SEED } from "../../runtime/rng.js";
import { parseInteger } from "../numbers.js";
import { collectEpisodes, writeCollection, type CollectSummary, type ReturnStats } from "../../eval/collect.js";
import { ENV_IDS, makeEnv } from "../../eval/envs/index.js";
import { QUALITIES, referenceReturns, type Quality } from "../../eval/policies/index.js";

interface CollectFlags {
  env: string;
  policy: Quality;
  episodes: string;
  seed: string;
  out: string;
  force: boolean;
}

export function registerCollect(program: Command, context: () => RunContext): void {
  program
    .command("collect")
    .description("play a scripted behaviour policy in a built-in environment and write the steps as an Arrow file")
    .requiredOption("--env <id>", `environment: ${ENV_IDS.join(", ")}`)
    .addOption(new Option("--policy <quality>", "behaviour policy").choices([...QUALITIES]).default("mixed"))
    .option("--episodes <n>", "number of episodes", "100")
    .option("--seed <n>", "seed for the environment and the policy", "0")
    .requiredOption("--out <file>", "Arrow IPC file to write (one row a step)")
    .option("--force", "overwrite --out if it exists", false)
    .addHelpText(
      "after",
      "\nExample (the command that made datasets/cartpole-mixed.arrow, written elsewhere):\n  $ snndt collect --env CartPole-v1 --policy mixed --episodes 120 --seed 0 --out data/cartpole-mixed.arrow",
    )
    .action(async (flags: CollectFlags) => {
      const ctx = context();
      const episodes = parseInteger("--episodes", flags.episodes, 1);
      const seed = parseInteger("--seed", flags.seed, 0, MAX_SEED);
      makeEnv(flags.env); // an unknown id fails here, before anything is played
      // The output is checked before anything is played, too.
      if (flags.out.trim() === "") throw new UsageError("--out is empty; expected the Arrow file to write");
      // One path for the checks and the write: resolved as the writer resolves it ("link/.." by its text).
      const out = path.resolve(flags.out);
      const blocking = fileOnPath(path.dirname(out));
      if (blocking) throw new UsageError(`--out ${flags.out}: ${blocking} is a file; the output's directory cannot be made (choose another --out).`);
      if (existsSync(out) && statSync(out).isDirectory()) {
        throw new UsageError(`--out ${flags.out} is a directory; expected the Arrow file to write (e.g. ${path.join(flags.out, `${flags.env.toLowerCase()}.arrow`)}).`);
      }
      checkWritableDirectory(path.dirname(out));
      if (existsSync(out) && !flags.force) {
        throw new UsageError(`${flags.out} already exists; pass --force to overwrite it`);
      }
      ctx.logger.info({ env: flags.env, policy: flags.policy, episodes, seed, out: flags.out }, "collecting");
      const bar = ctx.progress.start("collect", episodes, {
        format: `collect ${flags.env} [{bar}] {value}/{total} episodes, last return {last}`,
        fields: { last: "-" },
      });
      const result = await collectEpisodes({
        envId: flags.env,
        quality: flags.policy,
        episodes,
        seed,
        onEpisode: (done, lastReturn) => bar.update(done, { last: formatNumber(lastReturn) }),
      });
      bar.stop();
      await writeCollection(out, result);
      const { random, expert } = referenceReturns(flags.env);
      const normalisedScore = (100 * (result.summary.returns.mean - random)) / (expert - random);
      printResult(ctx, formatSummary(result.summary, flags.out, normalisedScore));
      if (ctx.json) {
        printJson({ ...result.summary, out: flags.out, normalisedScore });
      }
    });
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function formatStats(stats: ReturnStats): string {
  return `mean ${formatNumber(stats.mean)}, min ${formatNumber(stats.min)}, max ${formatNumber(stats.max)} (${counted(stats.episodes, "episode")}, ${counted(stats.steps, "step")})`;
}

function formatSummary(summary: CollectSummary, out: string, normalisedScore: number): string {
  const lines = [
    `collected ${summary.env} with the ${summary.policy} policy (seed ${summary.seed}) into ${out}`,
    `  returns: ${formatStats(summary.returns)}; normalised score ${normalisedScore.toFixed(1)}`,
  ];
  if (summary.policy === "mixed") {
    for (const [level, stats] of Object.entries(summary.byQuality)) lines.push(`  ${level.padEnd(6)}: ${formatStats(stats)}`);
  }
  return lines.join("\n");
}
