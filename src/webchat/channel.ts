/**
 * The webchat channel: a chat in the browser, served by the gateway itself, so a new user can talk to the
 * agent with no bot token. One WebSocket per tab; every tab of one browser (same `clientId`) is one DM session
 * and sees the same replies. Speaks the protocol in `protocol.ts`.
 *
 * Like every adapter it knows nothing of queues or models: inbound frames become `InboundMessage`s for the
 * `IngressPort`, replies arrive through `ReplyStream`s. Replies for a browser with no open tab are kept in a
 * small per-client outbox and delivered on its next `hello`, so a reload mid-run loses nothing.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  parseInbound,
  parseCommand,
  sessionKeyOf,
  type ChannelAdapter,
  type DeliveryLog,
  type InboundMessage,
  type IngressPort,
  type OpenReplyOptions,
  type ReplyStream,
  type ReplyTarget,
} from '../channels/index.js';
import { SwitchyardError, isSwitchyardError, toError } from '../errors/index.js';
import { silentLogger } from '../log/index.js';
import { ClientFrameSchema, type ClientFrame, type HistoryLine, type ServerFrame } from './protocol.js';
import { WebchatReply } from './reply.js';

/** Options of `WebchatChannel`. */
export interface WebchatChannelOptions {
  /** Config id of the channel (`local`). */
  id: string;
  /** Where inbound messages go. */
  ingress: IngressPort;
  /** Records delivered replies so a replayed run never shows a reply twice. Optional. */
  deliveryLog?: DeliveryLog;
  logger?: Logger;
  /** Largest frame a client may send (bytes). Default 64 KiB. */
  maxFrameBytes?: number;
  /** Most frames kept for a browser with no open tab. Default 50 (oldest dropped first). */
  outboxSize?: number;
  /** Most open sockets. Default 256. */
  maxSockets?: number;
  /** Most browsers with no open tab whose outbox is kept (oldest forgotten first). Default 1000. */
  maxOfflineClients?: number;
  /**
   * The stored conversation of a session (e.g. `store.history`), so a reloaded page shows it. Summary entries
   * are skipped; the last `historyLines` user / assistant entries are sent. Default: none (a new tab starts empty).
   */
  history?: (sessionKey: string) => Promise<ReadonlyArray<{ role: string; content: string; at: number; runId?: string | undefined }>>;
  /** Most history lines sent to a new tab. Default 100. */
  historyLines?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
}

/** One browser (all its tabs). Internal. */
interface Client {
  readonly id: string;
  readonly sessionKey: string;
  name: string;
  readonly sockets: Set<WebSocket>;
  /** Frames waiting for a tab, oldest first. */
  outbox: ServerFrame[];
}

/** Per-socket state before and after `hello`. Internal. */
interface SocketState {
  client: Client | undefined;
}

/** The webchat `ChannelAdapter`; also the WebSocket endpoint the HTTP server hands upgrades to. */
export class WebchatChannel implements ChannelAdapter {
  readonly id: string;
  readonly platform = 'webchat' as const;
  private readonly ingress: IngressPort;
  private readonly deliveryLog: DeliveryLog | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly outboxSize: number;
  private readonly maxSockets: number;
  private readonly maxOfflineClients: number;
  private readonly history: WebchatChannelOptions['history'];
  private readonly historyLines: number;
  /** Browsers with no open tab but a non-empty outbox, oldest first (Map keeps insertion order). */
  private readonly offline = new Map<string, Client>();
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<string, Client>();
  private readonly sockets = new Map<WebSocket, SocketState>();
  private receiving = false;
  private seq = 0;

  constructor(options: WebchatChannelOptions) {
    if (options.id === '') throw new SwitchyardError('E_INVALID_OPTION', 'Expected `id` to be a non-empty channel id');
    this.id = options.id;
    this.ingress = options.ingress;
    this.deliveryLog = options.deliveryLog;
    this.log = (options.logger ?? silentLogger).child({ component: 'webchat', channel: options.id });
    this.now = options.now ?? Date.now;
    this.outboxSize = options.outboxSize ?? 50;
    this.maxSockets = options.maxSockets ?? 256;
    this.maxOfflineClients = options.maxOfflineClients ?? 1000;
    this.history = options.history;
    this.historyLines = options.historyLines ?? 100;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes ?? 64 * 1024 });
  }

  /** True between `start` and `stop`. */
  get isReceiving(): boolean {
    return this.receiving;
  }

  /** Open sockets (all clients). */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Starts accepting connections. The HTTP server owns the port; nothing to connect. */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.receiving = true;
    this.log.debug('webchat receiving');
  }

  /** Stops intake and closes every socket (code 1001, "going away"; the page reconnects). Idempotent. */
  async stop(): Promise<void> {
    if (!this.receiving && this.sockets.size === 0) return;
    this.receiving = false;
    for (const ws of this.sockets.keys()) ws.close(1001, 'gateway stopping');
    this.sockets.clear();
    for (const c of this.clients.values()) c.sockets.clear();
  }

  /**
   * Takes over an HTTP upgrade request (called by the HTTP server for the chat path). Refused with 503 when not
   * receiving, 429 when at `maxSockets`. The caller has already checked the Origin.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!this.receiving) return refuse(503, 'Service Unavailable');
    if (this.sockets.size >= this.maxSockets) return refuse(429, 'Too Many Requests');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  openReply(target: ReplyTarget, options: OpenReplyOptions): ReplyStream {
    return new WebchatReply({
      runId: options.runId,
      signal: options.signal,
      send: (frame) => this.sendTo(target.chatId, frame),
      deliveryLog: this.deliveryLog,
      log: this.log,
    });
  }

  async notify(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.sendTo(target.chatId, { type: 'notice', text });
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────────

  private onConnection(ws: WebSocket): void {
    const state: SocketState = { client: undefined };
    this.sockets.set(ws, state);
    ws.on('message', (data, isBinary) => {
      void this.onFrame(ws, state, data, isBinary);
    });
    ws.on('close', () => {
      this.sockets.delete(ws);
      state.client?.sockets.delete(ws);
      if (state.client !== undefined) this.forgetIfIdle(state.client);
    });
    ws.on('error', (err) => this.log.debug({ err }, 'webchat socket error'));
  }

  private async onFrame(ws: WebSocket, state: SocketState, data: RawData, isBinary: boolean): Promise<void> {
    let frame: ClientFrame;
    try {
      if (isBinary) throw new Error('binary frames are not accepted');
      const parsed = ClientFrameSchema.safeParse(JSON.parse(rawToString(data)));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`).join('; '));
      frame = parsed.data;
    } catch (err) {
      this.send(ws, { type: 'error', code: 'E_WEBCHAT_PROTOCOL', message: `Bad frame: ${toError(err).message}` });
      return;
    }
    if (frame.type === 'hello') return this.hello(ws, state, frame.clientId, frame.name);
    const client = state.client;
    if (client === undefined) {
      this.send(ws, { type: 'error', code: 'E_WEBCHAT_PROTOCOL', message: 'Send {"type":"hello","clientId":...} first' });
      return;
    }
    const clientMessageId = frame.clientMessageId ?? `s${this.now()}${(this.seq++ % 1000).toString().padStart(3, '0')}`;
    let message: InboundMessage;
    try {
      message = this.envelope(client, frame, clientMessageId);
    } catch (err) {
      this.send(ws, { type: 'error', code: 'E_WEBCHAT_PROTOCOL', message: toError(err).message, clientMessageId });
      return;
    }
    try {
      if (!this.receiving) throw new SwitchyardError('E_DRAINING');
      const result = await this.ingress.receive(message);
      this.send(ws, { type: 'ack', clientMessageId, messageId: message.id, status: result.status });
    } catch (err) {
      const e = toError(err);
      const code = isSwitchyardError(e) ? e.code : 'E_INTERNAL';
      if (!isSwitchyardError(e)) this.log.error({ err: e, messageId: message.id }, 'ingress failed for a webchat message');
      this.send(ws, { type: 'error', code, message: isSwitchyardError(e) ? e.message : 'The gateway could not accept the message', clientMessageId });
    }
  }

  private async hello(ws: WebSocket, state: SocketState, clientId: string, name: string | undefined): Promise<void> {
    if (state.client !== undefined && state.client.id !== clientId) {
      this.send(ws, { type: 'error', code: 'E_WEBCHAT_PROTOCOL', message: 'This socket is already bound to another client id' });
      return;
    }
    let client = this.clients.get(clientId);
    if (client === undefined) {
      const sessionKey = sessionKeyOf({ channelId: this.id, peer: 'dm', chatId: clientId, senderId: clientId });
      client = { id: clientId, sessionKey, name: name ?? 'you', sockets: new Set(), outbox: [] };
      this.clients.set(clientId, client);
    } else if (name !== undefined) {
      client.name = name;
    }
    state.client = client;
    this.offline.delete(clientId);
    this.send(ws, { type: 'ready', clientId, sessionKey: client.sessionKey, channelId: this.id });
    const lines = await this.historyOf(client.sessionKey);
    if (lines.length > 0) this.send(ws, { type: 'history', entries: lines });
    if (ws.readyState !== ws.OPEN) return; // closed while history loaded
    // Only now does the socket receive live frames, so history never lands after a newer reply.
    client.sockets.add(ws);
    // Replies produced while no tab was open, in order.
    const backlog = client.outbox;
    client.outbox = [];
    for (const frame of backlog) this.send(ws, frame);
  }

  /** The last `historyLines` user / assistant entries of a session; empty without a source or on error. */
  private async historyOf(sessionKey: string): Promise<HistoryLine[]> {
    if (this.history === undefined) return [];
    try {
      const entries = await this.history(sessionKey);
      const lines: HistoryLine[] = [];
      for (const e of entries) {
        if (e.role !== 'user' && e.role !== 'assistant') continue;
        lines.push({ role: e.role, text: e.content, at: e.at, ...(e.runId !== undefined ? { runId: e.runId } : {}) });
      }
      return lines.slice(-this.historyLines);
    } catch (err) {
      this.log.warn({ err: toError(err), sessionKey }, 'could not load webchat history');
      return [];
    }
  }

  /** Builds and validates the envelope of a message or command frame. */
  private envelope(client: Client, frame: Exclude<ClientFrame, { type: 'hello' }>, clientMessageId: string): InboundMessage {
    const now = this.now();
    const text = frame.type === 'message' ? frame.text.trim() : `/${frame.name}${frame.args ? ` ${frame.args}` : ''}`;
    if (text === '') throw new SwitchyardError('E_WEBCHAT_PROTOCOL', 'Empty message: type something first');
    const command = frame.type === 'command' ? { name: frame.name, args: (frame.args ?? '').trim() } : parseCommand(text);
    const message = {
      id: `${this.id}:${client.id}:${clientMessageId}`,
      channelId: this.id,
      platform: 'webchat' as const,
      sessionKey: client.sessionKey,
      chatId: client.id,
      senderId: client.id,
      senderName: client.name,
      peer: 'dm' as const,
      text,
      mentionsBot: true,
      replyToBot: false,
      attachments: [],
      platformMessageId: clientMessageId,
      // The browser's clock is not trusted: platform time is arrival time.
      sentAt: now,
      receivedAt: now,
      ...(command !== undefined ? { command } : {}),
    };
    const parsed = parseInbound(message);
    if (!parsed.success) {
      throw new SwitchyardError('E_WEBCHAT_PROTOCOL', `Invalid message: ${parsed.issues}`);
    }
    return parsed.data;
  }

  /** Sends to every tab of a browser, or keeps the frame for its next `hello` when none is open. */
  private sendTo(clientId: string, frame: ServerFrame): boolean {
    const client = this.clients.get(clientId);
    if (client === undefined || client.sockets.size === 0) {
      // Deltas are only useful live; the final text (reply:done) and notices are what a returning tab needs.
      if (frame.type === 'reply:delta' || frame.type === 'reply:start') return false;
      const c = client ?? this.addOfflineClient(clientId);
      c.outbox.push(frame);
      if (c.outbox.length > this.outboxSize) c.outbox.splice(0, c.outbox.length - this.outboxSize);
      this.markOffline(c);
      return false;
    }
    for (const ws of client.sockets) this.send(ws, frame);
    return true;
  }

  private addOfflineClient(clientId: string): Client {
    const sessionKey = sessionKeyOf({ channelId: this.id, peer: 'dm', chatId: clientId, senderId: clientId });
    const client: Client = { id: clientId, sessionKey, name: 'you', sockets: new Set(), outbox: [] };
    this.clients.set(clientId, client);
    return client;
  }

  /** A client with no tab and nothing waiting costs no memory; one with an outbox counts against the bound. */
  private forgetIfIdle(client: Client): void {
    if (client.sockets.size > 0) return;
    if (client.outbox.length === 0) this.clients.delete(client.id);
    else this.markOffline(client);
  }

  /** Keeps at most `maxOfflineClients` outboxes: the browser gone longest loses its undelivered frames. */
  private markOffline(client: Client): void {
    if (this.offline.has(client.id)) return;
    this.offline.set(client.id, client);
    while (this.offline.size > this.maxOfflineClients) {
      const oldest = this.offline.keys().next().value as string;
      this.offline.delete(oldest);
      this.clients.delete(oldest);
      this.log.debug({ clientId: oldest }, 'forgot an offline webchat client and its outbox');
    }
  }

  private send(ws: WebSocket, frame: ServerFrame): void {
    if (ws.readyState !== ws.OPEN) return;
    // A tab that stopped reading gets no more deltas (the final text still goes), so memory stays bounded.
    if (frame.type === 'reply:delta' && ws.bufferedAmount > 1024 * 1024) return;
    ws.send(JSON.stringify(frame));
  }
}

/** ws hands text frames as Buffer, Buffer[] or ArrayBuffer. Internal. */
function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
