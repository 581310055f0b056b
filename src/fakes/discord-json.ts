/**
 * Shapes of the fake Discord: the entities a test sets up, and the raw JSON Discord would send for them.
 * Test-only code.
 */

/** A user as the fake knows it (raw Discord shape subset). */
export interface FakeUser {
  id: string;
  username: string;
  bot?: boolean;
}

/** A channel as the fake knows it. Types: 0 text, 1 DM, 11 public thread. */
export interface FakeChannel {
  id: string;
  type: 0 | 1 | 11;
  guildId?: string;
  parentId?: string;
  name?: string;
  /** DM only: the other user. */
  recipient?: FakeUser;
}

/** A guild with its roles; `botRoles` are the roles the bot member holds. */
export interface FakeGuild {
  id: string;
  name: string;
  roles: Array<{ id: string; name: string }>;
  botRoles: string[];
}

/** A message stored in a channel (raw Discord JSON). */
export type FakeMessage = Record<string, unknown> & { id: string; channel_id: string; content: string };

/** One request the fake received. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  at: number;
  status: number;
}

/** GUILD_CREATE payload: roles (with @everyone), the bot member with its roles, channels and threads. */
export function guildJson(guild: FakeGuild, allChannels: Iterable<FakeChannel>, botUser: FakeUser): Record<string, unknown> {
  const channels = [...allChannels].filter((c) => c.guildId === guild.id);
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    owner_id: '1',
    unavailable: false,
    member_count: 2,
    large: false,
    features: [],
    emojis: [],
    stickers: [],
    roles: [{ id: guild.id, name: '@everyone', permissions: '0', position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 }, ...guild.roles.map((r, i) => ({ ...r, permissions: '0', position: i + 1, color: 0, hoist: false, managed: false, mentionable: true, flags: 0 }))],
    members: [{ user: userJson(botUser), roles: guild.botRoles, joined_at: new Date(0).toISOString(), deaf: false, mute: false }],
    channels: channels.filter((c) => c.type !== 11).map((c) => channelJson(c)),
    threads: channels.filter((c) => c.type === 11).map((c) => channelJson(c)),
    presences: [],
    voice_states: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

/** A channel object as REST and the gateway send it. */
export function channelJson(c: FakeChannel): Record<string, unknown> {
  if (c.type === 1) return { id: c.id, type: 1, recipients: c.recipient ? [userJson(c.recipient)] : [], last_message_id: null };
  const base: Record<string, unknown> = { id: c.id, type: c.type, guild_id: c.guildId, name: c.name ?? c.id, position: 0, permission_overwrites: [], nsfw: false, parent_id: c.parentId ?? null };
  if (c.type === 11) base.thread_metadata = { archived: false, auto_archive_duration: 1440, archive_timestamp: new Date(0).toISOString(), locked: false };
  return base;
}

/** A user object. */
export function userJson(u: FakeUser): Record<string, unknown> {
  return { id: u.id, username: u.username, discriminator: '0', global_name: null, avatar: null, bot: u.bot ?? false };
}
