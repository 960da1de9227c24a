/**
 * Executes a handler's fetch in the sandbox process, under the function's network policy: deny by
 * default, every hop's URL and every resolved address checked (fetch-resolve.ts), connections
 * pinned to the checked addresses, redirects followed by hand and re-checked, bodies capped, and
 * the whole request bounded by the caller's signal and deadline. Proxy variables are never read.
 *
 * One executor per function instance (isolate): it holds the keep-alive agents, so a pooled
 * socket is only ever reused under the policy that checked its address, and the concurrency cap.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { http, https } from '../../node-http.ts';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { isRedirectStatus, redirectRequest, type RedirectableRequest } from '../../policy/fetch-redirect.ts';
import { matchTarget, refusalReason, targetLabel, type AllowRule, type NetworkPolicy } from '../../policy/network-policy.ts';
import { FetchError, type FetchErrorKind } from './fetch-error.ts';
import { sendHop } from './fetch-http.ts';
import { checkRequest, finalHeaders, linkAbort, normaliseMethod, withoutHash } from './fetch-request.ts';
import { createResolve, resolveTarget, type Resolve, type ResolverOptions } from './fetch-resolve.ts';

/** A request as plain data (what crosses from the isolate). */
export interface FetchRequestData {
  url: string;
  /** A token; GET, HEAD, POST, PUT, DELETE and OPTIONS are matched case-insensitively and sent uppercase. */
  method: string;
  headers: [string, string][];
  body: Uint8Array | null;
  /** @defaultValue `'follow'`; `'manual'` returns a 3xx as is; `'error'` fails on one. */
  redirect?: 'follow' | 'manual' | 'error';
}

/** A response as plain data; `url` is the final URL (without fragment). */
export interface FetchResponseData {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
  url: string;
  redirected: boolean;
}

/** What the metrics need, reported once per fetch, success or not. */
export interface FetchRecord {
  /** The first URL's host, with its port when not the scheme's default ('' when the URL did not parse). Unbounded: label metrics by `rule`. */
  host: string;
  /** The `network.allow` entry that allowed the first URL; null when it was refused. */
  rule: string | null;
  /** The final status; null when the fetch failed. */
  status: number | null;
  /** Why it failed; null when a response came back (whatever its status). */
  error: FetchErrorKind | null;
  redirects: number;
  /** Wall time including DNS, queueing for a slot and every hop, in ms (fractional). */
  durationMs: number;
}

/** Per-call options. */
export interface FetchCallOptions {
  /** Aborts the fetch (kind `aborted`): the handler's AbortSignal, or the end of its invocation. */
  signal?: AbortSignal;
  /** Epoch ms after which the fetch fails with kind `timeout` (the invocation's deadline; a function when it may move). */
  deadline?: number | (() => number);
  onRecord?: (record: FetchRecord) => void;
}

/** Executor options. */
export interface FetchExecutorOptions {
  /** @defaultValue the system resolver */
  resolver?: ResolverOptions;
  /** Extra trusted CA certificates (PEM) for https, besides Node's bundled ones. */
  ca?: string | readonly string[];
}

/** Runs fetches for one function instance; {@link close} when the instance goes away. */
export class FetchExecutor {
  readonly #policy: NetworkPolicy;
  readonly #resolve: Resolve;
  readonly #agents: { http: Http.Agent; https: Https.Agent };
  readonly #waiting: (() => void)[] = [];
  #active = 0;

  constructor(policy: NetworkPolicy, options: FetchExecutorOptions = {}) {
    this.#policy = policy;
    this.#resolve = createResolve(options.resolver);
    // Idle pooled sockets close after 4 s, before the 5 s keep-alive timeout common on servers
    // (Node's included), so a request rarely meets a socket the server is closing.
    const common = { keepAlive: true, maxSockets: policy.maxConcurrent, scheduling: 'lifo' as const, timeout: 4_000 };
    // `ca` replaces Node's bundled roots, so they are passed along.
    const ca = options.ca === undefined ? undefined : [...(typeof options.ca === 'string' ? [options.ca] : options.ca)];
    this.#agents = { http: new http.Agent(common), https: new https.Agent({ ...common, ...(ca ? { ca: [...tls.rootCertificates, ...ca] } : {}) }) };
  }

  /** Requests running now (at most `maxConcurrent`); more wait. */
  get active(): number {
    return this.#active;
  }

  /**
   * Executes one fetch.
   *
   * @throws FetchError (a TypeError) whose `kind` says why; a refused host's message names it and `network.allow`
   */
  async execute(request: FetchRequestData, options: FetchCallOptions = {}): Promise<FetchResponseData> {
    const started = performance.now();
    const record: FetchRecord = { host: '', rule: null, status: null, error: null, redirects: 0, durationMs: 0 };
    const controller = new AbortController();
    const stop = linkAbort(controller, options);
    let holding = false;
    try {
      const first = checkRequest(request);
      record.host = targetLabel(first.target);
      const firstRule = matchTarget(this.#policy, first.target);
      if (firstRule === null) throw new FetchError('refused', refusalReason(this.#policy, first.target));
      record.rule = firstRule.entry;
      if (request.body !== null && request.body.byteLength > this.#policy.maxRequestBytes) {
        throw new FetchError('too-large', `fetch to "${first.target.host}" refused: the request body is ${request.body.byteLength} bytes, over network.maxRequestBytes (${this.#policy.maxRequestBytes}); raise it in the function's config or send less`);
      }
      await this.#acquire(controller.signal);
      holding = true;
      const response = await this.#follow(request, firstRule, record, controller.signal);
      record.status = response.status;
      return response;
    } catch (e) {
      const error = controller.signal.aborted && controller.signal.reason instanceof FetchError ? controller.signal.reason : e;
      record.error = error instanceof FetchError ? error.kind : 'network';
      throw error instanceof FetchError ? error : new FetchError('network', `fetch failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      stop();
      if (holding) this.#release();
      record.durationMs = performance.now() - started;
      options.onRecord?.(record);
    }
  }

  /** Destroys pooled connections; fetches still running fail. Idempotent. */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  async #follow(request: FetchRequestData, firstRule: AllowRule, record: FetchRecord, signal: AbortSignal): Promise<FetchResponseData> {
    const mode = request.redirect ?? 'follow';
    let current: RedirectableRequest<Uint8Array> = { url: request.url, method: normaliseMethod(request.method), headers: request.headers, body: request.body };
    let rule = firstRule;
    for (let hop = 0; ; hop++) {
      const { url, target } = checkRequest(current);
      if (hop > 0) {
        const r = matchTarget(this.#policy, target);
        if (r === null) throw new FetchError('refused', `fetch to "${record.host}" was redirected; ${refusalReason(this.#policy, target)}`);
        rule = r;
      }
      const addresses = await resolveTarget(this.#policy, rule, target, this.#resolve, signal);
      const redirects = (status: number, headers: [string, string][]): boolean => mode !== 'manual' && isRedirectStatus(status) && locationOf(headers) !== undefined;
      const response = await sendHop(
        { url, target, addresses, method: current.method, headers: finalHeaders(current), body: current.body },
        { agents: this.#agents, maxResponseBytes: this.#policy.maxResponseBytes, signal, wantBody: (status, headers) => !redirects(status, headers) },
      );
      if (response.body !== null) {
        return { status: response.status, statusText: response.statusText, headers: response.headers, body: response.body, url: withoutHash(url), redirected: hop > 0 };
      }
      if (mode === 'error') throw new FetchError('redirect', `fetch to "${target.host}" was redirected (${response.status}) and the request says redirect: 'error'`);
      if (hop >= this.#policy.maxRedirects) {
        throw new FetchError('redirect', `fetch to "${record.host}" failed: more than network.maxRedirects (${this.#policy.maxRedirects}) redirects; raise it in the function's config if this chain is expected`);
      }
      const next = redirectRequest(current, response.status, locationOf(response.headers)!);
      if (typeof next === 'string') throw new FetchError('redirect', `fetch to "${target.host}" failed: ${next}`);
      current = next;
      record.redirects = hop + 1;
    }
  }

  async #acquire(signal: AbortSignal): Promise<void> {
    if (this.#active < this.#policy.maxConcurrent) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.#active++;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(wake);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(wake);
    });
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}

function locationOf(headers: readonly [string, string][]): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === 'location') return value;
  return undefined;
}
