/**
 * The one entry cli/ imports the engine through: the public API (index.ts) and the pieces only the
 * command line needs (connecting, keys, the dev loop and the registry follower, the HTTP surfaces,
 * type checks). Not public: the package's `exports` name only index.ts. The wall check
 * (scripts/check-walls.ts) keeps cli/ from reaching past it.
 */
export * from './index.ts';
export { MIN_LEASE_TTL_MS, RUNTIME_DEFAULTS } from './config.ts';
export { parseWindowBound, replayWindow } from './dead-letters/replay.ts';
export { DevSession, type DevSessionEvents } from './drivers/dev-session.ts';
export { RegistryFollower } from './drivers/registry-follower.ts';
export { formatTypeIssue, isExpectedError, RedisConnectError } from './errors.ts';
export { BackgroundTypecheck } from './loading/background-typecheck.ts';
export { discoverFunctions } from './loading/discover.ts';
export { envPatternProblem } from './loading/env-policy.ts';
export { typecheckFunctions, type TypecheckOutcome, uncoveredNote } from './loading/typecheck.ts';
export { FeedPublisher } from './ops/feed/feed-publisher.ts';
export { FEED_STATUSES, feedFilter, type FeedRecord, type FeedStatusFilter } from './ops/feed/feed-record.ts';
export { subscribeFeed } from './ops/feed/feed-subscriber.ts';
export { UiService } from './ops/ui/ui-service.ts';
export { PACKAGE_ROOT } from './package-paths.ts';
export { closestName } from './policy/closest-name.ts';
export { parseDurationMs } from './policy/duration.ts';
export { redactRedisUrl } from './redis/connect-failure.ts';
export { namespaceProblem } from './redis/keys.ts';
export { resolvePartitions } from './redis/namespace.ts';
export { answersPing, connectRedis, type Redis, shutdownServer } from './redis/redis.ts';
