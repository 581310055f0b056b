/**
 * A fake Discord on loopback, good enough to drive the real discord.js `Client` through its real REST and
 * WebSocket code: REST on node:http (`/api/v10/...`) and a JSON gateway on ws@8 at the same port.
 *
 * Gateway (`discord-gateway.ts`): HELLO → IDENTIFY → READY + one GUILD_CREATE per guild; HEARTBEAT → ACK;
 * RESUME replays every dispatch after the client's sequence; op 7 and socket closes on demand.
 *
 * REST: gateway/bot, users/@me, channels (get, messages list/create/edit/delete, typing), application commands
 * (bulk overwrite), interaction callbacks and webhook edits/follow-ups. A test can make the next requests of a
 * route answer 429 with `retry_after` and the rate-limit headers. Every request is logged in `requests`.
 *
 * Test-only code: no persistence, no permission checks, ids are snowflakes from `now()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { FakeGateway } from './discord-gateway.js';
import { channelJson, guildJson, userJson, type FakeChannel, type FakeGuild, type FakeMessage, type FakeRequest, type FakeUser } from './discord-json.js';

export type { FakeChannel, FakeGuild, FakeMessage, FakeRequest, FakeUser } from './discord-json.js';

const DISCORD_EPOCH = 1_420_070_400_000n;

/** Options of `FakeDiscord`. */
export interface FakeDiscordOptions {
  /** The token the bot must present (REST `Authorization: Bot <token>` and IDENTIFY). Default `test-token`. */
  token?: string;
  /** The token IDENTIFY must carry, when it should differ from the REST one (gateway-only auth failure). */
  gatewayToken?: string;
  /** The bot user. */
  botUser?: FakeUser;
  /** Heartbeat interval announced in HELLO (ms). Default 41250. */
  heartbeatIntervalMs?: number;
  /** Clock for snowflakes and timestamps. Default `Date.now`. */
  now?: () => number;
}

interface RateLimitRule {
  method: string;
  pattern: RegExp;
  remaining: number;
  retryAfterMs: number;
  global: boolean;
}

/** The fake Discord server. `await FakeDiscord.start()`, then point discord.js at `restApi`. */
export class FakeDiscord {
  readonly token: string;
  readonly gatewayToken: string;
  readonly botUser: FakeUser;
  readonly applicationId = '900000000000000001';
  /** Every REST request, in arrival order. */
  readonly requests: FakeRequest[] = [];
  readonly guilds = new Map<string, FakeGuild>();
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, FakeMessage[]>();
  /** Bodies of interaction callbacks, webhook edits and follow-ups, keyed by interaction token. */
  readonly interactionReplies = new Map<string, Array<{ kind: 'callback' | 'edit' | 'followup'; body: unknown }>>();
  /**
   * Gateway milestones for tests to await (`once(fake.events, 'resume')`): `identify`, `resume`
   * (after RESUMED was sent), `socketClose` (code), `request` (a `FakeRequest`, after it was answered).
   */
  readonly events = new EventEmitter();
  /** Registered application commands (last bulk overwrite), by scope (`global` or a guild id). */
  readonly commands = new Map<string, unknown[]>();

  readonly heartbeatIntervalMs: number;
  private readonly now: () => number;
  private readonly server: Server;
  private readonly gateway: FakeGateway;
  private readonly rateLimits: RateLimitRule[] = [];
  private readonly nonces = new Map<string, FakeMessage>();
  private lastSnowflake = 0n;
  private port = 0;

  private constructor(options: FakeDiscordOptions) {
    this.token = options.token ?? 'test-token';
    this.gatewayToken = options.gatewayToken ?? this.token;
    this.botUser = options.botUser ?? { id: '900000000000000001', username: 'switchyard', bot: true };
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.now = options.now ?? Date.now;
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.gateway = new FakeGateway(this);
    this.server.on('upgrade', (req, socket, head) => this.gateway.handleUpgrade(req, socket, head));
  }

  /** Starts the fake on 127.0.0.1 with a free port. */
  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const fake = new FakeDiscord(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** REST base for discord.js: `new Client({ rest: { api: fake.restApi } })`. */
  get restApi(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** The gateway URL handed out by `GET /gateway/bot`. */
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  /** Sockets currently open. */
  get openSockets(): number {
    return this.gateway.openSockets;
  }

  /** Every gateway payload the client sent (op and d). */
  get gatewayReceived(): ReadonlyArray<{ op: number; d: unknown }> {
    return this.gateway.received;
  }

  /** A fresh snowflake for `at` (default now); strictly increasing. */
  snowflake(at = this.now()): string {
    let id = (BigInt(Math.floor(at)) - DISCORD_EPOCH) << 22n;
    if (id <= this.lastSnowflake) id = this.lastSnowflake + 1n;
    this.lastSnowflake = id;
    return id.toString();
  }

  /** Adds a guild with text channels (and optional threads); call before the client connects. */
  addGuild(guild: FakeGuild, channels: Array<Omit<FakeChannel, 'guildId'>>): void {
    this.guilds.set(guild.id, guild);
    for (const c of channels) this.channels.set(c.id, { ...c, guildId: guild.id });
  }

  /** Adds a DM channel with `recipient`. */
  addDm(channelId: string, recipient: FakeUser): void {
    this.channels.set(channelId, { id: channelId, type: 1, recipient });
  }

  /**
   * A user posts a message: stored in the channel history and, unless `dispatch: false` (the bot was offline),
   * dispatched as MESSAGE_CREATE to every gateway session (buffered for a session between sockets).
   */
  postMessage(input: {
    channelId: string;
    author: FakeUser;
    content: string;
    mentions?: FakeUser[];
    mentionRoles?: string[];
    replyTo?: string;
    attachments?: Array<{ id: string; filename: string; content_type?: string; size: number }>;
    memberRoles?: string[];
    at?: number;
    dispatch?: boolean;
  }): FakeMessage {
    const channel = this.requireChannel(input.channelId);
    const at = input.at ?? this.now();
    const referenced = input.replyTo === undefined ? undefined : this.findMessage(input.channelId, input.replyTo);
    const message: FakeMessage = {
      id: this.snowflake(at),
      channel_id: channel.id,
      author: userJson(input.author),
      content: input.content,
      timestamp: new Date(at).toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: (input.mentions ?? []).map(userJson),
      mention_roles: input.mentionRoles ?? [],
      attachments: (input.attachments ?? []).map((a) => ({ ...a, url: `https://cdn.invalid/${a.id}/${a.filename}`, proxy_url: '' })),
      embeds: [],
      pinned: false,
      type: input.replyTo === undefined ? 0 : 19,
      ...(input.replyTo === undefined
        ? {}
        : { message_reference: { message_id: input.replyTo, channel_id: channel.id, guild_id: channel.guildId }, referenced_message: referenced ?? null }),
    };
    this.store(message);
    if (input.dispatch !== false) {
      const d: Record<string, unknown> = { ...message };
      if (channel.guildId !== undefined) {
        d.guild_id = channel.guildId;
        d.member = { roles: input.memberRoles ?? [], joined_at: new Date(0).toISOString(), deaf: false, mute: false };
      } else {
        d.channel_type = channel.type; // without it discord.js cannot type the DM channel and drops the message
      }
      this.dispatch('MESSAGE_CREATE', d);
    }
    return message;
  }

  /** A user runs a slash command: dispatches INTERACTION_CREATE (type 2). Returns the interaction token. */
  pushInteraction(input: { channelId: string; user: FakeUser; name: string; options?: Array<{ name: string; value: string }>; memberRoles?: string[] }): { id: string; token: string } {
    const channel = this.requireChannel(input.channelId);
    const id = this.snowflake();
    const token = `itoken-${id}`;
    const d: Record<string, unknown> = {
      id,
      application_id: this.applicationId,
      type: 2,
      token,
      version: 1,
      channel_id: channel.id,
      channel: channelJson(channel),
      locale: 'en-US',
      app_permissions: '0',
      entitlements: [],
      authorizing_integration_owners: {},
      data: { id: this.snowflake(), name: input.name, type: 1, options: (input.options ?? []).map((o) => ({ ...o, type: 3 })) },
    };
    if (channel.guildId !== undefined) {
      d.guild_id = channel.guildId;
      d.guild_locale = 'en-US';
      d.member = { user: userJson(input.user), roles: input.memberRoles ?? [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, permissions: '0' };
    } else {
      d.user = userJson(input.user);
    }
    this.interactionReplies.set(token, []);
    this.dispatch('INTERACTION_CREATE', d);
    return { id, token };
  }

  /** Sends a dispatch to every session; a session without a socket keeps it for RESUME. */
  dispatch(t: string, d: unknown): void {
    this.gateway.dispatch(t, d);
  }

  /**
   * Forces a reconnect: `op7` asks the client to reconnect (it resumes), `close` drops the socket with code
   * 4000 (unknown error: the client resumes), `invalidate` forgets the sessions and closes, so the client's
   * RESUME is refused (op 9) and it must IDENTIFY again: events in between are lost, as on Discord.
   */
  forceReconnect(mode: 'op7' | 'close' | 'invalidate'): void {
    this.gateway.forceReconnect(mode);
  }

  /** The next `count` requests of `method` whose path matches `pattern` answer 429. */
  rateLimitNext(method: string, pattern: RegExp, options: { count?: number; retryAfterMs?: number; global?: boolean } = {}): void {
    this.rateLimits.push({ method: method.toUpperCase(), pattern, remaining: options.count ?? 1, retryAfterMs: options.retryAfterMs ?? 300, global: options.global ?? false });
  }

  /** Messages the bot posted in a channel, oldest first. */
  botMessages(channelId: string): FakeMessage[] {
    return (this.messages.get(channelId) ?? []).filter((m) => (m.author as FakeUser).id === this.botUser.id);
  }

  /** Closes every socket and the server. */
  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** READY and GUILD_CREATE payloads for a new gateway session. Used by the gateway. */
  identifyPayloads(sessionId: string): { ready: unknown; guilds: unknown[] } {
    return {
      ready: {
        v: 10,
        user: userJson(this.botUser),
        guilds: [...this.guilds.keys()].map((id) => ({ id, unavailable: true })),
        session_id: sessionId,
        resume_gateway_url: this.gatewayUrl,
        application: { id: this.applicationId, flags: 0 },
        private_channels: [],
      },
      guilds: [...this.guilds.values()].map((g) => guildJson(g, this.channels.values(), this.botUser)),
    };
  }

  // ── JSON shapes ────────────────────────────────────────────────────────────────────────────────────

  // ── REST ───────────────────────────────────────────────────────────────────────────────────────────

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = rawBody === '' ? undefined : (JSON.parse(rawBody) as unknown);
    } catch {
      body = rawBody;
    }
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v\d+/, '');
    const entry: FakeRequest = { method, path, query: url.searchParams, body, at: this.now(), status: 0 };
    this.requests.push(entry);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}): void => {
      entry.status = status;
      res.once('finish', () => this.events.emit('request', entry));
      if (json === undefined) {
        res.writeHead(status, headers).end(); // no content type on 204, or discord.js tries to parse the body
      } else {
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json));
      }
    };

    const isWebhook = path.startsWith('/interactions/') || path.startsWith('/webhooks/');
    if (!isWebhook && req.headers.authorization !== `Bot ${this.token}`) {
      send(401, { message: '401: Unauthorized', code: 0 });
      return;
    }
    const rule = this.rateLimits.find((r) => r.remaining > 0 && r.method === method && r.pattern.test(path));
    if (rule) {
      rule.remaining--;
      const seconds = (rule.retryAfterMs / 1000).toFixed(3);
      send(
        429,
        { message: 'You are being rate limited.', retry_after: rule.retryAfterMs / 1000, global: rule.global },
        {
          'retry-after': seconds,
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset-after': seconds,
          'x-ratelimit-bucket': 'fake-bucket',
          'x-ratelimit-scope': rule.global ? 'global' : 'user',
          ...(rule.global ? { 'x-ratelimit-global': 'true' } : {}),
        },
      );
      return;
    }
    this.route(method, path, url.searchParams, body, send);
  }

  private route(method: string, path: string, query: URLSearchParams, body: unknown, send: (status: number, json?: unknown, headers?: Record<string, string>) => void): void {
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/gateway/bot') {
      send(200, { url: this.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 } });
    } else if (method === 'GET' && path === '/users/@me') {
      send(200, userJson(this.botUser));
    } else if ((m = /^\/channels\/(\d+)$/.exec(path)) && method === 'GET') {
      const c = this.channels.get(m[1]!);
      if (c) send(200, channelJson(c));
      else send(404, { message: 'Unknown Channel', code: 10003 });
    } else if ((m = /^\/channels\/(\d+)\/typing$/.exec(path)) && method === 'POST') {
      send(204);
    } else if ((m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      const channelId = m[1]!;
      if (!this.channels.has(channelId)) {
        send(404, { message: 'Unknown Channel', code: 10003 });
      } else if (method === 'GET') {
        send(200, this.listMessages(channelId, query));
      } else if (method === 'POST') {
        send(200, this.createBotMessage(channelId, body as Record<string, unknown>));
      } else send(405, { message: '405: Method Not Allowed', code: 0 });
    } else if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
      const found = this.findMessage(m[1]!, m[2]!);
      if (!found) {
        send(404, { message: 'Unknown Message', code: 10008 });
      } else if (method === 'PATCH') {
        const b = body as { content?: string };
        if (typeof b.content === 'string') found.content = b.content;
        found.edited_timestamp = new Date(this.now()).toISOString();
        send(200, found);
      } else if (method === 'DELETE') {
        const list = this.messages.get(m[1]!)!;
        list.splice(list.indexOf(found), 1);
        send(204);
      } else send(405, { message: '405: Method Not Allowed', code: 0 });
    } else if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path)) && method === 'PUT') {
      const list = (body as Array<Record<string, unknown>>).map((c) => ({ ...c, id: this.snowflake(), application_id: this.applicationId, version: '1', type: 1 }));
      this.commands.set(m[2] ?? 'global', list);
      send(200, list);
    } else if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path)) && method === 'POST') {
      this.interactionReplies.get(m[2]!)?.push({ kind: 'callback', body });
      send(204);
    } else if ((m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(path)) && method === 'PATCH') {
      this.interactionReplies.get(m[2]!)?.push({ kind: 'edit', body });
      send(200, { id: this.snowflake(), channel_id: '0', content: (body as { content?: string }).content ?? '', author: userJson(this.botUser), attachments: [], embeds: [], mentions: [], mention_roles: [], timestamp: new Date(this.now()).toISOString(), type: 0 });
    } else if ((m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path)) && method === 'POST') {
      this.interactionReplies.get(m[2]!)?.push({ kind: 'followup', body });
      send(200, { id: this.snowflake(), channel_id: '0', content: (body as { content?: string }).content ?? '', author: userJson(this.botUser), attachments: [], embeds: [], mentions: [], mention_roles: [], timestamp: new Date(this.now()).toISOString(), type: 0 });
    } else {
      send(404, { message: `fake discord: no route ${method} ${path}`, code: 0 });
    }
  }

  /** Discord semantics: with `after`, the `limit` oldest messages after it; the list is newest first. */
  private listMessages(channelId: string, query: URLSearchParams): FakeMessage[] {
    const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 50)));
    const all = this.messages.get(channelId) ?? [];
    const after = query.get('after');
    const before = query.get('before');
    let picked: FakeMessage[];
    if (after !== null) picked = all.filter((msg) => BigInt(msg.id) > BigInt(after)).slice(0, limit);
    else if (before !== null) picked = all.filter((msg) => BigInt(msg.id) < BigInt(before)).slice(-limit);
    else picked = all.slice(-limit);
    return [...picked].reverse();
  }

  private createBotMessage(channelId: string, body: Record<string, unknown>): FakeMessage {
    // `enforce_nonce`: Discord returns the message created earlier with the same nonce instead of a new one.
    const nonce = typeof body.nonce === 'string' ? `${channelId}:${body.nonce}` : undefined;
    if (nonce !== undefined && body.enforce_nonce === true) {
      const earlier = this.nonces.get(nonce);
      if (earlier) return earlier;
    }
    const channel = this.requireChannel(channelId);
    const ref = body.message_reference as { message_id?: string } | undefined;
    const message: FakeMessage = {
      id: this.snowflake(),
      channel_id: channelId,
      author: userJson(this.botUser),
      content: typeof body.content === 'string' ? body.content : '',
      timestamp: new Date(this.now()).toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: ref?.message_id === undefined ? 0 : 19,
      ...(ref?.message_id === undefined ? {} : { message_reference: { message_id: ref.message_id, channel_id: channelId } }),
      ...(typeof body.nonce === 'string' ? { nonce: body.nonce } : {}),
    };
    this.store(message);
    if (nonce !== undefined) this.nonces.set(nonce, message);
    // Discord echoes the bot's own messages on the gateway; the adapter must ignore them.
    this.dispatch('MESSAGE_CREATE', channel.guildId === undefined ? { ...message, channel_type: channel.type } : { ...message, guild_id: channel.guildId });
    return message;
  }

  private store(message: FakeMessage): void {
    const list = this.messages.get(message.channel_id) ?? [];
    list.push(message);
    this.messages.set(message.channel_id, list);
  }

  private findMessage(channelId: string, id: string): FakeMessage | undefined {
    return this.messages.get(channelId)?.find((msg) => msg.id === id);
  }

  private requireChannel(id: string): FakeChannel {
    const c = this.channels.get(id);
    if (!c) throw new Error(`fake discord: unknown channel ${id}; add it with addGuild or addDm first`);
    return c;
  }
}
