/**
 * The train/validation split: whole episodes are held out (windows of one episode never land on
 * both sides), chosen by a seeded shuffle.
 */
import { Rng } from "../runtime/rng.js";

export interface EpisodeSplit {
  /** Dataset episode indices, ascending. */
  train: number[];
  val: number[];
}

/**
 * Hold out round(valFraction * n) episodes (at least 1 when valFraction > 0, and never all of them).
 * valFraction = 0 trains on everything and disables validation.
 */
export function splitEpisodes(episodeCount: number, valFraction: number, rng: Rng): EpisodeSplit {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`valFraction must be in [0, 1), got ${valFraction}`);
  const order = rng.shuffle(Array.from({ length: episodeCount }, (_, i) => i));
  const valCount = valFraction === 0 ? 0 : Math.min(episodeCount - 1, Math.max(1, Math.round(valFraction * episodeCount)));
  const byIndex = (a: number, b: number) => a - b;
  return { val: order.slice(0, valCount).sort(byIndex), train: order.slice(valCount).sort(byIndex) };
}

/** The split a run made of its dataset: from its seed and data.val_fraction, so eval finds the same held-out episodes. */
export function splitOfRun(config: { seed: number; data: { val_fraction: number } }, episodeCount: number): EpisodeSplit {
  return splitEpisodes(episodeCount, config.data.val_fraction, Rng.derive(config.seed, "split"));
}
