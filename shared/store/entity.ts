/** Helpers to build entities (never with undefined properties) and to read them back strictly. */
import { DependencyError, ValidationError } from '../errors.js';
import { TABLE_STORAGE } from './table-errors.js';

export type EntityProperties = Record<string, string>;

/** Every entity of ours is alone in its partition (point reads only). */
export const ROW_KEY = '';

/** Write side: a required string field of a record. */
export function requireString(value: unknown, field: string, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(`${what}: ${field} must be a non-empty string`);
  }
  return value;
}

/** Write side: an optional string field; undefined stays undefined (and is then not written). */
export function optionalString(value: unknown, field: string, what: string): string | undefined {
  if (value === undefined) return undefined;
  return requireString(value, field, what);
}

/** Write side: a field restricted to a few values. */
export function requireOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
  what: string,
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(`${what}: ${field} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Copies only the defined properties, so the entity never carries `undefined`. */
export function definedProperties(props: Record<string, string | undefined>): EntityProperties {
  const out: EntityProperties = {};
  for (const [key, value] of Object.entries(props)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Read side: strict access to a stored entity; malformed data is a storage problem, not input. */
export class EntityReader {
  constructor(
    private readonly entity: Record<string, unknown>,
    private readonly what: string,
  ) {}

  string(name: string): string {
    const value = this.entity[name];
    if (typeof value !== 'string') throw this.malformed(name);
    return value;
  }

  optionalString(name: string): string | undefined {
    const value = this.entity[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.malformed(name);
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T {
    const value = this.string(name);
    if (!(allowed as readonly string[]).includes(value)) throw this.malformed(name);
    return value as T;
  }

  optionalOneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.optionalString(name);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) throw this.malformed(name);
    return value as T;
  }

  etag(): string {
    const value = this.entity['etag'];
    if (typeof value !== 'string' || value.length === 0) throw this.malformed('etag');
    return value;
  }

  private malformed(name: string): DependencyError {
    // Names the property, never its value (it may be a secret).
    return new DependencyError(
      TABLE_STORAGE,
      `${this.what} entity is malformed: property ${name} is missing or invalid`,
    );
  }
}
