/**
 * The request to send after a redirect, per the Fetch standard's "HTTP-redirect fetch"
 * (https://fetch.spec.whatwg.org/#http-redirect-fetch). Whether the new URL may be fetched at all
 * is decided again, per hop, by the network policy.
 */

/** A request as the fetch executor sends it; `body` is already buffered, so it can be replayed. */
export interface RedirectableRequest<B> {
  url: string;
  method: string;
  headers: [string, string][];
  body: B | null;
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Dropped when a redirect turns the request into a GET without a body. */
const BODY_HEADERS: ReadonlySet<string> = new Set(['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length']);
/** Dropped when a redirect leaves the origin: credentials meant for the first host. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** True for the statuses a redirect is followed on (with a Location header). */
export function isRedirectStatus(status: number): boolean {
  return REDIRECT_STATUSES.has(status);
}

/**
 * The next hop's request, or a string saying why the redirect cannot be followed.
 *
 * - 301/302 after a POST, and 303 after anything but GET/HEAD, become a GET without a body;
 *   307/308 keep the method and the body.
 * - Leaving the origin (scheme, host or port change) drops Authorization, Cookie and
 *   Proxy-Authorization.
 */
export function redirectRequest<B>(request: RedirectableRequest<B>, status: number, location: string): RedirectableRequest<B> | string {
  let next: URL;
  try {
    next = new URL(location, request.url);
  } catch {
    return `the redirect's Location "${location.slice(0, 200)}" is not a valid URL`;
  }
  const previous = new URL(request.url);
  if (next.hash === '' && previous.hash !== '') next.hash = previous.hash;
  let { method, body, headers } = request;
  if (((status === 301 || status === 302) && method === 'POST') || (status === 303 && method !== 'GET' && method !== 'HEAD')) {
    method = 'GET';
    body = null;
    headers = headers.filter(([name]) => !BODY_HEADERS.has(name.toLowerCase()));
  }
  if (next.origin !== previous.origin) headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase()));
  return { url: next.href, method, headers, body };
}
