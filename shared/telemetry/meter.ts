/**
 * The app's meter. Instruments come from the global OpenTelemetry meter provider (registered by
 * startTelemetry), or from one a test sets. Without either they are the API's no-op instruments,
 * so recording costs next to nothing when telemetry is off.
 */
import { metrics, type Meter, type MeterProvider } from '@opentelemetry/api';

export const METER_NAME = 'mailpush';

let testProvider: MeterProvider | undefined;

/**
 * Records into `provider` instead of the global one (tests: a MeterProvider with an
 * InMemoryMetricExporter). `undefined` goes back to the global provider.
 */
export function setMeterProviderForTests(provider: MeterProvider | undefined): void {
  testProvider = provider;
}

/** True once something other than the API's no-op provider would receive the metrics. */
let enabled = false;
export function markTelemetryEnabled(on: boolean): void {
  enabled = on;
}
export function telemetryActive(): boolean {
  return enabled || testProvider !== undefined;
}

/**
 * Instruments built by `build` for the current provider, rebuilt when the provider changes (the
 * metrics API has no proxy provider: an instrument made before registration stays a no-op).
 */
export function cachedInstruments<T>(build: (meter: Meter) => T): () => T {
  let provider: MeterProvider | undefined;
  let instruments: T | undefined;
  return () => {
    const current = testProvider ?? metrics.getMeterProvider();
    if (instruments === undefined || current !== provider) {
      provider = current;
      instruments = build(current.getMeter(METER_NAME));
    }
    return instruments;
  };
}
