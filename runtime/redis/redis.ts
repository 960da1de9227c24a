/**
 * Redis connections. One URL names the deployment:
 *
 * - `redis://[user:pass@]host[:port][/db]`, `rediss://…` (TLS), `unix:///path/redis.sock` or a bare
 *   socket path: one server;
 * - `redis+cluster://[user:pass@]h1:7000,h2:7001,…` (or `rediss+cluster://`): a Redis Cluster, given
 *   by any of its nodes (the rest are discovered);
 * - `redis+sentinel://[user:pass@]s1:26379,s2:26379,…/<master name>[/db]` (or `rediss+sentinel://`):
 *   the primary that the Sentinels name, followed across failovers.
 *
 * A Cluster client is handed around typed as `Redis`: ioredis' `Cluster` answers the same commands,
 * and the few places that must differ (pipelines across partitions, SCAN, the wake watcher) ask
 * {@link isCluster}.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError, RedisConnectError } from '../errors.ts';
import { connectFailure, isFinalConnectError } from './connect-failure.ts';
import { isReadOnly } from './reply-errors.ts';
import { reconnectDelayMs } from '../policy/backoff.ts';
import { withinMs } from '../policy/deadline.ts';

/** Where to connect, as parsed from a URL. */
export type RedisTarget =
  | { kind: 'single'; options: RedisOptions }
  | { kind: 'sentinel'; options: RedisOptions }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; options: ClusterOptions };

/** Connection options shared by every fnrun connection. */
function baseOptions(): RedisOptions {
  return {
    // Workers must outlive a Redis restart or failover: queue commands and reconnect forever, with backoff.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => reconnectDelayMs(times, 50, 2000),
    connectionName: 'fnrun',
    lazyConnect: true,
    keepAlive: 10_000,
    connectTimeout: 5000,
  };
}

const SCHEMES = 'redis://, rediss://, redis+cluster://, redis+sentinel:// or a unix socket path';

/** Parses `url` into what {@link connectRedis} needs; throws ConfigError for anything unrecognised. */
export function parseRedisUrl(url: string): RedisTarget {
  if (url.startsWith('/') || url.startsWith('unix://')) {
    return { kind: 'single', options: { ...baseOptions(), path: url.startsWith('unix://') ? url.slice('unix://'.length) : url } };
  }
  const match = /^(rediss?)(\+cluster|\+sentinel)?:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (match === null) throw new ConfigError(`invalid Redis URL ${JSON.stringify(url)}: expected ${SCHEMES}`);
  const [, scheme, variant, auth, hostList, path = '', query = ''] = match;
  const tls = scheme === 'rediss' ? { tls: {} } : {};
  const credentials = parseAuth(auth);
  const hosts = parseHosts(hostList!, url, variant === '+sentinel' ? 26379 : 6379);
  const segments = path.split('/').filter((s) => s !== '');
  const params = new URLSearchParams(query);

  if (variant === '+cluster') {
    if (segments.length > 0) throw new ConfigError(`a Redis Cluster has no databases: drop "${path}" from ${JSON.stringify(url)}`);
    return {
      kind: 'cluster',
      nodes: hosts,
      options: {
        lazyConnect: true,
        enableReadyCheck: true,
        // Commands wait through a failover or resharding instead of failing the worker.
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        retryDelayOnMoved: 0,
        clusterRetryStrategy: (times) => reconnectDelayMs(times, 100, 2000),
        slotsRefreshTimeout: 2000,
        redisOptions: { ...baseOptions(), ...credentials, ...tls },
      },
    };
  }
  const [first, second] = segments;
  if (variant === '+sentinel') {
    if (first === undefined) throw new ConfigError(`a Sentinel URL names the master: redis+sentinel://host:26379/<master name>, got ${JSON.stringify(url)}`);
    const sentinelPassword = params.get('sentinelPassword');
    const sentinelUsername = params.get('sentinelUsername');
    return {
      kind: 'sentinel',
      options: {
        ...baseOptions(),
        ...credentials,
        ...tls,
        db: parseDb(second, url),
        sentinels: hosts,
        name: decodeURIComponent(first),
        role: 'master',
        // Off by default: ioredis' detector (a subscription to +switch-master on every sentinel)
        // leaked its sentinel connections when a reconnect raced its setup, which kept processes
        // from exiting. Sentinel disconnects clients when it reconfigures a node, and a demoted
        // primary's READONLY triggers a reconnect below, so a switch is noticed without it; a
        // primary that hangs without closing connections needs it (`?failoverDetector=true`).
        failoverDetector: params.get('failoverDetector') === 'true',
        sentinelRetryStrategy: (times) => reconnectDelayMs(times, 100, 2000),
        ...(scheme === 'rediss' ? { enableTLSForSentinelMode: true } : {}),
        ...(sentinelPassword !== null ? { sentinelPassword } : {}),
        ...(sentinelUsername !== null ? { sentinelUsername } : {}),
        // A demoted primary answers writes with READONLY: reconnect (asking the Sentinels again) and resend.
        reconnectOnError: (error) => (isReadOnly(error) ? 2 : false),
      },
    };
  }
  if (hosts.length !== 1) throw new ConfigError(`${JSON.stringify(url)} lists several hosts: use redis+cluster:// or redis+sentinel://`);
  if (second !== undefined) throw new ConfigError(`invalid database in Redis URL ${JSON.stringify(url)}`);
  return { kind: 'single', options: { ...baseOptions(), ...hosts[0], ...credentials, ...tls, db: parseDb(first, url) } };
}

/** Options for one server; for tools that cannot use a Cluster or Sentinel (the bench's baselines). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const target = parseRedisUrl(url);
  if (target.kind !== 'single') throw new ConfigError(`${JSON.stringify(url)} is a ${target.kind}; this tool needs one Redis server`);
  return target.options;
}

function parseAuth(auth: string | undefined): { username?: string; password?: string } {
  if (auth === undefined || auth === '') return {};
  const colon = auth.indexOf(':');
  const username = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
  const password = colon < 0 ? '' : decodeURIComponent(auth.slice(colon + 1));
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function parseHosts(list: string, url: string, defaultPort: number): { host: string; port: number }[] {
  const hosts = list.split(',').map((part) => {
    const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(part.trim());
    const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
    if (m === null || port < 1 || port > 65535) throw new ConfigError(`invalid host "${part}" in Redis URL ${JSON.stringify(url)}`);
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
    // An empty host used to mean 127.0.0.1: a URL with a forgotten variable (redis://$HOST:6379)
    // must not quietly reach whatever Redis runs locally.
    if (host === '') throw new ConfigError(`Redis URL ${JSON.stringify(url)} names no host: write it out, e.g. redis://127.0.0.1:6379`);
    return { host, port };
  });
  return hosts;
}

function parseDb(text: string | undefined, url: string): number {
  if (text === undefined) return 0;
  const db = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(db)) throw new ConfigError(`invalid database number in Redis URL ${JSON.stringify(url)}`);
  return db;
}

/** A client for `target`, not yet connected. */
function createClient(target: RedisTarget, name: string): Redis {
  if (target.kind === 'cluster') {
    const cluster = new Cluster(target.nodes, { ...target.options, redisOptions: { ...target.options.redisOptions, connectionName: name } });
    return cluster as unknown as Redis;
  }
  return new Redis({ ...target.options, connectionName: name });
}

/**
 * Longest a first connection may take: TCP connect, TLS and the ready check. Past it (a server that
 * accepts and never answers, a Sentinel set with no primary) {@link connectRedis} gives up.
 */
export const CONNECT_DEADLINE_MS = 6000;

/**
 * Opens a connection and waits until it is ready. The first connection is not retried: when it
 * fails, this throws a {@link RedisConnectError} naming the address and the cause (refused, DNS,
 * timeout, auth). Once connected, the client reconnects forever (see {@link baseOptions}).
 */
export async function connectRedis(url: string, name = 'fnrun'): Promise<Redis> {
  const redis = createClient(parseRedisUrl(url), name);
  // ioredis rejects connect() with "Connection is closed." and emits the cause as an event.
  const seen: unknown[] = [];
  let giveUp: (outcome: 'failed') => void = () => {};
  const failed = new Promise<'failed'>((resolve) => { giveUp = resolve; });
  const record = (error: unknown) => {
    if (seen.length < 20) seen.push(error);
    if (isFinalConnectError(error)) giveUp('failed');
  };
  // Reconnect errors are expected while Redis restarts; callers see failures on their commands.
  redis.on('error', () => {});
  redis.on('error', record);
  redis.on('node error', record);
  const connecting = redis.connect();
  connecting.catch(() => {});
  try {
    const outcome = await withinMs(Promise.race([connecting, failed]), CONNECT_DEADLINE_MS);
    if (outcome === 'timeout') throw connectFailure(url, seen, CONNECT_DEADLINE_MS);
    if (outcome === 'failed') throw connectFailure(url, seen, null);
  } catch (error) {
    redis.disconnect();
    throw error instanceof RedisConnectError ? error : connectFailure(url, [...seen, error], null);
  } finally {
    redis.off('error', record);
    redis.off('node error', record);
  }
  return redis;
}

/** True for a Redis Cluster client (see the module comment). */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The master nodes of a Cluster client, or the client itself: where a keyspace-wide SCAN must run. */
export function masterNodes(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
}

interface ConnectionLosses {
  count: number;
  readonly listeners: Set<() => void>;
}
const losses = new WeakMap<Redis, ConnectionLosses>();

/** Counts the connection losses of `redis` (for a Cluster, of any node), listening once per client. */
function lossesOf(redis: Redis): ConnectionLosses {
  let state = losses.get(redis);
  if (state === undefined) {
    const created: ConnectionLosses = { count: 0, listeners: new Set() };
    const bump = () => {
      created.count++;
      for (const listener of created.listeners) listener();
    };
    for (const event of isCluster(redis) ? ['node error', '-node', 'reconnecting', 'close'] : ['close', 'reconnecting']) redis.on(event, bump);
    losses.set(redis, (state = created));
  }
  return state;
}

/**
 * A counter that moves whenever `redis` may have lost a reply or a write: on every dropped
 * connection. ioredis resends unanswered commands after a reconnect, so a command can run twice,
 * or run with its reply lost; and after a failover, writes the old primary acknowledged may be
 * gone (acks among them). Readers compare the counter to know when to re-read their pending entries.
 */
export function connectionEpoch(redis: Redis): () => number {
  const state = lossesOf(redis);
  return () => state.count;
}

/** Calls `listener` on every connection loss of `redis` (see {@link connectionEpoch}). */
export function onConnectionLoss(redis: Redis, listener: () => void): void {
  lossesOf(redis).listeners.add(listener);
}

export type { Redis };

/** True when a Redis at `target` answers PING within `timeoutMs`, without retrying. */
export async function answersPing(target: { path: string } | { host: string; port: number }, timeoutMs = 500): Promise<boolean> {
  // No ready check: on a server still loading its data ioredis would wait for the load's ETA (up to
  // 10 s) before answering; a PING answers LOADING at once, so a poller simply asks again. Seen in
  // the chaos suite: a restarted primary loading its AOF was declared dead after one such probe.
  const probe = new Redis({ ...target, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableReadyCheck: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await withinMs(probe.ping(), timeoutMs)) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** Asks the server at `target` to SHUTDOWN (it writes its AOF/RDB first); resolves once the connection closed. */
export async function shutdownServer(target: { path: string } | { host: string; port: number }, timeoutMs = 2000): Promise<void> {
  const probe = new Redis({ ...target, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.call('SHUTDOWN').catch(() => {}); // no reply: the server closes the connection as it goes
  } catch {
    // gone already
  } finally {
    probe.disconnect();
  }
}
