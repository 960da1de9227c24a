/**
 * The UI's page and assets. The front-end (`ui/app/`, Preact and uPlot) is bundled with esbuild
 * on the first request and kept in memory, so it runs from the source tree with no build step and
 * works offline: nothing is loaded from anywhere but this server.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { FnrunError } from '../../errors.ts';

export interface UiAssets {
  js: string;
  css: string;
  /** Short content hash, for cache-busting asset URLs. */
  etag: string;
}

const ENTRY = path.join('ui', 'app', 'main.tsx');

/** The package folder holding `ui/app/` (looked up, so it is found from `runtime/` and from a built `dist/` alike). */
function uiRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, ENTRY))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new FnrunError('ERR_INTERNAL', `the UI's sources (${ENTRY}) are missing from the fnrun package; reinstall it`);
    dir = parent;
  }
}

let bundled: Promise<UiAssets> | null = null;

/** The bundled front-end; built once per process. */
export function uiAssets(): Promise<UiAssets> {
  bundled ??= bundleUi().catch((error: unknown) => {
    bundled = null; // let a later request try again
    throw error;
  });
  return bundled;
}

async function bundleUi(): Promise<UiAssets> {
  const root = uiRoot();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: 'out',
    entryNames: 'app',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const css = result.outputFiles.find((f) => f.path.endsWith('.css'));
  if (!js || !css) throw new FnrunError('ERR_INTERNAL', 'bundling the UI produced no script or no style sheet');
  return { js: js.text, css: css.text, etag: js.hash.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) };
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The page: no inline script or style (the CSP forbids them); settings travel in meta tags. */
export function pageHtml(opts: { base: string; mode: 'dev' | 'start'; namespace: string; token: string | null; etag: string }): string {
  const meta = (name: string, value: string) => `<meta name="fnrun-${name}" content="${escapeAttr(value)}">`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>fnrun · ${escapeAttr(opts.namespace)}</title>
${meta('base', opts.base)}
${meta('mode', opts.mode)}
${meta('namespace', opts.namespace)}
${opts.token === null ? '' : meta('token', opts.token)}
<link rel="icon" href="${opts.base}assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${opts.base}assets/app.css?v=${opts.etag}">
<script type="module" src="${opts.base}assets/app.js?v=${opts.etag}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The fnrun UI needs JavaScript.</noscript>
</body>
</html>
`;
}

/** The favicon: a small lambda-like mark, drawn in currentColor-independent colours. */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f5bd3"/><path d="M9 25 L15 13 L12 7 H16 L23 25 H19 L15.5 16 L13 25 Z" fill="#fff"/></svg>`;

/** Headers of every UI response: nothing may run but our own script, and nothing may frame us. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});
