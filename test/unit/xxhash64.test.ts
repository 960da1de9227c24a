import assert from 'node:assert/strict';
import { test } from 'node:test';
import { xxh64, xxh64Hex } from '../../runtime/policy/xxhash64.ts';

// From the reference library (libxxhash 0.8.1, `xxhsum -H1`).
const VECTORS: [string, string][] = [
  ['', 'ef46db3751d8e999'],
  ['a', 'd24ec4f1a98c6e5b'],
  ['abc', '44bc2cf5ad770999'],
  ['ü', '01e03879e435793d'],
  ['0123456789abcdef0123456789abcdef', '642a94958e71e6c5'], // exactly one 32-byte stripe
  ['The quick brown fox jumps over the lazy dog', '0b242d361fda71bc'], // stripe + 8 + 2 + 1 bytes
  ['x'.repeat(100), '92f0de5a88a3c094'],
];

test('xxh64 matches the reference library', () => {
  for (const [input, hex] of VECTORS) assert.equal(xxh64Hex(input), hex, JSON.stringify(input));
});

// A direct BigInt transcription of the spec: slow but obviously right, to check the 32-bit-halves code.
const M = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & M, 31n) * P1) & M;
const merge = (acc: bigint, v: bigint) => ((acc ^ round(0n, v)) * P1 + P4) & M;

function referenceXxh64(b: Uint8Array): bigint {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const len = b.length;
  let i = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (P1 + P2) & M, v2 = P2, v3 = 0n, v4 = -P1 & M;
    for (; i + 32 <= len; i += 32) {
      v1 = round(v1, dv.getBigUint64(i, true));
      v2 = round(v2, dv.getBigUint64(i + 8, true));
      v3 = round(v3, dv.getBigUint64(i + 16, true));
      v4 = round(v4, dv.getBigUint64(i + 24, true));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
    for (const v of [v1, v2, v3, v4]) h = merge(h, v);
  } else {
    h = P5;
  }
  h = (h + BigInt(len)) & M;
  for (; i + 8 <= len; i += 8) h = (rotl(h ^ round(0n, dv.getBigUint64(i, true)), 27n) * P1 + P4) & M;
  if (i + 4 <= len) {
    h = (rotl(h ^ ((BigInt(dv.getUint32(i, true)) * P1) & M), 23n) * P2 + P3) & M;
    i += 4;
  }
  for (; i < len; i++) h = (rotl(h ^ ((BigInt(b[i]!) * P5) & M), 11n) * P1) & M;
  h ^= h >> 33n;
  h = (h * P2) & M;
  h ^= h >> 29n;
  h = (h * P3) & M;
  return h ^ (h >> 32n);
}

test('xxh64 agrees with a BigInt transcription of the spec on every length from 0 to 300', () => {
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  for (let len = 0; len <= 300; len++) {
    for (let trial = 0; trial < 5; trial++) {
      // Trial 0 is all 0xff bytes: the largest lanes exercise every carry in the 64-bit arithmetic.
      const bytes = Uint8Array.from({ length: len }, () => (trial === 0 ? 0xff : next() & 0xff));
      const { hi, lo } = xxh64(bytes);
      assert.equal((BigInt(hi) << 32n) | BigInt(lo), referenceXxh64(bytes), `length ${len}, trial ${trial}`);
    }
  }
});

test('xxh64 hashes only the first `length` bytes of a larger buffer', () => {
  const buffer = new TextEncoder().encode('abc-and-more');
  assert.deepEqual(xxh64(buffer, 3), xxh64(new TextEncoder().encode('abc')));
});
