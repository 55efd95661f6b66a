/**
 * MountainCarContinuous-v0, as in Gymnasium's classic_control.
 *
 * State (p, v), action a ∈ ℝ¹ with force f = clip(a, ±1):
 *   v ← clip(v + 0.0015·f − 0.0025·cos(3p), ±0.07)
 *   p ← clip(p + v, [−1.2, 0.6]);  v ← 0 if p hit the left wall while moving left
 * Reward −0.1·a² on the *unclipped* action, plus 100 on reaching p ≥ 0.45 with v ≥ 0
 * (terminated). Gymnasium stores the state as float32 after every step, and so does this
 * environment, so trajectories agree with it over all 999 steps of the time limit.
 */
import type { ActionSpace } from "../../data/types.js";
import type { Rng } from "../../runtime/rng.js";
import { ClassicControlEnv } from "./environment.js";

const MIN_ACTION = -1.0;
const MAX_ACTION = 1.0;
const MIN_POSITION = -1.2;
const MAX_POSITION = 0.6;
const MAX_SPEED = 0.07;
const GOAL_POSITION = 0.45;
const GOAL_VELOCITY = 0;
const POWER = 0.0015;

export class MountainCarContinuousEnv extends ClassicControlEnv {
  readonly id = "MountainCarContinuous-v0";
  readonly observationSpace = {
    shape: [2] as [number],
    low: [MIN_POSITION, -MAX_SPEED].map(Math.fround),
    high: [MAX_POSITION, MAX_SPEED].map(Math.fround),
  };
  readonly actionSpace: ActionSpace = { kind: "continuous", dim: 1, low: [MIN_ACTION], high: [MAX_ACTION] };
  readonly rewardThreshold = 90;
  readonly maxEpisodeSteps = 999;
  protected readonly stateSize = 2;
  private position = 0;
  private velocity = 0;

  protected sampleStartState(rng: Rng): void {
    this.position = rng.uniformRange(-0.6, -0.4);
    this.velocity = 0;
  }

  protected transition(action: Float64Array): { reward: number; terminated: boolean } {
    const a = action[0]!;
    const force = Math.min(Math.max(a, MIN_ACTION), MAX_ACTION);
    // Summed as Gymnasium's `velocity += force * power - 0.0025 * cos(3 p)`: the increment first.
    let velocity = this.velocity + (force * POWER - 0.0025 * Math.cos(3 * this.position));
    velocity = Math.min(Math.max(velocity, -MAX_SPEED), MAX_SPEED);
    let position = this.position + velocity;
    position = Math.min(Math.max(position, MIN_POSITION), MAX_POSITION);
    if (position === MIN_POSITION && velocity < 0) velocity = 0;
    const terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
    const reward = (terminated ? 100.0 : 0) - a ** 2 * 0.1;
    this.position = Math.fround(position);
    this.velocity = Math.fround(velocity);
    return { reward, terminated };
  }

  protected observe(): Float32Array {
    return Float32Array.of(this.position, this.velocity);
  }

  protected readState(): number[] {
    return [this.position, this.velocity];
  }

  protected writeState(state: number[]): void {
    [this.position, this.velocity] = state as [number, number];
  }
}
