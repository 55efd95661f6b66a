/**
 * Acrobot-v1 (Sutton 1996; Sutton & Barto's book dynamics), as in Gymnasium's classic_control.
 *
 * Two links (m = 1, l = 1, centre of mass at 0.5, moment of inertia 1), torque τ ∈ {−1, 0, +1} on
 * the second joint. With state (θ₁, θ₂, θ̇₁, θ̇₂):
 *   d₁ = m₁l_c1² + m₂(l₁² + l_c2² + 2 l₁ l_c2 cos θ₂) + I₁ + I₂
 *   d₂ = m₂(l_c2² + l₁ l_c2 cos θ₂) + I₂
 *   φ₂ = m₂ l_c2 g cos(θ₁ + θ₂ − π/2)
 *   φ₁ = −m₂ l₁ l_c2 θ̇₂² sin θ₂ − 2 m₂ l₁ l_c2 θ̇₂ θ̇₁ sin θ₂ + (m₁ l_c1 + m₂ l₁) g cos(θ₁ − π/2) + φ₂
 *   θ̈₂ = (τ + d₂/d₁ φ₁ − m₂ l₁ l_c2 θ̇₁² sin θ₂ − φ₂) / (m₂ l_c2² + I₂ − d₂²/d₁)     ("book" variant)
 *   θ̈₁ = −(d₂ θ̈₂ + φ₁) / d₁
 * One classic RK4 step of dt = 0.2 s, then angles wrapped to [−π, π] and velocities clipped to
 * ±4π, ±9π. Reward −1 per step, 0 on reaching −cos θ₁ − cos(θ₁ + θ₂) > 1 (terminated);
 * time limit 500 steps. Observation (cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂).
 * Start: each state variable ~ U(−0.1, 0.1), rounded to float32 as Gymnasium does.
 */
import type { ActionSpace } from "../../data/types.js";
import type { Rng } from "../../runtime/rng.js";
import { ClassicControlEnv } from "./environment.js";

const DT = 0.2;
const LINK_LENGTH_1 = 1.0;
const LINK_MASS_1 = 1.0;
const LINK_MASS_2 = 1.0;
const LINK_COM_POS_1 = 0.5;
const LINK_COM_POS_2 = 0.5;
const LINK_MOI = 1.0;
const MAX_VEL_1 = 4 * Math.PI;
const MAX_VEL_2 = 9 * Math.PI;
const AVAILABLE_TORQUE = [-1.0, 0.0, 1.0] as const;
const G = 9.8;

type State = [number, number, number, number];

/** Time derivative of the state under torque `tau` (the "book" dynamics above). */
function derivatives(s: State, tau: number): State {
  const m1 = LINK_MASS_1;
  const m2 = LINK_MASS_2;
  const l1 = LINK_LENGTH_1;
  const lc1 = LINK_COM_POS_1;
  const lc2 = LINK_COM_POS_2;
  const [theta1, theta2, dtheta1, dtheta2] = s;
  const d1 = m1 * lc1 ** 2 + m2 * (l1 ** 2 + lc2 ** 2 + 2 * l1 * lc2 * Math.cos(theta2)) + LINK_MOI + LINK_MOI;
  const d2 = m2 * (lc2 ** 2 + l1 * lc2 * Math.cos(theta2)) + LINK_MOI;
  const phi2 = m2 * lc2 * G * Math.cos(theta1 + theta2 - Math.PI / 2.0);
  const phi1 =
    -m2 * l1 * lc2 * dtheta2 ** 2 * Math.sin(theta2) -
    2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Math.sin(theta2) +
    (m1 * lc1 + m2 * l1) * G * Math.cos(theta1 - Math.PI / 2) +
    phi2;
  const ddtheta2 =
    (tau + (d2 / d1) * phi1 - m2 * l1 * lc2 * dtheta1 ** 2 * Math.sin(theta2) - phi2) /
    (m2 * lc2 ** 2 + LINK_MOI - d2 ** 2 / d1);
  const ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
  return [dtheta1, dtheta2, ddtheta1, ddtheta2];
}

/** y + h·k, componentwise. */
function offset(y: State, h: number, k: State): State {
  return [y[0] + h * k[0], y[1] + h * k[1], y[2] + h * k[2], y[3] + h * k[3]];
}

/** One fourth-order Runge-Kutta step of length dt: y + dt/6 (k₁ + 2k₂ + 2k₃ + k₄). */
function rk4Step(y: State, tau: number, dt: number): State {
  const half = dt / 2.0;
  const k1 = derivatives(y, tau);
  const k2 = derivatives(offset(y, half, k1), tau);
  const k3 = derivatives(offset(y, half, k2), tau);
  const k4 = derivatives(offset(y, dt, k3), tau);
  const out = [0, 0, 0, 0] as State;
  for (let i = 0; i < 4; i++) out[i] = y[i]! + (dt / 6.0) * (k1[i]! + 2 * k2[i]! + 2 * k3[i]! + k4[i]!);
  return out;
}

/** Shift x by whole turns of (max − min) until min ≤ x ≤ max. */
function wrap(x: number, min: number, max: number): number {
  const span = max - min;
  while (x > max) x -= span;
  while (x < min) x += span;
  return x;
}

function bound(x: number, min: number, max: number): number {
  return Math.min(Math.max(x, min), max);
}

export class AcrobotEnv extends ClassicControlEnv {
  readonly id = "Acrobot-v1";
  readonly observationSpace = {
    shape: [6] as [number],
    low: [-1, -1, -1, -1, -MAX_VEL_1, -MAX_VEL_2].map(Math.fround),
    high: [1, 1, 1, 1, MAX_VEL_1, MAX_VEL_2].map(Math.fround),
  };
  readonly actionSpace: ActionSpace = { kind: "discrete", n: 3 };
  readonly rewardThreshold = -100;
  readonly maxEpisodeSteps = 500;
  protected readonly stateSize = 4;
  private state: State = [0, 0, 0, 0];

  protected sampleStartState(rng: Rng): void {
    this.state = [0, 0, 0, 0].map(() => Math.fround(rng.uniformRange(-0.1, 0.1))) as State;
  }

  protected transition(action: number): { reward: number; terminated: boolean } {
    const next = rk4Step(this.state, AVAILABLE_TORQUE[action]!, DT);
    next[0] = wrap(next[0], -Math.PI, Math.PI);
    next[1] = wrap(next[1], -Math.PI, Math.PI);
    next[2] = bound(next[2], -MAX_VEL_1, MAX_VEL_1);
    next[3] = bound(next[3], -MAX_VEL_2, MAX_VEL_2);
    this.state = next;
    const terminated = -Math.cos(next[0]) - Math.cos(next[1] + next[0]) > 1.0;
    return { reward: terminated ? 0.0 : -1.0, terminated };
  }

  protected observe(): Float32Array {
    const [t1, t2, dt1, dt2] = this.state;
    return Float32Array.of(Math.cos(t1), Math.sin(t1), Math.cos(t2), Math.sin(t2), dt1, dt2);
  }

  protected readState(): number[] {
    return [...this.state];
  }

  protected writeState(state: number[]): void {
    this.state = [state[0]!, state[1]!, state[2]!, state[3]!];
  }
}
