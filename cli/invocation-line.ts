/**
 * One readable line per invocation for `fnrun dev`, and pretty log lines.
 */
import type { InvocationRecord } from '../runtime/loading/function-handle.ts';

const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** `12:00:01.123 count-posts  post.created key=thread-42  1.2ms  ok` (+ the mapped stack on failures). */
export function formatInvocation(r: InvocationRecord, now = Date.now()): string {
  const head = `${paint(2, clock(now))} ${r.function.padEnd(18)} ${(r.type ?? '(malformed)').padEnd(18)} key=${r.key ?? '-'}  ${r.durationMs.toFixed(1)}ms`;
  switch (r.status) {
    case 'ok':
      return `${head}  ${paint(32, 'ok')}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}`;
    case 'retry':
      return `${head}  ${paint(33, `retry ${r.attempt} in ${r.retryInMs}ms`)}  ${errorText(r)}`;
    case 'dead-lettered':
      return `${head}  ${paint(31, `dead-lettered after ${r.attempt} attempt(s)`)}  ${errorText(r)}`;
    case 'dropped':
      return `${head}  ${paint(31, `dropped after ${r.attempt} attempt(s) (deadLetter: false)`)}  ${errorText(r)}`;
  }
}

function errorText(r: InvocationRecord): string {
  if (!r.error) return '';
  const stack = r.error.stack && r.error.stack.includes('\n') ? `\n${indent(r.error.stack.split('\n').slice(1).join('\n'))}` : '';
  return `${r.error.name}: ${r.error.message}${stack}`;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `      ${l.trim()}`).join('\n');
}

/** A handler's log line: `12:00:01.124 count-posts  › info post p1 in thread thread-42`. */
export function formatLog(fn: string, level: string, msg: string, time: number): string {
  const tag = level === 'error' ? paint(31, level) : level === 'warn' ? paint(33, level) : paint(2, level);
  return `${paint(2, clock(time))} ${fn.padEnd(18)} › ${tag} ${msg}`;
}
