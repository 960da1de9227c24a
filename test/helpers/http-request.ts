/**
 * One HTTP request with exactly the headers given (node:http: fetch would not let a test set
 * `Host`, `Origin` or `Sec-Fetch-*` as a hostile page or a rebinding DNS name would).
 */
import { request } from 'node:http';

export interface RawReply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end(opts.body);
  });
}
