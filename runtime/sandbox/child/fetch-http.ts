/**
 * One HTTP exchange of a fetch (one hop of its redirect chain), over node:http/https: the socket
 * connects only to the addresses checked in fetch-resolve.ts (a `lookup` that replays them), and
 * the response body is read under the size cap, decompressed (gzip, deflate, br), and cut off the
 * moment it passes the cap.
 *
 * node:http rather than undici: its per-request `lookup` pins the connection without a new
 * dependency (undici's `Agent({ connect: { lookup } })` needs the npm package: Node's bundled copy
 * is not importable), and it never reads proxy variables.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { http, https } from '../../node-http.ts';
import type { LookupFunction } from 'node:net';
import zlib from 'node:zlib';
import type { FetchTarget } from '../../policy/network-policy.ts';
import { FetchError } from './fetch-error.ts';
import type { PinnedAddress } from './fetch-resolve.ts';

/** A hop to send; `headers` are final (forbidden ones dropped, defaults added). */
export interface HopRequest {
  url: URL;
  target: FetchTarget;
  addresses: readonly PinnedAddress[];
  method: string;
  headers: readonly [string, string][];
  body: Uint8Array | null;
}

/** What came back; `body` is null when the caller did not want it (a redirect it follows). */
export interface HopResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array | null;
}

/** What a hop needs besides the request. */
export interface HopOptions {
  agents: { http: Http.Agent; https: Https.Agent };
  maxResponseBytes: number;
  /** Whether to read the body of this response; false discards it (and the connection): a redirect to follow. */
  wantBody: (status: number, headers: [string, string][]) => boolean;
  /** Fires on abort or deadline; its reason (a FetchError) is what the hop rejects with. */
  signal: AbortSignal;
}

const NO_BODY_STATUSES: ReadonlySet<number> = new Set([101, 204, 205, 304]);

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const STALE_SOCKET_CODES: ReadonlySet<unknown> = new Set(['ECONNRESET', 'EPIPE']);

/** Sends one request and reads its response; rejects with a {@link FetchError}. */
export function sendHop(hop: HopRequest, options: HopOptions): Promise<HopResponse> {
  return sendOnce(hop, options, IDEMPOTENT.has(hop.method));
}

function sendOnce(hop: HopRequest, options: HopOptions, mayRetry: boolean): Promise<HopResponse> {
  const { target, addresses, body } = hop;
  const { signal, maxResponseBytes } = options;
  const host = target.host;
  return new Promise<HopResponse>((resolve, reject) => {
    let req: Http.ClientRequest | null = null;
    let res: Http.IncomingMessage | null = null;
    let settled = false;
    const finish = (error: FetchError | null, value?: HopResponse): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== null) {
        res?.destroy();
        req?.destroy();
        reject(error);
      } else resolve(value!);
    };
    const onAbort = (): void => finish(signal.reason instanceof FetchError ? signal.reason : new FetchError('aborted', `fetch to "${host}" was aborted`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    // Replays the checked addresses only: the socket never resolves the name itself.
    const lookup: LookupFunction = (_hostname, opts, callback) => {
      const family = opts.family === 4 || opts.family === 6 ? opts.family : 0;
      const list = family === 0 ? addresses : addresses.filter((a) => a.family === family);
      if (list.length === 0) return callback(Object.assign(new Error(`no IPv${family} address for ${host}`), { code: 'ENOTFOUND' }), '', 0);
      if (opts.all) return (callback as unknown as (e: null, a: PinnedAddress[]) => void)(null, [...list]);
      callback(null, list[0]!.address, list[0]!.family);
    };
    // With headers given as an array, node:http adds no Host header: it is set here, from the URL.
    const flat: string[] = ['host', hop.url.host];
    for (const [name, value] of hop.headers) flat.push(name, value);
    try {
      req = (target.protocol === 'https:' ? https : http).request({
        host,
        port: target.port,
        path: `${hop.url.pathname}${hop.url.search}`,
        method: hop.method,
        headers: flat,
        agent: target.protocol === 'https:' ? options.agents.https : options.agents.http,
        lookup,
        ...(target.protocol === 'https:' && !target.ip ? { servername: host } : {}),
      });
    } catch (e) {
      return finish(new FetchError('invalid', `fetch to "${host}": ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
    }
    req.on('error', (e) => {
      // A pooled connection the server closed while idle fails at once, before any answer: an
      // idempotent request then goes once more on a fresh connection (as undici does).
      const r = req;
      if (mayRetry && res === null && r?.reusedSocket === true && STALE_SOCKET_CODES.has((e as { code?: unknown }).code) && !settled) {
        settled = true;
        signal.removeEventListener('abort', onAbort);
        sendOnce(hop, options, false).then(resolve, reject);
        return;
      }
      finish(networkError(host, e));
    });
    req.on('response', (response) => {
      res = response;
      const status = response.statusCode ?? 0;
      const head = { status, statusText: response.statusMessage ?? '', headers: pairs(response.rawHeaders) };
      if (!options.wantBody(status, head.headers)) {
        response.destroy();
        return finish(null, { ...head, body: null });
      }
      if (hop.method === 'HEAD' || NO_BODY_STATUSES.has(status)) {
        response.resume();
        return finish(null, { ...head, body: new Uint8Array(0) });
      }
      const declared = Number(response.headers['content-length']);
      if (declared > maxResponseBytes) return finish(tooLarge(host, maxResponseBytes, `it declares ${declared} bytes`));
      readBody(response, host, maxResponseBytes, (error, bytes) => finish(error, error === null ? { ...head, body: bytes! } : undefined));
    });
    req.end(body === null ? undefined : body);
  });
}

function readBody(response: Http.IncomingMessage, host: string, max: number, done: (error: FetchError | null, body?: Uint8Array) => void): void {
  const chunks: Buffer[] = [];
  let total = 0;
  let ended = false;
  const decoder = decoderFor(response.headers['content-encoding']);
  const out = decoder ?? response;
  out.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (total > max) {
      response.destroy();
      decoder?.destroy();
      return done(tooLarge(host, max, 'more bytes arrived'));
    }
    chunks.push(chunk);
  });
  out.on('end', () => {
    ended = true;
    const body = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      body.set(c, at);
      at += c.length;
    }
    done(null, body);
  });
  const cut = (e?: unknown): void => {
    if (!ended) done(new FetchError('network', `fetch to "${host}" failed: the connection closed before the response body ended${e instanceof Error ? ` (${e.message})` : ''}`, { cause: e }));
  };
  response.on('error', cut);
  response.on('close', () => {
    if (!response.complete) cut();
  });
  if (decoder !== null) {
    decoder.on('error', (e) => done(new FetchError('network', `fetch to "${host}" failed: the ${String(response.headers['content-encoding'])} response body could not be decoded (${e.message})`, { cause: e })));
    response.pipe(decoder);
  }
}

function decoderFor(encoding: string | undefined): zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress | null {
  // Lenient flushing, as undici does: a body cut right after its last block still decodes.
  const lenient = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip(lenient);
    case 'deflate':
      return zlib.createInflate(lenient);
    case 'br':
      return zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    default:
      return null; // identity, or an encoding fnrun does not decode: the bytes as sent
  }
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

function tooLarge(host: string, max: number, detail: string): FetchError {
  return new FetchError(
    'too-large',
    `fetch to "${host}" failed: the response body is over network.maxResponseBytes (${max} bytes; ${detail}); raise network.maxResponseBytes in the function's config or ask for less`,
  );
}

function networkError(host: string, e: Error): FetchError {
  const code = (e as { code?: unknown }).code;
  return new FetchError('network', `fetch to "${host}" failed: ${e.message}${typeof code === 'string' && !e.message.includes(code) ? ` (${code})` : ''}`, { cause: e });
}
