/**
 * A MeterProvider with an InMemoryMetricExporter, registered as the app's meter for a test
 * (setMeterProviderForTests), and an in-memory tracer with W3C propagation for trace tests.
 */
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { setMeterProviderForTests } from '../../../shared/telemetry/index.js';

export interface MetricPoint {
  attributes: Attributes;
  /** Counter or gauge value; a histogram's count. */
  value: number;
  /** Histograms: sum of the recorded values. */
  sum?: number;
}

export interface MetricsHarness {
  /** Every exported point of `name` (cumulative since the harness started). */
  points(name: string): Promise<MetricPoint[]>;
  names(): Promise<string[]>;
  stop(): Promise<void>;
}

export function installMetrics(): MetricsHarness {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  setMeterProviderForTests(provider);
  const collect = async () => {
    exporter.reset();
    await reader.forceFlush();
    return exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  };
  return {
    async points(name) {
      const metrics = (await collect()).filter((m) => m.descriptor.name === name);
      return metrics.flatMap((m) =>
        (m.dataPoints as DataPoint<number | Histogram>[]).map((p) =>
          typeof p.value === 'number'
            ? { attributes: p.attributes, value: p.value }
            : { attributes: p.attributes, value: p.value.count, sum: p.value.sum },
        ),
      );
    },
    async names() {
      return [...new Set((await collect()).map((m) => m.descriptor.name))].sort();
    },
    async stop() {
      setMeterProviderForTests(undefined);
      await provider.shutdown();
    },
  };
}

export function total(points: readonly MetricPoint[], where: Attributes = {}): number {
  return points
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}

export interface TracingHarness {
  exporter: InMemorySpanExporter;
  stop(): Promise<void>;
}

/** Global tracer provider, async-local context and W3C propagator, as the Azure Monitor distro registers them. */
export function installTracing(): TracingHarness {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    exporter,
    async stop() {
      trace.disable();
      propagation.disable();
      context.disable();
      await provider.shutdown();
    },
  };
}
