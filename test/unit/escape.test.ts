import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeControl, escapeControlLines, escapeJsonText, jsonLine } from '../../cli/escape.ts';
import { colorEnabled, palette } from '../../cli/color.ts';
import { formatInvocation, formatLog } from '../../cli/invocation-line.ts';
import { formatTable } from '../../cli/table.ts';

// Every control a terminal acts on: C0 (ESC, CR, BEL, BS, NUL…), DEL, and C1 (8-bit CSI, OSC, ST).
const CONTROLS = [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i)].map((c) => String.fromCharCode(c));
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

test('escapeControl leaves no control character, and names the common ones', () => {
  for (const c of CONTROLS) assert.doesNotMatch(escapeControl(`a${c}b`), RAW_CONTROL, `U+${c.charCodeAt(0).toString(16)}`);
  assert.equal(escapeControl('\x1b]52;c;aGk=\x07'), '\\x1b]52;c;aGk=\\x07');
  assert.equal(escapeControl('\x1b[2J\rok\n'), '\\x1b[2J\\rok\\n');
  assert.equal(escapeControl('\u009b31m \u009d0;title\u009c'), '\\u009b31m \\u009d0;title\\u009c');
  assert.equal(escapeControl('\x00\x7f\b\t'), '\\x00\\x7f\\b\\t');
  assert.equal(escapeControl('thread-42 · café ✓'), 'thread-42 · café ✓', 'printable text, Unicode included, is untouched');
});

test('escapeControlLines keeps line breaks and tabs, escapes the rest', () => {
  assert.equal(escapeControlLines('Error: x\n    at f (a.ts:1:2)\x1b[0m\r'), 'Error: x\n    at f (a.ts:1:2)\\x1b[0m\\r');
  assert.equal(escapeControlLines('a\tb'), 'a\tb');
  for (const c of CONTROLS.filter((c) => c !== '\n' && c !== '\t')) assert.doesNotMatch(escapeControlLines(c), RAW_CONTROL);
});

test('jsonLine and escapeJsonText: valid JSON, same value, no raw control character', () => {
  const value = { key: CONTROLS.join(''), nested: ['\u009b2J', '\x7f'] };
  const line = jsonLine(value);
  assert.doesNotMatch(line, RAW_CONTROL);
  assert.deepEqual(JSON.parse(line), value);
  const pinoLike = '{"msg":"\\u001b[2J \u009b2J \u007f"}';
  assert.deepEqual(JSON.parse(escapeJsonText(pinoLike)), JSON.parse(pinoLike));
  assert.doesNotMatch(escapeJsonText(pinoLike), RAW_CONTROL);
  assert.equal(jsonLine(undefined), 'null');
});

test('dev lines escape what producers and handlers chose; colours only wrap fnrun\'s own words', () => {
  const record = {
    function: 'f', version: 'v', partition: 0, eventId: '1-0', type: 'evil.\x1b]0;pwned\x07', key: 'k\r\x1b[2K', attempt: 1,
    status: 'dead-lettered' as const, durationMs: 1,
    error: { name: 'Error\x1b[31m', message: 'boom\u009b2J', stack: 'Error: boom\n    at h (functions/f.ts:2:3)\x1b]52;c;eA==\x07', kind: 'handler' },
    fetches: [{ host: 'x\x1b]0;t\x07.example', rule: null, status: null, error: 'refused' as const, redirects: 0, durationMs: 0 }],
  };
  for (const paint of [palette(false), palette(true)]) {
    const text = [formatInvocation(record, paint, 0), formatLog('f', 'info', 'line\x1b]52;c;aGk=\x07\nforged line', 0, paint)].join('\n');
    // With colours on, the only escape sequences left are SGR colours.
    assert.doesNotMatch(text.replace(/\x1b\[\d+m/g, '').replaceAll('\n', ''), RAW_CONTROL);
    assert.match(text, /evil\.\\x1b\]0;pwned\\x07/);
    assert.match(text, /key=k\\r\\x1b\[2K/);
    assert.match(text, /line\\x1b\]52;c;aGk=\\x07\\nforged line/, 'a log message stays on one line');
    assert.match(text, /at h \(functions\/f\.ts:2:3\)\\x1b\]52/);
    assert.match(text, /fetch(\x1b\[\d+m)? x\\x1b\]0;t\\x07\.example /, 'a fetched host is escaped too');
  }
  assert.match(formatInvocation({ ...record, status: 'ok', error: undefined }, palette(true), 0), /\x1b\[32mok\x1b\[0m/);
  assert.doesNotMatch(formatInvocation({ ...record, status: 'ok', error: undefined }, palette(false), 0), /\x1b/);
});

test('table cells are escaped, so a row stays one line', () => {
  const table = formatTable(['KEY', 'TYPE'], [['a\nb', 'x\x1b[2J']]);
  assert.equal(table.split('\n').length, 2);
  assert.match(table, /a\\nb\s+x\\x1b\[2J/);
});

test('colours: a terminal gets them; --no-color, NO_COLOR and TERM=dumb remove them; FORCE_COLOR forces them', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.equal(colorEnabled(tty, false, {}), true);
  assert.equal(colorEnabled(pipe, false, {}), false);
  assert.equal(colorEnabled(tty, true, {}), false, '--no-color');
  assert.equal(colorEnabled(tty, false, { NO_COLOR: '1' }), false);
  assert.equal(colorEnabled(tty, false, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  assert.equal(colorEnabled(tty, false, { TERM: 'dumb' }), false);
  assert.equal(colorEnabled(pipe, false, { FORCE_COLOR: '1' }), true);
  assert.equal(colorEnabled(tty, false, { FORCE_COLOR: '0' }), false);
  assert.equal(colorEnabled(pipe, true, { FORCE_COLOR: '1' }), false, 'the flag wins');
  assert.equal(colorEnabled(tty, false, { NO_COLOR: '1', FORCE_COLOR: '1' }), false, 'NO_COLOR wins over FORCE_COLOR');
});
