/**
 * Key → partition: jump consistent hash over XXH64 (seed 0) of the key's UTF-8 bytes.
 *
 * Jump hash (Lamping & Veach 2014, https://arxiv.org/abs/1406.2294) needs no state, balances
 * keys evenly and, when P grows, moves only the keys that land in the new partitions (about
 * 1/(P+1) of them for P → P+1). It is specified here exactly as the paper's C code (64-bit LCG,
 * double division) so that producers in other languages route identically; see the golden
 * vectors in test/unit/partitioner.test.ts.
 */
import { add64, mul64, rHi, rLo, xxh64 } from './xxhash64.ts';

/** Jump hash's buckets are int32s. */
const MAX_BUCKETS = 0x7fff_ffff;

// The paper's LCG multiplier 2862933555777941757 = 0x27BB2EE687B0B0FD.
const LCG_HI = 0x27bb2ee6;
const LCG_LO = 0x87b0b0fd;

/**
 * Jump consistent hash of a 64-bit key given as unsigned 32-bit halves, into `[0, buckets)`.
 *
 * @example jumpHash(0, 0, 8) === 0
 */
export function jumpHash(keyHi: number, keyLo: number, buckets: number): number {
  let hi = keyHi;
  let lo = keyLo;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    mul64(hi, lo, LCG_HI, LCG_LO);
    add64(rHi, rLo, 0, 1);
    hi = rHi;
    lo = rLo;
    // C: (b + 1) * (double(1LL << 31) / double((key >> 33) + 1)); key >> 33 is hi >>> 1.
    j = Math.floor((b + 1) * (2147483648 / ((hi >>> 1) + 1)));
  }
  return b;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * The partition, in `[0, partitions)`, that events with this key go to.
 *
 * The key is hashed as UTF-8 (a lone UTF-16 surrogate becomes U+FFFD, as `TextEncoder` does).
 * A null or absent key is the caller's business: such events may go to any partition.
 *
 * @param partitions - the namespace's partition count P, an integer from 1 to 2^31 − 1
 * @example partitionFor('thread-42', 16)
 */
export function partitionFor(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_BUCKETS) {
    throw new RangeError(`partitions must be an integer from 1 to ${MAX_BUCKETS}, got ${partitions}`);
  }
  // UTF-8 needs at most 3 bytes per UTF-16 code unit; encodeInto avoids an allocation per key.
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  const { hi, lo } = xxh64(scratch, written);
  return jumpHash(hi, lo, partitions);
}
