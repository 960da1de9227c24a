/**
 * The registry: every deployed version of every function, in Redis.
 *
 * Each function's keys share the hash tag `{fn:<name>}` (see keys.ts), so every change to one
 * function is one Lua script in one slot (Redis Cluster-safe). Two things live outside that slot
 * and are updated around the scripts, never inside them:
 * - the set of function names: a deploy adds the name before and after its script, and a remove
 *   takes it out and then puts it back if a racing deploy re-created the function, so a deployed
 *   function is never missing from the set; a name without an active version counts as absent;
 * - the epoch, INCRed after every change, so a runtime notices changes by polling one key. Read
 *   the epoch first, then the registry: a change that lands in between is read now and noticed
 *   again at the next poll, never missed.
 */
import type { Redis } from '../redis/redis.ts';
import type { FunctionBundle } from '../loading/bundler.ts';
import type { DeployedBundle } from '../loading/function-loader.ts';
import { ConfigError, NotFoundError } from '../errors.ts';
import type { Keys } from '../redis/keys.ts';
import { withScripts, type ScriptedRedis } from '../redis/scripts.ts';
import type { Manifest } from '../types.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';
import { isValidName, NAME_RULE } from '../policy/function-name.ts';

/** Versions kept per function (the newest ones); older ones are deleted, except the active one. */
export const KEPT_VERSIONS = 20;

/** One deployed version of a function. Immutable once stored. */
export interface StoredVersion {
  name: string;
  /** 1, 2, 3 … per function, in deploy order. */
  version: number;
  /** The bundle's content hash (sha256 of code and source map). */
  hash: string;
  code: string;
  sourceMap: string;
  /** The virtual file name the code is compiled under. */
  filename: string;
  /** The entry file it was built from, relative to the folder above the functions folder. */
  entry: string;
  /** The manifest as validated at deploy, with every default applied. */
  manifest: Manifest;
  /** When this version was stored, ms since the epoch (the deploying machine's clock). */
  deployedAt: number;
}

/** A deployed function as `list()` sees it. */
export interface FunctionSummary {
  name: string;
  /** The active version. */
  active: number;
  /** Content hash of the active version. */
  hash: string;
  /** When the active version was deployed. */
  deployedAt: number;
  /** The active version's manifest. */
  manifest: Manifest;
  /** Kept versions, newest first. */
  versions: number[];
  /**
   * When the function joined the group its active version names (or was first deployed, with no
   * group), in registry order: a shared group's owner is the member with the lowest (README
   * "Consumer groups"). 0 for a function an older fnrun deployed, which left no order.
   */
  joinOrder: number;
}

/** What a deploy did: `from` is the previously active version (null for a new function). */
export interface DeployResult {
  name: string;
  status: 'changed' | 'unchanged';
  from: number | null;
  to: number;
}

/** Fields stored once per version as JSON (`<version>:info`), and copied to the head when active. */
interface VersionInfo {
  filename: string;
  entry: string;
  manifest: Manifest;
  deployedAt: number;
}

/** Reads and changes the function versions of one namespace. */
export class Registry {
  private readonly redis: ScriptedRedis;
  private readonly keys: Keys;

  constructor(redis: Redis, keys: Keys) {
    this.redis = withScripts(redis);
    this.keys = keys;
  }

  /**
   * Stores `bundle` and `manifest` as a new version and makes it active, unless the bundle's hash
   * equals the active version's (`'unchanged'`; nothing is written). Atomic (one Lua script): two
   * deploys racing both land, in some order, each with its own version number.
   */
  async deploy(bundle: FunctionBundle, manifest: Manifest): Promise<DeployResult> {
    const k = this.keys.fn(checkName(bundle.name));
    const info: VersionInfo = { filename: bundle.filename, entry: bundle.entry, manifest, deployedAt: Date.now() };
    // Added before the script, so that a crash right after it cannot leave the function unlisted.
    // The order number is taken first too: deploys that start later join a group later.
    const before = await crossSlotPipeline(this.redis).sadd(this.keys.functionNames, bundle.name).incr(this.keys.registryOrder).exec();
    replyOf(before, 0);
    const order = Number(replyOf(before, 1));
    const [changed, from, to] = await this.redis.fnrunRegistryDeploy(
      k.head, k.history, k.versions, bundle.hash, JSON.stringify(info), bundle.code, bundle.sourceMap, KEPT_VERSIONS, manifest.group?.name ?? '', order,
    );
    // Added again after it: a remove racing with this deploy may have taken the name out in between.
    const after = crossSlotPipeline(this.redis).sadd(this.keys.functionNames, bundle.name);
    if (changed === 1) after.incr(this.keys.registryEpoch);
    await after.exec();
    return { name: bundle.name, status: changed === 1 ? 'changed' : 'unchanged', from: from === 0 ? null : from, to };
  }

  /** Every deployed function, sorted by name. */
  async list(): Promise<FunctionSummary[]> {
    const names = (await this.redis.smembers(this.keys.functionNames)).sort();
    const pipeline = crossSlotPipeline(this.redis);
    for (const name of names) {
      const k = this.keys.fn(name);
      (pipeline as unknown as ScriptedRedis).fnrunRegistrySummary(k.head, k.history);
    }
    const replies = (await pipeline.exec()) ?? [];
    const out: FunctionSummary[] = [];
    replies.forEach(([error, reply], i) => {
      if (error) throw error;
      if (reply === null) return; // listed but not (or no longer) deployed
      const [active, hash, info, joined, ...versions] = reply as string[];
      const parsed = JSON.parse(info!) as VersionInfo;
      out.push({ name: names[i]!, active: Number(active), hash: hash!, deployedAt: parsed.deployedAt, manifest: parsed.manifest, versions: versions.map(Number), joinOrder: Number(joined || 0) });
    });
    return out;
  }

  /** The active version of `name`, or null when it is not deployed. */
  async active(name: string): Promise<StoredVersion | null> {
    return this.read(name, '');
  }

  /** The active versions of `names` (null where one is not deployed), in one round trip. */
  async actives(names: readonly string[]): Promise<(StoredVersion | null)[]> {
    const pipeline = crossSlotPipeline(this.redis);
    for (const name of names) {
      const k = this.keys.fn(checkName(name));
      (pipeline as unknown as ScriptedRedis).fnrunRegistryRead(k.head, k.versions, '');
    }
    const replies = (await pipeline.exec()) ?? [];
    return names.map((name, i) => {
      const [error, reply] = replies[i] ?? [new Error('no reply'), null];
      if (error) throw error;
      return reply === null ? null : parseStored(name, reply as StoredReply);
    });
  }

  /** Version `version` of `name`, or null when it is not kept (never deployed, trimmed or removed). */
  async get(name: string, version: number): Promise<StoredVersion | null> {
    return this.read(name, String(checkVersion(version)));
  }

  /**
   * Makes `version` active again; by default the newest kept version older than the active one.
   * The versions themselves are not changed, and no version number is given.
   * @throws NotFoundError when the function is not deployed or that version is not kept
   */
  async rollback(name: string, version?: number): Promise<{ from: number; to: number }> {
    const k = this.keys.fn(checkName(name));
    const target = version === undefined ? '' : String(checkVersion(version));
    const order = await this.redis.incr(this.keys.registryOrder);
    const [status, from, to] = await this.redis.fnrunRegistryRollback(k.head, k.history, k.versions, target, order);
    switch (status) {
      case 'no-function':
        throw new NotFoundError(`function "${name}" is not deployed (see fnrun functions)`);
      case 'no-previous':
        throw new NotFoundError(`function "${name}" has no version older than the active version ${from}; give the version to roll to`);
      case 'no-version':
        throw new NotFoundError(`function "${name}" has no version ${version} (kept: ${(await this.versions(name)).join(', ')})`);
    }
    if (from !== to) await this.redis.incr(this.keys.registryEpoch);
    return { from, to };
  }

  /**
   * Removes the function: its versions and its active pointer. Its consumer groups, pending
   * entries and dead letters stay in Redis. Returns false when it was not deployed.
   */
  async remove(name: string): Promise<boolean> {
    const k = this.keys.fn(checkName(name));
    // One DEL of keys in one slot: atomic, so no script is needed.
    const deleted = await this.redis.del(k.head, k.history, k.versions);
    await this.redis.srem(this.keys.functionNames, name);
    // A deploy that re-created the function after the DEL may have added its name before our SREM.
    if ((await this.redis.exists(k.head)) === 1) await this.redis.sadd(this.keys.functionNames, name);
    if (deleted === 0) return false;
    await this.redis.incr(this.keys.registryEpoch);
    return true;
  }

  /** A counter that changes whenever any function is deployed, rolled back or removed (0 before the first). */
  async epoch(): Promise<number> {
    return Number((await this.redis.get(this.keys.registryEpoch)) ?? 0);
  }

  private async versions(name: string): Promise<number[]> {
    return (await this.redis.zrevrange(this.keys.fn(name).history, 0, -1)).map(Number);
  }

  private async read(name: string, version: string): Promise<StoredVersion | null> {
    const k = this.keys.fn(checkName(name));
    const reply = await this.redis.fnrunRegistryRead(k.head, k.versions, version);
    return reply === null ? null : parseStored(name, reply);
  }
}

function replyOf(replies: [Error | null, unknown][] | null, i: number): unknown {
  const [error, value] = replies?.[i] ?? [new Error('no reply'), null];
  if (error) throw error;
  return value;
}

type StoredReply = [version: string, hash: string, code: string, sourceMap: string, info: string];

function parseStored(name: string, [v, hash, code, sourceMap, info]: StoredReply): StoredVersion {
  const { filename, entry, manifest, deployedAt } = JSON.parse(info) as VersionInfo;
  return { name, version: Number(v), hash, code, sourceMap, filename, entry, manifest, deployedAt };
}

/**
 * A stored version as a bundle, to load with `loadFunction` (a deployed bundle has no warnings).
 * It carries the manifest validated at deploy, so the load can use its limits at once.
 */
export function storedBundle(v: StoredVersion): DeployedBundle {
  return { name: v.name, entry: v.entry, code: v.code, sourceMap: v.sourceMap, filename: v.filename, hash: v.hash, warnings: [], manifest: v.manifest };
}

function checkName(name: string): string {
  if (!isValidName(name)) {
    throw new ConfigError(`invalid function name ${JSON.stringify(name)}: use ${NAME_RULE}`);
  }
  return name;
}

function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1) throw new ConfigError(`invalid version ${JSON.stringify(version)}: versions are whole numbers from 1`);
  return version;
}
