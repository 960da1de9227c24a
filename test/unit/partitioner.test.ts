import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jumpHash, partitionFor } from '../../runtime/policy/partitioner.ts';
import { xxh64Hex } from '../../runtime/policy/xxhash64.ts';

/**
 * Golden vectors for producers in other languages (also in the README): key → XXH64 (seed 0) of
 * its UTF-8 bytes → jump consistent hash. Computed by test/fixtures/partitioner/reference.c
 * (libxxhash 0.8.1 and the paper's jump hash C code); this implementation was also checked
 * against that program on 200,000 random keys (ASCII and multi-byte UTF-8, lengths 0 to 300)
 * for P in {8, 9, 16, 256, 1000, 2^31 − 1}.
 */
const GOLDEN: { key: string; xxh64: string; p8: number; p16: number; p256: number }[] = [
  { key: '', xxh64: 'ef46db3751d8e999', p8: 7, p16: 7, p256: 40 },
  { key: 'a', xxh64: 'd24ec4f1a98c6e5b', p8: 6, p16: 8, p256: 17 },
  { key: 'abc', xxh64: '44bc2cf5ad770999', p8: 6, p16: 14, p256: 24 },
  { key: 'thread-42', xxh64: 'e9aba096945119cb', p8: 3, p16: 3, p256: 232 },
  { key: 'user-1', xxh64: 'a173746b114c6be8', p8: 6, p16: 6, p256: 134 },
  { key: 'ü', xxh64: '01e03879e435793d', p8: 7, p16: 7, p256: 7 },
  { key: '日本語', xxh64: '7179a19f3719f5e1', p8: 1, p16: 1, p256: 96 },
  { key: '😀', xxh64: '9025b8abaae87b80', p8: 6, p16: 10, p256: 122 },
  { key: 'order:12345', xxh64: '505cafebcf289c0f', p8: 7, p16: 13, p256: 92 },
  { key: '0123456789abcdef0123456789abcdef', xxh64: '642a94958e71e6c5', p8: 3, p16: 11, p256: 229 },
  { key: 'tenant-acme/user-1234567/session-0f3c9a2b7d6e4f1a8c5b', xxh64: '8213cf5391f1391d', p8: 2, p16: 9, p256: 51 },
  { key: 'The quick brown fox jumps over the lazy dog '.repeat(3), xxh64: 'cc3d2fe62c31e70f', p8: 1, p16: 1, p256: 23 },
];

test('golden vectors: key → XXH64 → partition for P = 8, 16, 256', () => {
  for (const g of GOLDEN) {
    const label = JSON.stringify(g.key);
    assert.equal(xxh64Hex(g.key), g.xxh64, label);
    assert.equal(partitionFor(g.key, 8), g.p8, `${label} P=8`);
    assert.equal(partitionFor(g.key, 16), g.p16, `${label} P=16`);
    assert.equal(partitionFor(g.key, 256), g.p256, `${label} P=256`);
  }
});

test('jumpHash: one bucket takes everything, and large bucket counts stay in range', () => {
  assert.equal(jumpHash(0xffffffff, 0xffffffff, 1), 0);
  // From the reference program: XXH64("abc") with 2^31 − 1 buckets.
  assert.equal(jumpHash(0x44bc2cf5, 0xad770999, 2 ** 31 - 1), 304895);
});

test('partitionFor rejects a partition count that is not a positive int32', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31]) assert.throws(() => partitionFor('k', bad), RangeError);
});

function loads(keys: number, partitions: number): number[] {
  const counts = new Array<number>(partitions).fill(0);
  for (let i = 0; i < keys; i++) counts[partitionFor(`key-${i}`, partitions)]!++;
  return counts;
}

test('keys spread evenly: max/mean load below 1.05', () => {
  // The keys are fixed, so this is deterministic. The key count grows with P because a perfect
  // random hash over 100k keys already has max/mean ≈ 1.14 at P = 256 (sampling noise, not bias).
  for (const [keys, partitions] of [[100_000, 8], [100_000, 16], [1_000_000, 256]] as const) {
    const counts = loads(keys, partitions);
    const mean = keys / partitions;
    assert.ok(Math.max(...counts) / mean < 1.05, `P=${partitions}: max/mean ${Math.max(...counts) / mean}`);
    // Chi-square against uniform: within 5 standard deviations (sd = sqrt(2·df)) of its mean df.
    const chi2 = counts.reduce((s, c) => s + (c - mean) ** 2 / mean, 0);
    const df = partitions - 1;
    assert.ok(Math.abs(chi2 - df) < 5 * Math.sqrt(2 * df), `P=${partitions}: chi-square ${chi2} for ${df} df`);
  }
});

test('growing P moves about 1/(P+1) of the keys, and only into the new partitions', () => {
  const keys = 100_000;
  for (const [from, to] of [[8, 9], [16, 17], [8, 16]] as const) {
    let moved = 0;
    for (let i = 0; i < keys; i++) {
      const before = partitionFor(`key-${i}`, from);
      const after = partitionFor(`key-${i}`, to);
      if (before === after) continue;
      moved++;
      assert.ok(after >= from, `key-${i} moved from ${before} to old partition ${after} (${from} → ${to})`);
    }
    const ideal = (to - from) / to;
    assert.ok(Math.abs(moved / keys - ideal) < 0.01, `${from} → ${to}: moved ${moved / keys}, ideal ${ideal}`);
  }
});
