/**
 * Training metrics: one row per logged step, appended to `metrics.jsonl` and `metrics.csv` in the
 * run directory and handed to the OS after every row (so a crash or Ctrl-C loses nothing written).
 *
 * The CSV header is fixed when the run starts: the base columns, then one `spike_rate.<layer>`
 * column per spiking layer. Missing values are empty CSV cells and `null` in JSON lines (NaN and
 * infinities too, as JSON has no such numbers). On resume, `truncateAfter(step)` drops the rows
 * logged after the checkpoint being resumed, so the resumed run's curve continues exactly where
 * the checkpoint was taken and matches an uninterrupted run.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { InputError } from "../runtime/errors.js";
import { makeDirectory, namingPath, writeFileAtomic } from "../runtime/fs-atomic.js";
import { METRICS_CSV, METRICS_JSONL, SUMMARY_JSON } from "./run-layout.js";

/** `write(file, text)`, whose error names `file` (a write call's error on a full disk names none). */
function writeNamed(file: string, text: string, write: (file: string, text: string) => void): void {
  try {
    write(file, text);
  } catch (err) {
    throw namingPath(err, file);
  }
}

export const BASE_METRIC_COLUMNS = [
  "step",
  "epoch",
  "train_loss",
  "val_loss",
  "val_accuracy",
  "lr",
  "grad_norm",
  "steps_per_s",
  "tokens_per_s",
] as const;

export type BaseMetric = (typeof BASE_METRIC_COLUMNS)[number];

/** One row: `step` is required; any other base column may be absent (e.g. val_loss between validations). */
export type MetricsRow = { step: number } & Partial<Record<Exclude<BaseMetric, "step">, number | null>> & {
    /** Mean spike rate per spiking layer (spikes per neuron per simulation step). */
    spike_rate?: Record<string, number | null>;
  };

/** A row as read back from metrics.jsonl: every column present, null where missing. */
export type MetricsRecord = Record<string, number | null>;

function finiteOrNull(value: number | null | undefined): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function csvCell(value: number | null | undefined): string {
  // NaN and infinities stay visible in the CSV ("NaN", "Infinity"); only absent values are empty.
  return value === null || value === undefined ? "" : String(value);
}

export class MetricsWriter {
  readonly columns: string[];
  readonly jsonlPath: string;
  readonly csvPath: string;
  private readonly spikeLayers: string[];

  private constructor(readonly runDir: string, spikeLayers: string[]) {
    this.spikeLayers = [...spikeLayers];
    this.columns = [...BASE_METRIC_COLUMNS, ...spikeLayers.map((layer) => `spike_rate.${layer}`)];
    this.jsonlPath = path.join(runDir, METRICS_JSONL);
    this.csvPath = path.join(runDir, METRICS_CSV);
  }

  /**
   * Open the metrics files of a run. New files get the header; existing ones (a resumed run) must
   * have exactly this header, otherwise the run's layers changed and the CSV would be misaligned.
   */
  static async open(runDir: string, options: { spikeLayers: string[] }): Promise<MetricsWriter> {
    const layers = options.spikeLayers;
    if (new Set(layers).size !== layers.length) throw new Error(`duplicate spike layer names: ${layers.join(", ")}`);
    for (const layer of layers) if (/[,"\n\r]/.test(layer)) throw new Error(`spike layer name ${JSON.stringify(layer)} cannot go in a CSV header`);
    await makeDirectory(runDir);
    const writer = new MetricsWriter(runDir, layers);
    const header = writer.columns.join(",");
    const text = existsSync(writer.csvPath) ? readFileSync(writer.csvPath, "utf8") : null;
    // A header cut short (a full disk as the run began) holds no row yet: written again.
    if (text !== null && !(!text.includes("\n") && header.startsWith(text))) {
      const found = text.split("\n", 1)[0] ?? "";
      if (found !== header) {
        throw new InputError(`${writer.csvPath} has the columns "${found}", but this run writes "${header}"; resume with the same model, or use a new --out.`);
      }
    } else {
      writeNamed(writer.csvPath, header + "\n", writeFileSync);
    }
    if (!existsSync(writer.jsonlPath)) writeNamed(writer.jsonlPath, "", appendFileSync);
    return writer;
  }

  /** Append one row to both files (a single write each, so a row is never split between calls). */
  append(row: MetricsRow): void {
    if (!Number.isInteger(row.step) || row.step < 0) throw new Error(`metrics row step must be an integer >= 0, got ${row.step}`);
    const unknownLayers = Object.keys(row.spike_rate ?? {}).filter((layer) => !this.spikeLayers.includes(layer));
    if (unknownLayers.length) throw new Error(`spike rate for unknown layer(s) ${unknownLayers.join(", ")}; columns were fixed at start: ${this.spikeLayers.join(", ")}`);
    const values: (number | null | undefined)[] = [
      ...BASE_METRIC_COLUMNS.map((column) => (column === "step" ? row.step : row[column])),
      ...this.spikeLayers.map((layer) => row.spike_rate?.[layer]),
    ];
    const record: MetricsRecord = {};
    this.columns.forEach((column, i) => (record[column] = finiteOrNull(values[i])));
    writeNamed(this.jsonlPath, JSON.stringify(record) + "\n", appendFileSync);
    writeNamed(this.csvPath, values.map(csvCell).join(",") + "\n", appendFileSync);
  }

  /**
   * Drop every row with step > `step` from both files (atomic rewrite). A torn last line left by a
   * crash is dropped too; a malformed line elsewhere is an InputError.
   */
  async truncateAfter(step: number): Promise<void> {
    const keep = (file: string, lines: string[], stepOf: (line: string) => number | undefined, skipHeader: boolean): string => {
      const out: string[] = skipHeader ? [lines[0]!] : [];
      const body = skipHeader ? lines.slice(1) : lines;
      body.forEach((line, i) => {
        const lineStep = stepOf(line);
        if (lineStep === undefined) {
          if (i === body.length - 1) return; // torn final row
          throw new InputError(`${file}: line ${i + 1 + (skipHeader ? 1 : 0)} is not a metrics row: ${JSON.stringify(line.slice(0, 80))}`);
        }
        if (lineStep <= step) out.push(line);
      });
      return out.map((line) => line + "\n").join("");
    };
    const linesOf = (file: string) => readFileSync(file, "utf8").split("\n").filter((line, i, all) => line !== "" || i < all.length - 1);
    const jsonStep = (line: string): number | undefined => {
      try {
        const value = (JSON.parse(line) as { step?: unknown }).step;
        return typeof value === "number" ? value : undefined;
      } catch {
        return undefined;
      }
    };
    const csvStep = (line: string): number | undefined => {
      const cells = line.split(",");
      if (cells.length !== this.columns.length || cells[0] === "") return undefined;
      const value = Number(cells[0]);
      return Number.isInteger(value) ? value : undefined;
    };
    const jsonl = keep(this.jsonlPath, linesOf(this.jsonlPath), jsonStep, false);
    const csv = keep(this.csvPath, linesOf(this.csvPath), csvStep, true);
    await writeFileAtomic(this.jsonlPath, jsonl);
    await writeFileAtomic(this.csvPath, csv);
  }

  /** Write `summary.json` (atomic) and return its path. */
  async writeSummary(summary: Record<string, unknown>): Promise<string> {
    const file = path.join(this.runDir, SUMMARY_JSON);
    await writeFileAtomic(file, JSON.stringify(summary, null, 2) + "\n");
    return file;
  }
}

/** Read a run's metrics.jsonl (for reports and resume checks); a torn final line is skipped. */
export function readMetrics(runDir: string): MetricsRecord[] {
  const file = path.join(runDir, METRICS_JSONL);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read ${file}: ${code === "ENOENT" ? "no such file (was the run started?)" : (err as Error).message}.`);
  }
  const lines = text.split("\n").filter((line) => line !== "");
  const rows: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    try {
      rows.push(JSON.parse(line) as MetricsRecord);
    } catch {
      if (i === lines.length - 1 && !text.endsWith("\n")) return;
      throw new InputError(`${file}: line ${i + 1} is not valid JSON: ${JSON.stringify(line.slice(0, 80))}`);
    }
  });
  return rows;
}
