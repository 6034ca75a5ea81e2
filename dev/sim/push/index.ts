/** Local stand-ins for push services (no vitest import: the local runner may use them). */
export {
  startNotificationHubsSim,
  type NotificationHubsSim,
  type NotificationHubsSimOptions,
  type SimInstallation,
  type SimSend,
  type SimRequestLog,
  type FailNextOptions,
  type HubOperation,
} from './notification-hubs-sim.js';
export {
  startPushGatewaySim,
  type PushGatewaySim,
  type PushGatewaySimOptions,
  type GatewayPush,
  type GatewayRequest,
} from './push-gateway-sim.js';
export { parseTagExpression, matchesTagExpression, TagExpressionError } from './tag-expression.js';
