/**
 * Test helpers: a recording IngressPort (our own port, so a small fake is fine) that dedupes by id like the
 * store does, an in-memory DeliveryLog, and a fake Discord with one guild, a thread and a DM.
 */
import { vi } from 'vitest';
import type { DeliveryLog, DeliveryRecord, InboundMessage, IngressPort, IngressResult, IngressStatus } from '../../../src/channels/index.js';
import { DiscordChannel, type DiscordChannelOptions } from '../../../src/channels/discord/index.js';
import { FakeDiscord, type FakeUser } from '../../../src/fakes/discord.js';

export const GUILD = '100000000000000001';
export const GENERAL = '200000000000000001';
export const THREAD = '200000000000000002';
export const DM = '400000000000000001';
export const BOT_ROLE = '300000000000000001';
export const ADMIN_ROLE = '300000000000000002';
export const alice: FakeUser = { id: '500000000000000001', username: 'alice' };
export const bob: FakeUser = { id: '500000000000000002', username: 'bob' };
export const otherBot: FakeUser = { id: '500000000000000003', username: 'otherbot', bot: true };

/** Records what ingress received; a message id seen before is `duplicate` (as the store reports it). */
export class RecordingIngress implements IngressPort {
  readonly received: InboundMessage[] = [];
  readonly accepted: InboundMessage[] = [];
  private readonly seen = new Set<string>();
  /** Decides the status of a new message; default: `command` when it has one, else `accepted`. */
  decide: (m: InboundMessage) => IngressStatus = (m) => (m.command ? 'command' : 'accepted');
  /** Runs before resolving (e.g. ingress answering a command through notify). */
  onReceive: ((m: InboundMessage) => Promise<void>) | undefined;

  async receive(message: InboundMessage): Promise<IngressResult> {
    this.received.push(message);
    if (this.seen.has(message.id)) return { status: 'duplicate' };
    this.seen.add(message.id);
    this.accepted.push(message);
    await this.onReceive?.(message);
    return { status: this.decide(message) };
  }

  /** Waits (bounded, real sockets) until `n` messages were accepted. */
  async waitForAccepted(n: number): Promise<InboundMessage[]> {
    await vi.waitFor(() => {
      if (this.accepted.length < n) throw new Error(`accepted ${this.accepted.length}/${n}`);
    }, { timeout: 5000, interval: 10 });
    return this.accepted;
  }
}

/** In-memory delivery log. */
export class MemoryDeliveries implements DeliveryLog {
  readonly records: DeliveryRecord[] = [];
  async delivered(runId: string): Promise<DeliveryRecord[]> {
    return this.records.filter((r) => r.runId === runId);
  }
  async record(delivery: DeliveryRecord): Promise<void> {
    this.records.push(delivery);
  }
}

/** Builds a fake Discord with a guild (#general and a thread under it) and a DM with alice. */
export async function startFake(): Promise<FakeDiscord> {
  const fake = await FakeDiscord.start();
  fake.addGuild(
    { id: GUILD, name: 'Guild', roles: [{ id: BOT_ROLE, name: 'Switchyard' }, { id: ADMIN_ROLE, name: 'admins' }], botRoles: [BOT_ROLE] },
    [
      { id: GENERAL, type: 0, name: 'general' },
      { id: THREAD, type: 11, name: 'a thread', parentId: GENERAL },
    ],
  );
  fake.addDm(DM, alice);
  return fake;
}

/** A DiscordChannel wired to the fake and to recording ports. Caller stops it. */
export function makeChannel(fake: FakeDiscord, overrides: Partial<DiscordChannelOptions> = {}): { channel: DiscordChannel; ingress: RecordingIngress; deliveries: MemoryDeliveries } {
  const ingress = (overrides.ingress as RecordingIngress | undefined) ?? new RecordingIngress();
  const deliveries = (overrides.deliveries as MemoryDeliveries | undefined) ?? new MemoryDeliveries();
  const channel = new DiscordChannel({
    id: 'dc',
    token: fake.token,
    restApi: fake.restApi,
    ingress,
    deliveries,
    // Discord wants 5 s between IDENTIFYs; the fake does not, and a re-identify test should not wait for it.
    clientOptions: { ws: { buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }) } },
    ...overrides,
  });
  return { channel, ingress, deliveries };
}
