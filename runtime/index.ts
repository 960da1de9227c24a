/**
 * fnrun's public API. Import from `fnrun` (this file); nothing else is public.
 */
export { Runtime, type RuntimeOptions, type LoadFailure } from './runtime.ts';
export type { EnvPolicyOptions } from './loading/env-policy.ts';
export { bundleFunction, type BundleInput, type FunctionBundle } from './loading/bundler.ts';
export { RuntimeMetrics } from './ops/metrics.ts';
export { startHttpServer, type HttpOptions, type HttpEndpoint } from './ops/http-server.ts';
export type { RetentionPolicy } from './events/retention.ts';
export { Publisher, type PublisherOptions, type PublishOptions, type PublishResult, type EventInput } from './events/publisher.ts';
export { DeadLetterQueue, REPLAY_OF_HEADER } from './dead-letters/dead-letters.ts';
export { Registry, type StoredVersion, type FunctionSummary, type DeployResult } from './deploy/registry.ts';
export { deployFunctions, type DeployOptions, type DeployRow } from './deploy/deployer.ts';
export type { OwnershipOptions } from './ownership/partition-ownership.ts';
export type { DeadLetter, DeadLetterReason } from './dead-letters/dead-letter-record.ts';
export type { InvocationRecord, FunctionHandle } from './loading/function-handle.ts';
export { partitionFor } from './policy/partitioner.ts';
export {
  getStatus, type StatusOptions, type Status, type MemberStatus, type PartitionStatus, type GroupStatus,
  type FunctionStatus, type PendingEntry, type StuckEvent,
} from './ops/status.ts';
export { RateWindow, type Rates } from './policy/rate-window.ts';
export { Keys } from './redis/keys.ts';
export { DEFAULT_PARTITIONS } from './redis/namespace.ts';
export { DEFAULT_MAX_EVENT_BYTES } from './events/wire.ts';
export { createJsonLogger, type Logger } from './logger.ts';
export {
  FnrunError, ManifestError, BundleError, ConfigError, SandboxError, PayloadTooLargeError, NotReplicatedError,
  PartitionsMismatchError, InvalidEventError, NotFoundError, EnvNotAllowedError, TypecheckError, type TypeIssue, type ErrorCode,
} from './errors.ts';
export type { FnEvent, Manifest, RetryPolicy, Emit, SerializedError } from './types.ts';
export {
  defineFunction, NonRetriableError, type Context, type KeyState, type Handler, type FunctionConfig, type FunctionDefinition,
} from './sdk.ts';
export { StateStore, type StateEntries } from './state/state-store.ts';
export { STATE_LIMITS } from './state/state-limits.ts';
