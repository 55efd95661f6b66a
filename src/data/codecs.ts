/**
 * Buffer codecs for compressed Arrow IPC bodies. apache-arrow reads compressed record batches only
 * through codecs registered in its `compressionRegistry`; pandas/pyarrow and polars write LZ4_FRAME
 * Feather by default and ZSTD on request. Each codec gets one buffer without Arrow's 8-byte length prefix.
 */
import { CompressionType, compressionRegistry } from "apache-arrow";
import { decompress as zstdDecompress } from "fzstd";
import { decodeLz4Frame } from "./lz4.js";

let registered = false;

/**
 * The bytes at an 8-byte-aligned offset. apache-arrow views each decoded buffer as its column's typed
 * array, and fzstd returns a view into its own output that may start at a 4-byte offset, which a
 * Float64Array or BigInt64Array cannot start at.
 */
function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
}

/** Register LZ4_FRAME and ZSTD decoders with apache-arrow; safe to call repeatedly. */
export function registerArrowCodecs(): void {
  if (registered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: decodeLz4Frame });
  compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => aligned(zstdDecompress(data)) });
  registered = true;
}
