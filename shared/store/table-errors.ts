/**
 * Maps @azure/data-tables failures to the app's error classes. Messages name the operation, the
 * HTTP status and the service's error code, never request or entity contents (no secrets).
 */
import { DependencyError } from '../errors.js';

export const TABLE_STORAGE = 'table-storage';

export interface TableErrorInfo {
  /** HTTP status, if the service answered. */
  status: number | undefined;
  /** Service error code (e.g. `EntityAlreadyExists`), or a transport code (e.g. `ECONNREFUSED`). */
  code: string | undefined;
}

export function describeTableError(err: unknown): TableErrorInfo {
  if (typeof err !== 'object' || err === null) return { status: undefined, code: undefined };
  const e = err as {
    statusCode?: unknown;
    code?: unknown;
    details?: { errorCode?: unknown; odataError?: { code?: unknown } };
    response?: {
      parsedBody?: { odataError?: { code?: unknown } };
      headers?: { get?(name: string): unknown };
    };
  };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const candidates: unknown[] = [
    e.details?.errorCode,
    e.details?.odataError?.code,
    e.response?.parsedBody?.odataError?.code,
    typeof e.response?.headers?.get === 'function' ? e.response.headers.get('x-ms-error-code') : undefined,
    e.code,
  ];
  const code = candidates.find((c): c is string => typeof c === 'string' && c.length > 0);
  return { status, code };
}

/** 404 for an entity (not for a missing table, which is a deployment problem). */
export function isEntityNotFound(err: unknown): boolean {
  const { status, code } = describeTableError(err);
  return status === 404 && code !== 'TableNotFound';
}

export function storageError(operation: string, err: unknown): DependencyError {
  const { status, code } = describeTableError(err);
  const detail =
    status !== undefined
      ? `HTTP ${status}${code ? ` ${code}` : ''}`
      : code
        ? code
        : err instanceof Error
          ? err.name
          : 'unknown error';
  const hint =
    code === 'TableNotFound' ? '; the table does not exist (are the tables ensured at start-up?)' : '';
  return new DependencyError(TABLE_STORAGE, `${operation} failed (${detail})${hint}`, { cause: err });
}
