/**
 * The built-in environments by Gymnasium id. `makeEnv` is how the rest of snndt gets one.
 */
import { UsageError } from "../../runtime/errors.js";
import { AcrobotEnv } from "./acrobot.js";
import { CartPoleEnv } from "./cartpole.js";
import type { Environment } from "./environment.js";
import { MountainCarContinuousEnv } from "./mountain-car-continuous.js";
import { MountainCarEnv } from "./mountain-car.js";
import { PendulumEnv } from "./pendulum.js";

export type { Action, Environment, StepResult } from "./environment.js";
export { EnvironmentError } from "./environment.js";

const FACTORIES: Record<string, () => Environment> = {
  "CartPole-v1": () => new CartPoleEnv(),
  "MountainCar-v0": () => new MountainCarEnv(),
  "MountainCarContinuous-v0": () => new MountainCarContinuousEnv(),
  "Acrobot-v1": () => new AcrobotEnv(),
  "Pendulum-v1": () => new PendulumEnv(),
};

export const ENV_IDS: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** A fresh environment; call `reset(seed)` before stepping. Unknown ids name the known ones. */
export function makeEnv(id: string): Environment {
  const factory = Object.hasOwn(FACTORIES, id) ? FACTORIES[id] : undefined;
  if (!factory) throw new UsageError(`unknown environment "${id}"; known environments: ${ENV_IDS.join(", ")}`);
  return factory();
}
