/**
 * Worker thread body for src/data/hashing.ts: sha256 of the file given by path (workerData.file).
 * Replies once with { digest } or { error }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

const port = parentPort!;
const hash = createHash("sha256");
const { file } = workerData as { file: string };
const stream = createReadStream(file, { highWaterMark: 1 << 20 });
stream.on("data", (chunk) => hash.update(chunk));
stream.on("error", (err) => port.postMessage({ error: err.message }));
stream.on("end", () => port.postMessage({ digest: hash.digest("hex") }));
