/** Subscription renewal: pure planning and the run loop, behind ports (see ../ports.ts). */
export {
  RENEWAL_BUCKET_MS,
  renewalBucketOf,
  renewalBucketStart,
  nextRenewalBucket,
  isRenewalBucket,
} from './buckets.js';
export {
  hashJitter,
  randomJitter,
  newExpiry,
  renewalAnchor,
  renewalDueAt,
  type JitterSource,
  type ExpiryOptions,
} from './expiry.js';
export {
  DEFAULT_RENEWAL_OPTIONS,
  GRAPH_MAX_BATCH_SIZE,
  resolveRenewalOptions,
  type RenewalOptions,
} from './options.js';
export { classifyOutcome, forbiddenReason, retryBackoffMs, type OutcomeKind } from './outcomes.js';
export {
  planRenewals,
  comparePriority,
  mustSendAlone,
  type PlanOptions,
  type PlannedBatch,
  type PlannedRenewal,
  type RenewalPlan,
} from './plan.js';
export {
  runRenewalPass,
  scheduleEntryFor,
  type RenewalPassDeps,
  type RenewalReport,
  type RenewalStop,
} from './pass.js';
export {
  TokenBucket,
  TenantBudgets,
  DEFAULT_WRITE_BUDGET,
  bucketParameters,
  type WriteBudget,
} from './token-bucket.js';
export { InMemoryRenewalSchedule, InMemoryLeaseStore } from './in-memory.js';
