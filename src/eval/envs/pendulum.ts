/**
 * Pendulum-v1, as in Gymnasium's classic_control (g = 10, m = l = 1, dt = 0.05).
 *
 * State (θ, θ̇) with θ = 0 upright; torque u = clip(a, ±2):
 *   cost = norm(θ)² + 0.1·θ̇² + 0.001·u²,  norm(θ) = ((θ + π) mod 2π) − π
 *   θ̇ ← clip(θ̇ + (3g/(2l)·sin θ + 3/(m l²)·u)·dt, ±8);  θ ← θ + θ̇·dt  (semi-implicit Euler)
 * Reward −cost (of the state before the step); never terminates; time limit 200 steps.
 * Observation (cos θ, sin θ, θ̇). Start: θ ~ U(−π, π), θ̇ ~ U(−1, 1).
 */
import type { ActionSpace } from "../../data/types.js";
import type { Rng } from "../../runtime/rng.js";
import { ClassicControlEnv, floorMod } from "./environment.js";

const MAX_SPEED = 8;
const MAX_TORQUE = 2.0;
const DT = 0.05;
const G = 10.0;
const MASS = 1.0;
const LENGTH = 1.0;

/** Angle wrapped to [−π, π), as the reward sees it. */
export function angleNormalize(theta: number): number {
  return floorMod(theta + Math.PI, 2 * Math.PI) - Math.PI;
}

export class PendulumEnv extends ClassicControlEnv {
  readonly id = "Pendulum-v1";
  readonly observationSpace = {
    shape: [3] as [number],
    low: [-1, -1, -MAX_SPEED],
    high: [1, 1, MAX_SPEED],
  };
  readonly actionSpace: ActionSpace = { kind: "continuous", dim: 1, low: [-MAX_TORQUE], high: [MAX_TORQUE] };
  readonly rewardThreshold = undefined;
  readonly maxEpisodeSteps = 200;
  protected readonly stateSize = 2;
  private theta = 0;
  private thetaDot = 0;

  protected sampleStartState(rng: Rng): void {
    this.theta = rng.uniformRange(-Math.PI, Math.PI);
    this.thetaDot = rng.uniformRange(-1, 1);
  }

  protected transition(action: Float64Array): { reward: number; terminated: boolean } {
    const u = Math.min(Math.max(action[0]!, -MAX_TORQUE), MAX_TORQUE);
    const th = this.theta;
    const thDot = this.thetaDot;
    const cost = angleNormalize(th) ** 2 + 0.1 * thDot ** 2 + 0.001 * u ** 2;
    let newThDot = thDot + ((3 * G) / (2 * LENGTH) * Math.sin(th) + (3.0 / (MASS * LENGTH ** 2)) * u) * DT;
    newThDot = Math.min(Math.max(newThDot, -MAX_SPEED), MAX_SPEED);
    this.theta = th + newThDot * DT;
    this.thetaDot = newThDot;
    return { reward: -cost, terminated: false };
  }

  protected observe(): Float32Array {
    return Float32Array.of(Math.cos(this.theta), Math.sin(this.theta), this.thetaDot);
  }

  protected readState(): number[] {
    return [this.theta, this.thetaDot];
  }

  protected writeState(state: number[]): void {
    [this.theta, this.thetaDot] = state as [number, number];
  }
}
