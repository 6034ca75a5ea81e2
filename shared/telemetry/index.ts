/** OpenTelemetry for the app: start/stop, the `mailpush.*` metrics, trace context across the queue. */
export {
  startTelemetry,
  shutdownTelemetry,
  parseAuthenticationString,
  type TelemetryOptions,
} from './start.js';
export { setMeterProviderForTests, telemetryActive, METER_NAME } from './meter.js';
export { recordGraphResponse, statusClassOf } from './metrics.js';
export {
  measureWebhook,
  recordWebhookIngest,
  recordChangeOutcome,
  recordPushOutcomes,
  meterPushProvider,
  recordDeadLettered,
} from './recorders.js';
export { countMaintenanceRun, recordMaintenanceMetrics, countExpiringWithin } from './maintenance-metrics.js';
export { rememberTraceContext, traceApplicationProperties, withQueueMessageSpan } from './trace-context.js';
