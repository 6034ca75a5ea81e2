/**
 * `npm run bench:webhook`: load on the local webhook with realistic Graph payloads (1 and 10
 * notifications per POST), against the real adapters (Azurite, AMQP stand-in), compared in the
 * same run with a naive handler that fetches each message (~100 ms) before acknowledging.
 *
 * Then a forged flood, to /api/notifications and to /api/lifecycle: random subscription ids with
 * made-up clientStates, signed-looking (`v2.`, our key id, random MAC) and unsigned (old-style),
 * reporting forged notifications/s and Table Storage requests (subscription reads and census reads)
 * per forged notification. With keys the lookup path is off, as after the census found no
 * old-style subscription left (BENCH_LOOKUP_PATH=on: on): target 0 for every kind.
 *
 * Settings (env): BENCH_DURATION seconds per phase (10), BENCH_CONNECTIONS (64),
 * BENCH_TARGET_RATE notifications/s for the fixed-rate phase (2000), BENCH_SIGNED (1: the
 * subscriptions carry signed clientStates under a CLIENT_STATE_KEYS made for the run; 0: unsigned).
 */
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const TARGET_RATE = Number(process.env.BENCH_TARGET_RATE ?? 2000);
const QUEUE = 'mail-notifications';
const SIGNED = process.env.BENCH_SIGNED !== '0';

interface SubscriptionInfo {
  subscriptionId: string;
  userId: string;
  clientState: string;
  tenantId: string;
}
interface Ready {
  type: 'ready';
  url: string;
  naiveUrl: string;
  signingKeyId: string | undefined;
  subscriptions: SubscriptionInfo[];
}

const broker = fork(fileURLToPath(new URL('./amqp-server.js', import.meta.url)), [], {
  env: { ...process.env, BENCH_QUEUE: QUEUE },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const brokerReady = await new Promise<{ connectionString: string }>((resolve, reject) => {
  broker.once('message', (m) => resolve(m as { connectionString: string }));
  broker.once('exit', (code) => reject(new Error(`AMQP stand-in exited with ${code}`)));
});
/** Messages waiting on the queue (the stand-in runs in its own process). */
const queued = () =>
  new Promise<number>((resolve) => {
    broker.once('message', (m: { stats: { active: number } }) => resolve(m.stats.active));
    broker.send({ type: 'stats', queue: QUEUE });
  });
const child = fork(fileURLToPath(new URL('./webhook-server.js', import.meta.url)), [], {
  env: {
    ...process.env,
    ServiceBusConnection: brokerReady.connectionString,
    NOTIFICATION_QUEUE_NAME: QUEUE,
    // Required setting; the devices API is not exercised here (no local token issuer needed).
    DEVICE_API_AUDIENCE: 'api://mailpush-bench',
    CLIENT_STATE_KEYS: SIGNED ? `bench:${randomBytes(32).toString('base64')}` : undefined,
  },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  // BENCH_PROFILE=1 writes a V8 CPU profile of the function host to bench/results/profile/.
  ...(process.env.BENCH_PROFILE ? { execArgv: ['--cpu-prof', '--cpu-prof-dir=bench/results/profile'] } : {}),
});
const ready = await new Promise<Ready>((resolve, reject) => {
  child.once('message', (m) => resolve(m as Ready));
  child.once('exit', (code) => reject(new Error(`webhook server exited with ${code}`)));
});

const cpuOfChild = () =>
  new Promise<number>((resolve) => {
    child.once('message', (m: { usage: NodeJS.CpuUsage }) => resolve((m.usage.user + m.usage.system) / 1000));
    child.send({ type: 'cpu' });
  });

const readsOfChild = () =>
  new Promise<number>((resolve) => {
    child.once('message', (m: { reads: number }) => resolve(m.reads));
    child.send({ type: 'reads' });
  });

let sequence = 0;
/** A Graph change-notification POST body for `items` new messages in random mailboxes. */
function graphPayload(items: number): string {
  const value = [];
  for (let i = 0; i < items; i++) {
    const s = ready.subscriptions[(sequence * 7919 + i) % ready.subscriptions.length]!;
    const id = `AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAAiIsqMbYjsT5e-T7KzowPT${(sequence++).toString(36).padStart(8, '0')}=`;
    value.push({
      subscriptionId: s.subscriptionId,
      subscriptionExpirationDateTime: '2026-11-30T11:00:00.0000000Z',
      changeType: 'created',
      resource: `Users/${s.userId}/Messages/${id}`,
      resourceData: {
        '@odata.type': '#Microsoft.Graph.Message',
        '@odata.id': `Users/${s.userId}/Messages/${id}`,
        '@odata.etag': 'W/"CQAAABYAAAAiIsqMbYjsT5e-T7KzowPTAAAYc2mB"',
        id,
      },
      clientState: s.clientState,
      tenantId: s.tenantId,
    });
  }
  return JSON.stringify({ value });
}

/**
 * A flood POST: `items` notifications for random subscription ids (never the same twice, so the
 * webhook's cache of unknown ids does not help) and made-up clientStates.
 */
function forgedPayload(items: number, kind: 'signed' | 'unsigned', route: Route = 'notifications'): string {
  const value = [];
  const tenantId = ready.subscriptions[0]!.tenantId;
  if (route === 'lifecycle') {
    for (let i = 0; i < items; i++) {
      value.push({
        subscriptionId: randomUUID(),
        subscriptionExpirationDateTime: '2026-11-30T11:00:00.0000000Z',
        lifecycleEvent: 'subscriptionRemoved',
        clientState:
          kind === 'signed'
            ? `v2.${ready.signingKeyId ?? 'k1'}.${randomUUID()}.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`
            : randomBytes(32).toString('base64url'),
        tenantId,
      });
    }
    return JSON.stringify({ value });
  }
  for (let i = 0; i < items; i++) {
    const id = `forged-${(sequence++).toString(36)}`;
    const userId = randomUUID();
    value.push({
      subscriptionId: randomUUID(),
      changeType: 'created',
      resource: `Users/${userId}/Messages/${id}`,
      resourceData: { '@odata.type': '#Microsoft.Graph.Message', id },
      clientState:
        kind === 'signed'
          ? `v2.${ready.signingKeyId ?? 'k1'}.${userId}.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`
          : randomBytes(32).toString('base64url'),
      tenantId,
    });
  }
  return JSON.stringify({ value });
}

type Route = 'notifications' | 'lifecycle';

interface FloodResult {
  route: Route;
  clientStates: 'signed' | 'unsigned';
  itemsPerPost: number;
  forgedNotificationsPerSecond: number;
  storageReadsPerForgedNotification: number;
  ackP99Ms: number;
  cpuMsPerNotification: number;
  non2xx: number;
  errors: number;
  enqueued: number;
}

async function flood(
  kind: 'signed' | 'unsigned',
  itemsPerPost: number,
  seconds: number,
  route: Route = 'notifications',
): Promise<FloodResult> {
  const before = await queued();
  const readsBefore = await readsOfChild();
  const cpuBefore = await cpuOfChild();
  const result = await closedLoop(`${ready.url}/api/${route}`, seconds, itemsPerPost, () =>
    forgedPayload(itemsPerPost, kind, route),
  );
  const cpuAfter = await cpuOfChild();
  await new Promise((r) => setTimeout(r, 200));
  const reads = (await readsOfChild()) - readsBefore;
  const notifications = result.ok * itemsPerPost;
  return {
    route,
    clientStates: kind,
    itemsPerPost,
    forgedNotificationsPerSecond: Math.round(notifications / result.seconds),
    storageReadsPerForgedNotification: notifications > 0 ? Number((reads / notifications).toFixed(3)) : NaN,
    ackP99Ms: result.p99,
    cpuMsPerNotification:
      notifications > 0 ? Number(((cpuAfter - cpuBefore) / notifications).toFixed(3)) : NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    enqueued: (await queued()) - before,
  };
}

interface PhaseResult {
  handler: 'ours' | 'naive';
  itemsPerPost: number;
  load: 'max' | 'fixed-rate';
  offeredNotificationsPerSecond: number | null;
  notificationsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  cpuMsPerNotification: number;
  non2xx: number;
  errors: number;
  enqueued: number;
}

async function phase(
  handler: 'ours' | 'naive',
  itemsPerPost: number,
  load: 'max' | 'fixed-rate',
  seconds: number,
): Promise<PhaseResult> {
  const base = handler === 'ours' ? ready.url : ready.naiveUrl;
  const rate = load === 'fixed-rate' ? Math.max(1, Math.round(TARGET_RATE / itemsPerPost)) : undefined;
  const before = await queued();
  const cpuBefore = await cpuOfChild();
  const result = rate
    ? await openLoop(`${base}/api/notifications`, rate, seconds, itemsPerPost)
    : await closedLoop(`${base}/api/notifications`, seconds, itemsPerPost);
  const cpuAfter = await cpuOfChild();
  // Let in-flight naive requests finish before counting what reached the queue.
  await new Promise((r) => setTimeout(r, handler === 'naive' ? 1500 : 200));
  const notifications = result.ok * itemsPerPost;
  return {
    handler,
    itemsPerPost,
    load,
    offeredNotificationsPerSecond: rate ? rate * itemsPerPost : null,
    notificationsPerSecond: Math.round(notifications / result.seconds),
    ackP50Ms: result.p50,
    ackP99Ms: result.p99,
    cpuMsPerNotification:
      notifications > 0 ? Number(((cpuAfter - cpuBefore) / notifications).toFixed(3)) : NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    enqueued: (await queued()) - before,
  };
}

interface LoadResult {
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** As fast as CONNECTIONS connections go (autocannon): the throughput ceiling. */
async function closedLoop(
  url: string,
  seconds: number,
  itemsPerPost: number,
  payload: () => string = () => graphPayload(itemsPerPost),
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        setupRequest: (req) => ({ ...req, body: payload() }),
      },
    ],
  });
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

/**
 * Open loop at a fixed rate with Poisson arrivals, like independent Graph deliveries. Latency
 * is measured from each request's scheduled time, so queueing in the client counts too (no
 * coordinated omission). Up to CONNECTIONS keep-alive sockets.
 */
async function openLoop(
  url: string,
  rate: number,
  seconds: number,
  itemsPerPost: number,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const target = new URL(url);
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = start;
  while (next < end) {
    const wait = next - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const scheduled = next;
    next += -Math.log(1 - Math.random()) * (1000 / rate);
    const body = graphPayload(itemsPerPost);
    const done = new Promise<void>((resolve) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - scheduled);
            if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) ok++;
            else non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  }
  await Promise.all(inFlight);
  const seconds_ = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pick = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  return { ok, non2xx, errors, seconds: seconds_, p50: pick(0.5), p99: pick(0.99) };
}

const results: PhaseResult[] = [];
const floods: FloodResult[] = [];
try {
  await phase('ours', 1, 'max', 2); // warm-up: JIT, connections, subscription cache
  for (const items of [1, 10]) {
    for (const handler of ['ours', 'naive'] as const) {
      for (const load of ['max', 'fixed-rate'] as const) {
        const r = await phase(handler, items, load, DURATION);
        results.push(r);
        console.log(
          `${handler.padEnd(5)} ${String(items).padStart(2)}/POST ${load.padEnd(10)} ${String(r.notificationsPerSecond).padStart(6)} notif/s  p50 ${String(r.ackP50Ms).padStart(5)} ms  p99 ${String(r.ackP99Ms).padStart(5)} ms  CPU ${r.cpuMsPerNotification} ms/notif  enqueued ${r.enqueued}  non2xx ${r.non2xx}  errors ${r.errors}`,
        );
      }
    }
  }
  for (const [kind, route] of SIGNED
    ? ([
        ['signed', 'notifications'],
        ['unsigned', 'notifications'],
        ['signed', 'lifecycle'],
        ['unsigned', 'lifecycle'],
      ] as const)
    : ([
        ['unsigned', 'notifications'],
        ['unsigned', 'lifecycle'],
      ] as const)) {
    const r = await flood(kind, 1, DURATION, route);
    floods.push(r);
    console.log(
      `forged ${route.padEnd(13)} ${kind.padEnd(8)} ${String(r.forgedNotificationsPerSecond).padStart(6)} notif/s  storage reads ${r.storageReadsPerForgedNotification}/notif  p99 ${String(r.ackP99Ms).padStart(5)} ms  CPU ${r.cpuMsPerNotification} ms/notif  enqueued ${r.enqueued}  non2xx ${r.non2xx}  errors ${r.errors}`,
    );
  }
} finally {
  child.send({ type: 'stop' });
  await new Promise((r) => child.once('exit', r));
  broker.send({ type: 'stop' });
  await new Promise((r) => broker.once('exit', r));
}

const output = {
  benchmark: 'webhook',
  date: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  settings: { durationSeconds: DURATION, connections: CONNECTIONS, targetRate: TARGET_RATE, signed: SIGNED },
  results,
  forgedFlood: floods,
};
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
const file = new URL('../../bench/results/webhook.json', import.meta.url);
writeFileSync(file, JSON.stringify(output, null, 2));
console.log(`\nwrote ${fileURLToPath(file)}`);
console.table(
  results.map((r) => ({
    handler: r.handler,
    'items/POST': r.itemsPerPost,
    load: r.load,
    'notif/s': r.notificationsPerSecond,
    'p50 ms': r.ackP50Ms,
    'p99 ms': r.ackP99Ms,
    'CPU ms/notif': r.cpuMsPerNotification,
    enqueued: r.enqueued,
  })),
);
console.table(
  floods.map((r) => ({
    route: r.route,
    'forged clientStates': r.clientStates,
    'notif/s': r.forgedNotificationsPerSecond,
    'storage requests/notif': r.storageReadsPerForgedNotification,
    'p99 ms': r.ackP99Ms,
    'CPU ms/notif': r.cpuMsPerNotification,
    enqueued: r.enqueued,
  })),
);
