/** Types for lz4js (CommonJS, untyped), used by the tests as an independent LZ4 frame encoder. */
declare module "lz4js" {
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}

/** lz4js's own XXH32, an independent reference for the frame checksums. */
declare module "lz4js/xxh32.js" {
  export function hash(seed: number, src: Uint8Array, offset: number, length: number): number;
}
