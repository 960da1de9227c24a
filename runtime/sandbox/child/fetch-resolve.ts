/**
 * Name resolution for fetch, done here rather than by the socket so that every address is checked
 * against the policy before connecting, and the connection then goes to a checked address (the
 * socket gets a lookup that only replays them): a name cannot resolve to a public address for the
 * check and to 169.254.169.254 for the connection (DNS rebinding).
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { addressRefusal, type AllowRule, type FetchTarget, type NetworkPolicy } from '../../policy/network-policy.ts';
import { FetchError } from './fetch-error.ts';

/** One checked address. */
export interface PinnedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Where names are resolved. Default: the system resolver (`getaddrinfo`, so /etc/hosts too).
 * With `servers` (`'127.0.0.1:5353'`, `'[::1]:53'`), DNS queries (A and AAAA) go to those servers only.
 */
export interface ResolverOptions {
  servers?: readonly string[];
  /** Per query, with `servers`. @defaultValue `5000` */
  timeoutMs?: number;
}

/** Resolves a host to all its addresses (never empty), or throws a FetchError of kind `dns`. */
export type Resolve = (host: string, signal: AbortSignal) => Promise<PinnedAddress[]>;

const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'EAI_NONAME', 'EAI_NODATA', 'ENONAME']);

function dnsFailure(host: string, error: unknown): FetchError {
  const code = (error as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' && NO_ANSWER.has(code) ? 'the name does not resolve' : `DNS lookup failed (${typeof code === 'string' ? code : String(error)})`;
  return new FetchError('dns', `fetch to "${host}" failed: ${detail}`, { cause: error });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort?.();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      onAbort?.();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

/** The resolver `options` describe (see {@link ResolverOptions}). */
export function createResolve(options: ResolverOptions = {}): Resolve {
  const servers = options.servers;
  if (servers === undefined || servers.length === 0) {
    return async (host, signal) => {
      let found: { address: string; family: number }[];
      try {
        found = await raceAbort(dns.lookup(host, { all: true, order: 'verbatim' }), signal);
      } catch (e) {
        if (signal.aborted) throw e;
        throw dnsFailure(host, e);
      }
      const out = found.filter((a) => a.family === 4 || a.family === 6) as PinnedAddress[];
      if (out.length === 0) throw dnsFailure(host, Object.assign(new Error('no address'), { code: 'ENODATA' }));
      return out;
    };
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  return async (host, signal) => {
    // One resolver per lookup: cancel() cancels every query of a resolver, not just this one.
    const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
    resolver.setServers([...servers]);
    const settled = await raceAbort(Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]), signal, () => resolver.cancel());
    const out: PinnedAddress[] = [];
    for (const [i, r] of settled.entries()) if (r.status === 'fulfilled') for (const address of r.value) out.push({ address, family: i === 0 ? 4 : 6 });
    if (out.length === 0) throw dnsFailure(host, settled[0]!.status === 'rejected' ? settled[0]!.reason : undefined);
    return out;
  };
}

/** RFC 6761: `localhost` is the loopback interface; it is never sent to a resolver. */
const LOCALHOST: readonly PinnedAddress[] = Object.freeze([
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
]);

/**
 * The addresses to connect to for `target`, every one allowed by the policy.
 *
 * @throws FetchError `refused` naming the first address that is not allowed (one bad address
 *   refuses the whole name: a name answering both public and private addresses is not trusted)
 */
export async function resolveTarget(policy: NetworkPolicy, rule: AllowRule, target: FetchTarget, resolve: Resolve, signal: AbortSignal): Promise<PinnedAddress[]> {
  let addresses: readonly PinnedAddress[];
  if (target.ip) addresses = [{ address: target.host, family: isIP(target.host) === 6 ? 6 : 4 }];
  else if (target.host === 'localhost') addresses = LOCALHOST;
  else addresses = await resolve(target.host, signal);
  for (const a of addresses) {
    const why = addressRefusal(policy, target, rule, a.address);
    if (why !== null) throw new FetchError('refused', why);
  }
  return [...addresses];
}
