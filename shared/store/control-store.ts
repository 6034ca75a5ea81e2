/**
 * Control documents: PartitionKey = name, RowKey = '', one JSON property. Small, rarely written
 * state of the control plane: the migration switch, each enrolment group's delta link, the last
 * maintenance run's report. Writes may be ETag-conditional.
 */
import type { TableClient } from '@azure/data-tables';
import type { ControlStorePort, GroupMembershipPort } from '../domain/ports.js';
import { ConcurrencyError, DependencyError } from '../errors.js';
import { ROW_KEY } from './entity.js';
import { assertValidKey } from './keys.js';
import { describeTableError, isEntityNotFound, storageError } from './table-errors.js';

export const CONTROL_TABLE_SUFFIX = 'control';

/**
 * Enrolment group members share the table: PartitionKey = `members-<group id>`, RowKey = user
 * object id, with the user's address: how a removed member (Graph's delta names only the id) is
 * found, and how self-service enrolment knows a user is in a group. Point reads only.
 */
export class TableControlStore implements ControlStorePort, GroupMembershipPort {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  async get<T>(name: string): Promise<{ value: T; etag: string } | undefined> {
    const key = assertValidKey(name, 'control document name');
    let entity: Record<string, unknown>;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(key, ROW_KEY);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading control document ${key}`, err);
    }
    const json = entity['json'];
    const etag = entity['etag'];
    if (typeof json !== 'string' || typeof etag !== 'string') {
      throw new DependencyError('table-storage', `control document ${key} is malformed`);
    }
    try {
      return { value: JSON.parse(json) as T, etag };
    } catch (err) {
      throw new DependencyError('table-storage', `control document ${key} is not JSON`, { cause: err });
    }
  }

  async member(groupId: string, userId: string): Promise<string | undefined> {
    try {
      const entity = await this.client.getEntity<Record<string, unknown>>(
        membersKey(groupId),
        memberKey(userId),
      );
      return typeof entity['email'] === 'string' ? entity['email'] : undefined;
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError('reading a group member', err);
    }
  }

  async addMember(groupId: string, userId: string, email: string): Promise<void> {
    try {
      await this.client.upsertEntity(
        { partitionKey: membersKey(groupId), rowKey: memberKey(userId), email },
        'Replace',
      );
    } catch (err) {
      throw storageError('writing a group member', err);
    }
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    try {
      await this.client.deleteEntity(membersKey(groupId), memberKey(userId));
    } catch (err) {
      if (isEntityNotFound(err)) return;
      throw storageError('removing a group member', err);
    }
  }

  async put<T>(name: string, value: T, etag?: string): Promise<void> {
    const key = assertValidKey(name, 'control document name');
    const entity = { partitionKey: key, rowKey: ROW_KEY, json: JSON.stringify(value) };
    try {
      if (etag) await this.client.updateEntity(entity, 'Replace', { etag });
      else await this.client.upsertEntity(entity, 'Replace');
    } catch (err) {
      if (etag && (describeTableError(err).status === 412 || isEntityNotFound(err))) {
        throw new ConcurrencyError(`control document ${key}`, { cause: err });
      }
      throw storageError(`writing control document ${key}`, err);
    }
  }
}

function membersKey(groupId: string): string {
  return assertValidKey(`members-${groupId.toLowerCase()}`, 'group id');
}

function memberKey(userId: string): string {
  return assertValidKey(userId.toLowerCase(), 'user id');
}
