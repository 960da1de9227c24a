/**
 * Who may talk to the UI. Every refusal is a 403 whose text says why:
 *
 * - **Other origins** (CSRF from another page, in dev and in start): a request a browser marks as
 *   cross-site or same-site (`Sec-Fetch-Site`), or whose `Origin` is not the UI's own, is refused.
 *   The one exception is a top-level navigation to the page itself (a link someone clicked): it
 *   can read nothing, and the page cannot be framed (`frame-ancestors 'none'`). No CORS headers
 *   are ever sent, so other origins cannot read replies either.
 * - **DNS rebinding**: when the server listens on a loopback address, the `Host` header must name
 *   a loopback host (`127.0.0.1`, `localhost`, `[::1]`) with the server's port.
 * - **Mutations** (POST) need the session token in `x-fnrun-token` (a custom header: a browser
 *   cannot send it cross-origin without a CORS preflight, which is never granted) and a JSON body.
 *   Without a token configured (`fnrun start` with no `--ui-token`) the UI is read-only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type RequestKind = 'page' | 'read' | 'mutation';

export interface GuardOptions {
  /** Accepted `Host` values; null accepts any (the server listens on a non-loopback interface). */
  allowedHosts: ReadonlySet<string> | null;
  /** The token mutations need; null: mutations are refused (read-only). */
  token: string | null;
  /** How to get a token, for the read-only refusal. */
  readOnlyHint: string;
}

/** Host values that name this server when it listens on loopback `host`:`port`; null for other interfaces. */
export function loopbackHosts(host: string, port: number): Set<string> | null {
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) && !host.startsWith('127.')) return null;
  return new Set(['127.0.0.1', 'localhost', '[::1]', host.includes(':') ? `[${host}]` : host].map((h) => `${h}:${port}`));
}

/** Why `req` is refused, or null when it may go on. */
export function refusal(req: IncomingMessage, kind: RequestKind, opts: GuardOptions): string | null {
  const host = req.headers.host ?? '';
  if (opts.allowedHosts !== null && !opts.allowedHosts.has(host.toLowerCase())) {
    return `refused: unexpected Host header ${JSON.stringify(host)} (a guard against DNS rebinding); open the UI at http://${[...opts.allowedHosts][0]}/`;
  }
  const site = header(req, 'sec-fetch-site');
  const topLevelNavigation = kind === 'page' && header(req, 'sec-fetch-mode') === 'navigate' && header(req, 'sec-fetch-dest') === 'document';
  if (site !== null && site !== 'same-origin' && site !== 'none' && !topLevelNavigation) {
    return `refused: a ${site} request; the UI answers only its own pages`;
  }
  const origin = header(req, 'origin');
  if (origin !== null && origin !== `http://${host}` && origin !== `https://${host}`) {
    return `refused: a request from another origin (${origin}); the UI answers only its own pages`;
  }
  if (kind !== 'mutation') return null;
  if (opts.token === null) return `refused: this UI is read-only; ${opts.readOnlyHint}`;
  if (!/^application\/json\b/i.test(header(req, 'content-type') ?? '')) return 'refused: changes must be sent as application/json';
  const given = header(req, 'x-fnrun-token');
  if (given === null || !sameSecret(given, opts.token)) return 'refused: a missing or wrong UI token (header x-fnrun-token)';
  return null;
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' ? value : null;
}

/** Constant-time comparison (of digests, so lengths need not match). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
