/**
 * Large imports in the control table: PartitionKey = `import-<job id>`, RowKey `job` (the upload's
 * summary) or `chunk-<n>` (what each written chunk did). An operator's progress read is one
 * single-partition query, whatever the size of the upload. Each document is one JSON property
 * (Table Storage caps a string property at 64 KiB: the job keeps at most 200 invalid rows; the
 * upload's own answer lists up to 5,000).
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { ImportChunkResult, ImportJob, ImportJobStore } from '../domain/ports.js';
import { DependencyError } from '../errors.js';
import { assertValidKey } from './keys.js';
import { storageError } from './table-errors.js';

/** Invalid rows kept with the job (the 202 answer itself reports up to 5,000). */
export const MAX_STORED_IMPORT_ERRORS = 200;
const JOB_ROW = 'job';
const JOB_ID = /^[0-9a-f]{32}$/;

export function isImportJobId(value: string): boolean {
  return JOB_ID.test(value);
}

export class TableImportJobStore implements ImportJobStore {
  constructor(private readonly client: TableClient) {}

  async putJob(job: ImportJob): Promise<void> {
    const stored: ImportJob =
      job.errors.length > MAX_STORED_IMPORT_ERRORS
        ? { ...job, errors: job.errors.slice(0, MAX_STORED_IMPORT_ERRORS), truncated: true }
        : job;
    try {
      await this.client.upsertEntity(
        { partitionKey: partitionOf(job.id), rowKey: JOB_ROW, json: JSON.stringify(stored) },
        'Replace',
      );
    } catch (err) {
      throw storageError('writing an import job', err);
    }
  }

  async putChunkResult(jobId: string, result: ImportChunkResult): Promise<void> {
    try {
      await this.client.upsertEntity(
        { partitionKey: partitionOf(jobId), rowKey: chunkRow(result.chunk), json: JSON.stringify(result) },
        'Replace',
      );
    } catch (err) {
      throw storageError('writing an import chunk result', err);
    }
  }

  async getJob(id: string): Promise<{ job: ImportJob; chunks: ImportChunkResult[] } | undefined> {
    let job: ImportJob | undefined;
    const chunks: ImportChunkResult[] = [];
    try {
      const entities = this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${partitionOf(id)}` },
      });
      for await (const entity of entities) {
        const value = parse(entity);
        if (entity['rowKey'] === JOB_ROW) job = value as ImportJob;
        else chunks.push(value as ImportChunkResult);
      }
    } catch (err) {
      if (err instanceof DependencyError) throw err;
      throw storageError('reading an import job', err);
    }
    return job ? { job, chunks } : undefined;
  }
}

function partitionOf(jobId: string): string {
  if (!isImportJobId(jobId)) throw new DependencyError('table-storage', 'import job id is malformed');
  return assertValidKey(`import-${jobId}`, 'import job id');
}

function chunkRow(chunk: number): string {
  return `chunk-${String(chunk).padStart(6, '0')}`;
}

function parse(entity: Record<string, unknown>): unknown {
  const json = entity['json'];
  if (typeof json !== 'string')
    throw new DependencyError('table-storage', 'import job document is malformed');
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new DependencyError('table-storage', 'import job document is not JSON', { cause: err });
  }
}
