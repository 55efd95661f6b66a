/**
 * Buffer codecs for compressed Arrow IPC bodies. apache-arrow reads compressed record batches only
 * through codecs registered in its `compressionRegistry`; pandas/pyarrow and polars write LZ4_FRAME
 * Feather by default and ZSTD on request. Each codec gets one buffer without Arrow's 8-byte length prefix.
 */
import { CompressionType, compressionRegistry } from "apache-arrow";
import { decompress as zstdDecompress } from "fzstd";
import { decodeLz4Frame } from "./lz4.js";

let registered = false;

/** Register LZ4_FRAME and ZSTD decoders with apache-arrow; safe to call repeatedly. */
export function registerArrowCodecs(): void {
  if (registered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: decodeLz4Frame });
  compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => zstdDecompress(data) });
  registered = true;
}
