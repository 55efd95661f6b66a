/**
 * Worker thread body for src/data/hashing.ts. Given { file }: the sha256 of that file. Given
 * { root, files }: the sha256 of the listing `sha256sum` prints for those files, in that order, with
 * paths relative to root ("<hex>  <path>\n" a file). Replies once with { result } or { error }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as path from "node:path";

const port = parentPort!;

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => hash.update(chunk));
    stream.on("error", reject);
    stream.on("end", () => resolve(hash.digest("hex")));
  });
}

async function digest(): Promise<string> {
  const data = workerData as { file: string } | { root: string; files: string[] };
  if ("file" in data) return sha256File(data.file);
  const listing = createHash("sha256");
  for (const file of data.files) listing.update(`${await sha256File(file)}  ${path.relative(data.root, file)}\n`);
  return listing.digest("hex");
}

digest().then(
  (hex) => port.postMessage({ result: hex }),
  (err: Error) => port.postMessage({ error: err.message }),
);
