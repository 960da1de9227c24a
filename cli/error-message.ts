/**
 * The one line `fnrun` prints for an expected error. The runtime's messages name library options
 * (`partitions: 16`) and cannot know how the address was chosen; here they are said in the CLI's
 * terms (`--partitions 16`) with a hint on what to do.
 */
import { type FnrunError, PartitionsMismatchError, RedisConnectError } from '../runtime/internal.ts';
import { escapeControlLines } from './escape.ts';
import { redisDefaultedTo } from './options.ts';

/** What to print after `fnrun: ` for an expected error. */
export function formatExpectedError(error: FnrunError): string {
  return escapeControlLines(cliMessage(error));
}

function cliMessage(error: FnrunError): string {
  if (error instanceof PartitionsMismatchError) {
    return `namespace "${error.namespace}" has ${error.stored} partitions in this Redis, but --partitions ${error.configured} was given: ` +
      `pass --partitions ${error.stored} (or leave the flag out), or use another --namespace`;
  }
  if (error instanceof RedisConnectError) return `${error.message}; ${redisHint(error)}`;
  return error.message;
}

function redisHint(error: RedisConnectError): string {
  const defaulted = redisDefaultedTo();
  if (defaulted !== null && error.failure !== 'auth') {
    return `no --redis or FNRUN_REDIS_URL was given, and no fnrun dev runs in this folder, so fnrun tried ${defaulted}: ` +
      'pass --redis URL (or set FNRUN_REDIS_URL), or run this command in the folder of a running fnrun dev';
  }
  switch (error.failure) {
    case 'refused':
      return 'is Redis running there? Check the host and port of --redis (or FNRUN_REDIS_URL)';
    case 'no-socket':
      return 'is Redis (or fnrun dev) running? Check the socket path given to --redis';
    case 'dns':
      return 'check the host name in --redis (or FNRUN_REDIS_URL)';
    case 'timeout':
      return 'check the host, the port and any firewall in between; a TLS server needs rediss://, a plain one redis://';
    case 'auth':
      return 'give the credentials in the URL: redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port for an ACL user';
    case 'tls':
      return 'use rediss:// only for a TLS port, and redis:// for a plain one';
    case 'other':
      return 'check --redis (or FNRUN_REDIS_URL)';
  }
}
