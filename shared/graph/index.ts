export {
  GRAPH_VERSION,
  createGraphClient,
  graphClientSettings,
  type GraphCall,
  type GraphClient,
  type GraphClientOptions,
  type GraphClientSettings,
  type GraphResponse,
  type HttpMethod,
  type RetryOptions,
} from './client.js';
export {
  MAX_BATCH_MEMBERS,
  chunk,
  planMemberRetry,
  type BatchMember,
  type BatchMemberResult,
  type BatchOptions,
  type MemberRetryPlan,
} from './batch.js';
export {
  FORBIDDEN_ACCESS_POLICY,
  FORBIDDEN_CONSENT,
  FORBIDDEN_SUBSCRIPTION_LIMIT,
  GRAPH_DEPENDENCY,
  GraphRequestError,
  RETRYABLE_STATUSES,
  forbiddenReason,
  hasGraphStatus,
  isGraphRequestError,
  parseRetryAfter,
  readGraphErrorBody,
  type GraphErrorBody,
  type GraphRequestErrorDetails,
} from './errors.js';
export {
  GraphSubscriptions,
  MAX_CLIENT_STATE_LENGTH,
  MAX_MESSAGE_SUBSCRIPTION_MINUTES,
  MAX_RICH_MESSAGE_SUBSCRIPTION_MINUTES,
  inboxMessagesResource,
  maxSubscriptionExpiration,
  type CreateSubscriptionInput,
  type CreatedSubscription,
  type GraphSubscription,
  type RenewBatchOptions,
  type RenewalItem,
  type RenewalResult,
} from './subscriptions.js';
export {
  isSyncStateLost,
  syncInboxDelta,
  type DeltaMessage,
  type InboxDeltaOptions,
  type InboxDeltaResult,
} from './delta.js';
export { DEFAULT_MESSAGE_SELECT, getMessage, type MailMessage } from './messages.js';
export { GraphClientFactory, type GraphClientFactoryOptions, type TenantGraphClients } from './tenants.js';
export {
  GraphDirectory,
  GraphLifecyclePort,
  GraphMessageSource,
  GraphSubscriptionRenewal,
  classifyMailboxFailure,
} from './adapters.js';
