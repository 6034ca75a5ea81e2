/** Shared by the shared/graph integration tests (not a test file); the simulator starts with test/support/graph-sim.ts. */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { createGraphCredential } from '../../../shared/auth/index.js';
import { createGraphClient, type GraphClient, type GraphClientOptions } from '../../../shared/graph/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';

/** A client for the demo app with the REAL client-secret credential from shared/auth. */
export function demoClient(
  sim: GraphSimulator,
  options: Partial<Omit<GraphClientOptions, 'credential' | 'graphEndpoint'>> & { secret?: string } = {},
): GraphClient {
  const { secret = DEMO_TENANT.clientSecret, ...rest } = options;
  const credential = createGraphCredential({
    tenant: DEMO_TENANT.tenantId,
    clientId: DEMO_TENANT.clientId,
    authorityHost: sim.url,
    secret,
  });
  return createGraphClient({ credential, graphEndpoint: sim.url, ...rest });
}

/** A self-signed client certificate made with node-forge: the public PEM for Entra, and key + cert for us. */
export function selfSignedCertificate(commonName: string): { certPem: string; pem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 86_400_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  return { certPem, pem: `${privateKey.trim()}\n${certPem.trim()}\n` };
}

export interface LocalServer {
  url: string;
  /** Request URLs seen, in order. */
  seen: string[];
  close(): Promise<void>;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/**
 * A webhook that answers Graph's handshake like ours must: 200, text/plain, the decoded
 * validationToken. Anything else gets 202.
 */
export async function startEchoWebhook(): Promise<LocalServer> {
  const seen: string[] = [];
  const { server, url } = await listen((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      const token = new URL(req.url ?? '/', 'http://local').searchParams.get('validationToken');
      if (token !== null) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(token);
      } else {
        res.writeHead(202);
        res.end();
      }
    });
  });
  return { url, seen, close: closer(server) };
}

/** A webhook that accepts the connection and never answers (a cold start that takes too long). */
export async function startSilentWebhook(): Promise<LocalServer> {
  const seen: string[] = [];
  const { server, url } = await listen((req) => {
    seen.push(req.url ?? '');
    req.resume();
  });
  return { url, seen, close: closer(server) };
}

/** Whole seconds (Graph answers expirationDateTime without milliseconds). */
export function minutesFromNow(minutes: number): string {
  return new Date(Math.floor((Date.now() + minutes * 60_000) / 1000) * 1000)
    .toISOString()
    .replace(/\.000Z$/, 'Z');
}

export function routeCount(sim: GraphSimulator, route: string): number {
  return sim.stats().byRoute[route] ?? 0;
}
