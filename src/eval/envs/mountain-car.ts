/**
 * MountainCar-v0 (Moore 1990), as in Gymnasium's classic_control.
 *
 * State (p, v). With action a ∈ {0: push left, 1: none, 2: push right}:
 *   v ← clip(v + (a − 1)·0.001 − 0.0025·cos(3p), ±0.07)
 *   p ← clip(p + v, [−1.2, 0.6]);  v ← 0 if p hit the left wall while moving left
 * Reward −1 per step; terminated when p ≥ 0.5 and v ≥ 0; time limit 200 steps.
 * Start: p ~ U(−0.6, −0.4), v = 0.
 */
import type { ActionSpace } from "../../data/types.js";
import type { Rng } from "../../runtime/rng.js";
import { ClassicControlEnv } from "./environment.js";

const MIN_POSITION = -1.2;
const MAX_POSITION = 0.6;
const MAX_SPEED = 0.07;
const GOAL_POSITION = 0.5;
const GOAL_VELOCITY = 0;
const FORCE = 0.001;
const GRAVITY = 0.0025;

export class MountainCarEnv extends ClassicControlEnv {
  readonly id = "MountainCar-v0";
  readonly observationSpace = {
    shape: [2] as [number],
    low: [MIN_POSITION, -MAX_SPEED].map(Math.fround),
    high: [MAX_POSITION, MAX_SPEED].map(Math.fround),
  };
  readonly actionSpace: ActionSpace = { kind: "discrete", n: 3 };
  readonly rewardThreshold = -110;
  readonly maxEpisodeSteps = 200;
  protected readonly stateSize = 2;
  private position = 0;
  private velocity = 0;

  protected sampleStartState(rng: Rng): void {
    this.position = rng.uniformRange(-0.6, -0.4);
    this.velocity = 0;
  }

  protected transition(action: number): { reward: number; terminated: boolean } {
    // Summed as Gymnasium's `velocity += (action - 1) * force + cos(3 p) * (-gravity)`: the increment first.
    let velocity = this.velocity + ((action - 1) * FORCE + Math.cos(3 * this.position) * -GRAVITY);
    velocity = Math.min(Math.max(velocity, -MAX_SPEED), MAX_SPEED);
    let position = this.position + velocity;
    position = Math.min(Math.max(position, MIN_POSITION), MAX_POSITION);
    if (position === MIN_POSITION && velocity < 0) velocity = 0;
    this.position = position;
    this.velocity = velocity;
    return { reward: -1.0, terminated: position >= GOAL_POSITION && velocity >= GOAL_VELOCITY };
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
