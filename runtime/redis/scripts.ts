/**
 * Lua scripts, one per atomic transition (runtime/lua/<name>[-<key count>].lua), registered on a
 * connection with ioredis' defineCommand so they run by EVALSHA with a transparent EVAL fallback.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const load = (file: string) => readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');

const SCRIPTS = {
  fnrunPublishDedupe: { lua: load('publish-dedupe-2.lua'), numberOfKeys: 2 },
  fnrunCommit: { lua: load('commit.lua') },
  fnrunReplay: { lua: load('replay-2.lua'), numberOfKeys: 2 },
  fnrunRead: { lua: load('read.lua') },
  fnrunLeaseAcquire: { lua: load('lease-acquire.lua') },
  fnrunLeaseRelease: { lua: load('lease-release-1.lua'), numberOfKeys: 1 },
  fnrunHeartbeat: { lua: load('heartbeat-1.lua'), numberOfKeys: 1 },
  fnrunRegistryDeploy: { lua: load('registry-deploy-3.lua'), numberOfKeys: 3 },
  fnrunRegistryRollback: { lua: load('registry-rollback-3.lua'), numberOfKeys: 3 },
  fnrunRegistryRead: { lua: load('registry-read-2.lua'), numberOfKeys: 2 },
  fnrunRegistrySummary: { lua: load('registry-summary-2.lua'), numberOfKeys: 2 },
  fnrunStateSet: { lua: load('state-set-1.lua'), numberOfKeys: 1 },
} as const;

/** A connection with fnrun's scripts defined on it. */
export interface ScriptedRedis extends Redis {
  fnrunPublishDedupe(stream: string, dedupeKey: string, windowMs: number, ...fields: string[]): Promise<[string, number]>;
  /**
   * Variable key count: the number of keys, the keys, the arguments. Arrays, not spread: ioredis
   * flattens them, and a spread of 100,000 arguments overflows the JS call stack.
   */
  fnrunCommit(numKeys: number, keys: readonly string[], args: readonly (string | number)[]): Promise<number>;
  fnrunReplay(deadLetters: string, stream: string, deadLetterId: string, ...fields: string[]): Promise<string | null>;
  /** Fenced: `2, stream, lease, token, …`; unfenced: `1, stream, '', …`. */
  fnrunRead(numKeys: 1 | 2, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  /** Variable key count: `2n, [lease, epoch counter] × n, [member, ttlMs, fresh (0 | 1) × n]`; an epoch per pair. */
  fnrunLeaseAcquire(numKeys: number, keys: readonly string[], args: readonly (string | number)[]): Promise<number[]>;
  fnrunLeaseRelease(lease: string, token: string): Promise<number>;
  fnrunHeartbeat(members: string, member: string, memberTtlMs: number, leave: 0 | 1): Promise<string[]>;
  fnrunRegistryDeploy(
    head: string, history: string, versions: string,
    hash: string, info: string, code: string, sourceMap: string, kept: number, group: string, order: number,
  ): Promise<[changed: number, from: number, to: number]>;
  fnrunRegistryRollback(head: string, history: string, versions: string, version: string, order: number): Promise<[status: string, from: number, to: number]>;
  fnrunRegistryRead(head: string, versions: string, version: string): Promise<[version: string, hash: string, code: string, sourceMap: string, info: string] | null>;
  fnrunRegistrySummary(head: string, history: string): Promise<string[] | null>;
  fnrunStateSet(hash: string, name: string, json: string, ttlMs: number, maxNames: number, maxKeyBytes: number): Promise<[written: number, names: number, bytes: number]>;
}

const defined = new WeakSet<Redis>();

/** Defines the scripts on `redis` once and returns it typed. */
export function withScripts(redis: Redis): ScriptedRedis {
  if (!defined.has(redis)) {
    for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
    defined.add(redis);
  }
  return redis as ScriptedRedis;
}
