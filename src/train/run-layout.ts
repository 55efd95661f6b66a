/**
 * The names inside a run directory, spelled once. `snndt train` writes them, `snndt eval` and the
 * results script read them. No TensorFlow here, so that scripts can import the layout cheaply.
 */

/** The fully resolved configuration, written at the start of a run; `--resume` reads it back. */
export const RESOLVED_CONFIG_FILE = "config.resolved.yaml";
/** The checkpoint a run started from (`train --init-from`), written before its config. */
export const INIT_FROM_FILE = "init-from.json";
/** One JSON line per logged step. */
export const METRICS_JSONL = "metrics.jsonl";
/** The same rows as a table. */
export const METRICS_CSV = "metrics.csv";
/** Written when the run finishes: its presence marks a finished run. */
export const SUMMARY_JSON = "summary.json";
/** The run's checkpoints (`best/`, `step-N/`). */
export const CHECKPOINTS_DIR = "checkpoints";
/** `snndt eval` writes a run's evaluation here unless told otherwise. */
export const EVAL_DIR = "eval";
/** ...and `snndt eval --offline` its evaluation without an environment, so neither replaces the other. */
export const OFFLINE_EVAL_DIR = "eval-offline";
/** An evaluation's results, in its output directory (EVAL_DIR or --out); written last, so it marks a complete one. */
export const EVAL_JSON = "eval.json";
/** Every step of an evaluation's episodes (`eval --trajectories`), beside its eval.json. */
export const TRAJECTORIES_FILE = "trajectories.arrow";

/** What a run writes in its directory: a new run refuses a directory holding any of them, and only them. */
export const RUN_ENTRIES: readonly string[] = [RESOLVED_CONFIG_FILE, INIT_FROM_FILE, METRICS_JSONL, METRICS_CSV, SUMMARY_JSON, CHECKPOINTS_DIR, EVAL_DIR, OFFLINE_EVAL_DIR];
