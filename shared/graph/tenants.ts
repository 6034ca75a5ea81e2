/**
 * One GraphClient per tenant. A multi-tenant app uses one app registration everywhere, but an
 * app-only token is issued by one tenant, so each tenant needs its own credential (and token cache).
 */
import type { TokenCredential } from '@azure/identity';
import { ValidationError } from '../errors.js';
import { createGraphClient, type GraphClient, type GraphClientOptions } from './client.js';

export interface GraphClientFactoryOptions extends Omit<GraphClientOptions, 'credential'> {
  /** The credential for a tenant, e.g. `createGraphCredential({ tenant, ... })`. Called once per tenant. */
  credentialFor: (tenantId: string) => TokenCredential;
  /** Builds a client (default {@link createGraphClient}); tests may pass another. */
  createClient?: (options: GraphClientOptions) => GraphClient;
}

/** Where an adapter gets a tenant's Graph client (GraphClientFactory in production, a fake in tests). */
export interface TenantGraphClients {
  forTenant(tenantId: string): GraphClient;
}

export class GraphClientFactory implements TenantGraphClients {
  private readonly clients = new Map<string, GraphClient>();

  constructor(private readonly options: GraphClientFactoryOptions) {}

  /** The tenant's client, created on first use. A failure to build it is not cached. */
  forTenant(tenantId: string): GraphClient {
    if (typeof tenantId !== 'string' || tenantId.trim() === '')
      throw new ValidationError('tenantId is required');
    const key = tenantId.trim().toLowerCase();
    const cached = this.clients.get(key);
    if (cached) return cached;
    const { credentialFor, createClient = createGraphClient, ...clientOptions } = this.options;
    const client = createClient({ ...clientOptions, credential: credentialFor(tenantId.trim()) });
    this.clients.set(key, client);
    return client;
  }

  /** Tenants with a client so far. */
  get size(): number {
    return this.clients.size;
  }
}
