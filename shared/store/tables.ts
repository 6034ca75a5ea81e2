/**
 * Builds TableClients for the service's tables, from a connection string (Azurite, or a storage
 * account key / SAS) or from an endpoint plus a TokenCredential (managed identity in Azure).
 */
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { ConfigError } from '../errors.js';
import { describeTableError, storageError } from './table-errors.js';

export const DEFAULT_TABLE_PREFIX = 'mailpush';
/** Leaves room for table-name suffixes of up to 31 characters within Azure's 63. */
export const MAX_TABLE_PREFIX_LENGTH = 32;
const TABLE_NAME_RE = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
const TABLE_PREFIX_RE = new RegExp(`^[A-Za-z][A-Za-z0-9]{0,${MAX_TABLE_PREFIX_LENGTH - 1}}$`);

export interface TableRetryOptions {
  /** Retries of transient failures (5xx, 408, 429, network). SDK default: 3. */
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

interface CommonTableOptions {
  /** Prepended to every table name. Letters and digits, starting with a letter. Default `mailpush`. */
  tablePrefix?: string;
  retryOptions?: TableRetryOptions;
}

export type TableStoreOptions =
  | (CommonTableOptions & { connectionString: string; endpoint?: undefined; credential?: undefined })
  | (CommonTableOptions & { endpoint: string; credential: TokenCredential; connectionString?: undefined });

/** Validates a table prefix; throws ConfigError with a clear message. */
export function validateTablePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !TABLE_PREFIX_RE.test(prefix)) {
    throw new ConfigError([
      `table prefix must be 1-${MAX_TABLE_PREFIX_LENGTH} letters or digits starting with a letter ` +
        `(Azure table names are 3-63 alphanumerics starting with a letter); got ${JSON.stringify(String(prefix).slice(0, 80))}`,
    ]);
  }
  return prefix;
}

export class TableClients {
  readonly tablePrefix: string;
  private readonly make: (tableName: string) => TableClient;
  private readonly clients = new Map<string, TableClient>();

  constructor(options: TableStoreOptions) {
    this.tablePrefix = validateTablePrefix(options.tablePrefix ?? DEFAULT_TABLE_PREFIX);
    const retryOptions = options.retryOptions ? { ...options.retryOptions } : undefined;
    const baseOptions = (): TableServiceClientOptions =>
      retryOptions ? { retryOptions: { ...retryOptions } } : {};

    if (options.connectionString !== undefined) {
      const connectionString = options.connectionString;
      const insecure = isHttpConnectionString(connectionString);
      this.make = (tableName) =>
        TableClient.fromConnectionString(connectionString, tableName, {
          ...baseOptions(),
          // Azurite speaks plain http; the SDK refuses to sign http requests without this.
          ...(insecure ? { allowInsecureConnection: true } : {}),
        });
    } else if (options.endpoint !== undefined && options.credential !== undefined) {
      const endpoint = validateEndpoint(options.endpoint);
      const credential = options.credential;
      this.make = (tableName) => new TableClient(endpoint, tableName, credential, baseOptions());
    } else {
      throw new ConfigError([
        'table storage needs either a connection string or an endpoint and a credential',
      ]);
    }
  }

  /** `${prefix}${suffix}`, e.g. `mailpushmailboxes`. */
  tableName(suffix: string): string {
    const name = `${this.tablePrefix}${suffix}`;
    if (!/^[a-z0-9]+$/i.test(suffix) || !TABLE_NAME_RE.test(name)) {
      throw new ConfigError([`table name ${JSON.stringify(name)} is not a valid Azure table name`]);
    }
    return name;
  }

  /** A (cached) client for the table `${prefix}${suffix}`. Makes no request. */
  client(suffix: string): TableClient {
    const name = this.tableName(suffix);
    let client = this.clients.get(name);
    if (!client) {
      client = this.make(name);
      this.clients.set(name, client);
    }
    return client;
  }

  /** Creates the tables that are missing. Idempotent; safe to run from several instances at once. */
  async ensureTables(suffixes: readonly string[]): Promise<void> {
    await Promise.all(
      suffixes.map(async (suffix) => {
        const client = this.client(suffix);
        try {
          await client.createTable();
        } catch (err) {
          const { status, code } = describeTableError(err);
          if (status === 409 && code === 'TableAlreadyExists') return;
          throw storageError(`creating table ${client.tableName}`, err);
        }
      }),
    );
  }
}

/**
 * Lets the SDK parse the connection string (account key, SAS, or UseDevelopmentStorage=true) and
 * reports whether its table endpoint is plain http. Errors never include the string (it holds a key).
 */
function isHttpConnectionString(connectionString: string): boolean {
  if (typeof connectionString !== 'string' || connectionString.trim() === '') {
    throw new ConfigError(['table storage connection string is empty']);
  }
  let url: URL;
  try {
    url = new URL(TableClient.fromConnectionString(connectionString, 'probe').url);
  } catch (err) {
    const reason = err instanceof Error && !err.message.includes(connectionString) ? `: ${err.message}` : '';
    throw new ConfigError([`table storage connection string is malformed${reason}`]);
  }
  return url.protocol === 'http:';
}

function validateEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    // Not echoed: a misplaced connection string or SAS URL would leak its key.
    throw new ConfigError(['table storage endpoint is not a valid URL']);
  }
  if (url.protocol !== 'https:') {
    throw new ConfigError(['table storage endpoint must be https when using a token credential']);
  }
  if (url.search || url.username || url.password) {
    throw new ConfigError(['table storage endpoint must not contain a query string or user info']);
  }
  return url.toString().replace(/\/+$/, '');
}
