/**
 * The embedded Redis of `fnrun dev` (a real redis-server from PATH): its socket lives in a private
 * folder of the current user, is found by `fnrun emit`/`dlq` (runningEmbeddedRedis), and a folder
 * or socket of another user is refused rather than trusted.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { embeddedDataDir, runningEmbeddedRedis, startEmbeddedRedis } from '../../cli/embedded-redis.ts';

const root = mkdtempSync(path.join(tmpdir(), 'fnrun-embedded-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const mode = (p: string) => lstatSync(p).mode & 0o777;
const isRoot = process.getuid?.() === 0;
/** A uid that is not ours, for folders and sockets "of another user" (needs root to chown). */
const OTHER_UID = 65534;

function project(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

test('a short project path: the socket is in .fnrun/redis, which is 0700, and emit finds it', async () => {
  const cwd = project('short');
  // What fnrun before this change left behind: a data folder open to every user.
  mkdirSync(embeddedDataDir(cwd), { recursive: true, mode: 0o755 });
  chmodSync(embeddedDataDir(cwd), 0o755);
  const redis = await startEmbeddedRedis(embeddedDataDir(cwd));
  try {
    const socket = path.join(embeddedDataDir(cwd), 'redis.sock');
    assert.equal(redis.url, `unix://${socket}`);
    assert.equal(mode(embeddedDataDir(cwd)), 0o700, 'the data folder is tightened to 0700');
    assert.ok(lstatSync(socket).isSocket());
    assert.equal(lstatSync(socket).uid, process.getuid!());
    assert.equal(await runningEmbeddedRedis(cwd), redis.url);
  } finally {
    await redis.stop();
  }
  assert.equal(await runningEmbeddedRedis(cwd), null, 'nothing answers once it stopped');
});

test('a deep project path: the socket is in a fresh 0700 temp folder, recorded in .fnrun/redis, removed on stop', async () => {
  const cwd = project(`deep/${'d'.repeat(60)}/${'e'.repeat(60)}`);
  const redis = await startEmbeddedRedis(embeddedDataDir(cwd));
  let socket = '';
  try {
    socket = redis.url.slice('unix://'.length);
    assert.ok(Buffer.byteLength(socket) < 100, socket);
    assert.ok(path.basename(path.dirname(socket)).startsWith('fnrun-redis-'), socket);
    assert.notEqual(path.dirname(socket), tmpdir(), 'never directly in the shared temp dir');
    assert.equal(mode(path.dirname(socket)), 0o700);
    assert.equal(readFileSync(path.join(embeddedDataDir(cwd), 'socket-path'), 'utf8').trim(), socket);
    assert.equal(await runningEmbeddedRedis(cwd), redis.url);
  } finally {
    await redis.stop();
  }
  assert.equal(existsSync(path.dirname(socket)), false, 'the temp folder is removed');
  assert.equal(existsSync(path.join(embeddedDataDir(cwd), 'socket-path')), false, 'and its record');
  assert.equal(await runningEmbeddedRedis(cwd), null);
});

test('a data folder that is a symlink (to a folder someone else controls) is refused', async () => {
  const cwd = project('symlinked');
  const elsewhere = project('elsewhere');
  mkdirSync(path.join(cwd, '.fnrun'));
  symlinkSync(elsewhere, embeddedDataDir(cwd));
  await assert.rejects(startEmbeddedRedis(embeddedDataDir(cwd)), { code: 'ERR_CONFIG', message: /redis must be a folder of yours .* it is a symbolic link; remove it, or pass --redis URL/ });
  await assert.rejects(runningEmbeddedRedis(cwd), { code: 'ERR_CONFIG', message: /symbolic link/ });
});

test('a socket at the embedded path that is not a socket of ours is refused, by dev and by emit', async () => {
  const cwd = project('not-a-socket');
  mkdirSync(embeddedDataDir(cwd), { recursive: true, mode: 0o700 });
  const socket = path.join(embeddedDataDir(cwd), 'redis.sock');
  symlinkSync('/tmp/somewhere.sock', socket);
  await assert.rejects(startEmbeddedRedis(embeddedDataDir(cwd)), { code: 'ERR_CONFIG', message: /redis\.sock should be the embedded Redis socket but is not a socket/ });
  await assert.rejects(runningEmbeddedRedis(cwd), { code: 'ERR_CONFIG', message: /is not a socket/ });
});

test('a folder or socket of another user is refused, never talked to', { skip: isRoot ? false : 'needs root to make files of another user' }, async () => {
  const theirs = project('theirs');
  mkdirSync(embeddedDataDir(theirs), { recursive: true, mode: 0o700 });
  chownSync(embeddedDataDir(theirs), OTHER_UID, OTHER_UID);
  await assert.rejects(startEmbeddedRedis(embeddedDataDir(theirs)), { code: 'ERR_CONFIG', message: /belongs to another user \(uid 65534\)/ });
  await assert.rejects(runningEmbeddedRedis(theirs), { code: 'ERR_CONFIG', message: /belongs to another user \(uid 65534\)/ });

  // Our folder, but a socket another user bound there (a server posing as the embedded Redis).
  const cwd = project('squatted');
  mkdirSync(embeddedDataDir(cwd), { recursive: true, mode: 0o700 });
  const socket = path.join(embeddedDataDir(cwd), 'redis.sock');
  const server: Server = createServer((c) => c.end('+PONG\r\n'));
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  try {
    chownSync(socket, OTHER_UID, OTHER_UID);
    await assert.rejects(runningEmbeddedRedis(cwd), { code: 'ERR_CONFIG', message: /the socket .*redis\.sock belongs to another user \(uid 65534\)/ });
    await assert.rejects(startEmbeddedRedis(embeddedDataDir(cwd)), { code: 'ERR_CONFIG', message: /belongs to another user/ });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
