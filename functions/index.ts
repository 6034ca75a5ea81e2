/**
 * Entry point of the function app (package.json `main`). Importing a function module registers
 * it with the Functions host (and with the local runner's list).
 */
import { validateSettingsAtStartup } from '../shared/app/services.js';
import './notifications-post.js';
import './lifecycle-post.js';
import './subscription-maintenance.js';
import './notification-processor.js';
import './devices-post.js';
import './devices-delete.js';

// A bad or missing setting stops start-up here with one message naming every problem.
validateSettingsAtStartup();
