/**
 * The run configuration: one typed object with snake_case keys, exactly as in the YAML files.
 *
 * `CONFIG_SCHEMA` is the single source of truth: every key with its type, default, range and a
 * one-line description. `configs/default.yaml` is generated from it (`renderConfigYaml`) and a test
 * keeps the two identical; every environment file and every `--set` is validated against it.
 *
 * Resolution order (later wins): schema defaults <- configs/default.yaml <- the environment file
 * (`--config`) <- each `--set a.b=value` in order <- explicit flags (`--seed`, `--data`, `--backend`).
 * Every layer is checked on its own, so an error names the layer (file and line, or the `--set`
 * argument) where the bad value came from.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import YAML, { LineCounter, YAMLParseError, isMap, isScalar, type Document, type Node as YamlNode } from "yaml";
import type { BackendChoice } from "../runtime/backend.js";
import { UsageError } from "../runtime/errors.js";
import { writeFileAtomic } from "../runtime/fs-atomic.js";
import { MAX_SEED } from "../runtime/rng.js";
import { PACKAGE_ROOT } from "../runtime/version.js";
import { RESOLVED_CONFIG_FILE } from "./run-layout.js";

// ---------------------------------------------------------------------------------------------
// The typed config
// ---------------------------------------------------------------------------------------------

export const BACKEND_CONFIG_CHOICES = ["auto", "tensorflow", "wasm", "cpu"] as const satisfies readonly BackendChoice[];
export const MODEL_KINDS = ["snn-dt", "dt"] as const;
export const MODEL_VARIANTS = ["baseline", "pos-only", "route-only", "full"] as const;
export const SCHEDULES = ["cosine", "constant"] as const;

export interface LifConfig {
  T: number;
  dt: number;
  tau_m: number;
  v_rest: number;
  v_th: number;
  c_m: number;
  /** null: the model picks its own scale. */
  current_scale: number | null;
}

export interface ModelSection {
  kind: (typeof MODEL_KINDS)[number];
  variant: (typeof MODEL_VARIANTS)[number];
  d_model: number;
  n_heads: number;
  n_layers: number;
  context: number;
  max_ep_len: number;
  dropout: number;
  lif: LifConfig;
  surrogate: { k: number };
  plasticity: { enabled: boolean; eta_local: number; lambda: number };
}

export interface TrainSection {
  steps: number;
  batch_size: number;
  grad_accum: number;
  lr: number;
  weight_decay: number;
  beta1: number;
  beta2: number;
  eps: number;
  warmup_steps: number;
  schedule: (typeof SCHEDULES)[number];
  min_lr_ratio: number;
  grad_clip: number;
  eval_every: number;
  val_batches: number;
  checkpoint_every: number;
  keep_last: number;
  log_every: number;
}

export interface EvalSection {
  env: string;
  episodes: number;
  /** Empty: condition on the best return in the dataset. */
  target_returns: number[];
  seeds: number[];
}

export interface ResolvedConfig {
  seed: number;
  backend: BackendChoice;
  data: { path: string; val_fraction: number; rtg_scale: number };
  model: ModelSection;
  train: TrainSection;
  eval: EvalSection;
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

type LeafType = "number" | "integer" | "string" | "boolean" | "enum" | "number[]" | "integer[]";

/** One key: its type, default, allowed range (inclusive unless marked exclusive) and meaning. */
export interface LeafSchema<T> {
  kind: "leaf";
  type: LeafType;
  default: T;
  description: string;
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  choices?: readonly string[];
  /** null is accepted (and means what the description says). */
  nullable?: boolean;
  /** Lists: the fewest items allowed. */
  minItems?: number;
  /** Lists: no item twice. */
  distinct?: boolean;
}

export interface SectionSchema<T> {
  kind: "section";
  description: string;
  fields: { [K in keyof T]-?: SchemaFor<T[K]> };
}

/** The schema node for a value of type T: arrays and scalars are leaves, objects are sections. */
export type SchemaFor<T> = [T] extends [readonly unknown[]]
  ? LeafSchema<T>
  : [T] extends [string | number | boolean | null]
    ? LeafSchema<T>
    : SectionSchema<T>;

export type SchemaNode = LeafSchema<unknown> | SectionSchema<Record<string, unknown>>;

const leaf = <T>(type: LeafType, value: T, description: string, extra: Partial<LeafSchema<T>> = {}): LeafSchema<T> => ({
  kind: "leaf",
  type,
  default: value,
  description,
  ...extra,
});

const choice = <C extends readonly string[]>(choices: C, value: C[number], description: string): LeafSchema<C[number]> =>
  leaf("enum", value, description, { choices });

export const CONFIG_SCHEMA: SectionSchema<ResolvedConfig> = {
  kind: "section",
  description: "snndt run configuration",
  fields: {
    seed: leaf("integer", 0, "seed of every random choice: init, dropout, window sampling, the validation split", {
      min: 0,
      max: MAX_SEED,
    }),
    backend: choice(BACKEND_CONFIG_CHOICES, "auto", "TensorFlow.js backend; auto = tfjs-node-gpu, tfjs-node, wasm, cpu (first that works)"),
    data: {
      kind: "section",
      description: "the offline dataset",
      fields: {
        path: leaf("string", "datasets/cartpole-mixed.arrow", "prepared dataset dir, raw Arrow/Parquet/HDF5 file or Minari dataset dir (relative: to the cwd, else to the snndt checkout)"),
        val_fraction: leaf("number", 0.1, "fraction of episodes held out for validation (seeded split)", {
          min: 0,
          max: 0.5,
          minExclusive: true,
        }),
        rtg_scale: leaf("number", 500, "returns-to-go are divided by this before entering the model (about the largest |return|)", {
          min: 0,
          minExclusive: true,
        }),
      },
    },
    model: {
      kind: "section",
      description: "the sequence model",
      fields: {
        kind: choice(MODEL_KINDS, "snn-dt", "snn-dt = Spiking Decision Transformer, dt = plain Decision Transformer"),
        variant: choice(MODEL_VARIANTS, "full", "snn-dt ablation: baseline, pos-only (positional spikes), route-only (dendritic routing), full"),
        d_model: leaf("integer", 128, "embedding width (a multiple of n_heads)", { min: 8, max: 4096 }),
        n_heads: leaf("integer", 4, "attention heads per layer", { min: 1, max: 64 }),
        n_layers: leaf("integer", 2, "transformer blocks", { min: 1, max: 48 }),
        context: leaf("integer", 20, "K timesteps per window (3K tokens: return-to-go, state, action)", { min: 1, max: 1000 }),
        max_ep_len: leaf("integer", 1000, "timestep embedding size; a timestep >= max_ep_len is an error, never clipped", {
          min: 1,
          max: 1000000,
        }),
        dropout: leaf("number", 0.1, "dropout probability during training", { min: 0, max: 1, maxExclusive: true }),
        lif: {
          kind: "section",
          description: "leaky integrate-and-fire neurons, forward Euler V += (dt/tau_m)(v_rest - V) + dt*c_m*I",
          fields: {
            T: leaf("integer", 10, "simulation steps per token", { min: 1, max: 1000 }),
            dt: leaf("number", 1.0, "Euler step, at most tau_m", { min: 0, minExclusive: true }),
            tau_m: leaf("number", 20.0, "membrane time constant (same unit as dt)", { min: 0, minExclusive: true }),
            v_rest: leaf("number", 0.0, "resting and reset potential"),
            v_th: leaf("number", 1.0, "firing threshold (above v_rest)"),
            c_m: leaf("number", 1.0, "input gain of the membrane", { min: 0, minExclusive: true }),
            current_scale: leaf<number | null>("number", null, "input current = current_scale * projection; null = the model's choice", {
              min: 0,
              minExclusive: true,
              nullable: true,
            }),
          },
        },
        surrogate: {
          kind: "section",
          description: "fast-sigmoid surrogate gradient of the spike, 1/(1+|k u|)^2",
          fields: {
            k: leaf("number", 10.0, "surrogate sharpness", { min: 0, minExclusive: true }),
          },
        },
        plasticity: {
          kind: "section",
          description: "three-factor local plasticity on the action head",
          fields: {
            enabled: leaf("boolean", false, "apply the local update after each optimizer step"),
            eta_local: leaf("number", 1e-4, "local learning rate (the trace sums ~1/(1-lambda) batches, so 1e-4 moves the head about as far per step as the optimizer)", { min: 0 }),
            lambda: leaf("number", 0.95, "eligibility trace decay", { min: 0, max: 1 }),
          },
        },
      },
    },
    train: {
      kind: "section",
      description: "optimisation",
      fields: {
        steps: leaf("integer", 1000, "optimizer steps", { min: 1, max: 100000000 }),
        batch_size: leaf("integer", 64, "windows per micro-batch", { min: 1, max: 65536 }),
        grad_accum: leaf("integer", 1, "micro-batches accumulated per optimizer step", { min: 1, max: 1024 }),
        lr: leaf("number", 3e-4, "peak learning rate (AdamW)", { min: 0, max: 1, minExclusive: true }),
        weight_decay: leaf("number", 1e-4, "decoupled weight decay on 2-D weight matrices", { min: 0, max: 1 }),
        beta1: leaf("number", 0.9, "AdamW first-moment decay", { min: 0, max: 1, maxExclusive: true }),
        beta2: leaf("number", 0.999, "AdamW second-moment decay", { min: 0, max: 1, maxExclusive: true }),
        eps: leaf("number", 1e-8, "AdamW denominator epsilon", { min: 0, max: 1, minExclusive: true }),
        warmup_steps: leaf("integer", 100, "linear warm-up steps from 0 to lr", { min: 0 }),
        schedule: choice(SCHEDULES, "cosine", "after warm-up: cosine decay to min_lr_ratio*lr, or constant"),
        min_lr_ratio: leaf("number", 0.1, "final lr of the cosine schedule, as a fraction of lr", { min: 0, max: 1 }),
        grad_clip: leaf("number", 0.25, "clip gradients to this global L2 norm; 0 = no clipping", { min: 0 }),
        eval_every: leaf("integer", 100, "steps between validations", { min: 1 }),
        val_batches: leaf("integer", 8, "batches per validation", { min: 1, max: 100000 }),
        checkpoint_every: leaf("integer", 200, "steps between checkpoints", { min: 1 }),
        keep_last: leaf("integer", 3, "step checkpoints kept, the newest on schedule (best/ is always kept; one written at an interrupt until the next)", { min: 1, max: 100000 }),
        log_every: leaf("integer", 10, "steps between metrics rows", { min: 1 }),
      },
    },
    eval: {
      kind: "section",
      description: "online evaluation in the environment",
      fields: {
        env: leaf("string", "CartPole-v1", "environment id"),
        episodes: leaf("integer", 10, "episodes per target return, spread round-robin over eval.seeds", { min: 1, max: 100000 }),
        target_returns: leaf<number[]>("number[]", [], "returns to condition on; empty = the best return in the dataset", { distinct: true }),
        seeds: leaf<number[]>("integer[]", [1001, 1002, 1003], "environment seeds", { min: 0, max: MAX_SEED, minItems: 1, distinct: true }),
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Schema walking helpers
// ---------------------------------------------------------------------------------------------

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fieldsOf(section: SectionSchema<unknown>): Record<string, SchemaNode> {
  return section.fields as unknown as Record<string, SchemaNode>;
}

/** Every leaf key path ("model.lif.T", ...) in schema order. */
export function schemaKeyPaths(section: SectionSchema<unknown> = CONFIG_SCHEMA, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, node] of Object.entries(fieldsOf(section))) {
    const full = prefix + key;
    if (node.kind === "section") out.push(...schemaKeyPaths(node, full + "."));
    else out.push(full);
  }
  return out;
}

/** The schema node at a dotted path, or undefined. */
export function schemaNodeAt(keyPath: string): SchemaNode | undefined {
  let node: SchemaNode = CONFIG_SCHEMA as unknown as SchemaNode;
  for (const part of keyPath.split(".")) {
    if (node.kind !== "section") return undefined;
    const next: SchemaNode | undefined = Object.hasOwn(node.fields, part) ? fieldsOf(node)[part] : undefined;
    if (!next) return undefined;
    node = next;
  }
  return node;
}

function defaultsOf(section: SectionSchema<unknown>): Plain {
  const out: Plain = {};
  for (const [key, node] of Object.entries(fieldsOf(section))) {
    out[key] = node.kind === "section" ? defaultsOf(node) : structuredClone(node.default);
  }
  return out;
}

/** The configuration made of the schema's defaults alone. */
export function schemaDefaults(): ResolvedConfig {
  return defaultsOf(CONFIG_SCHEMA) as unknown as ResolvedConfig;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The valid key path closest to a misspelt one (compares whole paths and last segments). */
export function closestKey(keyPath: string): string | undefined {
  const last = keyPath.split(".").pop()!;
  let best: string | undefined;
  let bestScore = Infinity;
  const candidates = [...schemaKeyPaths(), ...sectionPaths()];
  for (const candidate of candidates) {
    const candidateLast = candidate.split(".").pop()!;
    const score = Math.min(editDistance(keyPath, candidate), editDistance(last, candidateLast) + 1);
    if (score < bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  // A suggestion further away than half the key's length is noise.
  return bestScore <= Math.max(2, Math.ceil(last.length / 2)) ? best : undefined;
}

function sectionPaths(section: SectionSchema<unknown> = CONFIG_SCHEMA, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, node] of Object.entries(fieldsOf(section))) {
    if (node.kind === "section") out.push(prefix + key, ...sectionPaths(node, prefix + key + "."));
  }
  return out;
}

/** "number in (0, 1]" style description of a leaf's type and range. */
export function describeLeaf(node: LeafSchema<unknown>): string {
  if (node.type === "enum") return `one of ${node.choices!.join(", ")}`;
  let text = node.type === "number[]" ? "list of numbers" : node.type === "integer[]" ? "list of integers" : node.type;
  const lo = node.min === undefined ? undefined : `${node.minExclusive ? "(" : "["}${node.min}`;
  const hi = node.max === undefined ? undefined : `${node.max}${node.maxExclusive ? ")" : "]"}`;
  if (lo !== undefined && hi !== undefined) text += ` in ${lo}, ${hi}`;
  else if (lo !== undefined) text += node.minExclusive ? ` > ${node.min}` : ` >= ${node.min}`;
  else if (hi !== undefined) text += node.maxExclusive ? ` < ${node.max}` : ` <= ${node.max}`;
  if (node.minItems) text += `, at least ${node.minItems}`;
  if (node.distinct) text += ", each once";
  if (node.nullable) text += " or null";
  return text;
}

// ---------------------------------------------------------------------------------------------
// Validation of one layer (a partial config from one source)
// ---------------------------------------------------------------------------------------------

/** Where a layer came from, for error messages: a file (with a way to find a key's line) or a flag. */
interface LayerSource {
  /** "configs/cartpole.yaml", "--set train.lr=abc", "--seed" */
  label: string;
  /** Line of a key path in the source file, when known. */
  lineOf?: (keyPath: string[]) => number | undefined;
}

function where(source: LayerSource, keyPath: string[]): string {
  const line = source.lineOf?.(keyPath);
  return line === undefined ? source.label : `${source.label}:${line}`;
}

function checkNumberRange(node: LeafSchema<unknown>, value: number): boolean {
  if (node.min !== undefined && (node.minExclusive ? !(value > node.min) : !(value >= node.min))) return false;
  if (node.max !== undefined && (node.maxExclusive ? !(value < node.max) : !(value <= node.max))) return false;
  return true;
}

function formatValue(value: unknown): string {
  // JSON writes NaN and the infinities as null, which would misreport what was given (YAML's .inf, .nan).
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value) ?? String(value);
}

function validateLeaf(node: LeafSchema<unknown>, value: unknown, keyPath: string[], source: LayerSource): void {
  const key = keyPath.join(".");
  const fail = (problem: string): never => {
    throw new UsageError(
      `${where(source, keyPath)}: config key "${key}" ${problem}; expected ${describeLeaf(node)} (${node.description}).`,
    );
  };
  if (value === null) {
    if (node.nullable) return;
    fail("is empty (null)");
  }
  const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  switch (node.type) {
    case "number":
    case "integer":
      if (!isNum(value)) fail(`has the wrong type: found ${typeof value} ${formatValue(value)}`);
      if (node.type === "integer" && !Number.isInteger(value)) fail(`must be an integer, found ${formatValue(value)}`);
      if (!checkNumberRange(node, value as number)) fail(`is out of range: found ${formatValue(value)}`);
      return;
    case "string":
      if (typeof value !== "string") fail(`has the wrong type: found ${typeof value} ${formatValue(value)}`);
      if ((value as string).length === 0) fail("is an empty string");
      return;
    case "boolean":
      if (typeof value !== "boolean") fail(`has the wrong type: found ${typeof value} ${formatValue(value)}`);
      return;
    case "enum":
      if (typeof value !== "string" || !node.choices!.includes(value)) fail(`has an invalid value ${formatValue(value)}`);
      return;
    case "number[]":
    case "integer[]": {
      if (!Array.isArray(value)) fail(`has the wrong type: found ${typeof value} ${formatValue(value)}`);
      (value as unknown[]).forEach((item, i) => {
        if (!isNum(item)) fail(`has a non-number at index ${i}: ${formatValue(item)}`);
        if (node.type === "integer[]" && !Number.isInteger(item)) fail(`has a non-integer at index ${i}: ${formatValue(item)}`);
        if (!checkNumberRange(node, item as number)) fail(`has an out-of-range item at index ${i}: ${formatValue(item)}`);
      });
      if (node.minItems !== undefined && (value as unknown[]).length < node.minItems) fail(`has ${(value as unknown[]).length} items; give at least ${node.minItems}`);
      if (node.distinct) {
        const repeated = (value as unknown[]).find((item, i) => (value as unknown[]).indexOf(item) !== i);
        if (repeated !== undefined) fail(`lists ${formatValue(repeated)} twice; list each once`);
      }
      return;
    }
  }
}

function validateLayer(section: SectionSchema<unknown>, layer: Plain, keyPath: string[], source: LayerSource): void {
  const fields = fieldsOf(section);
  for (const [key, value] of Object.entries(layer)) {
    const path = [...keyPath, key];
    const node = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (!node) {
      const full = path.join(".");
      const suggestion = closestKey(full);
      const scope = keyPath.length ? `in "${keyPath.join(".")}"` : "at the top level";
      throw new UsageError(
        `${where(source, path)}: unknown config key "${full}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}. ` +
          `Valid keys ${scope}: ${Object.keys(fields).join(", ")}.`,
      );
    }
    if (node.kind === "section") {
      if (!isPlainObject(value)) {
        throw new UsageError(
          `${where(source, path)}: config key "${path.join(".")}" is a section and needs a mapping of its keys ` +
            `(${Object.keys(fieldsOf(node)).join(", ")}), found ${formatValue(value)}.`,
        );
      }
      validateLayer(node, value, path, source);
    } else {
      validateLeaf(node, value, path, source);
    }
  }
}

function deepMerge(base: Plain, layer: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    out[key] = isPlainObject(value) && isPlainObject(base[key]) ? deepMerge(base[key] as Plain, value) : structuredClone(value);
  }
  return out;
}

/** Checks that involve more than one key, on the merged config. */
function validateCrossFields(config: ResolvedConfig, sources: string): void {
  const m = config.model;
  if (m.d_model % m.n_heads !== 0) {
    throw new UsageError(
      `config keys "model.d_model" (${m.d_model}) and "model.n_heads" (${m.n_heads}) disagree: d_model must be a multiple ` +
        `of n_heads (resolved from ${sources}).`,
    );
  }
  if (!(m.lif.v_th > m.lif.v_rest)) {
    throw new UsageError(
      `config keys "model.lif.v_th" (${m.lif.v_th}) and "model.lif.v_rest" (${m.lif.v_rest}) disagree: the threshold must be ` +
        `above the resting potential (resolved from ${sources}).`,
    );
  }
  if (m.lif.dt > m.lif.tau_m) {
    throw new UsageError(
      `config keys "model.lif.dt" (${m.lif.dt}) and "model.lif.tau_m" (${m.lif.tau_m}) disagree: with dt above tau_m the Euler ` +
        `leak factor 1 - dt/tau_m is negative, so the membrane overshoots v_rest and flips sign every step (resolved from ${sources}).`,
    );
  }
  if (m.context > m.max_ep_len) {
    throw new UsageError(
      `config keys "model.context" (${m.context}) and "model.max_ep_len" (${m.max_ep_len}) disagree: a window never holds more ` +
        `steps than an episode, so the context beyond max_ep_len would be padding only (resolved from ${sources}).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// YAML files and --set
// ---------------------------------------------------------------------------------------------

/** Directory of the shipped configs. */
export const CONFIGS_DIR = path.join(PACKAGE_ROOT, "configs");
export const DEFAULT_CONFIG_PATH = path.join(CONFIGS_DIR, "default.yaml");

function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** Read and parse one YAML config file into a layer; syntax errors name the file, line and column. */
function readYamlLayer(file: string): { layer: Plain; source: LayerSource } {
  const label = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read config file ${label}: ${code === "ENOENT" ? "no such file" : (err as Error).message}.`);
  }
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const pos = first instanceof YAMLParseError && first.linePos ? `:${first.linePos[0].line}:${first.linePos[0].col}` : "";
    throw new UsageError(`invalid YAML in config file ${label}${pos}: ${first.message.split("\n")[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // The parse succeeded but building the values did not (the yaml package caps alias expansion).
    throw new UsageError(`invalid YAML in config file ${label}: ${(err as Error).message}`);
  }
  const source: LayerSource = { label, lineOf: (keyPath) => lineOfKey(doc, lineCounter, keyPath) };
  if (value === null || value === undefined) return { layer: {}, source };
  if (!isPlainObject(value)) {
    throw new UsageError(`config file ${label} must hold a mapping of keys (seed, data, model, train, eval...), found ${formatValue(value)}.`);
  }
  return { layer: value, source };
}

function lineOfKey(doc: Document, lineCounter: LineCounter, keyPath: string[]): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const part of keyPath) {
    if (!isMap(node)) return line;
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === part);
    if (!pair) return line;
    const range = (pair.key as YamlNode).range;
    if (range) line = lineCounter.linePos(range[0]).line;
    node = pair.value;
  }
  return line;
}

/** Parse one `--set a.b=value` into a nested layer; the value is read as a YAML scalar or flow list/map. */
export function parseOverride(text: string): Plain {
  const label = `--set ${text}`;
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new UsageError(`${label}: expected key=value with a dotted key, e.g. --set train.lr=3e-4 or --set model.lif.T=8.`);
  }
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  const parts = key.split(".");
  if (parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p))) {
    throw new UsageError(`${label}: "${key}" is not a dotted key path (letters, digits, _ and -, joined by dots), e.g. train.lr.`);
  }
  let value: unknown;
  const doc = YAML.parseDocument(raw, { uniqueKeys: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new UsageError(`${label}: the value ${JSON.stringify(raw)} is not valid YAML: ${problem.message.split("\n")[0]}`);
  // "#" at the start or after a space starts a YAML comment: "my #1.arrow" would silently become "my".
  let commented = Boolean(doc.comment || doc.commentBefore);
  YAML.visit(doc, { Node: (_key, node) => void (commented ||= Boolean(node.comment || node.commentBefore)) });
  if (commented) {
    throw new UsageError(
      `${label}: the value holds a "#" that YAML reads as the start of a comment; drop the comment, or quote the value if the # belongs to it ` +
        `(--set '${key}=${JSON.stringify(raw.trim())}').`,
    );
  }
  try {
    value = doc.toJS();
  } catch (err) {
    throw new UsageError(`${label}: the value ${JSON.stringify(raw)} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (value === undefined) value = null;
  let layer: Plain = { [parts[parts.length - 1]!]: value };
  for (let i = parts.length - 2; i >= 0; i--) layer = { [parts[i]!]: layer };
  return layer;
}

function setLeaf(layer: Plain, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = layer;
  for (const part of parts.slice(0, -1)) node = node[part] as Plain;
  node[parts[parts.length - 1]!] = value;
}

export interface LoadConfigOptions {
  /** An environment config file layered over default.yaml. */
  configPath?: string;
  /** `a.b=value` strings from --set, applied in order. */
  overrides?: string[];
  seed?: number;
  /** --data: resolved as data.path is (resolvePackagePath), stored absolute. */
  data?: string;
  backend?: string;
  /**
   * Other command-line flags that set one key, applied last in order, e.g.
   * { flag: "--keep-last", key: "train.keep_last", value: "5" }. String values are read as YAML scalars.
   */
  flags?: { flag: string; key: string; value: unknown }[];
  /** Base config file (default: configs/default.yaml of the checkout). */
  defaultsPath?: string;
  /** A whole resolved config (a checkpoint's own) layered over default.yaml in place of a config file. */
  baseConfig?: { config: ResolvedConfig; label: string };
}

/** Resolve the run configuration; every problem is a UsageError naming the key, the source and the valid values. */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const layers: { layer: Plain; source: LayerSource }[] = [];
  layers.push(readYamlLayer(options.defaultsPath ?? DEFAULT_CONFIG_PATH));
  if (options.configPath !== undefined) layers.push(readYamlLayer(resolvePackagePath(options.configPath)));
  if (options.baseConfig !== undefined) layers.push({ layer: options.baseConfig.config as unknown as Plain, source: { label: options.baseConfig.label } });
  for (const text of options.overrides ?? []) layers.push({ layer: parseOverride(text), source: { label: `--set ${text}` } });
  if (options.seed !== undefined) layers.push({ layer: { seed: options.seed }, source: { label: "--seed" } });
  // Resolved as data.path is (cwd, else the checkout), and stored absolute.
  if (options.data !== undefined) layers.push({ layer: { data: { path: resolvePackagePath(options.data) } }, source: { label: "--data" } });
  if (options.backend !== undefined) layers.push({ layer: { backend: options.backend }, source: { label: "--backend" } });
  for (const { flag, key, value } of options.flags ?? []) {
    const parsed = typeof value === "string" ? parseOverride(`${key}=${value}`) : parseOverride(`${key}=null`);
    if (typeof value !== "string") setLeaf(parsed, key, value);
    layers.push({ layer: parsed, source: { label: `${flag} ${value === "" ? `""` : String(value)}` } });
  }

  let merged: Plain = defaultsOf(CONFIG_SCHEMA);
  for (const { layer, source } of layers) {
    validateLayer(CONFIG_SCHEMA, layer, [], source);
    merged = deepMerge(merged, layer);
  }
  const config = merged as unknown as ResolvedConfig;
  validateCrossFields(config, layers.map((l) => l.source.label).join(" <- "));
  return config;
}

/**
 * Where a path given to snndt (`data.path`, `--config`) points: absolute as is (a leading `~/` is
 * the home directory); relative to the cwd if something is there, else to the snndt checkout (where
 * the shipped `datasets/` and `configs/` live), so the help's examples work from any directory.
 */
export function resolvePackagePath(dataPath: string, cwd: string = process.cwd(), exists: (p: string) => boolean = existsSync): string {
  if (dataPath === "~" || dataPath.startsWith("~/")) return path.join(homedir(), dataPath.slice(1));
  if (path.isAbsolute(dataPath)) return dataPath;
  const fromCwd = path.resolve(cwd, dataPath);
  if (exists(fromCwd)) return fromCwd;
  const fromPackage = path.resolve(PACKAGE_ROOT, dataPath);
  return exists(fromPackage) ? fromPackage : fromCwd;
}

// ---------------------------------------------------------------------------------------------
// Hash and YAML rendering
// ---------------------------------------------------------------------------------------------

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** sha256 (hex) of the canonical JSON of a resolved config. */
export function configHash(config: ResolvedConfig): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex");
}

/**
 * The keys (dotted paths) whose values differ between two configs, resolved or as parsed from a file,
 * with each side's value as canonical JSON (undefined where that side lacks the key): every leaf of
 * either (a list is one leaf), so a key that only one of them has counts as different.
 */
export function configValueDifferences(a: unknown, b: unknown): { key: string; a?: string; b?: string }[] {
  const leaves = (value: unknown, prefix: string, out: Map<string, string>): Map<string, string> => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) leaves(child, prefix ? `${prefix}.${key}` : key, out);
    } else {
      out.set(prefix, canonicalJson(value));
    }
    return out;
  };
  const left = leaves(a, "", new Map());
  const right = leaves(b, "", new Map());
  return [...new Set([...left.keys(), ...right.keys()])]
    .filter((key) => left.get(key) !== right.get(key))
    .map((key) => ({ key, a: left.get(key), b: right.get(key) }));
}

/** The keys of configValueDifferences. */
export function configDifferences(a: unknown, b: unknown): string[] {
  return configValueDifferences(a, b).map((difference) => difference.key);
}

function renderScalar(value: unknown): string {
  // A line break would make a block scalar, indented for the top level, not for its key: quote it.
  if (typeof value === "string" && /[\n\r]/.test(value)) return JSON.stringify(value);
  return YAML.stringify(value, { collectionStyle: "flow", lineWidth: 0 }).trimEnd();
}

function renderSection(section: SectionSchema<unknown>, values: Plain, indent: string, lines: string[]): void {
  for (const [key, node] of Object.entries(fieldsOf(section))) {
    if (node.kind === "section") {
      if (indent === "") lines.push("");
      lines.push(`${indent}# ${node.description}`, `${indent}${key}:`);
      renderSection(node, values[key] as Plain, indent + "  ", lines);
    } else {
      lines.push(`${indent}# ${node.description} (${describeLeaf(node)})`, `${indent}${key}: ${renderScalar(values[key])}`);
    }
  }
}

/** Header of the generated configs/default.yaml. */
export const DEFAULT_YAML_HEADER = [
  "snndt default configuration: every key, its default and its range.",
  "GENERATED from the schema in src/train/config.ts (a test keeps them identical); edit the schema, not this file.",
  "Environment files (cartpole.yaml, ...) override some of these keys; --set a.b=value and flags override those.",
];

/** A complete config as YAML, every key preceded by its description and range from the schema. */
export function renderConfigYaml(config: ResolvedConfig, header: string[] = []): string {
  const lines = header.map((line) => (line ? `# ${line}` : "#"));
  if (lines.length > 0) lines.push("");
  renderSection(CONFIG_SCHEMA, config as unknown as Plain, "", lines);
  return lines.join("\n") + "\n";
}

/** Header of the generated configs/README.md. */
export const CONFIG_REFERENCE_INTRO = [
  "# Configuration reference",
  "",
  "GENERATED from the schema in `src/train/config.ts` (a test keeps them identical); edit the schema, not this file.",
  "",
  "`snndt train` resolves its configuration in layers, later ones winning:",
  "",
  "1. `configs/default.yaml` (every key, with the defaults below);",
  "2. the environment file given with `--config` (`cartpole.yaml`, `mountaincar.yaml`, `acrobot.yaml`, `pendulum.yaml`),",
  "   which sets only what differs for that environment and says why;",
  "3. each `--set key=value` in order; the value is read as YAML (`--set train.lr=3e-4`, `--set model.kind=dt`,",
  "   `--set eval.target_returns=[400,500]`, `--set model.lif.current_scale=null`);",
  "4. explicit flags (`--seed`, `--data`, `--backend`, ...).",
  "",
  "An unknown or misspelt key, a wrong type or an out-of-range value stops the run with an error naming the key,",
  "where it came from (file and line, or the flag) and the valid keys or range. The fully resolved configuration",
  "is saved in each run directory as `config.resolved.yaml`, and in every checkpoint its hash (`configHash` in",
  "state.json: the sha256 of the configuration's canonical JSON, so formatting and key order do not change it).",
  "",
  "Ranges: `[a, b]` includes both ends, `(a, b]` excludes a.",
];

/** A markdown reference of every key (type and range, default, meaning), one table per section. */
export function renderConfigReference(): string {
  const lines = [...CONFIG_REFERENCE_INTRO];
  const defaults = schemaDefaults() as unknown as Plain;
  const table = (section: SectionSchema<unknown>, values: Plain, prefix: string, title: string): void => {
    const leaves = Object.entries(fieldsOf(section)).filter(([, node]) => node.kind === "leaf") as [string, LeafSchema<unknown>][];
    if (leaves.length > 0) {
      lines.push("", `## ${title}`, "", `${section.description}.`, "", "| key | type and range | default | meaning |", "|---|---|---|---|");
      for (const [key, node] of leaves) {
        const cell = (text: string) => text.replace(/\|/g, "\\|");
        lines.push(`| \`${prefix}${key}\` | ${cell(describeLeaf(node))} | \`${renderScalar(values[key])}\` | ${cell(node.description)} |`);
      }
    }
    for (const [key, node] of Object.entries(fieldsOf(section))) {
      if (node.kind === "section") table(node, values[key] as Plain, `${prefix}${key}.`, `${prefix}${key}`);
    }
  };
  table(CONFIG_SCHEMA, defaults, "", "top level");
  return lines.join("\n") + "\n";
}

/** Write `<runDir>/config.resolved.yaml` atomically; returns its path. */
/** A run's config.resolved.yaml: the config with its provenance and hash in a header. */
export function resolvedConfigText(config: ResolvedConfig): string {
  return renderConfigYaml(config, [
    "The fully resolved configuration of this run (defaults <- config file <- --set <- flags).",
    `config hash (sha256 of its canonical JSON): ${configHash(config)}`,
  ]);
}

export async function writeResolvedConfig(runDir: string, config: ResolvedConfig): Promise<string> {
  const file = path.join(runDir, RESOLVED_CONFIG_FILE);
  await writeFileAtomic(file, resolvedConfigText(config));
  return file;
}
