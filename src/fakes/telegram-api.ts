/**
 * A fake Telegram Bot API server on loopback (node:http, 127.0.0.1, port 0) for tests, the end-to-end
 * benchmark and the crash suite. The real grammY `Bot` talks to it through `client.apiRoot`, so every request
 * goes over real HTTP exactly as it would to api.telegram.org.
 *
 * What it models: `getMe`, `getUpdates` long polling with offset confirmation (an update is kept until a later
 * `getUpdates` passes an offset above its id) and Telegram's conflict rule (a second concurrent `getUpdates`
 * terminates the first with 409; `getUpdates` while a webhook is set is 409), `setWebhook` / `deleteWebhook` /
 * `getWebhookInfo` with delivery to the webhook URL carrying the secret token, `sendMessage`,
 * `editMessageText` ("message is not modified"), `sendMessageDraft` (private chats), `sendChatAction`,
 * `deleteMessage`, length limits counted after
 * entity parsing, and entity parse errors for `parse_mode` text. Faults are scriptable per method: 429 with
 * `parameters.retry_after`, 409, 400, 5xx, a dropped connection, or "accepted then the connection dropped"
 * (the message exists but the client never hears so). Every call is recorded with its time.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  checkText,
  conflictPoll,
  conflictWebhook,
  defaultDescription,
  readParams,
  type Fault,
  type FakeChat,
  type FakeSentMessage,
  type FakeTelegramOptions,
  type FakeUser,
  type PendingPoll,
  type RecordedCall,
  type ScriptedFault,
} from './telegram-api-wire.js';

export {
  TELEGRAM_TEXT_LIMIT,
  type Fault,
  type FakeChat,
  type FakeSentMessage,
  type FakeTelegramOptions,
  type FakeUser,
  type RecordedCall,
} from './telegram-api-wire.js';

/** The fake Bot API server. */
export class FakeTelegramApi {
  /** Base URL to pass as grammY `client.apiRoot` (no trailing slash). */
  readonly apiRoot: string;
  readonly token: string;
  readonly bot: FakeUser;
  /** Every API call, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** Messages the bot sent, by `chat_id:message_id`. */
  private sent = new Map<string, FakeSentMessage>();
  private readonly updates: Array<{ update_id: number } & Record<string, unknown>> = [];
  private nextUpdateId = 1;
  private readonly nextMessageId = new Map<number, number>();
  private readonly faults = new Map<string, ScriptedFault[]>();
  private poll: PendingPoll | undefined;
  /** The latest draft shown in each private chat (`sendMessageDraft`). */
  readonly drafts = new Map<number, { draftId: number; text: string; updates: number }>();
  private webhook: { url: string; secret_token?: string | undefined; max_connections: number } | undefined;
  /** Highest offset a `getUpdates` call confirmed (updates below it are gone). */
  confirmedOffset = 0;
  /**
   * Called with each answered call (status set), so a benchmark can follow replies as they arrive instead of
   * scanning `calls` over and over.
   */
  onCall: ((call: RecordedCall) => void) | undefined;

  private constructor(
    private readonly server: Server,
    port: number,
    options: FakeTelegramOptions,
  ) {
    this.apiRoot = `http://127.0.0.1:${port}`;
    this.token = options.token ?? '123456:TEST';
    this.bot = { id: options.botId ?? 999000, is_bot: true, first_name: 'Switchyard', username: options.botUsername ?? 'switchyard_test_bot' };
    this.maxPollMs = options.maxPollMs ?? 2000;
  }

  private readonly maxPollMs: number;

  /** Starts a fake on 127.0.0.1 with a free port. */
  static async start(options: FakeTelegramOptions = {}): Promise<FakeTelegramApi> {
    const holder: { self?: FakeTelegramApi } = {};
    const server = createServer((req, res) => {
      void holder.self!.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', resolve);
    });
    holder.self = new FakeTelegramApi(server, (server.address() as AddressInfo).port, options);
    return holder.self;
  }

  /** Closes the server and every open connection. */
  async close(): Promise<void> {
    if (this.poll) this.poll.finish(200, { ok: true, result: [] });
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ── scripting ─────────────────────────────────────────────────────────────────────────────────────

  /** Makes the next `times` calls of `method` (optionally only those matching `when`) fail with `fault`. */
  failNext(method: string, fault: Fault, times = 1, when?: (params: Record<string, unknown>) => boolean): void {
    const list = this.faults.get(method) ?? [];
    list.push({ fault, remaining: times, when });
    this.faults.set(method, list);
  }

  /** Queues a raw update (an `update_id` is assigned unless given); wakes a pending long poll. */
  pushUpdate(update: Record<string, unknown>): number {
    const id = typeof update.update_id === 'number' ? update.update_id : this.nextUpdateId;
    this.nextUpdateId = Math.max(this.nextUpdateId, id + 1);
    this.updates.push({ ...update, update_id: id });
    this.updates.sort((a, b) => a.update_id - b.update_id);
    this.wakePoll();
    return id;
  }

  /**
   * Builds and queues a `message` update from a user. `message_id` comes from the chat's counter (shared with
   * the bot's sent messages, like Telegram). Extra fields (caption, photo, reply_to_message, entities,
   * message_thread_id, is_topic_message) are merged in.
   */
  pushMessage(input: { chat: FakeChat; from: FakeUser; text?: string; date?: number } & Record<string, unknown>): {
    updateId: number;
    message: Record<string, unknown>;
  } {
    const { chat, from, text, date, ...extra } = input;
    const message: Record<string, unknown> = {
      message_id: this.allocMessageId(chat.id),
      date: date ?? Math.floor(Date.now() / 1000),
      chat,
      from,
      ...(text !== undefined ? { text } : {}),
      ...extra,
    };
    if (text !== undefined && text.startsWith('/') && message.entities === undefined) {
      const len = text.split(/\s/)[0]!.length;
      message.entities = [{ type: 'bot_command', offset: 0, length: len }];
    }
    const updateId = this.pushUpdate({ message });
    return { updateId, message };
  }

  /**
   * Takes the chat's next message id without delivering anything: a message "sent" now whose update arrives
   * later (late delivery, replay) can then be pushed with this id.
   */
  reserveMessageId(chatId: number): number {
    return this.allocMessageId(chatId);
  }

  /**
   * Forgets the recorded calls and the bot's sent messages (message ids keep counting). A long soak run calls
   * it so the fake's own memory stays flat; tests never need it.
   */
  forgetHistory(): void {
    this.calls.length = 0;
    // Fresh maps, not clear(): a cleared Map's replaced table stays linked to its successor, and in the old
    // generation that chain keeps every later entry alive through scavenges (src/collections/transient.ts).
    this.sent = new Map();
    this.drafts.clear();
  }

  /** Updates not yet confirmed by an offset. */
  get pendingUpdates(): number {
    return this.updates.length;
  }

  /** The webhook currently set, if any. */
  get webhookInfo(): { url: string; secret_token?: string | undefined; max_connections: number } | undefined {
    return this.webhook;
  }

  /** Messages the bot has in a chat (optionally one forum topic), oldest first, deleted ones excluded. */
  messagesIn(chatId: number, threadId?: number): FakeSentMessage[] {
    return [...this.sent.values()]
      .filter((m) => m.chat_id === chatId && !m.deleted && (threadId === undefined || m.message_thread_id === threadId))
      .sort((a, b) => a.message_id - b.message_id);
  }

  /** Calls of one method. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /**
   * Delivers an update to the webhook the bot set, with its secret token header (or `secretOverride`), the way
   * Telegram does. Resolves with the HTTP status the bot answered.
   */
  async deliverWebhook(update: Record<string, unknown>, secretOverride?: string | null): Promise<number> {
    if (!this.webhook) throw new Error('no webhook is set (call setWebhook first)');
    const id = typeof update.update_id === 'number' ? update.update_id : this.nextUpdateId++;
    const body = JSON.stringify({ ...update, update_id: id });
    const url = new URL(this.webhook.url);
    const secret = secretOverride === undefined ? this.webhook.secret_token : secretOverride;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (secret !== null && secret !== undefined) headers['x-telegram-bot-api-secret-token'] = secret;
    return new Promise<number>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  // ── HTTP handling ─────────────────────────────────────────────────────────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const perfAt = performance.now();
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec((req.url ?? '').split('?')[0]!);
    let params: Record<string, unknown> = {};
    try {
      params = await readParams(req);
    } catch {
      return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid JSON' });
    }
    if (!m) return this.reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = m as unknown as [string, string, string];
    const call: RecordedCall = { method, params, at, perfAt, status: 0, token };
    this.calls.push(call);
    const finish = (status: number, body: unknown): void => {
      call.status = status;
      this.reply(res, status, body);
      this.onCall?.(call);
    };
    if (token !== this.token) return finish(401, { ok: false, error_code: 401, description: 'Unauthorized' });

    const fault = this.takeFault(method, params);
    if (fault?.kind === 'drop') {
      res.socket?.destroy();
      return;
    }
    if (fault?.kind === 'error') {
      const body: Record<string, unknown> = {
        ok: false,
        error_code: fault.status,
        description: fault.description ?? defaultDescription(fault.status, fault.retryAfter),
      };
      if (fault.retryAfter !== undefined) body.parameters = { retry_after: fault.retryAfter };
      return finish(fault.status, body);
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    const result = this.dispatch(method, params, res, finish);
    if (result === undefined) return; // answered later (long poll)
    if (fault?.kind === 'acceptThenDrop') {
      res.socket?.destroy();
      return;
    }
    finish(result.status, result.body);
  }

  private takeFault(method: string, params: Record<string, unknown>): Fault | undefined {
    const list = this.faults.get(method);
    if (!list) return undefined;
    const idx = list.findIndex((f) => f.when === undefined || f.when(params));
    if (idx === -1) return undefined;
    const entry = list[idx]!;
    entry.remaining--;
    if (entry.remaining <= 0) list.splice(idx, 1);
    return entry.fault;
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.writableEnded || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  private dispatch(
    method: string,
    p: Record<string, unknown>,
    res: ServerResponse,
    finish: (status: number, body: unknown) => void,
  ): { status: number; body: unknown } | undefined {
    const ok = (result: unknown) => ({ status: 200, body: { ok: true, result } });
    const bad = (status: number, description: string) => ({ status, body: { ok: false, error_code: status, description } });
    switch (method) {
      case 'getMe':
        return ok({ ...this.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
      case 'getUpdates':
        return this.getUpdates(p, res, finish);
      case 'setWebhook': {
        if (typeof p.url !== 'string' || p.url === '') return bad(400, 'Bad Request: bad webhook: URL must be set');
        this.webhook = {
          url: p.url,
          secret_token: typeof p.secret_token === 'string' ? p.secret_token : undefined,
          max_connections: typeof p.max_connections === 'number' ? p.max_connections : 40,
        };
        if (this.poll) this.poll.finish(409, conflictWebhook());
        return ok(true);
      }
      case 'deleteWebhook':
        this.webhook = undefined;
        if (p.drop_pending_updates === true) this.updates.length = 0;
        return ok(true);
      case 'getWebhookInfo':
        return ok({ url: this.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: this.updates.length });
      case 'sendMessage': {
        const chatId = Number(p.chat_id);
        if (!Number.isFinite(chatId)) return bad(400, 'Bad Request: chat not found');
        const checked = checkText(p.text, p.parse_mode);
        if ('error' in checked) return bad(400, checked.error);
        const replyTo = (p.reply_parameters as { message_id?: number } | undefined)?.message_id ?? (p.reply_to_message_id as number | undefined);
        const msg: FakeSentMessage = {
          message_id: this.allocMessageId(chatId),
          chat_id: chatId,
          message_thread_id: typeof p.message_thread_id === 'number' ? p.message_thread_id : undefined,
          text: String(p.text),
          parse_mode: typeof p.parse_mode === 'string' ? p.parse_mode : undefined,
          reply_to_message_id: replyTo,
          date: Math.floor(Date.now() / 1000),
          edits: 0,
          deleted: false,
        };
        this.sent.set(`${chatId}:${msg.message_id}`, msg);
        return ok(this.toApiMessage(msg));
      }
      case 'editMessageText': {
        const msg = this.sent.get(`${Number(p.chat_id)}:${Number(p.message_id)}`);
        if (!msg || msg.deleted) return bad(400, 'Bad Request: message to edit not found');
        const checked = checkText(p.text, p.parse_mode);
        if ('error' in checked) return bad(400, checked.error);
        if (msg.text === p.text && msg.parse_mode === p.parse_mode) {
          return bad(400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
        }
        msg.text = String(p.text);
        msg.parse_mode = typeof p.parse_mode === 'string' ? p.parse_mode : undefined;
        msg.edits++;
        return ok({ ...this.toApiMessage(msg), edit_date: Math.floor(Date.now() / 1000) });
      }
      case 'sendMessageDraft': {
        // Bot API 9.3: an ephemeral, animated preview in a private chat; finalized by a real sendMessage.
        const chatId = Number(p.chat_id);
        if (!Number.isFinite(chatId) || chatId <= 0) return bad(400, 'Bad Request: drafts can be sent only to private chats');
        if (typeof p.draft_id !== 'number' || p.draft_id === 0) return bad(400, 'Bad Request: draft_id must be non-zero');
        const checked = checkText(p.text, p.parse_mode);
        if ('error' in checked) return bad(400, checked.error);
        this.drafts.set(chatId, { draftId: p.draft_id, text: String(p.text), updates: (this.drafts.get(chatId)?.updates ?? 0) + 1 });
        return ok(true);
      }
      case 'sendChatAction':
        if (p.chat_id === undefined) return bad(400, 'Bad Request: chat not found');
        return ok(true);
      case 'deleteMessage': {
        const msg = this.sent.get(`${Number(p.chat_id)}:${Number(p.message_id)}`);
        if (!msg || msg.deleted) return bad(400, 'Bad Request: message to delete not found');
        msg.deleted = true;
        return ok(true);
      }
      case 'close':
      case 'logOut':
        return ok(true);
      default:
        return bad(404, 'Not Found: method not found');
    }
  }

  private getUpdates(
    p: Record<string, unknown>,
    res: ServerResponse,
    finish: (status: number, body: unknown) => void,
  ): { status: number; body: unknown } | undefined {
    if (this.webhook) return { status: 409, body: conflictWebhook() };
    const offset = typeof p.offset === 'number' ? p.offset : 0;
    const limit = typeof p.limit === 'number' && p.limit > 0 ? Math.min(p.limit, 100) : 100;
    this.confirm(offset);
    // Telegram's rule: a newer getUpdates terminates the pending one with 409.
    if (this.poll) this.poll.finish(409, conflictPoll());
    const ready = this.updates.slice(0, limit);
    const timeoutMs = Math.min(this.maxPollMs, (typeof p.timeout === 'number' ? p.timeout : 0) * 1000);
    if (ready.length > 0 || timeoutMs <= 0) return { status: 200, body: { ok: true, result: ready } };
    const poll: PendingPoll = {
      res,
      offset,
      limit,
      timer: setTimeout(() => poll.finish(200, { ok: true, result: [] }), timeoutMs),
      finish: (status, body) => {
        clearTimeout(poll.timer);
        if (this.poll === poll) this.poll = undefined;
        finish(status, body);
      },
    };
    res.on('close', () => {
      clearTimeout(poll.timer);
      if (this.poll === poll) this.poll = undefined;
    });
    this.poll = poll;
    return undefined;
  }

  private confirm(offset: number): void {
    if (offset < 0) {
      // Negative offset: keep only the last |offset| updates (Telegram forgets the earlier ones).
      const keep = -offset;
      if (this.updates.length > keep) this.updates.splice(0, this.updates.length - keep);
      return;
    }
    this.confirmedOffset = Math.max(this.confirmedOffset, offset);
    while (this.updates.length > 0 && this.updates[0]!.update_id < offset) this.updates.shift();
  }

  private wakePoll(): void {
    const poll = this.poll;
    if (!poll) return;
    const ready = this.updates.filter((u) => u.update_id >= poll.offset).slice(0, poll.limit);
    if (ready.length > 0) poll.finish(200, { ok: true, result: ready });
  }

  private allocMessageId(chatId: number): number {
    const id = this.nextMessageId.get(chatId) ?? 1;
    this.nextMessageId.set(chatId, id + 1);
    return id;
  }

  private toApiMessage(msg: FakeSentMessage): Record<string, unknown> {
    return {
      message_id: msg.message_id,
      date: msg.date,
      chat: { id: msg.chat_id, type: msg.chat_id > 0 ? 'private' : 'supergroup' },
      from: this.bot,
      text: msg.text,
      ...(msg.message_thread_id !== undefined ? { message_thread_id: msg.message_thread_id } : {}),
    };
  }
}

