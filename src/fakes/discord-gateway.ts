/**
 * The WebSocket half of the fake Discord (`FakeDiscord` owns it): a JSON gateway speaking HELLO, IDENTIFY →
 * READY + GUILD_CREATE, HEARTBEAT → ACK, RESUME (replay after the client's sequence, then RESUMED), op 9 for an
 * unknown session and op 7 on demand. Every dispatch is numbered per session and kept in the session log, so a
 * dispatch made while the client is between sockets is replayed on RESUME, as Discord does. Test-only code.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** What the gateway asks of its owner. */
export interface FakeGatewayHost {
  /** The token IDENTIFY and RESUME must carry. */
  readonly gatewayToken: string;
  /** Milestones for tests: `identify`, `resume`, `socketClose`. */
  readonly events: EventEmitter;
  readonly heartbeatIntervalMs: number;
  /** READY's payload for a new session, and the GUILD_CREATE payloads that follow it. */
  identifyPayloads(sessionId: string): { ready: unknown; guilds: unknown[] };
  /** A unique suffix for session ids. */
  snowflake(): string;
}

interface GatewaySession {
  id: string;
  seq: number;
  log: Array<{ s: number; t: string; d: unknown }>;
  socket: WebSocket | undefined;
}

/** The fake gateway. */
export class FakeGateway {
  /** Every payload the client sent (op and d). */
  readonly received: Array<{ op: number; d: unknown }> = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, GatewaySession>();

  constructor(private readonly host: FakeGatewayHost) {}

  /** Takes over an HTTP upgrade request. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
  }

  /** Sockets currently open. */
  get openSockets(): number {
    return this.wss.clients.size;
  }

  /** Sends a dispatch to every session; a session without a socket keeps it for RESUME. */
  dispatch(t: string, d: unknown): void {
    for (const session of this.sessions.values()) this.sendTo(session, t, d);
  }

  /** See `FakeDiscord.forceReconnect`. */
  forceReconnect(mode: 'op7' | 'close' | 'invalidate'): void {
    for (const ws of this.wss.clients) {
      if (mode === 'op7') ws.send(JSON.stringify({ op: 7, d: null }));
      else ws.close(4000, 'fake: forced close');
    }
    if (mode === 'invalidate') this.sessions.clear();
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onSocket(ws: WebSocket): void {
    let session: GatewaySession | undefined;
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.host.heartbeatIntervalMs } }));
    ws.on('message', (raw) => {
      let payload: { op: number; d: unknown };
      try {
        payload = JSON.parse(String(raw)) as { op: number; d: unknown };
      } catch {
        ws.close(4002, 'decode error');
        return;
      }
      this.received.push(payload);
      switch (payload.op) {
        case 1:
          ws.send(JSON.stringify({ op: 11 }));
          break;
        case 2: {
          const d = payload.d as { token?: string };
          if (d.token !== this.host.gatewayToken) {
            ws.close(4004, 'Authentication failed.');
            return;
          }
          session = { id: `session-${this.sessions.size + 1}-${this.host.snowflake()}`, seq: 0, log: [], socket: ws };
          this.sessions.set(session.id, session);
          const { ready, guilds } = this.host.identifyPayloads(session.id);
          this.sendTo(session, 'READY', ready);
          for (const guild of guilds) this.sendTo(session, 'GUILD_CREATE', guild);
          this.host.events.emit('identify', session.id);
          break;
        }
        case 6: {
          const d = payload.d as { token?: string; session_id?: string; seq?: number };
          const found = d.session_id === undefined ? undefined : this.sessions.get(d.session_id);
          if (!found || d.token !== this.host.gatewayToken) {
            ws.send(JSON.stringify({ op: 9, d: false }));
            return;
          }
          session = found;
          found.socket = ws;
          for (const e of found.log) if (e.s > (d.seq ?? 0)) ws.send(JSON.stringify({ op: 0, s: e.s, t: e.t, d: e.d }));
          this.sendTo(found, 'RESUMED', {});
          this.host.events.emit('resume', found.id);
          break;
        }
        default:
          break;
      }
    });
    ws.on('close', (code) => {
      this.host.events.emit('socketClose', code);
      if (!session || session.socket !== ws) return;
      session.socket = undefined;
      // A normal close ends the session on Discord: it cannot be resumed, and later events are not kept.
      if (code === 1000 || code === 1001) this.sessions.delete(session.id);
    });
  }

  private sendTo(session: GatewaySession, t: string, d: unknown): void {
    const s = ++session.seq;
    session.log.push({ s, t, d });
    session.socket?.send(JSON.stringify({ op: 0, s, t, d }));
  }
}
