/**
 * What the admin API needs from the gateway, as an interface: the HTTP layer stays free of scheduler and store
 * wiring, and the composition root decides how each operation is carried out. `SchedulerAdminBackend` is the
 * straightforward implementation over a `Scheduler` and a `Store`.
 */
import type { LaneStats, SessionSnapshot, StopAllResult, StopResult } from '../scheduler/index.js';
import type { HistoryEntry, PairingRequest, Pin } from '../store/index.js';

/** One session as the admin API shows it: its live queue state (when it holds work) and its stored history. */
export interface AdminSessionDetail {
  key: string;
  /** Live state; undefined when the session holds no work (idle sessions are not kept in memory). */
  live: SessionSnapshot | undefined;
  /** The session's context as stored: the latest summary, then every later entry, oldest first. */
  history: HistoryEntry[];
  pins: Pin[];
}

/**
 * Operations behind `/admin/*`. Methods may return values or promises. Errors should be `SwitchyardError`s
 * (`E_UNKNOWN_LANE`, `E_INVALID_OPTION`, `E_NOT_FOUND`, ...): the server maps their codes to HTTP statuses.
 */
export interface AdminBackend {
  /** Sessions holding work now (idle sessions live only in the store). */
  listSessions(): SessionSnapshot[] | Promise<SessionSnapshot[]>;
  /** One session with history and pins; undefined when nothing is known about it. */
  getSession(key: string): AdminSessionDetail | undefined | Promise<AdminSessionDetail | undefined>;
  listLanes(): LaneStats[] | Promise<LaneStats[]>;
  /** Changes a lane's concurrency cap at runtime; returns the lane's stats after the change. */
  resizeLane(name: string, concurrency: number): LaneStats | Promise<LaneStats>;
  /** `/stop` on behalf of an operator. */
  stop(key: string): StopResult | Promise<StopResult>;
  /** `/stopall` on behalf of an operator. */
  stopAll(key: string): StopAllResult | Promise<StopAllResult>;
  listPins(sessionKey: string): Pin[] | Promise<Pin[]>;
  /** Adds a manual pin (never evicted). */
  addPin(sessionKey: string, text: string): Pin | Promise<Pin>;
  /** Returns false when the pin did not exist. */
  removePin(sessionKey: string, pinId: number): boolean | Promise<boolean>;
  /** Pending pairing requests, of one channel or of all. */
  listPairings(channelId?: string): PairingRequest[] | Promise<PairingRequest[]>;
  /** Approves a code; undefined when the code is unknown or expired. */
  approvePairing(channelId: string, code: string): PairingRequest | undefined | Promise<PairingRequest | undefined>;
}
