/**
 * CartPole-v1 (Barto, Sutton & Anderson 1983), as in Gymnasium's classic_control.
 *
 * State s = (x, ẋ, θ, θ̇). With F = ±10 N, total mass M = m_c + m_p, half pole length l:
 *   temp = (F + m_p l θ̇² sin θ) / M
 *   θ̈ = (g sin θ − cos θ · temp) / (l (4/3 − m_p cos²θ / M))
 *   ẍ = temp − m_p l θ̈ cos θ / M
 * integrated with explicit Euler over τ = 0.02 s (positions use the old velocities).
 * Reward 1 every step; terminated when |x| > 2.4 or |θ| > 12°; time limit 500 steps.
 */
import type { ActionSpace } from "../../data/types.js";
import type { Rng } from "../../runtime/rng.js";
import { ClassicControlEnv, FLOAT32_MAX } from "./environment.js";

const GRAVITY = 9.8;
const MASS_CART = 1.0;
const MASS_POLE = 0.1;
const TOTAL_MASS = MASS_POLE + MASS_CART;
const HALF_POLE_LENGTH = 0.5;
const POLE_MASS_LENGTH = MASS_POLE * HALF_POLE_LENGTH;
const FORCE_MAG = 10.0;
const TAU = 0.02;
const THETA_THRESHOLD = (12 * 2 * Math.PI) / 360;
const X_THRESHOLD = 2.4;

export class CartPoleEnv extends ClassicControlEnv {
  readonly id = "CartPole-v1";
  readonly observationSpace;
  readonly actionSpace: ActionSpace = { kind: "discrete", n: 2 };
  readonly rewardThreshold = 475;
  readonly maxEpisodeSteps = 500;
  protected readonly stateSize = 4;
  private x = 0;
  private xDot = 0;
  private theta = 0;
  private thetaDot = 0;

  constructor() {
    super();
    // The angle bound is twice the failure angle so a failing observation is still inside.
    const high = [X_THRESHOLD * 2, FLOAT32_MAX, THETA_THRESHOLD * 2, FLOAT32_MAX].map(Math.fround);
    this.observationSpace = { shape: [4] as [number], low: high.map((v) => -v), high };
  }

  protected sampleStartState(rng: Rng): void {
    this.x = rng.uniformRange(-0.05, 0.05);
    this.xDot = rng.uniformRange(-0.05, 0.05);
    this.theta = rng.uniformRange(-0.05, 0.05);
    this.thetaDot = rng.uniformRange(-0.05, 0.05);
  }

  protected transition(action: number): { reward: number; terminated: boolean } {
    const force = action === 1 ? FORCE_MAG : -FORCE_MAG;
    const cosTheta = Math.cos(this.theta);
    const sinTheta = Math.sin(this.theta);
    const temp = (force + POLE_MASS_LENGTH * this.thetaDot ** 2 * sinTheta) / TOTAL_MASS;
    const thetaAcc =
      (GRAVITY * sinTheta - cosTheta * temp) /
      (HALF_POLE_LENGTH * (4.0 / 3.0 - (MASS_POLE * cosTheta ** 2) / TOTAL_MASS));
    const xAcc = temp - (POLE_MASS_LENGTH * thetaAcc * cosTheta) / TOTAL_MASS;
    this.x = this.x + TAU * this.xDot;
    this.xDot = this.xDot + TAU * xAcc;
    this.theta = this.theta + TAU * this.thetaDot;
    this.thetaDot = this.thetaDot + TAU * thetaAcc;
    const terminated =
      this.x < -X_THRESHOLD || this.x > X_THRESHOLD || this.theta < -THETA_THRESHOLD || this.theta > THETA_THRESHOLD;
    return { reward: 1.0, terminated };
  }

  protected observe(): Float32Array {
    return Float32Array.of(this.x, this.xDot, this.theta, this.thetaDot);
  }

  protected readState(): number[] {
    return [this.x, this.xDot, this.theta, this.thetaDot];
  }

  protected writeState(state: number[]): void {
    [this.x, this.xDot, this.theta, this.thetaDot] = state as [number, number, number, number];
  }
}
