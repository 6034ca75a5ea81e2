/**
 * The `mailbox-imports` queue: each message is one chunk of a large import (shared/admin/mailboxes.ts
 * importMailboxes), written by processImportChunk. Its own queue and trigger, so an import of a
 * million rows never sits in front of a mail notification.
 */
import { IMPORT_JOB_CHUNK, processImportChunk } from '../admin/mailboxes.js';
import type { ImportChunkMessage } from '../domain/model.js';
import { DependencyError, ValidationError } from '../errors.js';
import { isImportJobId } from '../store/import-job-store.js';
import { recordDeadLettered } from '../telemetry/index.js';
import { positiveInteger } from './processor.js';
import type { Services } from './services.js';

/** The mailbox-imports queue's MaxDeliveryCount (infra/modules/servicebus.bicep, the local stand-in). */
export const IMPORT_QUEUE_MAX_DELIVERY_COUNT = 10;

export interface ImportChunkOutcome {
  jobId: string;
  chunk: number;
  accepted: number;
  unchanged: number;
}

export interface ImportDelivery {
  /** 1 on the first delivery. */
  deliveryCount?: number;
  maxDeliveryCount?: number;
  /** How long to hold a failed chunk before handing it back (tests pass 0). */
  backoffMs?: (deliveryCount: number) => number;
}

/**
 * Storage trouble (throttling on the work-queue partition, a brief outage) is waited out while
 * the message is still locked: Service Bus redelivers an abandoned message at once, so without
 * this pause ten deliveries would pass in seconds and the chunk would be dead-lettered. 2 s, 4 s,
 * 8 s … at most 30 s: about four minutes over the queue's ten deliveries (the host renews the lock).
 */
export function importBackoffMs(deliveryCount: number): number {
  return Math.min(30_000, 1_000 * 2 ** Math.max(1, deliveryCount));
}

/** Resolving completes the message; a throw abandons it (redelivered, dead-lettered after 10). */
export async function processImportChunkMessage(
  services: Pick<Services, 'controlPlane'>,
  body: unknown,
  delivery: ImportDelivery = {},
): Promise<ImportChunkOutcome> {
  const chunk = checkImportChunk(body);
  try {
    const result = await processImportChunk(services.controlPlane, chunk);
    return { jobId: chunk.jobId, chunk: chunk.chunk, accepted: result.accepted, unchanged: result.unchanged };
  } catch (error) {
    const deliveryCount = positiveInteger(delivery.deliveryCount) ?? 1;
    const last =
      deliveryCount >= (positiveInteger(delivery.maxDeliveryCount) ?? IMPORT_QUEUE_MAX_DELIVERY_COUNT);
    if (last) recordDeadLettered('import-chunk');
    else if (error instanceof DependencyError) {
      const wait = (delivery.backoffMs ?? importBackoffMs)(deliveryCount);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw error;
  }
}

export function describeImportChunkOutcome(outcome: ImportChunkOutcome): string {
  return `import ${outcome.jobId} chunk ${outcome.chunk} written: ${outcome.accepted} accepted, ${outcome.unchanged} unchanged`;
}

/** Our own message, but read from a queue: its shape is checked before anything is written. */
export function checkImportChunk(body: unknown): ImportChunkMessage {
  const m = (typeof body === 'object' && body !== null ? body : {}) as Partial<ImportChunkMessage>;
  const rowOk = (r: unknown) => {
    const row = r as Record<string, unknown> | null;
    return (
      typeof row === 'object' &&
      row !== null &&
      Number.isSafeInteger(row['row']) &&
      typeof row['email'] === 'string' &&
      (row['transport'] === 'graph' || row['transport'] === 'ews') &&
      (row['privacy'] === undefined || ['full', 'subject', 'minimal'].includes(row['privacy'] as string))
    );
  };
  if (
    m.type !== 'import-chunk' ||
    typeof m.jobId !== 'string' ||
    !isImportJobId(m.jobId) ||
    !Number.isSafeInteger(m.chunk) ||
    (m.chunk as number) < 0 ||
    !Number.isSafeInteger(m.acceptedAt) ||
    !Array.isArray(m.rows) ||
    m.rows.length > IMPORT_JOB_CHUNK ||
    !m.rows.every(rowOk)
  ) {
    throw new ValidationError('import chunk message is malformed');
  }
  return m as ImportChunkMessage;
}
