/** Types for lz4js (CommonJS, untyped), used by the tests as an independent LZ4 frame encoder. */
declare module "lz4js" {
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}
