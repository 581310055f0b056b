/** Test helpers for the agent suite: messages, turns, a recording ReplyStream, a fake server per test. */
import type { InboundMessage, ReplyStream } from '../../src/channels/index.js';
import type { RunContext, Turn } from '../../src/scheduler/index.js';

let seq = 100;

/** A valid InboundMessage with overrides. */
export function message(over: Partial<InboundMessage> = {}): InboundMessage {
  seq += 1;
  const chatId = over.chatId ?? 'c1';
  const peer = over.peer ?? 'dm';
  const senderId = over.senderId ?? 'u1';
  return {
    id: `t:${chatId}:${seq}`,
    channelId: 't',
    platform: 'telegram',
    sessionKey: peer === 'dm' ? `t:dm:${senderId}` : `t:group:${chatId}`,
    chatId,
    senderId,
    senderName: 'Ada',
    peer,
    text: 'hello',
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(seq),
    sentAt: 1_000 + seq,
    receivedAt: 1_000 + seq,
    ...over,
  };
}

/** A turn as the scheduler builds it. */
export function turnOf(messages: InboundMessage[], over: Partial<Turn<InboundMessage>> = {}): Turn<InboundMessage> {
  const owner = messages[0]!;
  const attempt = over.attempt ?? 1;
  return { id: `${owner.id}#${attempt}`, sessionKey: owner.sessionKey, messages, kind: 'message', attempt, droppedSummaries: [], ...over };
}

/** A run context over a controller the test owns. */
export function ctxOf(controller = new AbortController()): RunContext & { controller: AbortController } {
  return { signal: controller.signal, controller };
}

/** A ReplyStream that records what the runner did, and counts anything sent after the run's abort. */
export class RecordingReply implements ReplyStream {
  readonly deltas: string[] = [];
  completed: string | undefined;
  cancelled: string | undefined;
  afterAbort = 0;
  constructor(
    readonly signal: AbortSignal,
    private readonly hooks: { onDelta?: (r: RecordingReply) => void; failComplete?: Error } = {},
  ) {}
  delta(text: string): void {
    if (this.signal.aborted) this.afterAbort += 1;
    this.deltas.push(text);
    this.hooks.onDelta?.(this);
  }
  async complete(fullText: string): Promise<void> {
    if (this.signal.aborted) this.afterAbort += 1;
    if (this.hooks.failComplete) throw this.hooks.failComplete;
    this.completed = fullText;
  }
  async cancel(reason?: string): Promise<void> {
    this.cancelled = reason ?? 'cancelled';
  }
}
