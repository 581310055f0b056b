/**
 * Test helpers for the Telegram adapter: a recording `IngressPort` and an in-memory `DeliveryLog` (our own
 * ports, not library mocks), chat and user fixtures, and a factory wiring a real `TelegramChannel` to the
 * fake Bot API server.
 */
import type { DeliveryLog, DeliveryRecord, IngressPort, IngressResult, InboundMessage } from '../../../src/channels/index.js';
import { TelegramChannel, type TelegramChannelOptions } from '../../../src/channels/telegram/index.js';
import { FakeTelegramApi, type FakeChat, type FakeUser } from '../../../src/fakes/telegram-api.js';
import { pino, type Logger } from 'pino';

/** Records every message; `gate` can hold `receive` open to test acknowledgement order. */
export class RecordingIngress implements IngressPort {
  readonly received: InboundMessage[] = [];
  /** `Date.now()` when each received message was accepted. */
  readonly acceptedAt: number[] = [];
  /** Failed receive attempts. */
  failures = 0;
  /** When set, `receive` throws this many times before succeeding. */
  failTimes = 0;
  /** When set, `receive` waits for it before resolving. */
  gate: Promise<void> | undefined;
  private readonly seen = new Set<string>();
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  async receive(message: InboundMessage): Promise<IngressResult> {
    if (this.failTimes > 0) {
      this.failTimes--;
      this.failures++;
      throw new Error('store unavailable');
    }
    await this.gate;
    // Dedupe is the store's job; here we only record whether the adapter handed a message twice.
    const duplicate = this.seen.has(message.id);
    this.seen.add(message.id);
    this.received.push(message);
    this.acceptedAt.push(Date.now());
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length >= w.n) w.resolve();
      return this.received.length < w.n;
    });
    return { status: duplicate ? 'duplicate' : message.command ? 'command' : 'accepted' };
  }

  /** Resolves once `n` messages have been received. */
  waitFor(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

/** An in-memory delivery log. */
export class MemoryDeliveryLog implements DeliveryLog {
  readonly records: DeliveryRecord[] = [];
  async delivered(runId: string): Promise<DeliveryRecord[]> {
    return this.records.filter((r) => r.runId === runId);
  }
  async record(delivery: DeliveryRecord): Promise<void> {
    this.records.push(delivery);
  }
}

/** Log lines captured as objects. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

export const alice: FakeUser = { id: 1001, is_bot: false, first_name: 'Alice', username: 'alice' };
export const bob: FakeUser = { id: 1002, is_bot: false, first_name: 'Bob', last_name: 'Builder' };
export const dmAlice: FakeChat = { id: 1001, type: 'private', first_name: 'Alice' };
export const group: FakeChat = { id: -100200, type: 'supergroup', title: 'Builders' };
export const forum: FakeChat = { id: -100300, type: 'supergroup', title: 'Forum', is_forum: true };

/** A running fake plus a channel wired to it. */
export interface Harness {
  fake: FakeTelegramApi;
  channel: TelegramChannel;
  ingress: RecordingIngress;
  deliveries: MemoryDeliveryLog;
  close(): Promise<void>;
}

/** Starts a fake and builds (but does not start) a channel against it, with fast test timings. */
export async function harness(overrides: Partial<TelegramChannelOptions> = {}): Promise<Harness> {
  const fake = await FakeTelegramApi.start({ maxPollMs: 200 });
  const ingress = new RecordingIngress();
  const deliveries = new MemoryDeliveryLog();
  const channel = new TelegramChannel({
    id: 'tg-test',
    token: fake.token,
    apiRoot: fake.apiRoot,
    ingress,
    deliveries,
    mode: 'polling',
    polling: { timeoutSeconds: 1, backoffInitialMs: 50, backoffMaxMs: 400 },
    pacing: { chatIntervalMs: 0 },
    typingIntervalMs: 4000,
    ...overrides,
  });
  return {
    fake,
    channel,
    ingress,
    deliveries,
    close: async () => {
      await channel.stop();
      await fake.close();
    },
  };
}

/** A reply target for a chat. */
export function targetOf(chat: FakeChat, extra: { threadId?: string; replyTo?: string } = {}) {
  return {
    channelId: 'tg-test',
    sessionKey: chat.type === 'private' ? `tg-test:dm:${chat.id}` : `tg-test:group:${chat.id}`,
    chatId: String(chat.id),
    peer: chat.type === 'private' ? ('dm' as const) : ('group' as const),
    ...(extra.threadId !== undefined ? { threadId: extra.threadId } : {}),
    ...(extra.replyTo !== undefined ? { replyToPlatformMessageId: extra.replyTo } : {}),
  };
}
