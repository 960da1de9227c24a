/**
 * A real HTTP server on 127.0.0.1 (port 0) for fetch tests, with a few routes:
 *
 * - `/echo` (any method): 200, JSON `{ method, url, headers, body }` of what arrived;
 * - `/status/NNN?text=…`: that status and status text;
 * - `/redirect?to=URL&status=302`: a redirect;
 * - `/bytes?n=N`: N bytes with a Content-Length; `/gzip`: gzip-encoded JSON;
 * - `/stream`: 64 KiB chunks without end until the client goes away (counted in `streamsCut`);
 * - `/hang`: no answer until `release()` (requests counted in `hanging`; ones the client
 *   dropped first in `hangsCut`);
 * - `/stats`: JSON `{ hanging, hangsCut, streamsCut }`, for code that cannot see this object.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface TestHttpServer {
  port: number;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Method and URL of every request, in order. */
  requests: { method: string; url: string; headers: Record<string, string | string[] | undefined> }[];
  hanging: number;
  hangsCut: number;
  streamsCut: number;
  /** Answers every hanging request with 200 "released". */
  release(): void;
  close(): Promise<void>;
}

export async function startHttpServer(): Promise<TestHttpServer> {
  const hung = new Set<ServerResponse>();
  const state: TestHttpServer = {
    port: 0, origin: '', requests: [], hanging: 0, hangsCut: 0, streamsCut: 0,
    release() {
      for (const res of hung) res.end('released');
      hung.clear();
    },
    close: async () => {
      state.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => route(req, res, Buffer.concat(chunks), state, hung));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.origin = `http://127.0.0.1:${state.port}`;
  return state;
}

function route(req: IncomingMessage, res: ServerResponse, body: Buffer, state: TestHttpServer, hung: Set<ServerResponse>): void {
  const url = new URL(req.url ?? '/', 'http://x');
  state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
  const path = url.pathname;
  if (path === '/echo') {
    res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes', 'set-cookie': ['a=1', 'b=2'] });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') }));
  } else if (path.startsWith('/status/')) {
    res.writeHead(Number(path.slice(8)), url.searchParams.get('text') ?? undefined, { 'content-type': 'text/plain' });
    res.end(`status ${path.slice(8)}`);
  } else if (path === '/redirect') {
    res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/echo' });
    res.end('redirecting');
  } else if (path === '/bytes') {
    const n = Number(url.searchParams.get('n'));
    res.writeHead(200, { 'content-length': String(n), 'content-type': 'application/octet-stream' });
    res.end(Buffer.alloc(n, 0x61));
  } else if (path === '/gzip') {
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
    res.end(gzipSync(JSON.stringify({ compressed: true, pad: 'x'.repeat(10_000) })));
  } else if (path === '/stream') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => state.streamsCut++);
    pump();
  } else if (path === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hanging: state.hanging, hangsCut: state.hangsCut, streamsCut: state.streamsCut }));
  } else if (path === '/hang') {
    state.hanging++;
    hung.add(res);
    res.on('close', () => {
      if (!res.writableEnded) state.hangsCut++;
      hung.delete(res);
    });
  } else {
    res.writeHead(404);
    res.end('no such route');
  }
}
