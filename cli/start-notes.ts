/** What `fnrun start` says when it has nothing to run. */
import { redactRedisUrl } from '../runtime/internal.ts';

/** The warning for a start with no deployed function. */
export function nothingDeployedMessage(namespace: string, redisUrl: string): string {
  return `no functions are deployed in namespace "${namespace}" of the Redis at ${redactRedisUrl(redisUrl)}: ` +
    `deploy them with fnrun deploy --redis <the same URL> --namespace ${namespace}; this process picks them up within a second, without a restart`;
}
