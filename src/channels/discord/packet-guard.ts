/**
 * A guard around discord.js's gateway packet handling. discord.js trusts gateway payloads: a malformed one
 * (a non-array `embeds`, a string `author`) throws inside its packet handlers, and because @discordjs/ws
 * dispatches from an async socket handler, the throw becomes an unhandled rejection, which ends a Node
 * process. Discord itself does not send such payloads, but proxies, gateway bugs and our own fuzz suite do,
 * and one bad event must not take down every chat. So the packet is handled inside a try/catch; a packet
 * that throws is dropped with a warning.
 *
 * `WebSocketManager.handlePacket` is private API of discord.js 14 (checked by the fuzz test in
 * test/fuzz/discord.fuzz.test.ts, which fails if this guard stops covering the path).
 */
import type { Client } from 'discord.js';
import type { Logger } from 'pino';

type PacketHandler = (packet?: { t?: unknown }, shard?: unknown) => boolean;

/** Wraps the client's packet handler so a malformed packet is logged and dropped instead of escaping. */
export function guardGatewayPackets(client: Client, log: Logger, onDropped?: (type: string) => void): void {
  const ws = client.ws as unknown as { handlePacket?: PacketHandler };
  const original = ws.handlePacket;
  if (typeof original !== 'function') {
    log.warn('discord: cannot guard gateway packets (discord.js internals changed); malformed payloads may crash');
    return;
  }
  ws.handlePacket = function guarded(this: unknown, packet, shard) {
    try {
      return original.call(this, packet, shard);
    } catch (err) {
      const type = typeof packet?.t === 'string' ? packet.t : 'unknown';
      log.warn({ err, type }, 'discord: malformed gateway payload dropped');
      onDropped?.(type);
      return true;
    }
  };
}
