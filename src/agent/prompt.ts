/**
 * Prompt assembly: system prompt + pinned memories + latest summary (one system message, because several
 * local chat templates reject a second or a non-leading system message), then recent history, then the turn's
 * messages. Consecutive messages of the same role are merged, so servers whose templates demand strict
 * user/assistant alternation accept every prompt.
 *
 * Rendering rules (the same for history and for the current turn, so a message reads the same on every turn):
 * - group messages carry the sender's name (`Alice: hi`); a follow-up turn names every sender, DM included;
 * - attachments are described in brackets (the gateway never downloads media);
 * - a reply quotes the message it answers (truncated);
 * - messages dropped by the `summarize` policy are listed in a note before the turn's messages.
 */
import type { InboundMessage } from '../channels/index.js';
import type { Turn } from '../scheduler/index.js';
import type { HistoryEntry, Pin } from '../store/index.js';
import type { ChatMessage } from './provider.js';

/** Longest quote of a replied-to message. */
const QUOTE_CHARS = 200;

/** Inputs of `buildPrompt`. */
export interface PromptInput {
  systemPrompt: string;
  pins: readonly Pin[];
  /** The session's context as the store returns it: an optional leading summary, then entries oldest first. */
  history: readonly HistoryEntry[];
  /** The turn's user messages, already rendered (see `renderTurn`). */
  turnMessages: readonly ChatMessage[];
}

function describeAttachments(message: InboundMessage): string {
  if (message.attachments.length === 0) return '';
  const parts = message.attachments.map((a) => {
    const bits: string[] = [a.kind];
    if (a.name) bits.push(a.name);
    if (a.mime) bits.push(a.mime);
    if (a.size !== undefined) bits.push(`${Math.max(1, Math.round(a.size / 1024))} KB`);
    const caption = a.caption ? `: ${a.caption}` : '';
    return `[${bits.join(', ')}${caption}]`;
  });
  return parts.join(' ');
}

/**
 * The text of one inbound message as the model sees it, without the sender prefix (that is added from
 * `name`, for history entries and turn messages alike).
 */
export function renderMessageText(message: InboundMessage): string {
  const parts: string[] = [];
  if (message.replyTo?.text && !message.replyToBot) {
    const q = message.replyTo.text.length > QUOTE_CHARS ? `${message.replyTo.text.slice(0, QUOTE_CHARS)}…` : message.replyTo.text;
    parts.push(`(replying to: "${q.replace(/\s+/g, ' ')}")`);
  }
  if (message.text.length > 0) parts.push(message.text);
  const att = describeAttachments(message);
  if (att) parts.push(att);
  return parts.join('\n');
}

/** Whether user entries of this turn carry sender names: in groups, and in follow-up turns. */
export function namesSenders(turn: Turn<InboundMessage>): boolean {
  return turn.kind === 'followup' || turn.messages.some((m) => m.peer === 'group');
}

/** A user message as the model reads it: the sender's name first when it is named (history and turn alike). */
export function userContent(content: string, name: string | undefined): string {
  return name ? `${name}: ${content}` : content;
}

/** The note listing messages the `summarize` policy dropped before this turn, if any. */
export function dropNotice(turn: Turn<InboundMessage>): ChatMessage | undefined {
  if (turn.droppedSummaries.length === 0) return undefined;
  return {
    role: 'user',
    content: `[Note: ${turn.droppedSummaries.length} earlier message(s) were dropped because the queue was full:\n${turn.droppedSummaries.map((s) => `- ${s}`).join('\n')}]`,
  };
}

/** The turn's messages as prompt messages: the drop notice first (if any), then each message. */
export function renderTurn(turn: Turn<InboundMessage>): ChatMessage[] {
  const out: ChatMessage[] = [];
  const notice = dropNotice(turn);
  if (notice !== undefined) out.push(notice);
  const named = namesSenders(turn);
  for (const m of turn.messages) out.push({ role: 'user', content: userContent(renderMessageText(m), named ? m.senderName || m.senderId : undefined) });
  return out;
}

/** Joins consecutive same-role messages (strict-alternation templates). */
export function mergeConsecutive(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    const last = out[out.length - 1];
    if (last !== undefined && last.role === m.role && m.role !== 'system') last.content = `${last.content}\n\n${m.content}`;
    else out.push({ ...m });
  }
  return out;
}

/** The system message: prompt, pins, summary. */
export function renderSystem(systemPrompt: string, pins: readonly Pin[], summary: string | undefined): string {
  let text = systemPrompt;
  if (pins.length > 0) {
    text += `\n\nPinned memories (always true for this conversation):\n${pins.map((p) => `- ${p.text}`).join('\n')}`;
  }
  if (summary !== undefined && summary.length > 0) text += `\n\nSummary of the earlier conversation:\n${summary}`;
  return text;
}

/**
 * Builds the full prompt. Pure. The same as `mergeConsecutive([system, ...history, ...turnMessages])`, built in
 * one pass: each message object is made once (history is the whole context, every turn).
 */
export function buildPrompt(input: PromptInput): ChatMessage[] {
  let summary: string | undefined;
  const system: ChatMessage = { role: 'system', content: '' };
  const out: ChatMessage[] = [system];
  const add = (role: ChatMessage['role'], content: string): void => {
    const last = out[out.length - 1]!;
    if (last.role === role && role !== 'system') last.content = `${last.content}\n\n${content}`;
    else out.push({ role, content });
  };
  for (const e of input.history) {
    if (e.role === 'summary') summary = e.content; // the store puts at most one, first
    else if (e.role === 'user') add('user', userContent(e.content, e.name));
    else add('assistant', e.content);
  }
  for (const m of input.turnMessages) add(m.role, m.content);
  system.content = renderSystem(input.systemPrompt, input.pins, summary);
  return out;
}
