/**
 * The ambient fetch types for function authors (types/fetch.d.ts) compile against a handler that
 * uses them, with only ES2024 (no DOM, no Node types), and reject misuse.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// What the sandbox's URL globals provide, reduced to what fetch.d.ts refers to.
const URL_GLOBALS = `
declare class URL { constructor(url: string, base?: string); readonly href: string; }
declare class URLSearchParams { constructor(init?: string | Record<string, string>); toString(): string; }
declare class DOMException extends Error { constructor(message?: string, name?: string); }
`;

const GOOD = `
export async function handler(): Promise<number> {
  const c = new AbortController();
  const r = await fetch('https://api.example.com/x', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }), signal: c.signal });
  const h = new Headers([['x', '1']]);
  h.append('y', '2');
  for (const [name, value] of h) void [name.length, value.length];
  const again = await fetch(new Request(new URL('https://api.example.com/'), { body: new URLSearchParams({ q: '1' }), method: 'PUT' }));
  const data = (await r.json()) as { n: number };
  const made = new Response(new Uint8Array([1]), { status: 201 });
  AbortSignal.timeout(10).addEventListener('abort', () => undefined, { once: true });
  return data.n + again.status + (r.ok ? 1 : 0) + made.status + (await made.arrayBuffer()).byteLength + (r.headers.get('x')?.length ?? 0);
}
`;

const BAD = `
export async function misuse(): Promise<void> {
  await fetch(42);
  await fetch('https://x', { redirect: 'sometimes' });
  const r = await fetch('https://x');
  r.body;
  new AbortSignal();
}
`;

function typecheck(source: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-types-'));
  try {
    writeFileSync(join(dir, 'url-globals.d.ts'), URL_GLOBALS);
    writeFileSync(join(dir, 'handler.ts'), source);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2024', lib: ['es2024'], types: [], strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler', skipLibCheck: false },
      files: [join(ROOT, 'types/fetch.d.ts'), join(dir, 'url-globals.d.ts'), join(dir, 'handler.ts')],
    }));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a handler using fetch, Headers, Request, Response and AbortController type-checks', () => {
  const r = typecheck(GOOD);
  assert.equal(r.status, 0, r.output);
});

test('misuse is a type error (a number URL, a bad redirect mode, a stream body, constructing a signal)', () => {
  const r = typecheck(BAD);
  assert.notEqual(r.status, 0);
  for (const line of [3, 4, 6, 7]) assert.match(r.output, new RegExp(`handler\\.ts\\(${line},`), r.output);
  assert.equal(r.output.match(/error TS/g)?.length, 4, r.output);
});
