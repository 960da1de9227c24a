/**
 * The I/O the fetch scenario waits on: an HTTP server on 127.0.0.1 answering every request after
 * `delayMs` with a small JSON body, keep-alive, in the bench's own process (not the scenario's).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Requests answered so far. */
  readonly answered: number;
  close(): Promise<void>;
}

export async function startSlowServer(delayMs: number): Promise<SlowServer> {
  let answered = 0;
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      answered++;
    }, delayMs);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    get answered() { return answered; },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
