/**
 * Starts OpenTelemetry with the Azure Monitor exporter, once per worker, when
 * APPLICATIONINSIGHTS_CONNECTION_STRING is set. Without it nothing is loaded or started: the
 * metric calls go to the API's no-op meter and no span is made.
 *
 * Authentication is Entra ID with the function app's user-assigned identity (AZURE_CLIENT_ID, or
 * the ClientId in APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD;ClientId=…`, which
 * Bicep sets for the Functions host's own telemetry); the resource has local auth disabled.
 */
import type { TokenCredential } from '@azure/identity';
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import { ensureError } from '../errors.js';
import { markTelemetryEnabled } from './meter.js';

export interface TelemetryOptions {
  env?: Record<string, string | undefined>;
  /** Extra readers (the benchmark counts exports with one); the Azure Monitor exporter is always added. */
  metricReaders?: MetricReader[];
  /** Overrides the managed-identity credential (a local sink needs none). */
  credential?: TokenCredential | null;
  log?: (line: string) => void;
}

export type TelemetryState = 'off' | 'on' | 'failed';

let started: Promise<TelemetryState> | undefined;

/** Idempotent; never throws (telemetry must not stop the worker): a failure is logged and counted as off. */
export function startTelemetry(options: TelemetryOptions = {}): Promise<TelemetryState> {
  started ??= start(options);
  return started;
}

async function start(options: TelemetryOptions): Promise<TelemetryState> {
  const env = options.env ?? process.env;
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!connectionString) return 'off';
  const log = options.log ?? ((line: string) => console.warn(line));
  try {
    const credential =
      options.credential === null ? undefined : (options.credential ?? (await entraCredential(env)));
    // Loaded only when on: the SDK is large and a worker without telemetry should not pay for it.
    const { useAzureMonitor } = await import('@azure/monitor-opentelemetry');
    useAzureMonitor({
      azureMonitorExporterOptions: { connectionString, ...(credential ? { credential } : {}) },
      // The Functions host already reports requests, dependencies and its own metrics.
      enableStandardMetrics: false,
      enableLiveMetrics: false,
      instrumentationOptions: { http: { enabled: false }, azureSdk: { enabled: false } },
      ...(options.metricReaders ? { metricReaders: options.metricReaders } : {}),
    });
    markTelemetryEnabled(true);
    return 'on';
  } catch (error) {
    log(
      `telemetry: could not start the Azure Monitor exporter, running without: ${ensureError(error).message}`,
    );
    return 'failed';
  }
}

/** Exports what is pending and stops the SDK (host terminate). A no-op when it was never started. */
export async function shutdownTelemetry(): Promise<void> {
  const state = await started;
  started = undefined;
  if (state !== 'on') return;
  markTelemetryEnabled(false);
  const { shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry');
  await shutdownAzureMonitor();
}

/** The managed identity named by the settings; undefined (instrumentation-key auth) when none is. */
async function entraCredential(
  env: Record<string, string | undefined>,
): Promise<TokenCredential | undefined> {
  const auth = parseAuthenticationString(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  const clientId = auth.clientId ?? env.AZURE_CLIENT_ID?.trim();
  if (!auth.aad && !clientId) return undefined;
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/** `Authorization=AAD;ClientId=<guid>` (either order, any case of the keys). */
export function parseAuthenticationString(value: string | undefined): { aad: boolean; clientId?: string } {
  const fields = new Map<string, string>();
  for (const part of (value ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const clientId = fields.get('clientid');
  return { aad: fields.get('authorization')?.toUpperCase() === 'AAD', ...(clientId ? { clientId } : {}) };
}
