/**
 * A local AMQP 1.0 stand-in for Azure Service Bus queues, built on `rhea`.
 *
 * There is no installable Service Bus emulator without Docker, so tests and the local runner
 * point the REAL `@azure/service-bus` client at this server with a connection string ending in
 * `UseDevelopmentEmulator=true`. With that flag the SDK (via @azure/core-amqp) uses plain TCP
 * instead of TLS, takes the port from the endpoint (`sb://127.0.0.1:PORT`), authenticates with
 * SASL ANONYMOUS and then puts a SAS token on the `$cbs` node before every link; we answer 200.
 *
 * What is implemented is what the SDK does on the wire for queues:
 * - senders: single messages (format 0) and batches (format 0x80013700: one AMQP message whose
 *   body is data sections, each an encoded message);
 * - receivers in peek-lock (unsettled deliveries, delivery tag = lock token) and
 *   receive-and-delete (pre-settled) mode, credit and drain;
 * - settlement: accepted = complete, modified = abandon, rejected = dead-letter; the
 *   `<queue>/$DeadLetterQueue` sub-queue; lock expiry; max delivery count; duplicate detection;
 * - `$management`: renew-lock, schedule-message, cancel-scheduled-message, peek-message,
 *   update-disposition (settling through the management link after the receiver link closed).
 * Not implemented: sessions, defer / receive-by-sequence-number, topics, TTL expiry,
 * transactions, SAS token validation. Unsupported operations fail loudly (amqp:not-implemented).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, Delivery, EventContext, Receiver, Sender } from 'rhea';

/** A decoded AMQP message as rhea represents it: each section is a plain property. */
interface Message {
  delivery_count?: number;
  message_annotations?: Record<string, unknown>;
  application_properties?: Record<string, unknown>;
  message_id?: unknown;
  reply_to?: unknown;
  body?: unknown;
  [field: string]: unknown;
}

/** The parts of a rhea link its typings leave out. */
interface LinkInternals {
  credit: number;
  local: { attach: Record<string, unknown> };
  remote: { attach: Record<string, unknown> & { source?: unknown; target?: unknown } };
}
const internals = (link: Sender | Receiver): LinkInternals => link as unknown as LinkInternals;
const decode = (bytes: Buffer): Message => rhea.message.decode(bytes);
const encode = (message: Message): Buffer => rhea.message.encode(message);

export interface StandInQueueOptions {
  /** Peek-lock duration. Default 60 000 (Service Bus default is 1 minute). */
  lockDurationMs?: number;
  /** Deliveries before a message is moved to the dead-letter queue. Default 10. */
  maxDeliveryCount?: number;
  /** Duplicate detection by messageId; 0 = off. Default 10 minutes (Service Bus default). */
  duplicateDetectionWindowMs?: number;
}

export interface AmqpStandIn {
  readonly port: number;
  readonly connectionString: string;
  stop(): Promise<void>;
  /**
   * `active`: waiting for delivery (not locked, not scheduled). `locked`: delivered in
   * peek-lock and not yet settled. `deadLettered`: everything in `<queue>/$DeadLetterQueue`.
   */
  stats(queue: string): {
    active: number;
    deadLettered: number;
    scheduled: number;
    locked: number;
    duplicatesDropped: number;
  };
  /** What is in `<queue>/$DeadLetterQueue`: each message's id, body and why it is there. */
  deadLetters(
    queue: string,
  ): { messageId: string | undefined; reason: unknown; description: unknown; body: unknown }[];
}

export interface StartAmqpStandInOptions {
  host?: string;
  /** 0 or undefined = a free port. */
  port?: number;
  queues?: Record<string, StandInQueueOptions>;
  /** Create unknown queues (with default options) when a client first uses them. Default true. */
  autoCreateQueues?: boolean;
  /** Advertised on receiving links; the SDK sizes batches by it. Default 256 KB (Standard tier). */
  maxMessageSizeBytes?: number;
  /**
   * Make the queues durable, as Service Bus is: every accepted message, change of delivery count,
   * dead-lettering, completion and duplicate-detection id is appended to this journal file before
   * the client is answered, and a stand-in started on the same file restores them (compacting the
   * file). Survives the stand-in's process being killed (the writes are in the OS before the
   * answer); not fsynced, so not a machine crash. Locks are not persisted: after a restart every
   * locked message is available again (its lock is lost, as on a broker failover). Default: in
   * memory only.
   */
  persistPath?: string;
}

/** One line of the journal (persistPath). */
type JournalRecord =
  | {
      t: 'put';
      e: string;
      seq: number;
      m: string;
      at: number;
      dc: number;
      sch?: number;
    }
  | { t: 'del'; e: string; seq: number }
  | { t: 'seen'; e: string; id: string; at: number };

const BATCH_FORMAT = 0x80013700;
const DLQ_SUFFIX = '/$deadletterqueue';
const MANAGEMENT_SUFFIX = '/$management';
const CBS_ADDRESS = '$cbs';
const LOCK_LOST = 'com.microsoft:message-lock-lost';
const ANN_SEQUENCE = 'x-opt-sequence-number';
const ANN_ENQUEUED = 'x-opt-enqueued-time';
const ANN_LOCKED_UNTIL = 'x-opt-locked-until';
const ANN_SCHEDULED = 'x-opt-scheduled-enqueue-time';
const ANN_STATE = 'x-opt-message-state';

// rhea's runtime has these helpers; its typings leave them out.
const amqpTypes = rhea.types as unknown as {
  wrap_long(n: number): unknown;
  wrap_timestamp(ms: number): unknown;
  wrap_array(values: unknown[], code: number, descriptors?: unknown): unknown;
};
const outcomes = rhea.message as unknown as {
  rejected(fields: { error?: AmqpErrorLike }): { described(): unknown };
};

interface AmqpErrorLike {
  condition: string;
  description?: string;
  info?: Record<string, unknown>;
}

interface Lock {
  token: string;
  until: number;
  timer: NodeJS.Timeout;
}

interface StoredMessage {
  seq: number;
  /** The message as the client sent it (decoded); broker annotations are added on the way out. */
  message: Message;
  enqueuedAt: number;
  /** AMQP header.delivery_count: failed deliveries so far (0 on the first delivery, like Service Bus). */
  deliveryCount: number;
  lock?: Lock;
  scheduledAt?: number;
  scheduleTimer?: NodeJS.Timeout;
}

/** One queue or one dead-letter sub-queue. */
class Entity {
  /** Messages ready for delivery, in sequence-number order (abandoned ones go back to their place). */
  readonly available: StoredMessage[] = [];
  readonly locked = new Map<string, StoredMessage>();
  readonly scheduled = new Map<number, StoredMessage>();
  /** messageId -> accepted at (ms). Map keeps insertion order, so expiry pruning is from the front. */
  readonly seen = new Map<string, number>();
  readonly consumers: Sender[] = [];
  duplicatesDropped = 0;
  private nextSeq = 1;
  private roundRobin = 0;

  constructor(
    readonly name: string,
    readonly options: Required<StandInQueueOptions>,
    /** Undefined for a dead-letter queue: Service Bus has no DLQ of a DLQ. */
    readonly deadLetterQueue: Entity | undefined,
  ) {}

  allocateSeq(): number {
    return this.nextSeq++;
  }

  /** After a restore: sequence numbers continue after the highest one seen. */
  seqAtLeast(seq: number): void {
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
  }

  insertAvailable(msg: StoredMessage): void {
    let i = this.available.length;
    while (i > 0 && this.available[i - 1]!.seq > msg.seq) i--;
    this.available.splice(i, 0, msg);
  }

  /** Next consumer link with spare credit, round-robin so competing receivers share the queue. */
  pickConsumer(): Sender | undefined {
    for (let n = 0; n < this.consumers.length; n++) {
      const index = (this.roundRobin + n) % this.consumers.length;
      const link = this.consumers[index]!;
      if (link.is_open() && spareCredit(link) > 0) {
        this.roundRobin = index + 1;
        return link;
      }
    }
    return undefined;
  }
}

/**
 * Credit the client granted minus deliveries we queued that rhea has not written yet. rhea only
 * decrements `credit` when it writes the transfer (on the next tick), so without this a burst of
 * sends in one tick would exceed the credit. This peeks at rhea's session internals.
 */
function spareCredit(link: Sender): number {
  const outgoing = (
    link.session as unknown as {
      outgoing: {
        next_pending_delivery: number;
        next_delivery_id: number;
        deliveries: { by_id(id: number): { link: unknown } | undefined };
        available(): number;
      };
    }
  ).outgoing;
  let unsent = 0;
  for (let id = outgoing.next_pending_delivery; id < outgoing.next_delivery_id; id++) {
    if (outgoing.deliveries.by_id(id)?.link === link) unsent++;
  }
  // The session's delivery buffer also holds unsettled (locked) deliveries; never overfill it.
  return Math.min(internals(link).credit - unsent, outgoing.available());
}

/** .NET GUID byte order: the SDK swaps these bytes of the delivery tag to form the lock token. */
function reorderGuid(bytes: Buffer): Buffer {
  return Buffer.from([
    bytes[3]!,
    bytes[2]!,
    bytes[1]!,
    bytes[0]!,
    bytes[5]!,
    bytes[4]!,
    bytes[7]!,
    bytes[6]!,
    ...bytes.subarray(8),
  ]);
}

function messageIdKey(id: unknown): string | undefined {
  if (id === undefined || id === null) return undefined;
  if (Buffer.isBuffer(id)) return id.toString('hex');
  // string, number or (for uuid ids) rhea's typed wrapper; Service Bus compares them as text.
  if (typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint') return String(id);
  return JSON.stringify(id);
}

function addressOf(terminus: unknown): string {
  const address = (terminus as { address?: unknown } | undefined)?.address;
  return typeof address === 'string' ? address : '';
}

class ManagementError extends Error {
  constructor(
    readonly statusCode: number,
    readonly condition: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startAmqpStandIn(options: StartAmqpStandInOptions = {}): Promise<AmqpStandIn> {
  const host = options.host ?? '127.0.0.1';
  const autoCreate = options.autoCreateQueues ?? true;
  const maxMessageSize = options.maxMessageSizeBytes ?? 256 * 1024;
  const queues = new Map<string, Entity>();
  const linkEntity = new WeakMap<Sender, Entity>();
  const deliveryLocks = new WeakMap<Delivery, { entity: Entity; token: string }>();
  /** Per connection: reply-to address -> our sending link, for $cbs and $management responses. */
  const replyLinks = new WeakMap<Connection, Map<string, Sender>>();
  const sockets = new Set<Socket>();
  const connections = new Set<Connection>();
  let stopped = false;

  const createQueue = (name: string, queueOptions: StandInQueueOptions = {}): Entity => {
    const resolved: Required<StandInQueueOptions> = {
      lockDurationMs: queueOptions.lockDurationMs ?? 60_000,
      maxDeliveryCount: queueOptions.maxDeliveryCount ?? 10,
      duplicateDetectionWindowMs: queueOptions.duplicateDetectionWindowMs ?? 10 * 60_000,
    };
    // The DLQ keeps messages until someone completes them: no max delivery count, no dedup.
    const dlq = new Entity(
      `${name}/$DeadLetterQueue`,
      { ...resolved, maxDeliveryCount: Infinity, duplicateDetectionWindowMs: 0 },
      undefined,
    );
    const queue = new Entity(name, resolved, dlq);
    queues.set(name.toLowerCase(), queue);
    return queue;
  };
  for (const [name, queueOptions] of Object.entries(options.queues ?? {})) createQueue(name, queueOptions);

  // ---- durability (persistPath) -----------------------------------------------------------

  let journal: number | undefined;
  const write = (record: JournalRecord): void => {
    if (journal !== undefined) writeSync(journal, `${JSON.stringify(record)}\n`);
  };
  const persist = (entity: Entity, msg: StoredMessage): void => {
    if (journal === undefined) return;
    write({
      t: 'put',
      e: entity.name,
      seq: msg.seq,
      m: encode(msg.message).toString('base64'),
      at: msg.enqueuedAt,
      dc: msg.deliveryCount,
      ...(msg.scheduledAt !== undefined ? { sch: msg.scheduledAt } : {}),
    });
  };
  const unpersist = (entity: Entity, msg: StoredMessage): void => {
    if (journal !== undefined) write({ t: 'del', e: entity.name, seq: msg.seq });
  };

  /** Entity for a link address such as `q`, `q/$DeadLetterQueue` or `sb://host/q`. */
  const resolveEntity = (address: string): Entity | undefined => {
    let path = address.replace(/^[a-z]+:\/\/[^/]*\//i, '').replace(/^\/+/, '');
    const dead = path.toLowerCase().endsWith(DLQ_SUFFIX);
    if (dead) path = path.slice(0, -DLQ_SUFFIX.length);
    if (!path) return undefined;
    const queue = queues.get(path.toLowerCase()) ?? (autoCreate ? createQueue(path) : undefined);
    return dead ? queue?.deadLetterQueue : queue;
  };

  // ---- moving messages -------------------------------------------------------------------

  const pump = (entity: Entity): void => {
    while (!stopped && entity.available.length > 0) {
      const link = entity.pickConsumer();
      if (!link) return;
      deliver(entity, entity.available.shift()!, link);
    }
  };

  const wireMessage = (msg: StoredMessage, extra: Record<string, unknown> = {}): Message => ({
    ...msg.message,
    // rhea flattens the header and properties sections onto the message object.
    delivery_count: msg.deliveryCount,
    message_annotations: {
      ...msg.message.message_annotations,
      [ANN_SEQUENCE]: amqpTypes.wrap_long(msg.seq),
      [ANN_ENQUEUED]: amqpTypes.wrap_timestamp(msg.enqueuedAt),
      ...extra,
    },
  });

  const deliver = (entity: Entity, msg: StoredMessage, link: Sender): void => {
    const tokenBytes = randomBytes(16);
    // The client asked for pre-settled deliveries (snd-settle-mode settled): receive-and-delete.
    if (internals(link).local.attach.snd_settle_mode === 1) {
      link.send(wireMessage(msg) as never, tokenBytes);
      return;
    }
    const token = rhea.uuid_to_string(tokenBytes);
    const until = Date.now() + entity.options.lockDurationMs;
    msg.lock = { token, until, timer: lockTimer(entity, token, entity.options.lockDurationMs) };
    entity.locked.set(token, msg);
    // The SDK reverses the GUID byte order of the tag to get the lock token string it later
    // sends back (renew-lock, update-disposition) in RFC order, so tag = reorder(token).
    const delivery = link.send(
      wireMessage(msg, { [ANN_LOCKED_UNTIL]: amqpTypes.wrap_timestamp(until) }) as never,
      reorderGuid(tokenBytes),
    );
    deliveryLocks.set(delivery, { entity, token });
  };

  const lockTimer = (entity: Entity, token: string, ms: number): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      const msg = entity.locked.get(token);
      if (!msg) return;
      releaseLock(entity, msg);
      msg.deliveryCount++;
      requeueOrDeadLetter(entity, msg);
    }, ms);
    timer.unref();
    return timer;
  };

  const releaseLock = (entity: Entity, msg: StoredMessage): void => {
    if (!msg.lock) return;
    clearTimeout(msg.lock.timer);
    entity.locked.delete(msg.lock.token);
    delete msg.lock;
  };

  const requeueOrDeadLetter = (entity: Entity, msg: StoredMessage): void => {
    if (entity.deadLetterQueue && msg.deliveryCount >= entity.options.maxDeliveryCount) {
      deadLetter(
        entity,
        msg,
        'MaxDeliveryCountExceeded',
        `Message could not be consumed after ${entity.options.maxDeliveryCount} delivery attempts.`,
      );
      return;
    }
    persist(entity, msg);
    entity.insertAvailable(msg);
    pump(entity);
  };

  const deadLetter = (
    entity: Entity,
    msg: StoredMessage,
    reason: unknown,
    description: unknown,
    properties: Record<string, unknown> = {},
  ): void => {
    const dlq = entity.deadLetterQueue!;
    const applicationProperties: Record<string, unknown> = {
      ...msg.message.application_properties,
      ...properties,
    };
    if (reason !== undefined && reason !== null) applicationProperties.DeadLetterReason = reason;
    if (description !== undefined && description !== null)
      applicationProperties.DeadLetterErrorDescription = description;
    const dead: StoredMessage = {
      seq: dlq.allocateSeq(),
      message: { ...msg.message, application_properties: applicationProperties },
      enqueuedAt: msg.enqueuedAt,
      deliveryCount: msg.deliveryCount,
    };
    persist(dlq, dead);
    unpersist(entity, msg);
    dlq.insertAvailable(dead);
    pump(dlq);
  };

  /** Accepts one message from a client; undefined if it was a duplicate within the window. */
  const accept = (entity: Entity, message: Message, now = Date.now()): StoredMessage | undefined => {
    const window = entity.options.duplicateDetectionWindowMs;
    const id = messageIdKey(message.message_id);
    if (window > 0 && id !== undefined) {
      for (const [seenId, at] of entity.seen) {
        if (now - at < window) break;
        entity.seen.delete(seenId);
      }
      if (entity.seen.has(id)) {
        // Service Bus accepts the send and silently drops the copy.
        entity.duplicatesDropped++;
        return undefined;
      }
      entity.seen.set(id, now);
      write({ t: 'seen', e: entity.name, id, at: now });
    }
    // Service Bus gives every message an id; the SDK's lock renewal relies on it.
    if (id === undefined) message = { ...message, message_id: randomBytes(16).toString('hex') };
    return { seq: entity.allocateSeq(), message, enqueuedAt: now, deliveryCount: 0 };
  };

  const schedule = (entity: Entity, msg: StoredMessage, at: number): void => {
    msg.scheduledAt = at;
    const arm = (): void => {
      // setTimeout cannot wait longer than ~24.8 days; re-arm until the time has come.
      const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
      msg.scheduleTimer = setTimeout(() => {
        if (Date.now() < at) return arm();
        entity.scheduled.delete(msg.seq);
        delete msg.scheduleTimer;
        delete msg.scheduledAt;
        msg.enqueuedAt = Date.now();
        persist(entity, msg);
        entity.insertAvailable(msg);
        pump(entity);
      }, wait);
      msg.scheduleTimer.unref();
    };
    arm();
    entity.scheduled.set(msg.seq, msg);
    persist(entity, msg);
  };

  const enqueue = (entity: Entity, messages: Message[]): void => {
    for (const message of messages) {
      const stored = accept(entity, message);
      if (!stored) continue;
      // A plain send may carry a scheduled enqueue time too (ServiceBusMessage.scheduledEnqueueTimeUtc).
      const at = toMillis(message.message_annotations?.[ANN_SCHEDULED]);
      if (at !== undefined && at > Date.now()) schedule(entity, stored, at);
      else {
        persist(entity, stored);
        entity.insertAvailable(stored);
      }
    }
    pump(entity);
  };

  // ---- settlement ------------------------------------------------------------------------

  type Outcome =
    | { kind: 'complete' }
    | { kind: 'abandon'; properties?: Record<string, unknown>; countsAsDelivery?: boolean }
    | { kind: 'deadletter'; reason?: unknown; description?: unknown; properties?: Record<string, unknown> }
    | { kind: 'defer' };

  /** Applies an outcome to a locked message; throws ManagementError when that is not possible. */
  const settle = (entity: Entity, token: string, outcome: Outcome): void => {
    const msg = entity.locked.get(token);
    if (!msg)
      throw new ManagementError(
        410,
        LOCK_LOST,
        'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
      );
    if (outcome.kind === 'defer') {
      throw new ManagementError(
        501,
        'amqp:not-implemented',
        'The AMQP stand-in does not implement deferral.',
      );
    }
    if (outcome.kind === 'deadletter' && !entity.deadLetterQueue) {
      throw new ManagementError(
        400,
        'amqp:not-allowed',
        'Cannot dead-letter a message in a dead-letter queue.',
      );
    }
    releaseLock(entity, msg);
    if (outcome.kind === 'complete') {
      unpersist(entity, msg);
      return;
    }
    if (outcome.properties && Object.keys(outcome.properties).length > 0) {
      msg.message = {
        ...msg.message,
        application_properties: { ...msg.message.application_properties, ...outcome.properties },
      };
    }
    if (outcome.kind === 'abandon') {
      if (outcome.countsAsDelivery !== false) msg.deliveryCount++;
      requeueOrDeadLetter(entity, msg);
    } else {
      deadLetter(entity, msg, outcome.reason, outcome.description);
    }
  };

  /** A disposition from a receiving client on one of our deliveries. */
  const onDisposition = (
    context: EventContext,
    kind: 'accepted' | 'rejected' | 'released' | 'modified',
  ): void => {
    const delivery = context.delivery;
    if (!delivery) return;
    const lock = deliveryLocks.get(delivery);
    if (!lock) return; // pre-settled (receive-and-delete) or a management response
    deliveryLocks.delete(delivery);
    const state = (delivery.remote_state ?? {}) as {
      undeliverable_here?: boolean;
      message_annotations?: Record<string, unknown>;
      error?: { condition?: string; description?: string; info?: Record<string, unknown> };
    };
    let outcome: Outcome;
    if (kind === 'accepted') outcome = { kind: 'complete' };
    else if (kind === 'rejected') {
      const { DeadLetterReason, DeadLetterErrorDescription, ...properties } = state.error?.info ?? {};
      outcome = {
        kind: 'deadletter',
        reason: DeadLetterReason,
        description: DeadLetterErrorDescription,
        properties,
      };
    } else if (kind === 'modified' && state.undeliverable_here) outcome = { kind: 'defer' };
    // modified = the SDK's abandon, which counts as a delivery; released (AMQP: "never
    // processed", the SDK does not send it) puts the message back without counting.
    else
      outcome = {
        kind: 'abandon',
        properties: state.message_annotations,
        countsAsDelivery: kind === 'modified',
      };
    try {
      settle(lock.entity, lock.token, outcome);
      // Echo the outcome to settle, but never with an error: the SDK treats any error in our
      // state as a failed settlement, and the client's dead-letter request carries one.
      const echo =
        kind === 'rejected' ? outcomes.rejected({}) : (delivery.remote_state as { described(): unknown });
      delivery.update(true, echo.described());
    } catch (error) {
      const e =
        error instanceof ManagementError
          ? error
          : new ManagementError(500, 'amqp:internal-error', String(error));
      delivery.update(
        true,
        outcomes.rejected({ error: { condition: e.condition, description: e.message } }).described(),
      );
    }
    // In rcv-settle-mode "second" the client settles silently once it sees our settlement, so
    // rhea would wait forever for a remote settle and keep the delivery in the session's
    // 2048-slot buffer, stalling the link after 2048 messages. Mark it done ourselves (after
    // update(), which queued our disposition frame).
    (delivery as { remote_settled: boolean }).remote_settled = true;
  };

  // ---- $cbs and $management --------------------------------------------------------------

  const reply = (connection: Connection, request: Message, response: Message): void => {
    const replyTo = typeof request.reply_to === 'string' ? request.reply_to : '';
    const link = replyLinks.get(connection)?.get(replyTo);
    if (!link || !link.is_open()) return; // the client gave up on the request
    link.send({ ...response, correlation_id: request.message_id, to: replyTo } as never);
  };

  const onManagement = (entity: Entity, request: Message): Message => {
    const operation = request.application_properties?.operation;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const ok = (responseBody: unknown = {}, statusCode = 200): Message => ({
      application_properties: { statusCode, statusDescription: statusCode === 204 ? 'No Content' : 'OK' },
      body: responseBody,
    });
    const tokens = (): string[] => asArray(body['lock-tokens']).map((t) => rhea.uuid_to_string(t as Buffer));

    switch (operation) {
      case 'com.microsoft:renew-lock': {
        const expirations = tokens().map((token) => {
          const msg = entity.locked.get(token);
          if (!msg?.lock) throw new ManagementError(410, LOCK_LOST, 'The lock supplied is invalid.');
          clearTimeout(msg.lock.timer);
          msg.lock.until = Date.now() + entity.options.lockDurationMs;
          msg.lock.timer = lockTimer(entity, token, entity.options.lockDurationMs);
          return new Date(msg.lock.until);
        });
        return ok({ expirations });
      }
      case 'com.microsoft:update-disposition': {
        const status = String(body['disposition-status']);
        const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
        const outcome: Outcome =
          status === 'completed'
            ? { kind: 'complete' }
            : status === 'abandoned'
              ? { kind: 'abandon', properties }
              : status === 'suspended'
                ? {
                    kind: 'deadletter',
                    reason: body['deadletter-reason'],
                    description: body['deadletter-description'],
                    properties,
                  }
                : { kind: 'defer' };
        for (const token of tokens()) settle(entity, token, outcome);
        return ok();
      }
      case 'com.microsoft:schedule-message': {
        const sequenceNumbers = asArray(body.messages).map((entry) => {
          const message = decode((entry as { message: Buffer }).message);
          const at = toMillis(message.message_annotations?.[ANN_SCHEDULED]) ?? Date.now();
          const stored = accept(entity, message);
          if (!stored) return entity.allocateSeq(); // duplicate: dropped, but the SDK expects a number
          schedule(entity, stored, at);
          return stored.seq;
        });
        return ok({ 'sequence-numbers': amqpTypes.wrap_array(sequenceNumbers, 0x81) });
      }
      case 'com.microsoft:cancel-scheduled-message': {
        for (const value of asArray(body['sequence-numbers'])) {
          const seq = typeof value === 'number' ? value : Number((value as Buffer).readBigInt64BE());
          const msg = entity.scheduled.get(seq);
          if (!msg) continue;
          clearTimeout(msg.scheduleTimer);
          entity.scheduled.delete(seq);
          unpersist(entity, msg);
        }
        return ok();
      }
      case 'com.microsoft:peek-message': {
        const from = Number(body['from-sequence-number'] ?? 1);
        const count = Number(body['message-count'] ?? 1);
        const all = [...entity.available, ...entity.locked.values(), ...entity.scheduled.values()]
          .filter((m) => m.seq >= from)
          .sort((a, b) => a.seq - b.seq)
          .slice(0, count);
        if (all.length === 0) return ok(undefined, 204);
        const messages = all.map((m) => {
          const extra: Record<string, unknown> = {};
          if (m.lock) extra[ANN_LOCKED_UNTIL] = amqpTypes.wrap_timestamp(m.lock.until);
          if (m.scheduledAt !== undefined) extra[ANN_STATE] = 2;
          return { message: encode(wireMessage(m, extra)) };
        });
        return ok({ messages });
      }
      default:
        throw new ManagementError(
          501,
          'amqp:not-implemented',
          `The AMQP stand-in does not implement ${typeof operation === 'string' ? operation : 'this operation'}.`,
        );
    }
  };

  const onRequest = (context: EventContext, address: string, request: Message): void => {
    if (address === CBS_ADDRESS) {
      // put-token: any token is accepted; the stand-in does not check SAS signatures.
      reply(context.connection, request, {
        application_properties: { 'status-code': 200, 'status-description': 'OK' },
      });
      return;
    }
    const entity = resolveEntity(address.slice(0, -MANAGEMENT_SUFFIX.length));
    let response: Message;
    try {
      if (!entity) throw new ManagementError(404, 'amqp:not-found', `No entity at ${address}.`);
      response = onManagement(entity, request);
    } catch (error) {
      const e =
        error instanceof ManagementError
          ? error
          : new ManagementError(500, 'amqp:internal-error', String(error));
      response = {
        application_properties: {
          statusCode: e.statusCode,
          statusDescription: e.message,
          errorCondition: e.condition,
        },
      };
    }
    reply(context.connection, request, response);
  };

  // ---- rhea wiring -----------------------------------------------------------------------

  if (options.persistPath) restore(options.persistPath);

  /** Replays the journal into the queues, then rewrites it as just their current contents. */
  function restore(path: string): void {
    const puts = new Map<string, Extract<JournalRecord, { t: 'put' }>>();
    const seen: Extract<JournalRecord, { t: 'seen' }>[] = [];
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line) continue;
        let record: JournalRecord;
        try {
          record = JSON.parse(line) as JournalRecord;
        } catch {
          continue; // a line cut short by a kill mid-write: it was never acknowledged
        }
        if (record.t === 'seen') seen.push(record);
        else if (record.t === 'put') puts.set(`${record.e}\u0000${record.seq}`, record);
        else puts.delete(`${record.e}\u0000${record.seq}`);
      }
    }
    const now = Date.now();
    for (const record of seen) {
      const entity = resolveEntity(record.e);
      if (entity && now - record.at < entity.options.duplicateDetectionWindowMs)
        entity.seen.set(record.id, record.at);
    }
    for (const record of [...puts.values()].sort((a, b) => a.seq - b.seq)) {
      const entity = resolveEntity(record.e);
      if (!entity) continue;
      entity.seqAtLeast(record.seq);
      const msg: StoredMessage = {
        seq: record.seq,
        message: decode(Buffer.from(record.m, 'base64')),
        enqueuedAt: record.at,
        deliveryCount: record.dc,
      };
      if (record.sch !== undefined && record.sch > now) schedule(entity, msg, record.sch);
      else entity.insertAvailable(msg);
    }
    const compacted = `${path}.tmp`;
    writeFileSync(compacted, '');
    journal = openSync(compacted, 'a');
    for (const queue of queues.values()) {
      for (const entity of [queue, queue.deadLetterQueue!]) {
        for (const [id, at] of entity.seen) write({ t: 'seen', e: entity.name, id, at });
        for (const msg of [...entity.available, ...entity.scheduled.values()]) persist(entity, msg);
      }
    }
    closeSync(journal);
    renameSync(compacted, path);
    journal = openSync(path, 'a');
  }

  const container = rhea.create_container({ id: 'amqp-standin' });

  container.on('sender_open', (context: EventContext) => {
    // A client receiver attached: we are the sending end. Echo its terminus and settle modes.
    const link = context.sender!;
    const { local } = internals(link);
    const remote = internals(link).remote.attach;
    link.set_source(remote.source as never);
    link.set_target(remote.target as never);
    local.attach.snd_settle_mode = remote.snd_settle_mode ?? 0;
    local.attach.rcv_settle_mode = remote.rcv_settle_mode ?? 0;
    const address = addressOf(remote.source);
    if (address === CBS_ADDRESS || address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      const map = replyLinks.get(context.connection) ?? new Map<string, Sender>();
      replyLinks.set(context.connection, map);
      // Responses go to the request's reply-to: the SDK uses it as the name of its receiving
      // link (CBS) and also as that link's target address ($management).
      map.set(link.name, link);
      if (addressOf(remote.target)) map.set(addressOf(remote.target), link);
      return;
    }
    const entity = resolveEntity(address);
    if (!entity) {
      link.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address}' could not be found.`,
      });
      return;
    }
    linkEntity.set(link, entity);
    entity.consumers.push(link);
  });

  container.on('receiver_open', (context: EventContext) => {
    // A client sender attached: we are the receiving end.
    const link = context.receiver!;
    const { local } = internals(link);
    const remote = internals(link).remote.attach;
    link.set_source(remote.source as never);
    link.set_target(remote.target as never);
    local.attach.max_message_size = maxMessageSize;
    const address = addressOf(remote.target);
    if (address === CBS_ADDRESS || address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) return;
    const entity = resolveEntity(address);
    if (!entity || address.toLowerCase().endsWith(DLQ_SUFFIX)) {
      link.close({
        condition: entity ? 'amqp:not-allowed' : 'amqp:not-found',
        description: entity
          ? 'Cannot send to a dead-letter queue.'
          : `The messaging entity '${address}' could not be found.`,
      });
    }
  });

  container.on('message', (context: EventContext & { format?: number }) => {
    const link = context.receiver!;
    const delivery = context.delivery!;
    const address = addressOf(internals(link).remote.attach.target);
    try {
      if (address === CBS_ADDRESS || address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
        delivery.accept();
        onRequest(context, address, context.message as unknown as Message);
        return;
      }
      const entity = resolveEntity(address);
      if (!entity) throw new Error(`No entity at ${address}`);
      let messages: Message[];
      if (!context.format) messages = [context.message as unknown as Message];
      else if (context.format === BATCH_FORMAT) {
        // A batch: the envelope's body is one data section per encoded message.
        const envelope = decode(context.message as unknown as Buffer);
        const body = envelope.body as { multiple?: boolean; content: Buffer | Buffer[] };
        const sections = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
        messages = sections.map(decode);
      } else throw new Error(`Unsupported message format ${context.format}`);
      enqueue(entity, messages);
      delivery.accept();
    } catch (error) {
      delivery.reject({ condition: 'amqp:internal-error', description: String(error) });
    }
  });

  container.on('sendable', (context: EventContext) => {
    const entity = linkEntity.get(context.sender!);
    if (entity) pump(entity);
  });
  container.on('sender_draining', (context: EventContext) => {
    // Drain: send what we have now, then give back the rest of the credit (rhea does that
    // when the drained flow is written, after the transfers queued here).
    const link = context.sender!;
    const entity = linkEntity.get(link);
    if (entity) pump(entity);
    link.set_drained(true);
  });

  for (const kind of ['accepted', 'rejected', 'released', 'modified'] as const) {
    container.on(kind, (context: EventContext) => onDisposition(context, kind));
  }

  const forgetLink = (link: Sender | Receiver | undefined): void => {
    if (!link || link.is_receiver()) return;
    const entity = linkEntity.get(link as Sender);
    if (!entity) return;
    const index = entity.consumers.indexOf(link as Sender);
    if (index >= 0) entity.consumers.splice(index, 1);
    // Locks stay until they expire, as on Service Bus; the message can still be settled
    // through $management (update-disposition) in the meantime.
  };
  container.on('sender_close', (context: EventContext) => forgetLink(context.sender));
  const forgetConnection = (context: EventContext): void => {
    for (const queue of queues.values()) {
      for (const entity of [queue, queue.deadLetterQueue!]) {
        for (const link of [...entity.consumers])
          if (link.connection === context.connection) forgetLink(link);
      }
    }
  };
  container.on('connection_open', (context: EventContext) => connections.add(context.connection));
  container.on('connection_close', (context: EventContext) => {
    connections.delete(context.connection);
    forgetConnection(context);
  });
  container.on('disconnected', (context: EventContext) => {
    connections.delete(context.connection);
    forgetConnection(context);
  });
  // Without listeners rhea rethrows these from the container; a client misbehaving must not
  // crash the test process.
  for (const event of [
    'error',
    'connection_error',
    'session_error',
    'sender_error',
    'receiver_error',
    'protocol_error',
  ]) {
    container.on(event, () => undefined);
  }

  const server: Server = container.listen({
    host,
    port: options.port ?? 0,
    // Dispositions and credit are driven by the queue logic above, not by rhea's defaults.
    autoaccept: false,
    treat_modified_as_released: false,
  } as never);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    connectionString: `Endpoint=sb://${host}:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true`,
    stats(queueName: string) {
      const queue = resolveEntity(queueName);
      if (!queue) throw new Error(`Unknown queue ${queueName}`);
      const dlq = queue.deadLetterQueue;
      return {
        active: queue.available.length,
        deadLettered: dlq ? dlq.available.length + dlq.locked.size : 0,
        scheduled: queue.scheduled.size,
        locked: queue.locked.size,
        duplicatesDropped: queue.duplicatesDropped,
      };
    },
    deadLetters(queueName: string) {
      const dlq = resolveEntity(queueName)?.deadLetterQueue;
      if (!dlq) throw new Error(`Unknown queue ${queueName}`);
      return [...dlq.available, ...dlq.locked.values()].map((m) => ({
        messageId: messageIdKey(m.message.message_id),
        reason: m.message.application_properties?.DeadLetterReason,
        description: m.message.application_properties?.DeadLetterErrorDescription,
        body: decodeBody(m.message.body),
      }));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const queue of queues.values()) {
        for (const entity of [queue, queue.deadLetterQueue!]) {
          for (const msg of entity.locked.values()) if (msg.lock) clearTimeout(msg.lock.timer);
          for (const msg of entity.scheduled.values()) clearTimeout(msg.scheduleTimer);
        }
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Close AMQP connections politely (clients see a close, not a reset), then cut whatever
      // is left so the port is free and no socket keeps the process alive.
      for (const connection of connections) if (!connection.is_closed()) connection.close();
      const deadline = Date.now() + 500;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      for (const socket of sockets) socket.destroy();
      await closed;
      if (journal !== undefined) closeSync(journal);
      journal = undefined;
    },
  };
}

/** A message body as the SDK sent it: JSON in a data section (a Buffer), or an AMQP value. */
function decodeBody(body: unknown): unknown {
  const content = (body as { content?: unknown } | undefined)?.content ?? body;
  if (!Buffer.isBuffer(content)) return content;
  try {
    return JSON.parse(content.toString('utf8')) as unknown;
  } catch {
    return content.toString('utf8');
  }
}

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function toMillis(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  return undefined;
}
