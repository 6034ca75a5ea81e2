/**
 * `npm run bench:e2e`: mail delivered in the simulated Graph tenant → Graph's change notification
 * → our webhook → Service Bus → the notification pipeline → a push, end to end, at a fixed rate.
 *
 * Processes (2 cores here, so each piece's CPU is measured on its own):
 * - this one: the simulated Graph tenant (latency `faults.latencyMs`, 50 ms) and the load generator;
 * - the function host (`--host`): the local runner with its real adapters (webhook, Azurite tables,
 *   Service Bus client, GraphClientFactory) plus the queue consumer running the pipeline; its CPU is
 *   "CPU ms per notification" (webhook + queue + pipeline, everything a Functions instance does);
 * - the AMQP stand-in (bench/amqp-server.ts) and Azurite: the broker and the storage service.
 *
 * The host runs its own queue consumer (consumeQueue, as the local runner does, + the same
 * processor built by buildNotificationService, as services.ts does) so that it can switch between
 * our processor and the naive one per phase, and so pushes go to a local sink wrapped to timestamp
 * them.
 *
 * Latency = mail delivered (the simulator's control call) → push accepted by the provider.
 * Phases: ours at each BENCH_RATES × BENCH_CONCURRENCY (messages in flight per instance; host.json has
 * 16 per instance, and Azure adds instances under load), and a * naive processor (fresh credential + Graph client per message, no caches, devices one by one).
 *
 * Settings (env): BENCH_RATES mails/s list (100,150,500), BENCH_DURATION s (20), BENCH_MAILBOXES
 * (100), BENCH_DEVICES per mailbox (2), BENCH_CONCURRENCY list (16,64), BENCH_NAIVE_DURATION s (10,
 * at the first rate), BENCH_NAIVE_CONCURRENCY (16), BENCH_DRAIN s (60), BENCH_GRAPH_LATENCY_MS (50).
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const QUEUE = 'mail-notifications';
const RATES = (process.env.BENCH_RATES ?? process.env.BENCH_RATE ?? '100,150,500').split(',').map(Number);
const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const MAILBOXES = Number(process.env.BENCH_MAILBOXES ?? 100);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 2);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '16,64').split(',').map(Number);
const NAIVE_DURATION = Number(process.env.BENCH_NAIVE_DURATION ?? 10);
const NAIVE_CONCURRENCY = Number(process.env.BENCH_NAIVE_CONCURRENCY ?? 16);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 3000);
const DRAIN_SECONDS = Number(process.env.BENCH_DRAIN ?? 60);
const GRAPH_LATENCY_MS = Number(process.env.BENCH_GRAPH_LATENCY_MS ?? 50);
/** BENCH_TELEMETRY=1: the host runs with OpenTelemetry on, exporting to a local ingestion sink. */
const TELEMETRY = process.env.BENCH_TELEMETRY === '1';

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
const clock = (): number => performance.timeOrigin + performance.now();

type Mode = 'ours' | 'naive';

interface HostUser {
  id: string;
  mail: string;
}

type ToHost =
  | { type: 'enrol'; users: HostUser[] }
  | { type: 'start'; mode: Mode; concurrency: number }
  | { type: 'stop-phase' }
  | { type: 'cpu' }
  | { type: 'stop' };

type FromHost =
  | { type: 'ready'; url: string }
  | { type: 'enrolled'; mailboxes: number; devices: number }
  | { type: 'started' }
  | { type: 'pushes'; events: [messageId: string, at: number, devices: number][] }
  | { type: 'phase-stopped'; stats: HostPhaseStats }
  | { type: 'cpu'; usage: NodeJS.CpuUsage };

interface HostPhaseStats {
  pushedMessages: number;
  pushes: number;
  dropped: Record<string, number>;
  retries: Record<string, number>;
  retriesScheduled: number;
  handlerErrors: number;
  maxConcurrent: number;
}

if (process.argv[2] === '--host') await runHost();
else await runBench();

// =============================================================================================
// The function host (child process)

async function runHost(): Promise<void> {
  if (TELEMETRY) await startBenchTelemetry();
  const [
    { startLocalHost },
    { processQueuedNotification },
    { consumeQueue },
    { createServiceBusClient },
    { buildNotificationService },
    { loadNotificationSettings },
    { ServiceBusRetryScheduler },
    { buildPushContent, summaryFromGraph },
    { messageKeyFor },
    { idempotencyDayOf },
    { createIdempotencyStore },
    { TableDeviceStore, DEVICES_TABLE_SUFFIX },
    { TableClients },
    { LocalSinkPushProvider },
    { createGraphCredential },
    { createGraphClient, getMessage, GraphMessageSource },
  ] = await Promise.all([
    import('../dev/local/host.js'),
    import('../shared/app/processor.js'),
    import('../dev/local/queue-consumer.js'),
    import('../shared/queue/notification-queue.js'),
    import('../shared/delivery/index.js'),
    import('../shared/delivery/settings.js'),
    import('../shared/queue/retry-scheduler.js'),
    import('../shared/delivery/content.js'),
    import('../shared/delivery/pipeline.js'),
    import('../shared/domain/idempotency.js'),
    import('../shared/store/idempotency-store.js'),
    import('../shared/store/device-store.js'),
    import('../shared/store/tables.js'),
    import('../shared/push/local-sink.js'),
    import('../shared/auth/index.js'),
    import('../shared/graph/index.js'),
  ]);
  type Services = import('../shared/app/services.js').Services;
  type PushProvider = import('../shared/domain/ports.js').PushProvider;
  type ChangeMessage = import('../shared/domain/model.js').ChangeMessage;

  const host = await startLocalHost({
    port: 0,
    quiet: true,
    log: () => {},
    startTimers: false,
    // Phases switch processors, so the host consumes the queue itself (below).
    startQueueTriggers: false,
  });
  const env = host.env;
  const send = (message: FromHost) => process.send?.(message);
  const tableOptions = {
    connectionString: env.TABLES_CONNECTION_STRING!,
    tablePrefix: env.TABLE_NAME_PREFIX ?? 'mailpush',
  };
  const deliveries = createIdempotencyStore(tableOptions);
  await deliveries.ensureTable();
  const tables = new TableClients(tableOptions);
  await tables.ensureTables([DEVICES_TABLE_SUFFIX]);
  const devices = new TableDeviceStore(tables.client(DEVICES_TABLE_SUFFIX));

  // The local sink, timestamped when it accepts a push; events go to the parent in batches.
  let events: [string, number, number][] = [];
  const sink = new LocalSinkPushProvider({ capacity: 100 });
  const push: PushProvider = {
    name: sink.name,
    registerDevice: (d) => sink.registerDevice(d),
    unregisterDevice: (d) => sink.unregisterDevice(d),
    async send(targets, content) {
      const outcomes = await sink.send(targets, content);
      const sent = outcomes.filter((o) => o.outcome === 'sent').length;
      if (sent > 0) events.push([content.data.messageId, clock(), sent]);
      return outcomes;
    },
  };
  const flush = setInterval(() => {
    if (events.length === 0) return;
    send({ type: 'pushes', events });
    events = [];
  }, 100);
  flush.unref();

  const serviceBus = createServiceBusClient({ connectionString: env.ServiceBusConnection! });
  const settings = loadNotificationSettings(env, { authorityHost: env.GRAPH_AUTHORITY_HOST! });
  const retryScheduler = new ServiceBusRetryScheduler(serviceBus, QUEUE);
  const notifications = buildNotificationService({
    settings,
    appId: env.GRAPH_CLIENT_ID!,
    authorityHost: env.GRAPH_AUTHORITY_HOST!,
    mailboxes: host.services.mailboxes,
    devices,
    push,
    idempotency: deliveries.store,
    messages: new GraphMessageSource(host.services.graphClients),
    retryScheduler,
  });
  const services: Services = { ...host.services, notifications };

  /** What a straightforward implementation does: everything per message, one thing at a time. */
  const naive = async (body: unknown): Promise<void> => {
    const m = body as ChangeMessage;
    const mailbox = await host.services.mailboxes.getMailbox(m.mailboxEmail);
    if (!mailbox) return;
    const list = await devices.listDevices(m.mailboxEmail);
    if (list.length === 0) return;
    const client = createGraphClient({
      graphEndpoint: env.GRAPH_ENDPOINT!,
      credential: createGraphCredential({
        tenant: m.tenantId,
        clientId: env.GRAPH_CLIENT_ID!,
        authorityHost: env.GRAPH_AUTHORITY_HOST!,
        secret: env.GRAPH_CLIENT_SECRET!,
      }),
    });
    const message = await getMessage(client, m.userId, m.messageId);
    if (!message || message.isRead) return;
    const content = buildPushContent({
      mode: mailbox.privacyMode ?? settings.defaultPrivacyMode,
      mailboxEmail: m.mailboxEmail,
      messageId: m.messageId,
      message: summaryFromGraph(message),
    });
    const messageKey = messageKeyFor(m);
    const day = idempotencyDayOf(message.receivedDateTime, Date.now());
    for (const device of list) {
      const [claim] = await deliveries.store.claim({
        day,
        messageKey,
        deviceIds: [device.deviceId],
        now: Date.now(),
        claimTimeoutMs: settings.claimTimeoutMs,
      });
      if (claim?.status !== 'claimed') continue;
      const [outcome] = await push.send([device], content);
      if (outcome?.outcome === 'sent') await deliveries.store.markSent([claim.claim], Date.now());
      else await deliveries.store.release([claim.claim]);
    }
  };

  let consumer: { close(): Promise<void> } | undefined;
  let phase: HostPhaseStats | undefined;
  let inFlight = 0;
  const start = (mode: Mode, concurrency: number) => {
    const before = notifications.counters.snapshot();
    const stats: HostPhaseStats = {
      pushedMessages: 0,
      pushes: 0,
      dropped: {},
      retries: {},
      retriesScheduled: 0,
      handlerErrors: 0,
      maxConcurrent: 0,
    };
    phase = stats;
    consumer = consumeQueue(
      serviceBus,
      QUEUE,
      async (body, meta) => {
        inFlight++;
        stats.maxConcurrent = Math.max(stats.maxConcurrent, inFlight);
        try {
          if (mode === 'naive') await naive(body);
          else {
            const outcome = await processQueuedNotification(services, body, {
              deliveryCount: meta.deliveryCount,
              maxDeliveryCount: settings.maxDeliveryCount,
              applicationProperties: meta.applicationProperties,
            });
            if (outcome.action === 'retry_scheduled') stats.retriesScheduled++;
          }
        } finally {
          inFlight--;
        }
      },
      {
        maxConcurrentCalls: concurrency,
        maxDeliveryCount: settings.maxDeliveryCount,
        onError: () => {
          stats.handlerErrors++;
        },
      },
    );
    return () => {
      const after = notifications.counters.snapshot();
      stats.pushedMessages = after.pushedMessages - before.pushedMessages;
      stats.pushes = after.pushes - before.pushes;
      for (const [k, v] of Object.entries(after.dropped)) {
        const d = v - (before.dropped[k as keyof typeof before.dropped] ?? 0);
        if (d) stats.dropped[k] = d;
      }
      for (const [k, v] of Object.entries(after.retries)) {
        const d = v - (before.retries[k as keyof typeof before.retries] ?? 0);
        if (d) stats.retries[k] = d;
      }
    };
  };
  let finish: (() => void) | undefined;

  process.on('message', (raw: ToHost) => {
    void (async () => {
      switch (raw.type) {
        case 'enrol': {
          const now = new Date().toISOString();
          let created = 0;
          for (let i = 0; i < raw.users.length; i += 10) {
            await Promise.all(
              raw.users.slice(i, i + 10).map(async (user, j) => {
                const mailbox = await host.services.mailboxes.insertMailbox({
                  email: user.mail,
                  userId: user.id,
                  tenantId: env.GRAPH_TENANT_ID!,
                  transport: 'graph',
                  // A mix of the three privacy modes (the rest use DEFAULT_PRIVACY_MODE).
                  ...((i + j) % 3 === 1 ? { privacyMode: 'full' as const } : {}),
                  ...((i + j) % 3 === 2 ? { privacyMode: 'minimal' as const } : {}),
                  createdAt: now,
                  updatedAt: now,
                });
                await host.services.lifecycle.createForMailbox(mailbox);
                for (let d = 0; d < DEVICES; d++) {
                  await devices.upsertDevice({
                    mailboxEmail: user.mail,
                    deviceId: `device-${d}`,
                    platform: d % 2 ? 'fcm' : 'apns',
                    token: `token-${randomUUID()}`,
                    userObjectId: user.id,
                    createdAt: now,
                    updatedAt: now,
                  });
                  created++;
                }
              }),
            );
          }
          send({ type: 'enrolled', mailboxes: raw.users.length, devices: created });
          break;
        }
        case 'start':
          finish = start(raw.mode, raw.concurrency);
          send({ type: 'started' });
          break;
        case 'stop-phase':
          await consumer?.close();
          consumer = undefined;
          finish?.();
          send({ type: 'phase-stopped', stats: phase! });
          break;
        case 'cpu':
          send({ type: 'cpu', usage: process.cpuUsage() });
          break;
        case 'stop':
          clearInterval(flush);
          await consumer?.close();
          await retryScheduler.close();
          await serviceBus.close();
          await host.stop();
          process.exit(0);
      }
    })().catch((error: unknown) => {
      console.error('[host]', error);
      process.exit(1);
    });
  });
  send({ type: 'ready', url: host.url });
}

// =============================================================================================
// The benchmark (parent process)

interface BacklogResult {
  processor: Mode;
  concurrency: number;
  notifications: number;
  pushed: number;
  /** Host CPU while the mails' notifications went through the webhook onto the queue. */
  webhookCpuMsPerNotification: number;
  /** Host CPU while the consumer drained them: queue client + processor (Graph, tables, push). */
  processorCpuMsPerNotification: number;
  drainPerSecond: number;
  azuriteCpuMsPerNotification: number | undefined;
}

interface PhaseResult {
  processor: string;
  concurrency: number;
  offeredPerSecond: number;
  deliveredMails: number;
  pushedMails: number;
  notPushed: number;
  throughputPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  cpuMsPerNotification: number;
  /** The rest of the local stack, per notification pushed (undefined where /proc is missing). */
  otherCpuMsPerNotification: { azurite?: number; broker?: number; simulatorAndLoad?: number };
  graphMessageReadsPerNotification: number;
  tokenRequests: number;
  graphThrottled: number;
  pushes: number;
  duplicatePushes: number;
  host: HostPhaseStats;
}

async function runBench(): Promise<void> {
  const { startGraphSimulator, DEMO_TENANT } = await import('../dev/sim/graph/index.js');
  const broker = fork(fileURLToPath(new URL('./amqp-server.js', import.meta.url)), [], {
    env: { ...process.env, BENCH_QUEUE: QUEUE },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const brokerReady = await new Promise<{ connectionString: string }>((resolve, reject) => {
    broker.once('message', (m) => resolve(m as { connectionString: string }));
    broker.once('exit', (code) => reject(new Error(`AMQP stand-in exited with ${code}`)));
  });
  const sim = await startGraphSimulator({ seed: true });
  const users: HostUser[] = Array.from({ length: MAILBOXES }, (_, i) => ({
    id: randomUUID(),
    mail: `bench.user${i}@${DEMO_TENANT.domain}`,
  }));
  for (const u of users) sim.addUser(DEMO_TENANT.tenantId, { id: u.id, mail: u.mail, displayName: u.mail });

  const hostEnv: NodeJS.ProcessEnv = {
    ...process.env,
    // The host trusts the simulator's CA (Node reads this only at start).
    NODE_EXTRA_CA_CERTS: sim.caCertificatePath,
    ServiceBusConnection: brokerReady.connectionString,
    NOTIFICATION_QUEUE_NAME: QUEUE,
    GRAPH_TENANT_ID: DEMO_TENANT.tenantId,
    GRAPH_CLIENT_ID: DEMO_TENANT.clientId,
    GRAPH_CLIENT_SECRET: DEMO_TENANT.clientSecret,
    GRAPH_AUTHORITY_HOST: sim.url,
    GRAPH_ENDPOINT: sim.url,
    // Required with real Graph settings; the devices API is not exercised here.
    DEVICE_API_AUDIENCE: 'api://mailpush-bench',
    LOG_LEVEL: 'warn',
  };
  // The host starts its own Azurite (another process) when no storage is configured.
  delete hostEnv.TABLES_CONNECTION_STRING;
  delete hostEnv.TABLES_ENDPOINT;
  const child = fork(fileURLToPath(import.meta.url), ['--host'], {
    env: hostEnv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters: { type: FromHost['type']; resolve: (m: FromHost) => void }[] = [];
  /** When every device of a message had its push (the naive processor pushes one device at a time). */
  const pushedAt = new Map<string, number>();
  const pushesOf = new Map<string, number>();
  let duplicatePushes = 0;
  let pushCount = 0;
  child.on('message', (m: FromHost) => {
    if (m.type === 'pushes') {
      for (const [messageId, at, n] of m.events) {
        pushCount += n;
        const total = (pushesOf.get(messageId) ?? 0) + n;
        pushesOf.set(messageId, total);
        // Every mailbox has DEVICES devices: more pushes than that for one message are duplicates.
        duplicatePushes += Math.max(0, total - Math.max(DEVICES, total - n));
        if (total >= DEVICES && !pushedAt.has(messageId)) pushedAt.set(messageId, at);
      }
      return;
    }
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`function host exited with ${code}`))),
  );
  const waitFor = <T extends FromHost['type']>(reply: T): Promise<Extract<FromHost, { type: T }>> =>
    Promise.race([
      new Promise<Extract<FromHost, { type: T }>>((resolve) => {
        waiters.push({ type: reply, resolve: resolve as (m: FromHost) => void });
      }),
      exited,
    ]);
  const ask = <T extends FromHost['type']>(
    message: ToHost,
    reply: T,
  ): Promise<Extract<FromHost, { type: T }>> => {
    const answer = waitFor(reply);
    child.send(message);
    return answer;
  };
  const cpuMs = async () => {
    const { usage } = await ask({ type: 'cpu' }, 'cpu');
    return (usage.user + usage.system) / 1000;
  };
  // The other processes of the local stack (Linux /proc; undefined elsewhere): every one of them
  // shares this machine's two cores, so their CPU per notification bounds what the box can carry.
  const azuritePid = () => readChildren(child.pid).find((pid) => readCmdline(pid).includes('azurite'));
  const stackCpu = () => ({
    azurite: procCpuMs(azuritePid()),
    broker: procCpuMs(broker.pid),
    simulatorAndLoad: (() => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    })(),
  });

  await waitFor('ready');
  process.stdout.write(
    `enrolling ${MAILBOXES} mailboxes (subscriptions with handshake) and ${DEVICES} devices each… `,
  );
  const enrolled = await ask({ type: 'enrol', users }, 'enrolled');
  console.log(`${enrolled.mailboxes} mailboxes, ${enrolled.devices} devices`);
  sim.faults.latencyMs = GRAPH_LATENCY_MS;

  const percentile = (sorted: number[], q: number) =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

  let mailSeq = 0;
  async function phase(mode: Mode, concurrency: number, seconds: number, rate: number): Promise<PhaseResult> {
    await ask({ type: 'start', mode, concurrency }, 'started');
    const statsBefore = sim.stats();
    const pushesBefore = pushCount;
    const dupBefore = duplicatePushes;
    const delivered = new Map<string, number>();
    const cpuBefore = await cpuMs();
    const stackBefore = stackCpu();
    const started = clock();
    const end = started + seconds * 1000;
    // Open loop: however far behind the host is, mail keeps arriving at the offered rate.
    while (clock() < end) {
      const due = Math.floor(((clock() - started) / 1000) * rate);
      while (delivered.size < due) {
        const user = users[mailSeq++ % users.length]!;
        const at = clock();
        const { messageId } = sim.deliverMail(user.mail, {
          subject: `Bench mail ${mailSeq}`,
          from: { name: 'Load Generator', address: 'load@contoso.example' },
          bodyPreview: 'A benchmark message with a preview long enough to be cut in full mode. '.repeat(4),
        });
        delivered.set(messageId, at);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const drainEnd = clock() + DRAIN_SECONDS * 1000;
    const pending = () => [...delivered.keys()].filter((id) => !pushedAt.has(id)).length;
    while (pending() > 0 && clock() < drainEnd) await new Promise((r) => setTimeout(r, 100));
    const cpuAfter = await cpuMs();
    const stackAfter = stackCpu();
    const { stats } = await ask({ type: 'stop-phase' }, 'phase-stopped');
    await new Promise((r) => setTimeout(r, 300)); // last push events
    const statsAfter = sim.stats();

    const latencies: number[] = [];
    let lastPush = started;
    for (const [id, at] of delivered) {
      const pushed = pushedAt.get(id);
      if (pushed === undefined) continue;
      latencies.push(pushed - at);
      lastPush = Math.max(lastPush, pushed);
    }
    latencies.sort((a, b) => a - b);
    const route = 'GET /v1.0/users/{id}/messages/{id}';
    const reads = (statsAfter.byRoute[route] ?? 0) - (statsBefore.byRoute[route] ?? 0);
    const pushed = latencies.length;
    return {
      processor: mode,
      concurrency,
      offeredPerSecond: rate,
      deliveredMails: delivered.size,
      pushedMails: pushed,
      notPushed: delivered.size - pushed,
      throughputPerSecond: Math.round(pushed / ((lastPush - started) / 1000)),
      latencyP50Ms: Math.round(percentile(latencies, 0.5)),
      latencyP99Ms: Math.round(percentile(latencies, 0.99)),
      latencyMaxMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      cpuMsPerNotification: Number(((cpuAfter - cpuBefore) / Math.max(1, pushed)).toFixed(3)),
      otherCpuMsPerNotification: {
        azurite: perNotification(stackBefore.azurite, stackAfter.azurite, pushed),
        broker: perNotification(stackBefore.broker, stackAfter.broker, pushed),
        simulatorAndLoad: perNotification(stackBefore.simulatorAndLoad, stackAfter.simulatorAndLoad, pushed),
      },
      graphMessageReadsPerNotification: Number((reads / Math.max(1, pushed)).toFixed(2)),
      tokenRequests: statsAfter.tokensIssued - statsBefore.tokensIssued,
      graphThrottled: statsAfter.throttled - statsBefore.throttled,
      pushes: pushCount - pushesBefore,
      duplicatePushes: duplicatePushes - dupBefore,
      host: stats,
    };
  }

  const queueActive = () =>
    new Promise<number>((resolve) => {
      const onMessage = (m: { type?: string; stats?: { active?: number } }) => {
        if (m.type !== 'stats') return;
        broker.off('message', onMessage);
        resolve(m.stats?.active ?? 0);
      };
      broker.on('message', onMessage);
      broker.send({ type: 'stats', queue: QUEUE });
    });

  /**
   * The processor alone: with the consumer stopped, N mails go through Graph's notification and
   * the webhook onto the queue (host CPU then is the webhook's); then the consumer starts on the
   * backlog and runs as fast as it can (host CPU then is the queue client's and the processor's).
   */
  async function backlogPhase(mode: Mode, concurrency: number, n: number): Promise<BacklogResult> {
    const cpu0 = await cpuMs();
    const ids: string[] = [];
    const started = clock();
    while (ids.length < n) {
      const due = Math.min(n, Math.floor(((clock() - started) / 1000) * 200));
      while (ids.length < due) {
        const user = users[mailSeq++ % users.length]!;
        ids.push(
          sim.deliverMail(user.mail, {
            subject: `Backlog mail ${mailSeq}`,
            from: { name: 'Load Generator', address: 'load@contoso.example' },
            bodyPreview: 'A benchmark message.',
          }).messageId,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const fillDeadline = clock() + 60_000;
    while ((await queueActive()) < n && clock() < fillDeadline) await new Promise((r) => setTimeout(r, 100));
    const cpu1 = await cpuMs();
    const stack1 = stackCpu();
    const t1 = clock();
    await ask({ type: 'start', mode, concurrency }, 'started');
    const drainEnd = clock() + DRAIN_SECONDS * 1000;
    const done = () => ids.filter((id) => pushedAt.has(id)).length;
    while (done() < n && clock() < drainEnd) await new Promise((r) => setTimeout(r, 50));
    const t2 = Math.max(...ids.map((id) => pushedAt.get(id) ?? 0));
    const cpu2 = await cpuMs();
    const stack2 = stackCpu();
    await ask({ type: 'stop-phase' }, 'phase-stopped');
    const pushed = done();
    return {
      processor: mode,
      concurrency,
      notifications: n,
      pushed,
      webhookCpuMsPerNotification: Number(((cpu1 - cpu0) / n).toFixed(3)),
      processorCpuMsPerNotification: Number(((cpu2 - cpu1) / Math.max(1, pushed)).toFixed(3)),
      drainPerSecond: Math.round(pushed / ((t2 - t1) / 1000)),
      azuriteCpuMsPerNotification: perNotification(stack1.azurite, stack2.azurite, pushed),
    };
  }

  const results: PhaseResult[] = [];
  const backlog: BacklogResult[] = [];
  const show = (r: PhaseResult) =>
    console.log(
      `${r.processor.padEnd(5)} c=${String(r.concurrency).padStart(3)}  offered ${r.offeredPerSecond}/s  ` +
        `pushed ${r.pushedMails}/${r.deliveredMails} at ${r.throughputPerSecond}/s  p50 ${r.latencyP50Ms} ms  ` +
        `p99 ${r.latencyP99Ms} ms  CPU ${r.cpuMsPerNotification} ms/notif ` +
        `(Azurite ${r.otherCpuMsPerNotification.azurite ?? '?'}, broker ${r.otherCpuMsPerNotification.broker ?? '?'}, ` +
        `simulator+load ${r.otherCpuMsPerNotification.simulatorAndLoad ?? '?'})  tokens ${r.tokenRequests}  ` +
        `dup pushes ${r.duplicatePushes}  errors ${r.host.handlerErrors}`,
    );
  try {
    // Warm-up (JIT, connections, caches, tokens): not reported.
    show(await phase('ours', CONCURRENCY[0] ?? 16, 5, 50));
    for (const [mode, c] of [
      ['ours', CONCURRENCY[CONCURRENCY.length - 1] ?? 64],
      ['naive', NAIVE_CONCURRENCY],
    ] as const) {
      if (mode === 'naive' && NAIVE_DURATION <= 0) continue;
      // The naive processor is slow: a third of the backlog keeps its drain inside BENCH_DRAIN.
      const b = await backlogPhase(mode, c, mode === 'naive' ? Math.ceil(BACKLOG / 3) : BACKLOG);
      backlog.push(b);
      console.log(
        `${mode.padEnd(5)} c=${String(c).padStart(3)}  backlog of ${b.notifications}: webhook ${b.webhookCpuMsPerNotification} ms/notif, ` +
          `processor ${b.processorCpuMsPerNotification} ms/notif (Azurite ${b.azuriteCpuMsPerNotification ?? '?'}), ` +
          `drained ${b.pushed} at ${b.drainPerSecond}/s`,
      );
    }
    for (const [i, rate] of RATES.entries()) {
      for (const c of CONCURRENCY) {
        const r = await phase('ours', c, DURATION, rate);
        results.push(r);
        show(r);
      }
      // The baseline at the first (lowest) rate, before any overload leaves a backlog behind.
      if (i === 0 && NAIVE_DURATION > 0) {
        const r = await phase('naive', NAIVE_CONCURRENCY, NAIVE_DURATION, rate);
        results.push(r);
        show(r);
      }
    }
  } finally {
    child.send({ type: 'stop' } satisfies ToHost);
    await new Promise((r) => child.once('exit', r));
    broker.send({ type: 'stop' });
    await new Promise((r) => broker.once('exit', r));
    await sim.stop();
  }

  const output = {
    benchmark: 'e2e',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: {
      ratesPerSecond: RATES,
      durationSeconds: DURATION,
      mailboxes: MAILBOXES,
      devicesPerMailbox: DEVICES,
      concurrency: CONCURRENCY,
      naiveDurationSeconds: NAIVE_DURATION,
      naiveConcurrency: NAIVE_CONCURRENCY,
      graphLatencyMs: GRAPH_LATENCY_MS,
      telemetry: TELEMETRY ? 'on' : 'off',
    },
    results,
    backlog,
  };
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL('e2e.json', dir);
  writeFileSync(file, JSON.stringify(output, null, 2));
  console.log(`\nwrote ${fileURLToPath(file)}`);
  console.table(
    results.map((r) => ({
      processor: r.processor,
      'in flight': r.concurrency,
      'offered/s': r.offeredPerSecond,
      'pushed/delivered': `${r.pushedMails}/${r.deliveredMails}`,
      'pushed/s': r.throughputPerSecond,
      'p50 ms': r.latencyP50Ms,
      'p99 ms': r.latencyP99Ms,
      'host CPU ms/notif': r.cpuMsPerNotification,
      'Azurite ms': r.otherCpuMsPerNotification.azurite,
      'broker ms': r.otherCpuMsPerNotification.broker,
      'sim+load ms': r.otherCpuMsPerNotification.simulatorAndLoad,
      'Graph reads/notif': r.graphMessageReadsPerNotification,
      tokens: r.tokenRequests,
      'dup pushes': r.duplicatePushes,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Telemetry on (BENCH_TELEMETRY=1)

/**
 * The production start-up (useAzureMonitor: spans and metrics through the Azure Monitor
 * exporter), pointed at an ingestion endpoint in this process that accepts everything, plus an
 * in-memory reader collecting every second so collection is paid for within a short phase.
 */
async function startBenchTelemetry(): Promise<void> {
  const { createServer } = await import('node:http');
  const { InMemoryMetricExporter, PeriodicExportingMetricReader, AggregationTemporality } =
    await import('@opentelemetry/sdk-metrics');
  const { startTelemetry } = await import('../shared/telemetry/index.js');
  const sink = createServer((req, res) => {
    let items = 0;
    req.on('data', (chunk: Buffer) => (items += chunk.length > 0 ? 1 : 0));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ itemsReceived: items, itemsAccepted: items, errors: [] }));
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  sink.unref();
  const { port } = sink.address() as { port: number };
  const state = await startTelemetry({
    env: {
      APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:${port}/`,
    },
    credential: null,
    // BENCH_TELEMETRY_READER=0: production's export only (every 60 s), no 1-s collection.
    ...(process.env.BENCH_TELEMETRY_READER === '0'
      ? {}
      : {
          metricReaders: [
            new PeriodicExportingMetricReader({
              exporter: new InMemoryMetricExporter(AggregationTemporality.DELTA),
              exportIntervalMillis: 1_000,
            }),
          ],
        }),
  });
  if (state !== 'on') throw new Error(`telemetry did not start (${state})`);
}

// ---------------------------------------------------------------------------------------------
// CPU of other processes (Linux /proc)

/** user + system CPU of a process in ms, or undefined when it cannot be read. */
function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command (which may hold spaces) start at state; utime and stime are 12th/13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    // USER_HZ is 100 on every Linux this runs on.
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

function readChildren(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function perNotification(
  before: number | undefined,
  after: number | undefined,
  n: number,
): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  return Number(((after - before) / Math.max(1, n)).toFixed(3));
}
