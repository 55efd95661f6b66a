/**
 * The model's configuration: the `model` section of the config schema (snake_case, exactly as in the
 * YAML files) plus what the dataset fixes (`obs_dim`, `action_space`). One typed object, no renaming.
 */
import type { ActionSpace } from "../data/types.js";
import type { LifConfig, ModelSection } from "../train/config.js";
import { UsageError } from "../runtime/errors.js";

export interface ModelConfig extends ModelSection {
  obs_dim: number;
  action_space: ActionSpace;
}

/**
 * Input current per unit of projection when `lif.current_scale` is null. With V_th - V_rest = 1 and
 * tau_m = 20, a projection of 1 (the scale of a layer-normed, Glorot-projected token) fires on every
 * step, 0.5 fires every third step and below ~0.125 stays silent over T = 10 steps: spike rates then
 * span [0, 1] for the bulk of the inputs instead of saturating or dying.
 */
export const DEFAULT_CURRENT_SCALE = 1.0;

export const DEFAULT_MODEL_CONFIG: Omit<ModelConfig, "obs_dim" | "action_space" | "max_ep_len"> = {
  kind: "snn-dt",
  variant: "full",
  d_model: 128,
  n_heads: 4,
  n_layers: 2,
  context: 20,
  dropout: 0.1,
  lif: { T: 10, dt: 1.0, tau_m: 20.0, v_rest: 0.0, v_th: 1.0, c_m: 1.0, current_scale: null },
  surrogate: { k: 10.0 },
  plasticity: { enabled: false, eta_local: 1e-4, lambda: 0.95 },
};

/** The current scale actually used: the configured one, or the model's choice. */
export function currentScale(lif: LifConfig): number {
  return lif.current_scale ?? DEFAULT_CURRENT_SCALE;
}

/** Which spiking parts a variant switches on (the published ablations). */
export interface VariantParts {
  /** Phase-shifted positional spikes instead of the learned timestep embedding. */
  positionalSpikes: boolean;
  /** Dendritic routing of the heads instead of concatenation. */
  routing: boolean;
}

/** The model's name in run names, summaries and reports: its variant, or "dt" for the plain DT (whose variant key means nothing). */
export function modelLabel(model: Pick<ModelConfig, "kind" | "variant">): string {
  return model.kind === "dt" ? "dt" : model.variant;
}

export function variantParts(config: ModelConfig): VariantParts {
  if (config.kind === "dt") return { positionalSpikes: false, routing: false };
  switch (config.variant) {
    case "baseline":
      return { positionalSpikes: false, routing: false };
    case "pos-only":
      return { positionalSpikes: true, routing: false };
    case "route-only":
      return { positionalSpikes: false, routing: true };
    case "full":
      return { positionalSpikes: true, routing: true };
  }
}

/** Shape checks the model relies on; config loading checks ranges, this checks the combination. */
export function checkModelConfig(config: ModelConfig): void {
  const fail = (what: string): never => {
    throw new UsageError(`model config: ${what}`);
  };
  for (const key of ["d_model", "n_heads", "n_layers", "context", "max_ep_len", "obs_dim"] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1) fail(`"${key}" must be a positive integer, found ${value}`);
  }
  if (config.d_model % config.n_heads !== 0) {
    fail(`"d_model" (${config.d_model}) must be a multiple of "n_heads" (${config.n_heads})`);
  }
  if (!Number.isInteger(config.lif.T) || config.lif.T < 1) fail(`"lif.T" must be a positive integer, found ${config.lif.T}`);
  if (!(config.lif.v_th > config.lif.v_rest)) fail(`"lif.v_th" (${config.lif.v_th}) must be above "lif.v_rest" (${config.lif.v_rest})`);
  if (!(config.dropout >= 0 && config.dropout < 1)) fail(`"dropout" must be in [0, 1), found ${config.dropout}`);
  const space = config.action_space;
  if (space.kind === "discrete" && !(Number.isInteger(space.n) && space.n >= 1)) fail(`discrete action space needs n >= 1, found ${space.n}`);
  if (space.kind === "continuous") {
    if (space.low.length !== space.dim || space.high.length !== space.dim) {
      fail(`continuous action space of dim ${space.dim} has ${space.low.length} low and ${space.high.length} high bounds`);
    }
    space.low.forEach((low, i) => {
      const high = space.high[i]!;
      if (!(Number.isFinite(low) && Number.isFinite(high) && high > low)) fail(`action bound ${i} must be finite with high > low, found [${low}, ${high}]`);
    });
  }
  if (config.kind === "dt" && config.plasticity.enabled) {
    fail(`"plasticity.enabled" applies to the spiking model (kind snn-dt), not kind dt`);
  }
}
