/**
 * Slash commands: registration, and the bridge between a command interaction and ingress.
 *
 * Design: Discord wants an interaction acknowledged within 3 s, and the answer to a command comes from ingress
 * (`/status` knows the queue, the adapter does not). So the adapter defers the reply at once ("thinking…"),
 * hands ingress an `InboundMessage` whose `platformMessageId` is the interaction id, and keeps the interaction
 * as pending. When ingress answers through `notify(target, text)` with `target.replyToPlatformMessageId` equal
 * to that id, the deferred reply is edited into the answer (follow-ups for more chunks). If ingress resolves
 * without answering (denied, ignored, duplicate), the deferred reply is edited into a short status line, so it
 * never hangs on "thinking…". A `notify` that comes after that goes to the channel as a normal message.
 */
import type { ChatInputCommandInteraction, Client, RESTPutAPIApplicationCommandsJSONBody } from 'discord.js';
import { ApplicationCommandOptionType } from 'discord.js';
import type { IngressStatus } from '../ports.js';
import type { SlashCommandSpec } from './options.js';

/** Registers `commands` globally (bulk overwrite: commands no longer configured disappear). Internal. */
export async function registerSlashCommands(client: Client<true>, commands: readonly SlashCommandSpec[]): Promise<number> {
  const body: RESTPutAPIApplicationCommandsJSONBody = commands.map((c) => ({
    name: c.name,
    description: c.description,
    ...(c.argument
      ? { options: [{ type: ApplicationCommandOptionType.String, name: c.argument.name, description: c.argument.description, required: false }] }
      : {}),
  }));
  const set = await client.application.commands.set(body);
  return set.size;
}

/** What the deferred reply says when ingress resolved without answering. Internal. */
export function fallbackAnswer(status: IngressStatus): string {
  switch (status) {
    case 'denied':
      return 'You are not allowed to use this command here.';
    case 'duplicate':
      return 'This command was already handled.';
    case 'ignored':
      return 'Nothing to do here.';
    case 'accepted':
      return 'Got it: the answer will follow in this channel.';
    case 'command':
      return 'Done.';
  }
}

/**
 * Deferred interactions waiting for their answer, by interaction id. Entries expire with the interaction token
 * (15 minutes), so a lost answer cannot leak memory. Internal.
 */
export class PendingInteractions {
  private readonly byId = new Map<string, { interaction: ChatInputCommandInteraction; timer: NodeJS.Timeout }>();

  add(interaction: ChatInputCommandInteraction): void {
    const timer = setTimeout(() => this.byId.delete(interaction.id), 15 * 60_000);
    timer.unref();
    this.byId.set(interaction.id, { interaction, timer });
  }

  /** Removes and returns the pending interaction, if any: it is answered exactly once. */
  take(id: string | undefined): ChatInputCommandInteraction | undefined {
    if (id === undefined) return undefined;
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.byId.delete(id);
    return entry.interaction;
  }

  clear(): void {
    for (const { timer } of this.byId.values()) clearTimeout(timer);
    this.byId.clear();
  }
}
