/**
 * Mailbox work queue: PartitionKey = kind (`create` | `migrate`), RowKey = due time (13-digit
 * epoch ms) + `~` + address. The next batch is one single-partition range query
 * (`RowKey lt '<now>~'`), oldest first, whatever the number of mailboxes: timer paths never scan
 * the mailboxes table.
 */
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import type { WorkItem, WorkKind, WorkQueuePort } from '../domain/ports.js';
import { DependencyError, ValidationError } from '../errors.js';
import { normaliseEmail } from './keys.js';
import { storageError } from './table-errors.js';

export const WORK_QUEUE_TABLE_SUFFIX = 'mailboxwork';

const KINDS: readonly WorkKind[] = ['create', 'migrate'];
/** Table Storage: at most 100 operations per entity-group transaction, one partition each. */
const MAX_TRANSACTION = 100;
const MAX_PAGE_SIZE = 1_000;

/** The RowKey of a work item: sorts by due time, then by address. */
export function workKeyFor(dueAt: number, email: string): string {
  if (!Number.isSafeInteger(dueAt) || dueAt < 0)
    throw new ValidationError('work item due time must be epoch ms');
  return `${dueAt.toString().padStart(13, '0')}~${normaliseEmail(email)}`;
}

export class TableWorkQueueStore implements WorkQueuePort {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  async due(kind: WorkKind, now: number, limit: number): Promise<WorkItem[]> {
    checkKind(kind);
    if (!(limit > 0)) return [];
    const upper = `${Math.floor(now).toString().padStart(13, '0')}~\uffff`;
    const out: WorkItem[] = [];
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter: odata`PartitionKey eq ${kind} and RowKey le ${upper}` },
        })
        .byPage({ maxPageSize: Math.min(MAX_PAGE_SIZE, limit) });
      for await (const page of pages) {
        for (const entity of page) {
          out.push(readItem(kind, entity));
          if (out.length >= limit) return out;
        }
      }
    } catch (err) {
      if (err instanceof DependencyError) throw err;
      throw storageError(`reading the ${kind} work queue`, err);
    }
    return out;
  }

  async put(items: readonly WorkItem[]): Promise<void> {
    for (const kind of KINDS) {
      const ofKind = items.filter((item) => item.kind === kind);
      for (let i = 0; i < ofKind.length; i += MAX_TRANSACTION) {
        const actions: TransactionAction[] = ofKind.slice(i, i + MAX_TRANSACTION).map((item) => [
          'upsert',
          {
            partitionKey: kind,
            rowKey: item.key,
            email: normaliseEmail(item.email),
            dueAt: new Date(item.dueAt).toISOString(),
          },
          'Replace',
        ]);
        try {
          await this.client.submitTransaction(actions);
        } catch (err) {
          throw storageError(`writing ${actions.length} ${kind} work item(s)`, err);
        }
      }
    }
  }

  async remove(kind: WorkKind, key: string): Promise<void> {
    checkKind(kind);
    try {
      await this.client.deleteEntity(kind, key);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw storageError(`removing a ${kind} work item`, err);
    }
  }

  async count(kind: WorkKind): Promise<number> {
    checkKind(kind);
    let n = 0;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter: odata`PartitionKey eq ${kind}`, select: ['RowKey'] },
        })
        .byPage({ maxPageSize: MAX_PAGE_SIZE });
      for await (const page of pages) n += page.length;
    } catch (err) {
      throw storageError(`counting the ${kind} work queue`, err);
    }
    return n;
  }
}

function checkKind(kind: WorkKind): void {
  if (!KINDS.includes(kind)) throw new ValidationError(`work kind must be create or migrate`);
}

function readItem(kind: WorkKind, entity: Record<string, unknown>): WorkItem {
  const key = String(entity['rowKey']);
  const email = entity['email'];
  const dueAt = Number(key.slice(0, 13));
  if (typeof email !== 'string' || !Number.isFinite(dueAt)) {
    throw new DependencyError('table-storage', `${kind} work item entity is malformed`);
  }
  return { kind, key, email, dueAt };
}
