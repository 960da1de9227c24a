/**
 * XXH64 (seed 0), the 64-bit xxHash of Yann Collet, in plain JavaScript numbers.
 *
 * Spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md. Every 64-bit value is
 * carried as two unsigned 32-bit halves (`hi`, `lo`) because BigInt arithmetic allocates on every
 * operation and is several times slower on the publish path. The helpers leave their result in
 * the module-level registers `rHi`/`rLo` for the same reason (no object per operation); read them
 * immediately after each call. test/unit/xxhash64.test.ts checks it against vectors from the
 * reference library (libxxhash) and against a BigInt transcription of the spec on every length
 * from 0 to 300.
 */

/**
 * Result registers of the last {@link add64}/{@link mul64} call (high and low unsigned 32-bit
 * halves). Exported as live bindings so that the jump hash reuses the same arithmetic.
 */
export let rHi = 0;
export let rLo = 0;

// PRIME64_1..5 from the spec, split into halves.
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

const TWO_32 = 0x1_0000_0000;

/** (a + b) mod 2^64, into {@link rHi}/{@link rLo}. */
export function add64(ah: number, al: number, bh: number, bl: number): void {
  const lo = al + bl; // < 2^33, exact in a double
  rLo = lo >>> 0;
  rHi = (ah + bh + (lo >= TWO_32 ? 1 : 0)) >>> 0;
}

/** (a × b) mod 2^64, into {@link rHi}/{@link rLo}. */
export function mul64(ah: number, al: number, bh: number, bl: number): void {
  // The full 64-bit product of the low halves, built from 16-bit limbs so that every partial
  // product and sum stays below 2^53 (exact); the cross terms only need their low 32 bits (imul).
  const a0 = al & 0xffff, a1 = al >>> 16;
  const b0 = bl & 0xffff, b1 = bl >>> 16;
  const mid = a1 * b0 + a0 * b1; // < 2^33
  // `mid & 0xffff` is exact: ToInt32 keeps the low 32 bits, of which we take 16.
  const low = a0 * b0 + (mid & 0xffff) * 0x10000; // < 2^33
  rLo = low >>> 0;
  const hiOfLow = a1 * b1 + ((mid / 0x10000) | 0) + (low >= TWO_32 ? 1 : 0);
  rHi = (hiOfLow + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** rotl(a, n) for 0 < n < 32 (the only rotations XXH64 uses), into {@link rHi}/{@link rLo}. */
function rotl(h: number, l: number, n: number): void {
  rHi = ((h << n) | (l >>> (32 - n))) >>> 0;
  rLo = ((l << n) | (h >>> (32 - n))) >>> 0;
}

/** The spec's `round(acc, lane)`: acc + lane × P2, rotl 31, × P1. */
function round(accH: number, accL: number, laneH: number, laneL: number): void {
  mul64(laneH, laneL, P2H, P2L);
  add64(accH, accL, rHi, rLo);
  rotl(rHi, rLo, 31);
  mul64(rHi, rLo, P1H, P1L);
}

/** The spec's `mergeAccumulator`: (acc ^ round(0, lane)) × P1 + P4. */
function merge(accH: number, accL: number, laneH: number, laneL: number): void {
  round(0, 0, laneH, laneL);
  mul64((accH ^ rHi) >>> 0, (accL ^ rLo) >>> 0, P1H, P1L);
  add64(rHi, rLo, P4H, P4L);
}

function u32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/**
 * XXH64 with seed 0 of `bytes[0..length)`, as unsigned 32-bit halves.
 * `length` lets callers hash the front of a reused scratch buffer without slicing it.
 */
export function xxh64(bytes: Uint8Array, length: number = bytes.length): { hi: number; lo: number } {
  let i = 0;
  let hH: number, hL: number;
  if (length >= 32) {
    // Seed 0: v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (all mod 2^64).
    let v1H = 0x60ea27ee, v1L = 0xadc0b5d6;
    let v2H = P2H, v2L = P2L;
    let v3H = 0, v3L = 0;
    let v4H = 0x61c8864e, v4L = 0x7a143579;
    const limit = length - 32;
    for (; i <= limit; i += 32) {
      round(v1H, v1L, u32(bytes, i + 4), u32(bytes, i));
      v1H = rHi; v1L = rLo;
      round(v2H, v2L, u32(bytes, i + 12), u32(bytes, i + 8));
      v2H = rHi; v2L = rLo;
      round(v3H, v3L, u32(bytes, i + 20), u32(bytes, i + 16));
      v3H = rHi; v3L = rLo;
      round(v4H, v4L, u32(bytes, i + 28), u32(bytes, i + 24));
      v4H = rHi; v4L = rLo;
    }
    rotl(v1H, v1L, 1);
    hH = rHi; hL = rLo;
    rotl(v2H, v2L, 7);
    add64(hH, hL, rHi, rLo);
    hH = rHi; hL = rLo;
    rotl(v3H, v3L, 12);
    add64(hH, hL, rHi, rLo);
    hH = rHi; hL = rLo;
    rotl(v4H, v4L, 18);
    add64(hH, hL, rHi, rLo);
    merge(rHi, rLo, v1H, v1L);
    merge(rHi, rLo, v2H, v2L);
    merge(rHi, rLo, v3H, v3L);
    merge(rHi, rLo, v4H, v4L);
    hH = rHi; hL = rLo;
  } else {
    hH = P5H; hL = P5L;
  }
  // Lengths above 2^32 bytes cannot occur for a key, so the high half of `length` is 0.
  add64(hH, hL, 0, length >>> 0);
  hH = rHi; hL = rLo;

  for (; i + 8 <= length; i += 8) {
    round(0, 0, u32(bytes, i + 4), u32(bytes, i));
    rotl((hH ^ rHi) >>> 0, (hL ^ rLo) >>> 0, 27);
    mul64(rHi, rLo, P1H, P1L);
    add64(rHi, rLo, P4H, P4L);
    hH = rHi; hL = rLo;
  }
  if (i + 4 <= length) {
    mul64(0, u32(bytes, i), P1H, P1L);
    rotl((hH ^ rHi) >>> 0, (hL ^ rLo) >>> 0, 23);
    mul64(rHi, rLo, P2H, P2L);
    add64(rHi, rLo, P3H, P3L);
    hH = rHi; hL = rLo;
    i += 4;
  }
  for (; i < length; i++) {
    mul64(0, bytes[i]!, P5H, P5L);
    rotl((hH ^ rHi) >>> 0, (hL ^ rLo) >>> 0, 11);
    mul64(rHi, rLo, P1H, P1L);
    hH = rHi; hL = rLo;
  }

  // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
  mul64(hH, (hL ^ (hH >>> 1)) >>> 0, P2H, P2L);
  hH = rHi; hL = rLo;
  mul64((hH ^ (hH >>> 29)) >>> 0, (hL ^ ((hL >>> 29) | (hH << 3))) >>> 0, P3H, P3L);
  return { hi: rHi, lo: (rLo ^ rHi) >>> 0 };
}

const encoder = new TextEncoder();

/** XXH64 (seed 0) of a string's UTF-8 bytes (or of raw bytes) as 16 lowercase hex digits. */
export function xxh64Hex(input: string | Uint8Array): string {
  const { hi, lo } = xxh64(typeof input === 'string' ? encoder.encode(input) : input);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
