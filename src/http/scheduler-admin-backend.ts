/**
 * The admin backend over the real parts: live state from the `Scheduler`, history, pins and pairing from the
 * `Store`. The composition root can use it as is, or wrap it to add notices (e.g. tell the chat an operator
 * stopped its run).
 */
import type { LaneStats, SchedulableMessage, Scheduler, SessionSnapshot, StopAllResult, StopResult } from '../scheduler/index.js';
import type { PairingRequest, Pin, Store } from '../store/index.js';
import type { AdminBackend, AdminSessionDetail } from './admin-backend.js';
import { NotFoundError } from './errors.js';

/** The part of the store the admin API reads and writes. */
export type AdminStore = Pick<Store, 'history' | 'listPins' | 'addPin' | 'removePin' | 'listPairings' | 'approvePairing'>;

/** Options of `SchedulerAdminBackend`. */
export interface SchedulerAdminBackendOptions<M extends SchedulableMessage> {
  scheduler: Scheduler<M>;
  store: AdminStore;
  /** Channel ids, for listing pairing requests across all channels. */
  channelIds: readonly string[];
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /**
   * Called after an operator's stop / stopall, e.g. to tell the chat what was stopped (as `/stop` answers in
   * the chat). Errors it throws are the caller's: keep it non-throwing.
   */
  onStopped?: (sessionKey: string, event: { kind: 'stop'; result: StopResult } | { kind: 'stopall'; result: StopAllResult }) => void;
}

/** `AdminBackend` over a scheduler and a store. */
export class SchedulerAdminBackend<M extends SchedulableMessage> implements AdminBackend {
  private readonly scheduler: Scheduler<M>;
  private readonly store: AdminStore;
  private readonly channelIds: readonly string[];
  private readonly now: () => number;
  private readonly onStopped: SchedulerAdminBackendOptions<M>['onStopped'];

  constructor(options: SchedulerAdminBackendOptions<M>) {
    this.scheduler = options.scheduler;
    this.store = options.store;
    this.channelIds = options.channelIds;
    this.now = options.now ?? Date.now;
    this.onStopped = options.onStopped;
  }

  listSessions(): SessionSnapshot[] {
    return this.scheduler.snapshot().sessions;
  }

  async getSession(key: string): Promise<AdminSessionDetail | undefined> {
    const live = this.scheduler.session(key);
    const [history, pins] = await Promise.all([this.store.history(key), this.store.listPins(key)]);
    if (live === undefined && history.length === 0 && pins.length === 0) return undefined;
    return { key, live, history, pins };
  }

  listLanes(): LaneStats[] {
    return this.scheduler.snapshot().lanes;
  }

  resizeLane(name: string, concurrency: number): LaneStats {
    const lane = this.scheduler.lane(name); // throws E_UNKNOWN_LANE
    lane.resize(concurrency); // throws E_INVALID_OPTION
    return lane.stats();
  }

  stop(key: string): StopResult {
    const result = this.scheduler.stop(key);
    this.onStopped?.(key, { kind: 'stop', result });
    return result;
  }

  stopAll(key: string): StopAllResult {
    const result = this.scheduler.stopAll(key);
    this.onStopped?.(key, { kind: 'stopall', result });
    return result;
  }

  listPins(sessionKey: string): Promise<Pin[]> {
    return this.store.listPins(sessionKey);
  }

  addPin(sessionKey: string, text: string): Promise<Pin> {
    return this.store.addPin({ sessionKey, text, source: 'manual', createdAt: this.now() });
  }

  removePin(sessionKey: string, pinId: number): Promise<boolean> {
    return this.store.removePin(sessionKey, pinId);
  }

  async listPairings(channelId?: string): Promise<PairingRequest[]> {
    if (channelId !== undefined) {
      if (!this.channelIds.includes(channelId)) throw new NotFoundError(`Channel ${JSON.stringify(channelId)}`);
      return this.store.listPairings(channelId, this.now());
    }
    const all = await Promise.all(this.channelIds.map((id) => this.store.listPairings(id, this.now())));
    return all.flat();
  }

  approvePairing(channelId: string, code: string): Promise<PairingRequest | undefined> {
    if (!this.channelIds.includes(channelId)) throw new NotFoundError(`Channel ${JSON.stringify(channelId)}`);
    return this.store.approvePairing(channelId, code, this.now());
  }
}
