import { readFileSync } from "node:fs";
import { tableFromIPC } from "apache-arrow";

/**
 * Each episode's return in a shipped per-step Arrow dataset, summed straight from its `episode_id`
 * and `reward` columns with apache-arrow: an oracle independent of snndt's readers.
 */
export function arrowEpisodeReturns(file: string): number[] {
  const table = tableFromIPC(readFileSync(file));
  const ids = table.getChild("episode_id")!;
  const rewards = table.getChild("reward")!;
  const returns = new Map<number, number>();
  for (let i = 0; i < table.numRows; i++) returns.set(ids.get(i) as number, (returns.get(ids.get(i) as number) ?? 0) + (rewards.get(i) as number));
  return [...returns.values()];
}
