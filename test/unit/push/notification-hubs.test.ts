/**
 * NotificationHubsPushProvider with a fake HTTP transport (the SDK's `httpClient` option), for the
 * failure paths a real server cannot easily produce: a hub that never answers, a 500 on a send.
 */
import type { NotificationHubsClientOptions } from '@azure/notification-hubs';
import { describe, expect, it } from 'vitest';
import type { DeviceRecord, PushContent } from '../../../shared/domain/ports.js';
import { NotificationHubsPushProvider } from '../../../shared/push/notification-hubs.js';

type HttpClient = NonNullable<NotificationHubsClientOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;

const CONNECTION =
  'Endpoint=sb://contoso-push.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=c2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1';

const PHONE: DeviceRecord = {
  mailboxEmail: 'adele.vance@contoso.example',
  deviceId: 'iphone-1',
  platform: 'apns',
  token: 'f'.repeat(64),
  userObjectId: '2f4c6a1e-6a43-4b8e-9d61-0d3c2a7b9e10',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const CONTENT: PushContent = {
  title: 'Hi',
  body: 'There',
  data: { mailbox: 'adele.vance@contoso.example', messageId: 'm-1' },
  threadId: 't',
};

function headers(values: Record<string, string> = {}): PipelineResponse['headers'] {
  const map = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    get: (name) => map.get(name.toLowerCase()),
    has: (name) => map.has(name.toLowerCase()),
    set: (name, value) => void map.set(name.toLowerCase(), String(value)),
    delete: (name) => void map.delete(name.toLowerCase()),
    toJSON: () => Object.fromEntries(map),
    [Symbol.iterator]: () => map.entries(),
  };
}

/** Records requests; answers with `respond` (or never, until aborted, when it returns undefined). */
function fakeTransport(respond: (request: PipelineRequest) => Omit<PipelineResponse, 'request'> | undefined) {
  const requests: PipelineRequest[] = [];
  const client: HttpClient = {
    sendRequest: (request) => {
      requests.push(request);
      const answer = respond(request);
      if (answer) return Promise.resolve({ ...answer, request });
      return new Promise((_resolve, reject) => {
        request.abortSignal?.addEventListener('abort', () => {
          const error = new Error('The operation was aborted.');
          error.name = 'AbortError';
          reject(error);
        });
      });
    },
  };
  return { client, requests };
}

describe('NotificationHubsPushProvider (fake transport)', () => {
  it('signs requests for the namespace with a SAS token and the service version', async () => {
    const { client, requests } = fakeTransport(() => ({ status: 200, headers: headers() }));
    await new NotificationHubsPushProvider({
      connectionString: CONNECTION,
      hubName: 'mailpush',
      httpClient: client,
    }).registerDevice(PHONE);
    const [put] = requests;
    expect(put?.method).toBe('PUT');
    expect(put?.url).toMatch(
      /^https:\/\/contoso-push\.servicebus\.windows\.net\/mailpush\/installations\/[0-9a-f]{32}-iphone-1\?api-version=2020-06$/,
    );
    expect(put?.headers.get('authorization')).toMatch(
      /^SharedAccessSignature sr=https%3A%2F%2Fcontoso-push\.servicebus\.windows\.net%2F&sig=[^&]+&se=\d+&skn=DefaultFullSharedAccessSignature$/,
    );
  });

  it('turns a hub that does not answer in time into a retry outcome', async () => {
    const { client, requests } = fakeTransport(() => undefined);
    const push = new NotificationHubsPushProvider({
      connectionString: CONNECTION,
      hubName: 'mailpush',
      httpClient: client,
      requestTimeoutMs: 30,
      installationCheckIntervalMs: Infinity,
    });
    expect(await push.send([PHONE], CONTENT)).toEqual([
      {
        deviceId: 'iphone-1',
        outcome: 'retry',
        detail: expect.stringContaining('did not answer within 30 ms'),
      },
    ]);
    expect(requests).toHaveLength(1);
  });

  it('does not resend a notification after a 500 (the hub may have queued it)', async () => {
    const { client, requests } = fakeTransport(() => ({
      status: 500,
      headers: headers({ 'content-type': 'application/xml' }),
      bodyAsText: '<Error><Code>500</Code><Detail>Internal error.</Detail></Error>',
    }));
    const push = new NotificationHubsPushProvider({
      connectionString: CONNECTION,
      hubName: 'mailpush',
      httpClient: client,
      installationCheckIntervalMs: Infinity,
    });
    const [outcome] = await push.send([PHONE], CONTENT);
    expect(outcome).toEqual({
      deviceId: 'iphone-1',
      outcome: 'retry',
      detail: 'sendNotification failed with HTTP 500: Internal error.',
    });
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });
});
