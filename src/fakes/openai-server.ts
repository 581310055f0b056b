/**
 * A fake OpenAI-compatible Chat Completions server on real HTTP (node:http, 127.0.0.1, port 0). Tests and the
 * local demo drive the gateway's own client (`ProviderClient`) against it, so streaming, aborts, retries and
 * error mapping are exercised over actual sockets instead of hand-mocked classes; its own test drives it with
 * the official `openai` SDK, so what it sends stays what real servers send.
 *
 * Each POST /v1/chat/completions consumes the next scripted step (`script(...)`), or, when the script is
 * empty, asks the default responder. A step is a reply (streamed as SSE when the request says `stream: true`,
 * else one JSON body), an HTTP error (500, 503, 400, 401, 429 with Retry-After, context overflow), a
 * connection reset, or a stalled stream. Every request is recorded with its body and whether the client
 * closed the socket before the response finished (an abort must tear the stream down).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TransientSet } from '../collections/transient.js';
import {
  fakePromptTokens,
  type FakeChatRequest,
  type FakeOpenAIServerOptions,
  type FakeServerListener,
  type FakeStep,
  type FakeUsage,
  type RecordedRequest,
} from './openai-types.js';

export {
  fakePromptTokens,
  type FakeChatMessage,
  type FakeChatRequest,
  type FakeOpenAIServerOptions,
  type FakeServerListener,
  type FakeStep,
  type FakeUsage,
  type RecordedRequest,
} from './openai-types.js';


function defaultResponder(request: FakeChatRequest): FakeStep {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  return { kind: 'reply', text: `echo: ${lastUser?.content ?? ''}` };
}

/** Word-sized tokens with their trailing whitespace, so joining them gives back the text. */
function tokenize(text: string): string[] {
  const tokens = text.match(/\s*\S+\s*/g);
  return tokens ?? (text.length > 0 ? [text] : []);
}

function errorBody(status: number, message: string, code: string | null, type: string): unknown {
  return { error: { message, type, param: null, code } };
}

/** A scriptable OpenAI-compatible server on loopback. */
export class FakeOpenAIServer {
  /** Every request seen, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  private readonly steps: FakeStep[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Pending answers' timers. A TransientSet: this set churns once per request (see src/collections/transient.ts). */
  private readonly timers = new TransientSet<ReturnType<typeof setTimeout>>();
  private readonly options: FakeOpenAIServerOptions;
  private listener: FakeServerListener = {};
  private created = Math.floor(Date.now() / 1000);
  private address: string | undefined;

  constructor(options: FakeOpenAIServerOptions = {}) {
    this.options = options;
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens; resolves with the base URL to give a client (`http://127.0.0.1:PORT/v1`). */
  async start(): Promise<{ url: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port, address } = this.server.address() as AddressInfo;
    this.address = `http://${address}:${port}/v1`;
    return { url: this.address, port };
  }

  /** The base URL (after `start`). */
  get url(): string {
    if (this.address === undefined) throw new Error('FakeOpenAIServer: call start() first');
    return this.address;
  }

  /** Appends steps answered in order by the next requests. */
  script(...steps: FakeStep[]): this {
    this.steps.push(...steps);
    return this;
  }

  /** Steps not yet consumed. */
  get pendingSteps(): number {
    return this.steps.length;
  }

  /** Replaces the default responder (used when the script is empty). */
  respondWith(responder: (request: FakeChatRequest) => FakeStep): this {
    this.options.responder = responder;
    return this;
  }

  /** Sets (or clears) the context window the fake enforces, like a real server with that window. */
  limitContext(tokens: number | undefined): this {
    this.options.contextLimit = tokens;
    return this;
  }

  /** Sets the observer of request / client-close events (replaces the previous one). */
  observe(listener: FakeServerListener): this {
    this.listener = listener;
    return this;
  }

  /** Chat completion requests only. */
  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.body !== undefined);
  }

  /** Stops listening and destroys open sockets (stalled streams included). */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const record: RecordedRequest = {
        index: this.requests.length,
        method: req.method ?? 'GET',
        path,
        headers: req.headers,
        body: undefined,
        step: 'not-found',
        receivedAt: performance.now(),
        tokensSent: 0,
        finished: false,
        closedByClient: false,
      };
      this.requests.push(record);
      res.on('finish', () => {
        record.finished = true;
        record.finishedAt = performance.now();
      });
      res.on('close', () => {
        if (!record.finished) {
          record.closedByClient = true;
          record.closedAt = performance.now();
          this.listener.onClientClose?.(record);
        }
      });
      this.route(record, raw, req, res);
    });
  }

  private route(record: RecordedRequest, raw: string, req: IncomingMessage, res: ServerResponse): void {
    if (this.options.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      record.step = 'error';
      this.listener.onRequest?.(record);
      this.json(res, 401, errorBody(401, 'Incorrect API key provided.', 'invalid_api_key', 'invalid_request_error'));
      return;
    }
    if (record.method === 'GET' && record.path.endsWith('/models')) {
      record.step = 'models';
      this.listener.onRequest?.(record);
      const data = (this.options.models ?? ['fake-model']).map((id) => ({ id, object: 'model', created: this.created, owned_by: 'switchyard-fake' }));
      this.json(res, 200, { object: 'list', data });
      return;
    }
    if (record.method !== 'POST' || !record.path.endsWith('/chat/completions')) {
      this.listener.onRequest?.(record);
      this.json(res, 404, errorBody(404, `No route ${record.method} ${record.path}`, null, 'invalid_request_error'));
      return;
    }
    let body: FakeChatRequest;
    try {
      body = JSON.parse(raw) as FakeChatRequest;
      if (!Array.isArray(body.messages)) throw new Error('messages must be an array');
    } catch (err) {
      record.step = 'error';
      this.listener.onRequest?.(record);
      this.json(res, 400, errorBody(400, `Invalid body: ${(err as Error).message}`, null, 'invalid_request_error'));
      return;
    }
    record.body = body;
    let step = this.steps.shift() ?? (this.options.responder ?? defaultResponder)(body);
    const limit = this.options.contextLimit;
    if (step.kind === 'reply' && limit !== undefined && fakePromptTokens(body.messages) > limit) step = { kind: 'overflow' };
    record.step = step.kind;
    this.listener.onRequest?.(record);
    const hold = step.kind === 'reply' ? step.holdUntil : undefined;
    if (hold === undefined) this.answerLater(res, step, body, record);
    else {
      const held = step;
      const go = (): void => this.answerLater(res, held, body, record);
      void hold.then(go, go);
    }
  }

  private answerLater(res: ServerResponse, step: FakeStep, body: FakeChatRequest, record: RecordedRequest): void {
    const wait = step.kind === 'reply' ? (step.firstByteDelayMs ?? 0) : 0;
    const go = (): void => {
      if (!res.destroyed) this.answer(step, body, record, res);
    };
    if (wait > 0) this.later(wait, go);
    else go();
  }

  private answer(step: FakeStep, body: FakeChatRequest, record: RecordedRequest, res: ServerResponse): void {
    switch (step.kind) {
      case 'error': {
        const message = step.status >= 500 ? 'The server had an error while processing your request.' : 'Bad request.';
        const type = step.status >= 500 ? 'server_error' : 'invalid_request_error';
        this.json(res, step.status, step.body ?? errorBody(step.status, message, null, type), step.headers);
        return;
      }
      case 'rate-limit': {
        const headers: Record<string, string> = { 'retry-after': String(step.retryAfterSec ?? 1) };
        if (step.retryAfterMs !== undefined) headers['retry-after-ms'] = String(step.retryAfterMs);
        this.json(res, 429, errorBody(429, 'Rate limit reached. Please try again later.', 'rate_limit_exceeded', 'requests'), headers);
        return;
      }
      case 'overflow':
        this.json(
          res,
          400,
          errorBody(
            400,
            `This model's maximum context length is ${this.options.contextLimit ?? 4096} tokens. However, your messages resulted in ${fakePromptTokens(body.messages)} tokens. Please reduce the length of the messages.`,
            'context_length_exceeded',
            'invalid_request_error',
          ),
        );
        return;
      case 'reset':
        res.socket?.destroy();
        return;
      case 'reset-mid-stream':
        this.stream(res, record, body, tokenize(step.text), { delayMs: step.tokenDelayMs, cutAfter: step.afterTokens });
        return;
      case 'stall':
        this.stream(res, record, body, tokenize(step.text ?? ''), { stallAfter: step.afterTokens ?? 0 });
        return;
      case 'reply': {
        const text = typeof step.text === 'function' ? step.text(body) : step.text;
        const tokens = step.chunks ?? tokenize(text);
        const usage: FakeUsage = {
          prompt_tokens: step.usage?.prompt_tokens ?? fakePromptTokens(body.messages),
          completion_tokens: step.usage?.completion_tokens ?? tokens.length,
        };
        if (body.stream === true) {
          this.stream(res, record, body, tokens, { delayMs: step.tokenDelayMs, usage, finishReason: step.finishReason });
        } else {
          record.tokensSent = tokens.length;
          this.json(res, 200, {
            id: `chatcmpl-fake-${record.index}`,
            object: 'chat.completion',
            created: this.created,
            model: body.model,
            choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: step.finishReason ?? 'stop' }],
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          });
        }
        return;
      }
    }
  }

  private stream(
    res: ServerResponse,
    record: RecordedRequest,
    body: FakeChatRequest,
    tokens: string[],
    opts: { delayMs?: number | undefined; usage?: FakeUsage; finishReason?: string | undefined; cutAfter?: number; stallAfter?: number },
  ): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const id = `chatcmpl-fake-${record.index}`;
    const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: this.created, model: body.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const delayMs = opts.delayMs ?? this.options.tokenDelayMs ?? 0;
    let i = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (opts.cutAfter !== undefined && i >= opts.cutAfter) {
        res.socket?.destroy();
        return;
      }
      if (opts.stallAfter !== undefined && i >= opts.stallAfter) return; // never another byte
      const token = tokens[i];
      if (token === undefined) {
        res.write(chunk({}, opts.finishReason ?? 'stop'));
        if (body.stream_options?.include_usage === true && opts.usage) {
          const u = opts.usage;
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: this.created, model: body.model, choices: [], usage: { ...u, total_tokens: u.prompt_tokens + u.completion_tokens } })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      res.write(chunk({ content: token }, null));
      record.tokensSent += 1;
      i += 1;
      if (delayMs > 0) this.later(delayMs, next);
      else setImmediate(next);
    };
    if (delayMs > 0) this.later(delayMs, next);
    else setImmediate(next);
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
    res.end(payload);
  }
}

/** Starts a fake server with `options`; shorthand for `new FakeOpenAIServer(options)` + `start()`. */
export async function startFakeOpenAI(options: FakeOpenAIServerOptions = {}): Promise<FakeOpenAIServer> {
  const server = new FakeOpenAIServer(options);
  await server.start();
  return server;
}
