/**
 * The one interface every built-in environment implements, and the shared machinery behind it:
 * seeded resets, action checking, and the time limit (Gymnasium's TimeLimit wrapper lives inside
 * the environment here, as a step counter).
 */
import type { ActionSpace } from "../../data/types.js";
import { SnndtError } from "../../runtime/errors.js";
import { Rng } from "../../runtime/rng.js";

/** A discrete action index, or a continuous action vector. */
export type Action = number | number[] | Float32Array;

export interface StepResult {
  observation: Float32Array;
  reward: number;
  /** The episode reached a terminal state of the MDP. */
  terminated: boolean;
  /** The episode was cut by the time limit (may be true together with `terminated`). */
  truncated: boolean;
}

export interface Environment {
  readonly id: string;
  readonly observationSpace: { shape: [number]; low: number[]; high: number[] };
  readonly actionSpace: ActionSpace;
  readonly rewardThreshold: number | undefined;
  readonly maxEpisodeSteps: number;
  /** Start an episode. With a seed the start state is a function of the seed alone. */
  reset(seed?: number): Float32Array;
  step(action: Action): StepResult;
  /** For tests and golden replays: set the internal (float64) state. */
  setState(state: number[]): void;
  getState(): number[];
}

/** An environment used wrongly: a malformed action, or a step outside an episode. */
export class EnvironmentError extends SnndtError {
  constructor(message: string) {
    super(message, 1);
    this.name = "EnvironmentError";
  }
}

/** Largest finite float32, the bound Gymnasium uses for "unbounded" observation dimensions. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Common episode bookkeeping. Subclasses supply the dynamics (`transition`), the start-state
 * distribution (`sampleStartState`) and the observation of the current state (`observe`).
 */
export abstract class ClassicControlEnv implements Environment {
  abstract readonly id: string;
  abstract readonly observationSpace: { shape: [number]; low: number[]; high: number[] };
  abstract readonly actionSpace: ActionSpace;
  abstract readonly rewardThreshold: number | undefined;
  abstract readonly maxEpisodeSteps: number;
  /** Number of internal state variables (for setState checks). */
  protected abstract readonly stateSize: number;

  /**
   * The reset stream. An environment that has never been given a seed draws from seed 0's
   * stream, so even unseeded use is reproducible; later unseeded resets continue the stream.
   */
  private rng: Rng | undefined;
  private elapsedSteps = 0;
  private active = false;

  protected abstract sampleStartState(rng: Rng): void;
  /** Advance one step from the current state with an already validated action. */
  protected abstract transition(action: number | Float64Array): { reward: number; terminated: boolean };
  protected abstract observe(): Float32Array;
  protected abstract readState(): number[];
  protected abstract writeState(state: number[]): void;

  reset(seed?: number): Float32Array {
    if (seed !== undefined) {
      if (!Number.isInteger(seed)) throw new EnvironmentError(`${this.id}: reset seed must be an integer, got ${seed}`);
      this.rng = Rng.derive(seed, `env:${this.id}`);
    } else if (this.rng === undefined) {
      this.rng = Rng.derive(0, `env:${this.id}`);
    }
    this.sampleStartState(this.rng);
    this.elapsedSteps = 0;
    this.active = true;
    return this.observe();
  }

  step(action: Action): StepResult {
    if (!this.active) {
      throw new EnvironmentError(
        this.elapsedSteps === 0
          ? `${this.id}: step() called before reset()`
          : `${this.id}: step() called after the episode ended (terminated or truncated); call reset() first`,
      );
    }
    const checked = this.checkAction(action);
    const { reward, terminated } = this.transition(checked);
    this.elapsedSteps += 1;
    const truncated = this.elapsedSteps >= this.maxEpisodeSteps;
    if (terminated || truncated) this.active = false;
    return { observation: this.observe(), reward, terminated, truncated };
  }

  /**
   * Replace the internal state. The episode (and its step counter) continues from the new state,
   * so replays can start from a recorded state right after `reset()`.
   */
  setState(state: number[]): void {
    if (state.length !== this.stateSize || state.some((v) => !Number.isFinite(v))) {
      throw new EnvironmentError(
        `${this.id}: setState expects ${this.stateSize} finite numbers, got [${state.join(", ")}]`,
      );
    }
    this.writeState(state);
    this.active = true;
  }

  getState(): number[] {
    return this.readState();
  }

  /**
   * Discrete: an integer index in [0, n), anything else is an error. Continuous: a vector of the
   * space's dimension (a bare number for one dimension) of finite numbers; each environment then
   * clips it to its bounds exactly where Gymnasium does (MountainCarContinuous charges its reward
   * on the unclipped action). NaN or infinity is an error rather than something to carry into the state.
   */
  private checkAction(action: Action): number | Float64Array {
    const space = this.actionSpace;
    if (space.kind === "discrete") {
      if (typeof action !== "number" || !Number.isInteger(action) || action < 0 || action >= space.n) {
        throw new EnvironmentError(
          `${this.id}: expected a discrete action, an integer in [0, ${space.n - 1}], got ${describe(action)}`,
        );
      }
      return action;
    }
    const values = typeof action === "number" ? [action] : action;
    if (values.length !== space.dim) {
      throw new EnvironmentError(
        `${this.id}: expected a continuous action of length ${space.dim}, got ${describe(action)} (length ${values.length})`,
      );
    }
    const vector = new Float64Array(space.dim);
    for (let i = 0; i < space.dim; i++) {
      const v = values[i]!;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new EnvironmentError(`${this.id}: action component ${i} must be a finite number, got ${describe(action)}`);
      }
      vector[i] = v;
    }
    return vector;
  }
}

function describe(action: unknown): string {
  if (action instanceof Float32Array) return `Float32Array [${Array.from(action).join(", ")}]`;
  if (Array.isArray(action)) return `[${action.map(String).join(", ")}]`;
  return typeof action === "number" ? String(action) : `${typeof action} ${JSON.stringify(action)}`;
}

/** numpy's float `%`: the remainder takes the sign of the divisor (floored modulo). */
export function floorMod(x: number, m: number): number {
  const r = x % m;
  return r !== 0 && r < 0 !== m < 0 ? r + m : r;
}
