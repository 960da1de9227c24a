/** Plain-text tables for command output: left-aligned columns, two spaces apart. */
import { escapeControl } from './escape.ts';

/**
 * Formats `rows` under `headers`; the last column is not padded (it may be long). Cells often hold
 * what producers chose (keys, types, errors): each is escaped, so a row stays one line.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => r.map(escapeControl));
  const widths = headers.map((h, c) => Math.max(h.length, ...cells.map((r) => (r[c] ?? '').length)));
  const line = (row: readonly string[]) =>
    row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}
