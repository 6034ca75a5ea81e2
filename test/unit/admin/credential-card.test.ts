import { describe, expect, it } from 'vitest';
import {
  TOKEN_ACTIONS,
  TOKEN_ACTION_FALLBACK,
  credentialCard,
  credentialReason,
  tokenFailure,
} from '../../../shared/admin/credential-card.js';
import { intervalOfSchedule, maintenanceSection } from '../../../shared/admin/status.js';
import { loadSettings } from '../../../shared/config/settings.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

describe('credentialCard', () => {
  it('a secret without GRAPH_CLIENT_SECRET_EXPIRES_ON is unknown and has no reason', () => {
    const card = credentialCard({ kind: 'secret' }, NOW);
    expect(card).toEqual({ type: 'secret', status: 'unknown' });
    expect(credentialReason(card, NOW)).toBeUndefined();
  });

  it('ok from 30 days, warning under 30, critical under 7 and once expired', () => {
    const at = (days: number) =>
      credentialCard({ kind: 'secret', expiresOn: new Date(NOW + days * DAY).toISOString() }, NOW);
    expect(at(31).status).toBe('ok');
    expect(at(30).status).toBe('ok');
    expect(at(29).status).toBe('warning');
    expect(at(7).status).toBe('warning');
    expect(at(6).status).toBe('critical');
    expect(at(-1).status).toBe('critical');
    expect(credentialReason(at(29), NOW)).toContain('expires in 29 day(s)');
    expect(credentialReason(at(-1), NOW)).toContain('expired on');
  });

  it('a certificate shows subject, issuer, validity, serial and both thumbprints', () => {
    const card = credentialCard(
      {
        kind: 'certificate',
        info: {
          subject: 'CN=app',
          issuer: 'CN=ca',
          validFrom: '2026-01-01T00:00:00.000Z',
          validTo: '2026-06-20T00:00:00.000Z',
          serialNumber: '0A',
          thumbprint: 'AB',
          thumbprintSha256: 'CD',
          keyType: 'RSA',
          keySize: 2048,
          selfSigned: false,
          chainCertificates: 0,
        },
      },
      NOW,
    );
    expect(card).toEqual({
      type: 'certificate',
      status: 'warning',
      daysLeft: 19,
      expiresOn: '2026-06-20T00:00:00.000Z',
      subject: 'CN=app',
      issuer: 'CN=ca',
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2026-06-20T00:00:00.000Z',
      serialNumber: '0A',
      thumbprintSha1: 'AB',
      thumbprintSha256: 'CD',
    });
  });
});

describe('tokenFailure', () => {
  it.each(['7000215', '7000222', '700027', '90002', '700016'])('translates AADSTS%s', (code) => {
    const failure = tokenFailure(
      new Error(
        `ClientSecretCredential authentication failed: AADSTS${code}: Something. Trace ID: x Correlation ID: y`,
      ),
    );
    expect(failure.code).toBe(`AADSTS${code}`);
    expect(failure.action).toBe(TOKEN_ACTIONS[code]);
    expect(failure.detail).toBe(`AADSTS${code}: Something.`);
  });

  it('falls back for other failures', () => {
    expect(tokenFailure(new Error('connect ECONNREFUSED')).action).toBe(TOKEN_ACTION_FALLBACK);
  });
});

describe('GRAPH_CLIENT_SECRET_EXPIRES_ON', () => {
  const base = {
    TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true;AccountName=devstoreaccount1',
    ServiceBusConnection:
      'Endpoint=sb://localhost;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true',
    GRAPH_TENANT_ID: '9188040d-6c67-4c5b-b112-36a304b66dad',
    GRAPH_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
    GRAPH_CLIENT_SECRET: 'local-simulator-secret',
    PUBLIC_BASE_URL: 'https://func.example.net',
  };
  it('accepts a date and names the setting for anything else', () => {
    const problems = (value: string) => {
      try {
        loadSettings({ ...base, GRAPH_CLIENT_SECRET_EXPIRES_ON: value });
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(problems('2027-03-31')).not.toContain('GRAPH_CLIENT_SECRET_EXPIRES_ON');
    expect(problems('31.03.2027')).toContain('GRAPH_CLIENT_SECRET_EXPIRES_ON');
  });
});

describe('status helpers', () => {
  it('reads the interval of the default schedule only', () => {
    expect(intervalOfSchedule('0 */5 * * * *')).toBe(300_000);
    expect(intervalOfSchedule('0 0 * * * *')).toBeUndefined();
  });

  it('maintenance is stale after 15 minutes or without any run', () => {
    expect(maintenanceSection(undefined, NOW, 300_000)).toEqual({ stale: true });
    const run = { at: new Date(NOW - 16 * 60_000).toISOString(), durationMs: 5 };
    expect(maintenanceSection(run, NOW, 300_000).stale).toBe(true);
    const recent = { at: new Date(NOW - 60_000).toISOString(), durationMs: 5 };
    expect(maintenanceSection(recent, NOW, 300_000)).toMatchObject({
      stale: false,
      nextRunAt: new Date(NOW + 5 * 60_000).toISOString(),
    });
  });
});
