/**
 * Why a first connection to Redis failed, in words: ioredis reports `Connection is closed.` for
 * every cause and emits the real one (ECONNREFUSED, ENOTFOUND, NOAUTH…) as an `error` event;
 * {@link connectFailure} turns those into a {@link RedisConnectError}.
 */
import { RedisConnectError, type RedisConnectFailure } from '../errors.ts';

/** `url` with its password (and a Sentinel password in the query) replaced by `***`. */
export function redactRedisUrl(url: string): string {
  return url
    .replace(/^([a-z+]+:\/\/)([^@/]*)@/, (_, scheme: string, auth: string) => {
      const colon = auth.indexOf(':');
      return colon < 0 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, colon)}:***@`;
    })
    .replace(/([?&]sentinelPassword=)[^&#]*/, '$1***');
}

/**
 * True for an error after which ioredis would keep trying without news (every Sentinel refused):
 * a first connection gives up at once.
 */
export function isFinalConnectError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('All sentinels are unreachable');
}

/** What a failure looks like from one error ioredis emitted. */
function classify(error: Error): { failure: RedisConnectFailure; detail: string } | null {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error.message ?? '';
  if (code === 'ECONNREFUSED') return { failure: 'refused', detail: 'connection refused (nothing listens there)' };
  if (code === 'ENOTFOUND') return { failure: 'dns', detail: `the host name does not resolve (DNS: ${message.replace(/^getaddrinfo /, '')})` };
  if (code === 'EAI_AGAIN') return { failure: 'dns', detail: 'the DNS lookup failed (EAI_AGAIN: no DNS server answered)' };
  if (code === 'ENOENT') return { failure: 'no-socket', detail: 'no unix socket at that path (ENOENT)' };
  if (code === 'EACCES') return { failure: 'other', detail: 'permission denied on the socket (EACCES)' };
  if (code === 'ETIMEDOUT') return { failure: 'timeout', detail: 'connecting timed out (ETIMEDOUT: a firewall, a wrong host or port, or TLS on one side only?)' };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { failure: 'timeout', detail: `no route to the host (${code})` };
  if (message.startsWith('None of startup nodes')) return { failure: 'refused', detail: 'none of the Cluster seed nodes accepted a connection' };
  if (isFinalConnectError(error)) return { failure: 'refused', detail: 'none of the Sentinels accepted a connection' };
  if (message.startsWith('NOAUTH')) return { failure: 'auth', detail: 'the server requires a password (NOAUTH)' };
  if (message.startsWith('WRONGPASS') || message.includes('invalid password')) return { failure: 'auth', detail: 'the user name or password was refused (WRONGPASS)' };
  if (message.includes('without any password configured')) return { failure: 'auth', detail: 'a password was given but the server has none configured' };
  if (code === 'EPROTO' || code?.startsWith('ERR_SSL') || /SSL|TLS|wrong version number/i.test(message)) {
    return { failure: 'tls', detail: `the TLS handshake failed (${message})` };
  }
  return null;
}

/**
 * The error for a first connection that failed: from the most telling of the `errors` ioredis
 * emitted (the last one that says a cause), or a timeout when none came within `timeoutMs`.
 */
export function connectFailure(url: string, errors: readonly unknown[], timedOutAfterMs: number | null): RedisConnectError {
  const address = redactRedisUrl(url);
  const real = errors.filter((e): e is Error => e instanceof Error);
  for (const error of [...real].reverse()) {
    const known = classify(error);
    if (known !== null) return new RedisConnectError(address, known.failure, known.detail, { cause: error });
  }
  const last = real.filter((e) => e.message !== 'Connection is closed.').at(-1);
  if (timedOutAfterMs !== null) {
    const why = last ? `; last error: ${last.message}` : ' (is it a Redis server? a TLS port needs rediss://)';
    return new RedisConnectError(address, 'timeout', `no answer within ${timedOutAfterMs / 1000} s${why}`, { cause: last });
  }
  return new RedisConnectError(address, 'other', last?.message ?? real.at(-1)?.message ?? 'the connection closed', { cause: last ?? real.at(-1) });
}
