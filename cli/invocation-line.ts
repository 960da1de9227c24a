/**
 * One readable line per invocation for `fnrun dev`, and pretty log lines. Event types, keys, log
 * messages and errors come from producers and handlers: they are escaped (escape.ts), so a line
 * stays one line and cannot drive the terminal.
 */
import type { InvocationRecord } from '../runtime/internal.ts';
import { palette, type Palette } from './color.ts';
import { escapeControl, escapeControlLines } from './escape.ts';

const PLAIN = palette(false);

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/**
 * `12:00:01.123 count-posts  post.created key=thread-42  1.2ms  ok` (+ the mapped stack on failures),
 * and the fetches the attempt made: `  fetch api.example.com 201 12ms, evil.example refused 0ms`.
 */
export function formatInvocation(r: InvocationRecord, paint: Palette = PLAIN, now = Date.now()): string {
  const type = r.type === null ? '(malformed)' : escapeControl(r.type);
  const key = r.key === null ? '-' : escapeControl(r.key);
  const head = `${paint.dim(clock(now))} ${r.function.padEnd(18)} ${type.padEnd(18)} key=${key}  ${r.durationMs.toFixed(1)}ms`;
  const fetches = fetchText(r, paint);
  switch (r.status) {
    case 'ok':
      return `${head}  ${paint.green('ok')}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}${fetches}`;
    case 'retry':
      return `${head}  ${paint.yellow(`retry ${r.attempt} in ${r.retryInMs}ms`)}${fetches}  ${errorText(r)}`;
    case 'dead-lettered':
      return `${head}  ${paint.red(`dead-lettered after ${r.attempt} attempt(s)`)}${fetches}  ${errorText(r)}`;
    case 'dropped':
      return `${head}  ${paint.red(`dropped after ${r.attempt} attempt(s) (deadLetter: false)`)}${fetches}  ${errorText(r)}`;
  }
}

/** Fetches shown on one line; the rest are counted. */
const FETCHES_SHOWN = 3;

function fetchText(r: InvocationRecord, paint: Palette): string {
  const all = r.fetches;
  if (all === undefined || all.length === 0) return '';
  const shown = all.slice(0, FETCHES_SHOWN).map((f) => {
    // The host comes from the handler's URL: escaped like every other handler-chosen text.
    const outcome = f.status !== null ? String(f.status) : paint.red(f.error ?? 'failed');
    return `${escapeControl(f.host || '(bad URL)')} ${outcome} ${f.durationMs.toFixed(0)}ms${f.redirects > 0 ? ` (${f.redirects} redirect${f.redirects > 1 ? 's' : ''})` : ''}`;
  });
  const more = all.length > FETCHES_SHOWN ? ` +${all.length - FETCHES_SHOWN} more` : '';
  return `  ${paint.dim('fetch')} ${shown.join(', ')}${more}`;
}

function errorText(r: InvocationRecord): string {
  if (!r.error) return '';
  const stack = r.error.stack && r.error.stack.includes('\n') ? `\n${indent(r.error.stack.split('\n').slice(1).join('\n'))}` : '';
  return `${escapeControl(r.error.name)}: ${escapeControl(r.error.message)}${stack}`;
}

function indent(text: string): string {
  return escapeControlLines(text).split('\n').map((l) => `      ${l.trim()}`).join('\n');
}

/** A handler's log line: `12:00:01.124 count-posts  › info post p1 in thread thread-42`. */
export function formatLog(fn: string, level: string, msg: string, time: number, paint: Palette = PLAIN): string {
  const tag = level === 'error' ? paint.red(level) : level === 'warn' ? paint.yellow(level) : paint.dim(level);
  return `${paint.dim(clock(time))} ${fn.padEnd(18)} › ${tag} ${escapeControl(msg)}`;
}
