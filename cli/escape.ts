/**
 * Text that producers, handlers or anyone with access to Redis chose — event types and keys, log
 * lines, error messages and stacks, dead-letter data, lease owners — reaches the operator's
 * terminal through the CLI. A control character in it could move the cursor, rewrite earlier
 * lines (CR), retitle the window or set the clipboard (OSC 52), so everything the CLI prints from
 * such sources goes through {@link escapeControl} (or {@link escapeControlLines} for text whose
 * line breaks are its own, such as a stack), and every JSON line through {@link jsonLine}.
 *
 * Escaped: the C0 controls (U+0000–U+001F: ESC, CR, BEL, backspace…), DEL and the C1 controls
 * (U+0080–U+009F, among them the 8-bit CSI and OSC), shown as `\x1b`, `\r`, `\u009b`.
 */

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\x1b', '\x07': '\\x07', '\b': '\\b' };

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// JSON.stringify escapes C0 already; DEL and C1 it leaves raw.
const JSON_UNESCAPED = /[\u007f-\u009f]/g;

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` on one line, with every control character (line breaks too) shown as an escape. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeOne);
}

/** As {@link escapeControl}, but keeps `\n` and `\t`: for multi-line text (stacks, manifest errors). */
export function escapeControlLines(text: string): string {
  return text.replace(CONTROL_BUT_LINES, escapeOne);
}

/** `value` as one line of JSON with no raw control character (valid JSON, same value). */
export function jsonLine(value: unknown): string {
  return escapeJsonText(JSON.stringify(value) ?? 'null');
}

/**
 * JSON text (whose C0 controls are escaped already, as JSON.stringify and pino do) with DEL and
 * the C1 controls escaped too. They only occur inside strings, where `\u009b` means the same.
 */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_UNESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
