/**
 * The vocabulary of the fake OpenAI-compatible server: what a request looks like to it, the scripted steps
 * it answers with, and what it records. Apart from the server so tests and the demo can type their scripts.
 */
import type { IncomingMessage } from 'node:http';

/** A chat message as the fake reads it from a request. */
export interface FakeChatMessage {
  role: string;
  content: string | null;
  name?: string;
}

/** The parsed body of one chat completion request. */
export interface FakeChatRequest {
  model: string;
  messages: FakeChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  [key: string]: unknown;
}

/** Token usage the fake reports. */
export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** One scripted response. */
export type FakeStep =
  | {
      kind: 'reply';
      /** The reply text, or a function of the request. */
      text: string | ((request: FakeChatRequest) => string);
      /** Delay before each streamed token (ms). Default: the server's `tokenDelayMs`. */
      tokenDelayMs?: number;
      /** Delay before the response headers (ms): the model "thinking" before its first token. Default 0. */
      firstByteDelayMs?: number;
      /** Nothing is sent until this settles: a test holds a turn in flight for exactly as long as it needs. */
      holdUntil?: Promise<unknown>;
      /** Split the text into these chunks instead of word-sized tokens. */
      chunks?: string[];
      /** Usage to report (when asked with `stream_options.include_usage`, always when not streaming). */
      usage?: Partial<FakeUsage>;
      /** Default `stop`. */
      finishReason?: string;
    }
  | {
      kind: 'error';
      status: number;
      /** JSON body; default `{ error: { message, type, code } }` for the status. */
      body?: unknown;
      headers?: Record<string, string>;
    }
  /** 429 with `Retry-After: <retryAfterSec>` (and `retry-after-ms` when `retryAfterMs` is given). */
  | { kind: 'rate-limit'; retryAfterSec?: number; retryAfterMs?: number }
  /** 400 `{"error":{"code":"context_length_exceeded",...}}`, as OpenAI and vLLM answer. */
  | { kind: 'overflow' }
  /** Destroys the socket before any response byte (a connection error for the client). */
  | { kind: 'reset' }
  /** Streams `text`, then destroys the socket after `afterTokens` tokens (a connection lost mid-stream). */
  | { kind: 'reset-mid-stream'; text: string; afterTokens: number; tokenDelayMs?: number }
  /** Sends headers and `afterTokens` tokens of `text` (default none), then never another byte. */
  | { kind: 'stall'; text?: string; afterTokens?: number };

/** What the fake recorded about one request. */
export interface RecordedRequest {
  /** 0-based arrival index. */
  index: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body of a chat completion request. */
  body: FakeChatRequest | undefined;
  /** The step that answered it. */
  step: FakeStep['kind'] | 'models' | 'not-found';
  /** `performance.now()` at arrival. */
  receivedAt: number;
  /** Tokens (SSE content chunks) written before the response ended or the client left. */
  tokensSent: number;
  /** True once the response was fully written. */
  finished: boolean;
  /** `performance.now()` when the response was fully written (the model's own time is `finishedAt - receivedAt`). */
  finishedAt?: number;
  /** True when the client closed the socket before the response finished (an abort, a timeout). */
  closedByClient: boolean;
  /** `performance.now()` when the client closed the socket early. */
  closedAt?: number;
}

/** Options of the fake server. */
export interface FakeOpenAIServerOptions {
  /** Port to listen on. Default 0 (any free port). */
  port?: number;
  /** Host. Default 127.0.0.1. */
  host?: string;
  /** Default delay before each streamed token (ms). Default 0. */
  tokenDelayMs?: number;
  /** Model ids listed by GET /v1/models. Default `['fake-model']`. */
  models?: string[];
  /**
   * When set, a request whose estimated prompt (characters / 4 per message, + 4 per message) exceeds this
   * many tokens is answered with a context-overflow 400, like a real server with that window.
   */
  contextLimit?: number;
  /** The step used when the script is empty. Default: echo the last user message, streamed word by word. */
  responder?: (request: FakeChatRequest) => FakeStep;
  /** Required `Authorization: Bearer <apiKey>`; a mismatch gets 401. Default: not checked. */
  apiKey?: string;
}

/** Events the fake reports to a listener (tests and the benchmark use them to time aborts). */
export interface FakeServerListener {
  onRequest?(request: RecordedRequest): void;
  onClientClose?(request: RecordedRequest): void;
}

/** The fake's own prompt size estimate: characters / 4 plus 4 per message. Internal, but exported for tests. */
export function fakePromptTokens(messages: readonly FakeChatMessage[]): number {
  let total = 0;
  for (const m of messages) total += 4 + Math.ceil((m.content ?? '').length / 4);
  return total;
}
