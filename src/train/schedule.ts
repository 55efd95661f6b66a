/**
 * Learning-rate schedule: a pure function of the optimizer step, so a resumed run gets exactly the
 * rates of an uninterrupted one.
 *
 * For update index s = 0, 1, ... (s = the number of updates already applied), with peak rate lr,
 * W warm-up steps and S total steps:
 *
 *   s < W:              lr * (s + 1) / W                                   (linear warm-up, never 0)
 *   s >= W, constant:   lr
 *   s >= W, cosine:     lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2,    p = min(1, (s - W) / max(1, S - W))
 *
 * with lr_min = min_lr_ratio * lr; the cosine reaches lr_min at s = S and stays there.
 */
import type { TrainSection } from "./config.js";

export interface LrSchedule {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  kind: "cosine" | "constant";
  minLrRatio: number;
}

export function scheduleFromConfig(train: TrainSection): LrSchedule {
  return { lr: train.lr, warmupSteps: train.warmup_steps, totalSteps: train.steps, kind: train.schedule, minLrRatio: train.min_lr_ratio };
}

/** The learning rate of update index `step` (0-based). */
export function learningRate(step: number, schedule: LrSchedule): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`schedule step must be an integer >= 0, got ${step}`);
  const { lr, warmupSteps, totalSteps, kind, minLrRatio } = schedule;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  if (kind === "constant") return lr;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  const minLr = minLrRatio * lr;
  return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
}
