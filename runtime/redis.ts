/**
 * Redis connections. `url` is `redis://…`, `rediss://…`, `unix:///path/redis.sock` or a bare socket path.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, FnrunError } from './errors.ts';

/** Connection options shared by every fnrun connection. */
function baseOptions(): RedisOptions {
  return {
    // Workers must outlive a Redis restart: queue commands and reconnect forever, with backoff.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'fnrun',
    lazyConnect: true,
  };
}

/** Parses `url` into ioredis options; throws ConfigError for anything unrecognised. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  if (url.startsWith('/') || url.startsWith('unix://')) {
    return { ...baseOptions(), path: url.startsWith('unix://') ? url.slice('unix://'.length) : url };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid Redis URL ${JSON.stringify(url)}: expected redis://host:port, rediss://host:port or a unix socket path`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`unsupported Redis URL scheme "${parsed.protocol}" in ${JSON.stringify(url)}: use redis://, rediss:// or a unix socket path`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`invalid database number in Redis URL ${JSON.stringify(url)}`);
  return {
    ...baseOptions(),
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Opens a connection and waits until it is ready. */
export async function connectRedis(url: string, name = 'fnrun'): Promise<Redis> {
  const redis = new Redis({ ...redisOptionsFromUrl(url), connectionName: name });
  // Reconnect errors are expected while Redis restarts; callers see failures on their commands.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new FnrunError('ERR_REDIS', `cannot connect to Redis at ${url}: ${(error as Error).message}`, { cause: error });
  }
  return redis;
}

export type { Redis };

/** True when a Redis at `target` answers PING within `timeoutMs`, without retrying. */
export async function answersPing(target: { path: string } | { host: string; port: number }, timeoutMs = 500): Promise<boolean> {
  const probe = new Redis({ ...target, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
