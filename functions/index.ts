/**
 * Entry point of the function app (package.json `main`). Importing a function module registers
 * it with the Functions host (and with the local runner's list).
 */
import { closeServices, validateSettingsAtStartup } from '../shared/app/services.js';
import { onHostTerminate } from '../shared/hosting/registry.js';
import { shutdownTelemetry, startTelemetry } from '../shared/telemetry/index.js';
import './notifications-post.js';
import './lifecycle-post.js';
import './subscription-maintenance.js';
import './notification-processor.js';
import './mailbox-import-processor.js';
import './devices-post.js';
import './devices-delete.js';
import './manage-mailboxes-list.js';
import './manage-mailboxes-post.js';
import './manage-mailboxes-import.js';
import './manage-import-get.js';
import './manage-mailbox-get.js';
import './manage-mailbox-patch.js';
import './manage-mailbox-delete.js';
import './manage-migration-get.js';
import './manage-migration-put.js';
import './manage-migration-retry-failed.js';
import './manage-status-get.js';
import './manage-connectivity-test-post.js';
import './manage-console-get.js';

// A bad or missing setting stops the worker here, before any function runs, with one message
// naming every problem (values of secrets never shown).
validateSettingsAtStartup();
// Off (nothing loaded) without APPLICATIONINSIGHTS_CONNECTION_STRING; never stops the worker.
void startTelemetry();
onHostTerminate(closeServices);
onHostTerminate(shutdownTelemetry);
