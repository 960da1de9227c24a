import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { envPolicy } from '../../cli/env-options.ts';
import { ConfigError, EnvNotAllowedError } from '../../runtime/errors.ts';
import { EnvAccess, envPatternProblem } from '../../runtime/loading/env-policy.ts';

const host = { STRIPE_KEY: 'sk', STRIPE_WEBHOOK_SECRET: 'wh', API_TOKEN: 'tok', HOME: '/root', FNRUN_REDIS_URL: 'redis://secret' };

test('nothing is allowed by default: a declared name fails the load, naming it, the function and the flag', () => {
  const access = new EnvAccess({ env: host });
  assert.deepEqual(access.resolve('billing', 'functions/billing.ts', []), {});
  assert.throws(() => access.resolve('billing', 'functions/billing.ts', ['STRIPE_KEY', 'HOME']), (e: unknown) => {
    assert.ok(e instanceof EnvNotAllowedError);
    assert.equal(e.code, 'ERR_ENV_NOT_ALLOWED');
    assert.equal(e.userError, true);
    assert.deepEqual(e.names, ['STRIPE_KEY', 'HOME']);
    assert.equal(e.message, 'function "billing" (functions/billing.ts) declares env STRIPE_KEY, HOME, which the operator did not allow; start fnrun with --allow-env STRIPE_KEY --allow-env HOME or define them in an --env-file (library: allowEnv: ["STRIPE_KEY", "HOME"])');
    return true;
  });
});

test('exact names and * globs allow names; only declared names are passed, unset ones left out', () => {
  const access = new EnvAccess({ env: host, allowEnv: ['STRIPE_*', 'API_TOKEN', 'MISSING'] });
  assert.deepEqual(access.resolve('f', 'f.ts', ['STRIPE_KEY', 'API_TOKEN', 'MISSING']), { STRIPE_KEY: 'sk', API_TOKEN: 'tok' });
  for (const yes of ['STRIPE_KEY', 'STRIPE_', 'API_TOKEN']) assert.equal(access.allows(yes), true, yes);
  for (const no of ['STRIPE', 'API_TOKEN2', 'HOME', 'XSTRIPE_KEY']) assert.equal(access.allows(no), false, no);
  const globs = new EnvAccess({ env: {}, allowEnv: ['*_KEY', 'A*B*C', '*'.repeat(3)] });
  assert.equal(globs.allows('ANY_KEY'), true);
  assert.equal(new EnvAccess({ env: {}, allowEnv: ['A*B*C'] }).allows('AXBYC'), true);
  assert.equal(new EnvAccess({ env: {}, allowEnv: ['A*B*C'] }).allows('ACB'), false);
  assert.equal(new EnvAccess({ env: {}, allowEnv: ['AB*BA'] }).allows('ABA'), false, 'head and tail do not overlap');
});

test('FNRUN_* is never visible, whatever the allow-list says', () => {
  const access = new EnvAccess({ env: host, allowEnv: ['*', 'FNRUN_REDIS_URL'] });
  assert.equal(access.allows('FNRUN_REDIS_URL'), false);
  assert.equal(access.allows('HOME'), true);
  assert.throws(() => access.resolve('f', 'f.ts', ['HOME', 'FNRUN_REDIS_URL']), {
    code: 'ERR_ENV_NOT_ALLOWED',
    message: 'function "f" (f.ts) declares env FNRUN_REDIS_URL: fnrun\'s own variables (FNRUN_*) are never visible to functions; remove it from its env',
  });
});

test('validation (fnrun deploy) allows every name but fnrun\'s own and gives no values', () => {
  const access = EnvAccess.forValidation();
  assert.deepEqual(access.resolve('f', 'f.ts', ['HOME', 'STRIPE_KEY']), {});
  assert.throws(() => access.resolve('f', 'f.ts', ['FNRUN_NAMESPACE']), EnvNotAllowedError);
});

test('allow-list entries must be able to match a variable name', () => {
  for (const ok of ['STRIPE_*', '*', 'A1_B']) assert.equal(envPatternProblem(ok), undefined, ok);
  assert.equal(envPatternProblem(''), 'it is empty');
  assert.match(envPatternProblem('stripe_*')!, /^it contains "s"; environment variable names are upper-case letters/);
  assert.throws(() => new EnvAccess({ allowEnv: ['A B'] }), (e: unknown) => e instanceof ConfigError && /^invalid allowEnv entry "A B": it contains " "/.test(e.message));
});

const dir = mkdtempSync(path.join(tmpdir(), 'fnrun-env-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('--env-file: what it defines is allowed; the process environment wins on a conflict; later files win', () => {
  const a = path.join(dir, 'a.env');
  const b = path.join(dir, 'b.env');
  writeFileSync(a, '# secrets\nFROM_FILE=one\nSHARED=file\nlower_case=x\nexport QUOTED="a b"\nFNRUN_REDIS_URL=redis://nope\n');
  writeFileSync(b, 'FROM_FILE=two\n');
  const policy = envPolicy({ 'env-file': [a, b], 'allow-env': ['STRIPE_*'] }, { SHARED: 'process', STRIPE_KEY: 'sk', HOME: '/root' });
  const access = new EnvAccess(policy);
  assert.deepEqual(access.resolve('f', 'f.ts', ['FROM_FILE', 'SHARED', 'QUOTED', 'STRIPE_KEY']), { FROM_FILE: 'two', SHARED: 'process', QUOTED: 'a b', STRIPE_KEY: 'sk' });
  assert.throws(() => access.resolve('f', 'f.ts', ['HOME']), /declares env HOME, which the operator did not allow/);
  assert.throws(() => access.resolve('f', 'f.ts', ['FNRUN_REDIS_URL']), /never visible/);
});

test('--env-file and --allow-env errors are one line naming the flag', () => {
  assert.throws(() => envPolicy({ 'env-file': [path.join(dir, 'missing.env')] }), (e: unknown) => e instanceof ConfigError && /^--env-file .*missing\.env: cannot read it \(ENOENT\)$/.test(e.message));
  assert.throws(() => envPolicy({ 'allow-env': ['stripe'] }), (e: unknown) => e instanceof ConfigError && /^--allow-env "stripe" is invalid: it contains "s"/.test(e.message));
  assert.deepEqual(envPolicy({}, {}), { env: {}, allowEnv: [] });
});
