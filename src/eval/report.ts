/**
 * What `snndt eval` writes: a table for the terminal, eval.json (every number and the settings
 * that produced it), report.md with SVG charts, and the side-by-side comparison of several runs.
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import * as path from "node:path";
import { InputError, UsageError } from "../runtime/errors.js";
import { replaceFilesTogether, writeDirAtomic } from "../runtime/fs-atomic.js";
import { SPIKE_KINDS } from "../model/index.js";
import { CHECKSUMS_FILE, checkpointDir, STATE_FILE } from "../train/checkpoint.js";
import { CHECKPOINTS_DIR, EVAL_DIR, EVAL_JSON, METRICS_JSONL, OFFLINE_EVAL_DIR, RESOLVED_CONFIG_FILE, TRAJECTORIES_FILE } from "../train/run-layout.js";
import { readMetrics } from "../train/metrics.js";
import { barChart, lineChart, scatterWithDiagonal, type LineSeries } from "./charts.js";
import type { EvalResult, Summary } from "./evaluate.js";
import { resolveCheckpoint } from "../train/find-checkpoint.js";
import { evalMethodOf, methodChangesSince, REFERENCE_GIVEN } from "./method.js";

export const REPORT_MD = "report.md";
const CHARTS_DIR = "charts";
/** Every chart an evaluation may write; only these are removed when a later evaluation lacks one. */
const CHART_FILES = {
  returns: "returns.svg",
  returnVsTarget: "return-vs-target.svg",
  spikes: "spikes.svg",
  firingRate: "firing-rate.svg",
  training: "training.svg",
} as const;

function fmt(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "-";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 10 ** -digits)) return value.toExponential(2);
  return value.toFixed(digits);
}

function pm(s: Summary | null): string {
  return s ? `${fmt(s.mean)} ± ${fmt(s.std)}` : "-";
}

/** How the spike statistics were sampled, when not on every decision (eval --stats-every). */
function sampled(result: EvalResult): string {
  const every = result.settings.statsEvery ?? 1;
  const thinned = result.spikes?.thinnedFrom ? `${every > 1 ? "," : ":"} thinned evenly from ${result.spikes.thinnedFrom}` : "";
  return (every > 1 ? `: one in ${every}, from each episode's first` : "") + thinned;
}

/** The latency sentence, or why no decision was timed. */
function latency(result: EvalResult): string {
  const l = result.latencyMs;
  // `failure` is absent from eval.json files written before it existed.
  if (l.failure) return `not measured: the environment failed while decisions were timed (${l.failure})`;
  if (l.decisions === 0) return "not measured: the environment failed during the episodes";
  return `median ${fmt(l.median, 2)} ms, p95 ${fmt(l.p95, 2)} ms over ${l.decisions} decisions${result.env ? "" : " replayed from held-out data"}`;
}

/** A plain text table with aligned columns (first column left-aligned, the rest right-aligned). */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function markdownTable(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function returnRows(result: EvalResult): string[][] {
  return result.targets.map((t) => [
    fmt(t.target, 1),
    String(t.episodes),
    pm(t.returns),
    `${fmt(t.returns.min, 1)} .. ${fmt(t.returns.max, 1)}`,
    pm(t.normalised),
    fmt(t.lengths.mean, 1),
    t.dataSupport ? `${t.dataSupport.atOrAbove} of ${t.dataSupport.episodes}` : "-",
  ]);
}
const RETURN_HEADER = ["target", "episodes", "return mean ± std", "min .. max", "normalised", "mean length", "dataset episodes >= target"];

/**
 * "step 1000 of 1000", or for best/ "lowest validation loss: step 600 of 1000"; for a run started
 * from another's weights, "...; started from <checkpoint> at step 1000".
 */
function checkpointStep(result: EvalResult): string {
  const { step, of } = result.checkpointStep;
  const from = result.initFrom ? `; started from ${result.initFrom.checkpoint} at step ${result.initFrom.step}` : "";
  return `${result.checkpoint === checkpointDir(result.runDir, "best") ? "lowest validation loss: " : ""}step ${step} of ${of}${from}`;
}

/** The seeds episodes ran under: the first `episodes` of the list when there are fewer episodes than seeds. */
function seedsUsed(result: EvalResult): number[] {
  return result.settings.seeds.slice(0, Math.min(result.settings.seeds.length, result.settings.episodesPerTarget));
}

/** Where the evaluation ran: the environment, or none. */
function envLabel(result: EvalResult): string {
  if (!result.env) return "offline (no environment)";
  return `${result.env.id}${result.env.external ? ` (external: ${result.env.command})` : ""}`;
}

/** The offline measure as a number with its unit: accuracy for discrete actions, MSE for continuous ones. */
function offlineMeasure(offline: EvalResult["offline"], long = false): string {
  if (!offline) return "-";
  if (offline.accuracy !== null) return `${long ? "accuracy " : ""}${fmt(100 * offline.accuracy, 1)}%`;
  return `${long ? "mean squared error " : "MSE "}${fmt(offline.mse, 4)}`;
}

/** The terminal summary. */
export function formatEvalTable(result: EvalResult): string {
  const lines: string[] = [];
  lines.push(`${result.model.kind === "dt" ? "plain DT" : `SNN-DT (${result.model.variant})`} from ${result.checkpoint} (${checkpointStep(result)})`);
  lines.push(`env ${envLabel(result)}, backend ${result.backend.name}${result.env ? `, seeds ${seedsUsed(result).join(",")}` : ""}`);
  if (result.partial) lines.push(`PARTIAL RESULTS: ${result.partial.reason}`);
  if (result.env) lines.push("", textTable(RETURN_HEADER, returnRows(result)));
  if (result.reference) {
    const given = result.reference.source === REFERENCE_GIVEN ? ` (${REFERENCE_GIVEN})` : "";
    lines.push(`normalised: 0 = random (${fmt(result.reference.random)}), 100 = expert (${fmt(result.reference.expert)})${given}`);
  }
  if (result.offline) {
    lines.push("", `offline action quality on ${result.offline.windows} windows (${result.offline.source}): ${offlineMeasure(result.offline, true)}`);
  }
  if (result.spikes) {
    lines.push("", `spikes per decision: ${fmt(result.spikes.perDecision, 1)} (mean over ${result.spikes.decisions} decisions${sampled(result)}), firing rate ${fmt(result.spikes.firingRate, 4)}`);
    lines.push(
      textTable(
        ["layer", ...SPIKE_KINDS, "total", "rate"],
        result.spikes.byLayer.map((l) => [`block${l.layer}`, ...SPIKE_KINDS.map((k) => fmt(l.spikes[k], 1)), fmt(l.total, 1), fmt(l.firingRate, 4)]),
      ),
    );
  }
  const e = result.energy;
  lines.push(
    "",
    `energy per decision: ${fmt(e.model.nanojoules, 2)} nJ (${fmt(e.model.synapticOps, 0)} SOPs x ${e.constants.acPicojoules} pJ + ${fmt(e.model.macs, 0)} MACs x ${e.constants.macPicojoules} pJ); ` +
      `plain DT of the same size ${fmt(e.dtSameSize.nanojoules, 2)} nJ; ratio ${fmt(e.ratioToDt, 3)}`,
    `latency per decision (batch 1): ${latency(result)}`,
  );
  return lines.join("\n");
}

/** Return per episode, by target, and return against target (evaluations in an environment). */
async function returnCharts(result: EvalResult): Promise<{ file: string; title: string; svg: string }[]> {
  const bySeries: LineSeries[] = result.targets.map((t) => ({
    // Full precision: distinct targets that round alike (500 and 500.01) need distinct series names.
    name: `target ${t.target}`,
    points: result.episodes.filter((e) => e.target === t.target).map((e, i) => [i + 1, e.return] as [number, number]),
  }));
  return [
    { file: CHART_FILES.returns, title: "Return per episode", svg: await lineChart({ title: "Return per episode", x: "episode", y: "return", series: bySeries, integerX: true }) },
    {
      file: CHART_FILES.returnVsTarget,
      title: "Return vs target",
      svg: await scatterWithDiagonal({
        title: "Return vs target return",
        x: "target return",
        y: "achieved return",
        points: result.episodes.map((e) => ({ x: e.target, y: e.return })),
      }),
    },
  ];
}

/**
 * Write the charts, report.md, eval.json and `trajectories` (trajectories.arrow, when recorded) into
 * `outDir`; returns the report's path. Everything is rendered before the first file is written, so a
 * rendering error leaves the previous outputs as they were; eval.json comes last, so one is only
 * ever beside its own report, charts and trajectories.
 */
export async function writeEvalOutputs(result: EvalResult, outDir: string, trajectories: Uint8Array | null): Promise<string> {
  const charts: { file: string; title: string; svg: string }[] = [];
  if (result.episodes.length > 0) charts.push(...(await returnCharts(result)));
  if (result.spikes) {
    charts.push({
      file: CHART_FILES.spikes,
      title: "Spikes per decision by layer and kind",
      svg: await barChart({
        title: "Spikes per decision",
        x: "kind",
        y: "spikes",
        bars: result.spikes.byLayer.flatMap((l) => SPIKE_KINDS.map((k) => ({ label: `block${l.layer} ${k}`, value: l.spikes[k], group: `block${l.layer}` }))),
      }),
    });
    charts.push({
      file: CHART_FILES.firingRate,
      title: "Firing rate per layer",
      svg: await barChart({ title: "Firing rate (spikes per neuron per step)", x: "layer", y: "rate", bars: result.spikes.byLayer.map((l) => ({ label: `block${l.layer}`, value: l.firingRate })) }),
    });
  }
  const curves = trainingCurves(result.runDir);
  if (curves.length) {
    charts.push({ file: CHART_FILES.training, title: "Training curves", svg: await lineChart({ title: "Training and validation loss", x: "step", y: "loss", series: curves, integerX: true }) });
  }
  const report = renderReport(result, charts);
  // Last: an eval.json says the evaluation's outputs are complete (npm run results --resume skips it).
  const files = (dir: string) => [
    ...charts.map((chart) => ({ target: path.join(dir, CHARTS_DIR, chart.file), data: chart.svg })),
    ...(trajectories ? [{ target: path.join(dir, TRAJECTORIES_FILE), data: trajectories }] : []),
    { target: path.join(dir, REPORT_MD), data: report },
    { target: path.join(dir, EVAL_JSON), data: JSON.stringify(result, null, 2) + "\n" },
  ];
  if (!existsSync(outDir)) {
    // A new directory appears complete or not at all (an interrupt leaves nothing).
    await writeDirAtomic(outDir, (dir) => replaceFilesTogether(files(dir)));
  } else {
    // An existing one (a mount point, a symlink, the cwd, one holding other files: outside a run, eval
    // refused it if they include files of an evaluation's names that no evaluation wrote) is written into,
    // never renamed: the earlier evaluation stays whole until every new file is written, then its
    // files are replaced together. Its eval.json goes first, so it never vouches for a mix of old and
    // new files; its charts that this evaluation has not (a spiking model's, say) go last. Its
    // trajectories go with it, but only if it made them: the directory may hold a file of that name.
    const current = new Set<string>(charts.map((chart) => chart.file));
    const stale = Object.values(CHART_FILES).filter((file) => !current.has(file));
    const staleTrajectories = !trajectories && earlierTrajectories(outDir) ? [path.join(outDir, TRAJECTORIES_FILE)] : [];
    await replaceFilesTogether(files(outDir), {
      removeFirst: [path.join(outDir, EVAL_JSON), ...staleTrajectories],
      removeAfter: stale.map((file) => path.join(outDir, CHARTS_DIR, file)),
    });
  }
  return path.join(outDir, REPORT_MD);
}

/** The eval.json of an earlier evaluation in `outDir`, or null (none there, or not one eval wrote). */
function earlierEvaluation(outDir: string): Partial<EvalResult> | null {
  try {
    const record = JSON.parse(readFileSync(path.join(outDir, EVAL_JSON), "utf8")) as Partial<EvalResult> | null;
    return typeof record === "object" && record !== null && typeof record.checkpoint === "string" && typeof record.settings === "object" ? record : null;
  } catch {
    return null;
  }
}

/** Whether the evaluation in `outDir` wrote the trajectories file there (its eval.json says so). */
function earlierTrajectories(outDir: string): boolean {
  return earlierEvaluation(outDir)?.trajectories?.file === TRAJECTORIES_FILE;
}

/**
 * Files of an existing directory that an evaluation written there would replace although no earlier
 * evaluation wrote them (the directory holds no evaluation's eval.json): a user's own report.md, say.
 */
export function foreignEvalOutputs(outDir: string, trajectories: boolean): string[] {
  if (!existsSync(outDir) || earlierEvaluation(outDir) !== null) return [];
  const names = [EVAL_JSON, REPORT_MD, ...Object.values(CHART_FILES).map((file) => path.join(CHARTS_DIR, file)), ...(trajectories ? [TRAJECTORIES_FILE] : [])];
  return names.filter((name) => existsSync(path.join(outDir, name)));
}

function trainingCurves(runDir: string): LineSeries[] {
  if (!existsSync(path.join(runDir, METRICS_JSONL))) return [];
  const rows = readMetrics(runDir);
  const series: LineSeries[] = [];
  const train = rows.filter((r) => r["train_loss"] !== null).map((r) => [r["step"]!, r["train_loss"]!] as [number, number]);
  const val = rows.filter((r) => r["val_loss"] !== null).map((r) => [r["step"]!, r["val_loss"]!] as [number, number]);
  if (train.length) series.push({ name: "train loss", points: train });
  if (val.length) series.push({ name: "validation loss", points: val });
  return series;
}

function renderReport(result: EvalResult, charts: { file: string; title: string }[]): string {
  const e = result.energy;
  const out: string[] = [
    `# Evaluation: ${result.model.kind === "dt" ? "plain DT" : `SNN-DT (${result.model.variant})`} ${result.env ? `on ${result.env.id}` : "offline (no environment)"}`,
    "",
    `- checkpoint: \`${result.checkpoint}\` (${checkpointStep(result)})`,
    `- model: ${result.model.parameters} parameters, d_model ${result.model.dModel}, ${result.model.nLayers} layers, ${result.model.nHeads} heads, K ${result.model.context}${result.model.kind === "dt" ? "" : `, T ${result.model.T}`}`,
    `- backend: ${result.backend.name} (${result.backend.reason})`,
    result.env
      ? `- ${result.settings.episodesPerTarget} episodes per target over seeds ${seedsUsed(result).join(", ")}; targets from ${result.settings.targetSource}`
      : "- no environment: held-out episodes replayed through the decision path, each with its own returns-to-go and actions",
    `- snndt ${result.snndtVersion}, config hash \`${result.configHash.slice(0, 16)}\`, ${result.createdAt}`,
    "",
  ];
  if (result.partial) out.push(`> **Partial results.** The environment failed: ${result.partial.reason}`, "");
  if (result.env) out.push("## Returns", "", markdownTable(RETURN_HEADER, returnRows(result)), "");
  if (result.trajectories) {
    out.push(
      `Every step of these ${result.trajectories.episodes} episodes (${result.trajectories.steps} steps) is in \`${result.trajectories.file}\`: a per-step Arrow file ` +
        "(`prepare-dataset` reads it) with each step's observation, action, reward and the return-to-go the model was given, and each episode's target, seed " +
        "and start state; the README's section on `--trajectories` lists every column.",
      "",
    );
  }
  if (result.reference) out.push(`Normalised score: 100 · (R − ${fmt(result.reference.random)}) / (${fmt(result.reference.expert)} − ${fmt(result.reference.random)}), reference returns: ${result.reference.source}.`, "");
  const counted = result.targets.find((t) => t.dataSupport)?.dataSupport;
  if (counted) {
    out.push(`Dataset episodes >= target: how many episodes of \`${counted.dataset}\` reached the target return; few or none means the model is asked to extrapolate.`, "");
  }
  if (result.offline) {
    out.push("## Offline action quality", "", `${result.offline.windows} windows from ${result.offline.episodes} episodes (${result.offline.source}): ${offlineMeasure(result.offline, true)}.`, "");
  }
  if (result.spikes) {
    out.push(
      "## Spikes per decision",
      "",
      `${fmt(result.spikes.perDecision, 1)} spikes per decision on average (${result.spikes.decisions} decisions${sampled(result)}), mean firing rate ${fmt(result.spikes.firingRate, 4)} spikes per neuron per simulation step.`,
      "",
      markdownTable(["layer", ...SPIKE_KINDS, "total", "firing rate"], result.spikes.byLayer.map((l) => [`block${l.layer}`, ...SPIKE_KINDS.map((k) => fmt(l.spikes[k], 1)), fmt(l.total, 1), fmt(l.firingRate, 4)])),
      "",
    );
  }
  out.push(
    "## Energy per decision (estimate)",
    "",
    markdownTable(
      ["model", "synaptic ops", "MACs", "energy (nJ)"],
      [
        [result.model.kind === "dt" ? "this DT" : "this SNN-DT", fmt(e.model.synapticOps, 0), fmt(e.model.macs, 0), fmt(e.model.nanojoules, 2)],
        ["plain DT, same size", "0", fmt(e.dtSameSize.macs, 0), fmt(e.dtSameSize.nanojoules, 2)],
      ],
    ),
    "",
    `Ratio to the plain DT: **${fmt(e.ratioToDt, 3)}**. E_AC = ${e.constants.acPicojoules} pJ, E_MAC = ${e.constants.macPicojoules} pJ. ${e.assumptions}`,
    "",
    "## Latency",
    "",
    `Batch-1 decision on ${result.backend.name}: ${latency(result)}.`,
    "",
    "## Charts",
    "",
  );
  for (const chart of charts) out.push(`### ${chart.title}`, "", `![${chart.title}](charts/${chart.file})`, "");
  return out.join("\n");
}

/**
 * Where `snndt eval <checkpoint>` writes by default: <run>/eval-<checkpoint>, and <run>/eval for
 * best/ (eval-offline-<checkpoint> and eval-offline with --offline). Null when `target` is no
 * checkpoint inside a run directory (a copy elsewhere; a link to one is followed to its run).
 */
function checkpointEvalDir(target: string, offline = false): string | null {
  if (!existsSync(path.join(target, CHECKSUMS_FILE))) return null;
  const checkpoint = realpathSync(target);
  const run = path.dirname(path.dirname(checkpoint));
  if (path.basename(path.dirname(checkpoint)) !== CHECKPOINTS_DIR || !existsSync(path.join(run, RESOLVED_CONFIG_FILE))) return null;
  const base = offline ? OFFLINE_EVAL_DIR : EVAL_DIR;
  return path.join(run, path.basename(checkpoint) === "best" ? base : `${base}-${path.basename(checkpoint)}`);
}

/**
 * Where eval writes when no --out is given: <run>/eval for a run (its best/ checkpoint),
 * <run>/eval-<checkpoint> for another of its checkpoints, so that evaluating step-300 does not
 * replace the run's own evaluation, which --compare and the results suite read. An evaluation
 * --offline goes to <run>/eval-offline(-<checkpoint>), so that it does not replace the one in the
 * environment either. A checkpoint outside a run needs --out.
 */
export async function defaultEvalDir(target: string, offline = false): Promise<string> {
  const { checkpoint, runDir } = await resolveCheckpoint(target);
  if (!existsSync(path.join(path.resolve(target), CHECKSUMS_FILE))) return path.join(runDir, offline ? OFFLINE_EVAL_DIR : EVAL_DIR);
  const dir = checkpointEvalDir(checkpoint, offline);
  if (dir === null) {
    throw new UsageError(`${target} is a checkpoint outside a run directory (no ${CHECKPOINTS_DIR}/ of a run holding ${RESOLVED_CONFIG_FILE} around it); say where its evaluation goes with --out.`);
  }
  return dir;
}

/**
 * Read an eval.json from a run directory, an eval output directory, or the file itself. A run
 * evaluated both into itself (--out <run>) and by default holds two: the newer is read, and `note`
 * is told which.
 */
export function readEvalResult(target: string, note?: (message: string) => void): EvalResult {
  const candidates = [target, path.join(target, EVAL_JSON), path.join(target, EVAL_DIR, EVAL_JSON)];
  const checkpointEval = checkpointEvalDir(target);
  if (checkpointEval !== null) candidates.push(path.join(checkpointEval, EVAL_JSON));
  // A run (or checkpoint) evaluated only offline.
  candidates.push(path.join(target, OFFLINE_EVAL_DIR, EVAL_JSON));
  const checkpointOfflineEval = checkpointEvalDir(target, true);
  if (checkpointOfflineEval !== null) candidates.push(path.join(checkpointOfflineEval, EVAL_JSON));
  const found = candidates.filter((c) => existsSync(c) && statSync(c).isFile());
  if (found.length === 0) throw new InputError(`${target}: no ${EVAL_JSON} found (looked at ${candidates.join(", ")}); run \`snndt eval ${target}\` first.`);
  let file = found[0]!;
  const [own, byDefault] = [candidates[1]!, candidates[2]!];
  if (found.includes(own) && found.includes(byDefault)) {
    file = statSync(byDefault).mtimeMs > statSync(own).mtimeMs ? byDefault : own;
    note?.(`${target} holds two evaluations, ${own} and ${byDefault}: the newer, ${file}, is shown.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  // The fields the report reads; a summary.json or another tool's JSON has none of them.
  const missing = ["targets", "model.kind", "env", "settings.targets", "energy.model.nanojoules", "energy.ratioToDt", "latencyMs.median"].find(
    (field) => field.split(".").reduce<unknown>((value, key) => (value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined), parsed) === undefined,
  );
  if (missing) throw new InputError(`${file} is not an ${EVAL_JSON} written by snndt eval: it has no "${missing}" field. Give a run directory, its eval/ directory or its ${EVAL_JSON}.`);
  return parsed as EvalResult;
}

/**
 * Rows of the side-by-side comparison (the SNN-DT ablation table). A run evaluated at several
 * targets gets a row per target; its later rows leave the per-run columns empty.
 */
export function comparisonRows(results: { label: string; result: EvalResult }[]): { header: string[]; rows: string[][] } {
  const header = ["run", "model", "step", "env", "target", "episodes", "return", "normalised", "offline", "spikes/decision", "energy nJ", "vs DT", "latency ms"];
  const rows = results.flatMap(({ label, result }) => {
    const perRun = [
      label + (result.partial ? " (partial)" : ""),
      result.model.kind === "dt" ? "dt" : result.model.variant,
      // eval.json files older than the field have none. "+": trained on from another run's weights.
      result.checkpointStep ? `${result.initFrom ? "+" : ""}${result.checkpointStep.step}/${result.checkpointStep.of}` : "-",
      result.env?.id ?? "offline",
    ];
    const measures = [
      offlineMeasure(result.offline),
      result.spikes ? fmt(result.spikes.perDecision, 1) : "-",
      fmt(result.energy.model.nanojoules, 1),
      fmt(result.energy.ratioToDt, 3),
      fmt(result.latencyMs.median, 2),
    ];
    if (result.targets.length === 0) return [[...perRun, "-", "-", "-", "-", ...measures]];
    return result.targets.map((t, i) => {
      const returns = [fmt(t.target, 1), String(t.episodes), pm(t.returns), pm(t.normalised)];
      return i === 0 ? [...perRun, ...returns, ...measures] : [...perRun.map(() => ""), ...returns, ...measures.map(() => "")];
    });
  });
  return { header, rows };
}

/** Returns side by side are a paired comparison only under the same targets, episodes and seeds. */
function sameSettings(results: { result: EvalResult }[]): boolean {
  // Episode limits are compared only when every eval.json records one (older ones do not).
  const withLimits = results.every(({ result }) => result.env?.maxEpisodeSteps !== undefined);
  const key = ({ result }: { result: EvalResult }): string =>
    JSON.stringify([result.env?.id ?? null, withLimits ? result.env?.maxEpisodeSteps : null, result.settings.targets, result.settings.episodesPerTarget, seedsUsed(result)]);
  return results.every((r) => key(r) === key(results[0]!));
}

/** The step and config hash a checkpoint holds now (its state.json), or null when it cannot be read there. */
function checkpointNow(checkpoint: string): { step: unknown; configHash: unknown } | null {
  try {
    const { step, configHash } = JSON.parse(readFileSync(path.join(checkpoint, STATE_FILE), "utf8")) as { step?: unknown; configHash?: unknown };
    return { step, configHash };
  } catch {
    return null;
  }
}

/** Notes under the comparison when its rows were not measured alike, or no longer measure their checkpoint. */
function comparisonNotes(results: { label: string; result: EvalResult }[]): string[] {
  const notes: string[] = [];
  for (const { label, result } of results) {
    if (result.initFrom) notes.push(`${label} (step "+"): trained on from the weights of ${result.initFrom.checkpoint} at step ${result.initFrom.step}, so its steps come on top of those.`);
  }
  // best/ moves while a run trains (and on --resume): an eval.json of its earlier self is not the
  // run's now. Said only where the checkpoint is found at its recorded path (a run may have moved).
  for (const { label, result } of results) {
    const now = result.checkpointStep ? checkpointNow(result.checkpoint) : null;
    if (now === null || (now.step === result.checkpointStep.step && now.configHash === result.configHash)) continue;
    const what = now.configHash === result.configHash ? `now holds step ${String(now.step)}` : "now holds another run's model (another config hash)";
    notes.push(`${label} was evaluated at step ${result.checkpointStep.step} of ${result.checkpoint}, which ${what}: evaluate it again to compare the run as it is.`);
  }
  if (!sameSettings(results)) {
    notes.push("these runs were evaluated with different environments (or episode limits), targets, episodes or seeds, so their returns are not a paired comparison; evaluate them alike (eval <run> with the same options) to compare.");
  }
  // Runs of other seeds hold out other episodes: their offline measures are not paired either.
  // Episode lists are compared only when every eval.json has one (older ones do not); datasets by
  // their episodes' hash when every one has it (a raw file and its prepared copy then match), else by path.
  const offline = results.filter(({ result }) => result.offline).map(({ result }) => result.offline!);
  const withIndices = offline.every((o) => o.episodeIndices !== undefined);
  const withHashes = offline.every((o) => o.datasetEpisodesHash !== undefined);
  const offlineKeys = new Set(offline.map((o) => JSON.stringify([withHashes ? o.datasetEpisodesHash : o.source.split(": ")[0], withIndices ? o.episodeIndices : null])));
  if (offlineKeys.size > 1) {
    notes.push("these runs' offline action quality was measured on different episodes (another dataset, or another seed's held-out split), so it is not a paired comparison; to pair them, evaluate each with the same --data of episodes none of them trained on.");
  }
  const constants = new Set(results.map(({ result }) => `E_AC ${result.energy.constants.acPicojoules} pJ, E_MAC ${result.energy.constants.macPicojoules} pJ`));
  if (constants.size > 1) {
    notes.push(`these runs' energy was estimated with different constants (${[...constants].join("; ")}), so their energy in nJ is not comparable; each "vs DT" ratio uses its own run's constants.`);
  }
  const references = new Set(results.filter(({ result }) => result.env !== null).map(({ result }) => (result.reference ? `${fmt(result.reference.random)} to ${fmt(result.reference.expert)}` : "none")));
  if (references.size > 1) {
    notes.push(`these runs' normalised scores count from different reference returns (${[...references].join("; ")}), so they are not comparable; their returns are.`);
  }
  const methods = [...new Set(results.map(({ result }) => evalMethodOf(result)))].sort();
  if (methods.length > 1) {
    notes.push(`these evaluations were made by different eval methods (${methods.join(" and ")}; ${methodChangesSince(methods[0]!)}), so their numbers may differ for that reason alone; evaluate the older ones again with this snndt.`);
  }
  return notes;
}

export function formatComparison(results: { label: string; result: EvalResult }[], markdown = false): string {
  const { header, rows } = comparisonRows(results);
  const table = markdown ? markdownTable(header, rows) : textTable(header, rows);
  return [table, ...comparisonNotes(results).map((note) => `note: ${note}`)].join("\n\n");
}

/** "<createdAt>: 10 episodes per target at 500" of the evaluation already in `outDir`; null when there is none. */
export function evaluationIn(outDir: string): string | null {
  const earlier = earlierEvaluation(outDir);
  if (earlier === null) return null;
  const targets = earlier.settings?.targets?.map((t) => Number(t.toPrecision(6))).join(", ");
  const what = earlier.env === null ? "offline" : `${earlier.settings?.episodesPerTarget} episodes per target at ${targets}`;
  return `${earlier.createdAt}: ${what}`;
}
