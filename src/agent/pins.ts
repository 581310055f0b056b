/**
 * The pin commands the ingress answers directly (they bypass the queue): `/pin <text>` or `/pin` as a reply
 * to a message, `/unpin <id>`, `/pins`. Each returns the text to send back. Manual pins are never evicted by
 * the auto-pin cap; they are always in the context (the system message), through compaction.
 */
import type { InboundMessage } from '../channels/index.js';
import type { AgentMemory } from './types.js';

/** Options of `pinCommands`. */
export interface PinCommandOptions {
  /** Longest pin text (characters). Default 500. */
  maxPinChars?: number;
  /** Most manual pins per session (they all go into every prompt). Default 50. */
  maxManualPins?: number;
  now?: () => number;
}

/** The pin command handlers. Every method resolves with the answer text; store errors reject. */
export interface PinCommands {
  /** `/pin <text>`, or `/pin` replying to a message (its text is pinned). */
  pin(message: InboundMessage, args: string): Promise<string>;
  /** `/unpin <id>`. */
  unpin(message: InboundMessage, args: string): Promise<string>;
  /** `/pins`. */
  pins(message: InboundMessage): Promise<string>;
  /** Dispatches `message.command` when it is one of `pin`, `unpin`, `pins`; undefined otherwise. */
  handle(message: InboundMessage): Promise<string> | undefined;
}

/** Builds the pin command handlers over the store. */
export function pinCommands(memory: Pick<AgentMemory, 'addPin' | 'removePin' | 'listPins'>, options: PinCommandOptions = {}): PinCommands {
  const maxChars = options.maxPinChars ?? 500;
  const maxManual = options.maxManualPins ?? 50;
  const now = options.now ?? Date.now;

  const api: PinCommands = {
    async pin(message, args) {
      const text = (args.trim().length > 0 ? args : (message.replyTo?.text ?? '')).trim();
      if (text.length === 0) return 'Nothing to pin: send /pin <text>, or reply /pin to the message to remember.';
      if (text.length > maxChars) return `That is too long to pin (${text.length} characters, at most ${maxChars}). Pin a shorter summary.`;
      const existing = await memory.listPins(message.sessionKey);
      if (existing.filter((p) => p.source === 'manual').length >= maxManual) {
        return `This conversation already has ${maxManual} pins. Remove one with /unpin <id> first (see /pins).`;
      }
      const pin = await memory.addPin({ sessionKey: message.sessionKey, text, source: 'manual', createdAt: now() });
      return `Pinned #${pin.id}: ${text}`;
    },
    async unpin(message, args) {
      const m = /^#?(\d+)$/.exec(args.trim());
      if (!m) return 'Which pin? Send /unpin <id>; /pins lists the ids.';
      const id = Number(m[1]);
      const removed = await memory.removePin(message.sessionKey, id);
      return removed ? `Unpinned #${id}.` : `No pin #${id} in this conversation; /pins lists the ids.`;
    },
    async pins(message) {
      const list = await memory.listPins(message.sessionKey);
      if (list.length === 0) return 'No pinned memories yet. Pin one with /pin <text>.';
      return ['Pinned memories:', ...list.map((p) => `#${p.id}${p.source === 'auto' ? ' (auto)' : ''}: ${p.text}`)].join('\n');
    },
    handle(message) {
      switch (message.command?.name) {
        case 'pin':
          return api.pin(message, message.command.args);
        case 'unpin':
          return api.unpin(message, message.command.args);
        case 'pins':
          return api.pins(message);
        default:
          return undefined;
      }
    },
  };
  return api;
}
