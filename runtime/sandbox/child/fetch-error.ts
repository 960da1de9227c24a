/**
 * Why a handler's fetch failed. A `TypeError`, as the Fetch standard makes every network error;
 * `kind` tells the shim which error to rebuild inside the isolate (an AbortError for `aborted`)
 * and the metrics what to count.
 */

/**
 * - `refused`: the URL or an address it resolves to is not allowed (network.allow, SSRF rules);
 * - `invalid`: the request itself is wrong (scheme, method, header, credentials in the URL);
 * - `dns`: the name does not resolve; `network`: connecting, TLS or the exchange failed;
 * - `too-large`: a body is over network.maxRequestBytes / maxResponseBytes;
 * - `redirect`: too many redirects, a bad Location, or `redirect: 'error'`;
 * - `aborted`: the caller's signal fired (the handler aborted, or its invocation ended);
 * - `timeout`: the invocation's deadline passed.
 */
export type FetchErrorKind = 'refused' | 'invalid' | 'dns' | 'network' | 'too-large' | 'redirect' | 'aborted' | 'timeout';

/** A failed fetch; the message names the host and, for a policy refusal, the manifest field. */
export class FetchError extends TypeError {
  readonly kind: FetchErrorKind;
  constructor(kind: FetchErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TypeError';
    this.kind = kind;
  }
}
