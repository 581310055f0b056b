import { describe, expect, it } from 'vitest';
import { AccessControl, canonicalPairingCode, newPairingCode, PairingInvalidError, PAIRING_ALPHABET, type AccessPolicyInput } from '../../src/access/index.js';
import { parseConfig } from '../../src/config/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { msg } from './helpers.js';

function setup(policy: AccessPolicyInput, extra: { scopeIds?: (m: ReturnType<typeof msg>) => string[]; random?: (n: number) => number } = {}) {
  let now = 1_000_000;
  const store = new MemoryStore({ now: () => now });
  const access = new AccessControl({ channelId: 'tg', policy, pairings: store, now: () => now, ...extra });
  return { access, store, advance: (ms: number) => (now += ms), now: () => now };
}

describe('AccessControl: DMs', () => {
  it('open lets everyone in', async () => {
    const { access } = setup({ dm: 'open' });
    expect(await access.decide(msg({ senderId: 'stranger' }))).toEqual({ kind: 'allow' });
  });

  it('allowlist lets allowFrom and admins in and denies others without a notice', async () => {
    const { access } = setup({ dm: 'allowlist', allowFrom: ['1'], admins: ['9'] });
    expect(await access.decide(msg({ senderId: '1' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(msg({ senderId: '9' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(msg({ senderId: '2' }))).toEqual({ kind: 'deny', reason: 'not-allowed' });
  });

  it('pairing: a stranger gets a one-time code, an admin approves it, then the stranger is allowed', async () => {
    const { access } = setup({ dm: 'pairing', admins: ['9'] });
    const first = await access.decide(msg({ senderId: '5', senderName: 'Eve' }));
    expect(first.kind).toBe('deny');
    if (first.kind !== 'deny') throw new Error('deny');
    expect(first.reason).toBe('pairing-pending');
    const code = /pairing code is ([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(first.notice ?? '')?.[1];
    expect(code).toBeDefined();
    expect(first.notice).toContain('valid for 60 minutes');
    const [pending] = await access.pending();
    expect(pending).toMatchObject({ senderId: '5', senderName: 'Eve', code, channelId: 'tg' });

    const approved = await access.approve(code!.toLowerCase().replace('-', ' '));
    expect(approved.senderId).toBe('5');
    expect(await access.decide(msg({ senderId: '5' }))).toEqual({ kind: 'allow' });
    expect(await access.pending()).toEqual([]);
    // A code works once.
    await expect(access.approve(code!)).rejects.toBeInstanceOf(PairingInvalidError);
  });

  it('pairing: the same stranger keeps the same code, reminded at most once a minute', async () => {
    const { access, advance } = setup({ dm: 'pairing' });
    const a = await access.decide(msg({ senderId: '5' }));
    const b = await access.decide(msg({ senderId: '5' }));
    expect(b).toEqual({ kind: 'deny', reason: 'pairing-pending' });
    advance(61_000);
    const c = await access.decide(msg({ senderId: '5' }));
    if (a.kind !== 'deny' || c.kind !== 'deny') throw new Error('deny');
    const code = /([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(a.notice!)![1]!;
    expect(c.notice).toContain(code);
    expect(c.notice).toContain('still waiting');
    expect(c.notice).toContain('59 minutes');
    expect(await access.pending()).toHaveLength(1);
  });

  it('pairing: concurrent messages of one stranger produce one code', async () => {
    const { access } = setup({ dm: 'pairing' });
    const decisions = await Promise.all([1, 2, 3, 4].map(() => access.decide(msg({ senderId: '5' }))));
    expect(await access.pending()).toHaveLength(1);
    expect(decisions.filter((d) => d.kind === 'deny' && d.notice !== undefined)).toHaveLength(1);
  });

  it('pairing: codes expire after codeTtlMs', async () => {
    const { access, advance } = setup({ dm: 'pairing', pairing: { codeTtlMs: 120_000 } });
    const d = await access.decide(msg({ senderId: '5' }));
    const code = /([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(d.kind === 'deny' ? d.notice! : '')![1]!;
    advance(120_001);
    const err = await access.approve(code).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_PAIRING_INVALID')).toBe(true);
    expect(await access.pending()).toEqual([]);
    // The stranger may ask again and gets a fresh code.
    const again = await access.decide(msg({ senderId: '5' }));
    expect(again.kind === 'deny' && again.notice).toMatch(/Your pairing code is/);
  });

  it('pairing: pending codes are bounded; when full, new strangers are refused and old codes keep working', async () => {
    const { access, advance } = setup({ dm: 'pairing', pairing: { maxPending: 2 } });
    const codes: string[] = [];
    for (const sender of ['a', 'b']) {
      const d = await access.decide(msg({ senderId: sender }));
      codes.push(/([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(d.kind === 'deny' ? d.notice! : '')![1]!);
    }
    const refused = await access.decide(msg({ senderId: 'c' }));
    expect(refused).toMatchObject({ kind: 'deny', reason: 'pairing-full' });
    expect(refused.kind === 'deny' && refused.notice).toMatch(/try again later/);
    expect((await access.pending()).map((p) => p.senderId)).toEqual(['a', 'b']);
    // Approving one frees a place.
    await access.approve(codes[0]!);
    advance(1);
    const now = await access.decide(msg({ senderId: 'c' }));
    expect(now).toMatchObject({ kind: 'deny', reason: 'pairing-pending' });
    expect((await access.pending()).map((p) => p.senderId)).toEqual(['b', 'c']);
    await expect(access.approve(codes[1]!)).resolves.toMatchObject({ senderId: 'b' });
  });

  it('pairing: allowFrom and admins pass without a code; approve rejects garbage without asking the store', async () => {
    const { access } = setup({ dm: 'pairing', allowFrom: ['1'], admins: ['9'] });
    expect(await access.decide(msg({ senderId: '1' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(msg({ senderId: '9' }))).toEqual({ kind: 'allow' });
    await expect(access.approve('not a code')).rejects.toThrow(/No pending pairing code "not a code" on channel tg/);
  });

  it('uses the injected randomness for codes and avoids a pending code', async () => {
    let i = 0;
    // First two codes identical (all 'A'), then all 'B'.
    const { access } = setup({ dm: 'pairing' }, { random: () => (i++ < 16 ? 0 : 1) });
    const a = await access.decide(msg({ senderId: 'a' }));
    const b = await access.decide(msg({ senderId: 'b' }));
    expect(a.kind === 'deny' && a.notice).toContain('AAAA-AAAA');
    expect(b.kind === 'deny' && b.notice).toContain('BBBB-BBBB');
  });
});

describe('AccessControl: groups', () => {
  const group = (over: Parameters<typeof msg>[0] = {}) => msg({ peer: 'group', chatId: '-100', ...over });

  it('requires a mention, a reply to the bot or a command by default', async () => {
    const { access } = setup({});
    expect(await access.decide(group())).toEqual({ kind: 'ignore', reason: 'not-mentioned' });
    expect(await access.decide(group({ mentionsBot: true }))).toEqual({ kind: 'allow' });
    expect(await access.decide(group({ replyToBot: true }))).toEqual({ kind: 'allow' });
    expect(await access.decide(group({ text: '/stop', command: { name: 'stop', args: '' } }))).toEqual({ kind: 'allow' });
  });

  it('answers every message with requireMention: false', async () => {
    const { access } = setup({ requireMention: false });
    expect(await access.decide(group())).toEqual({ kind: 'allow' });
  });

  it('does not apply the DM policy to groups (strangers in an allowed group are answered)', async () => {
    const { access } = setup({ dm: 'allowlist', requireMention: false });
    expect(await access.decide(group({ senderId: 'stranger' }))).toEqual({ kind: 'allow' });
  });

  it('allowlist matches chat, thread or extra scope ids (Discord guild)', async () => {
    const { access } = setup(
      { groups: 'allowlist', groupAllow: ['-100', 'T7', 'G1'], requireMention: false },
      { scopeIds: (m) => (m.chatId === 'C5' ? ['G1'] : []) },
    );
    expect(await access.decide(group({ chatId: '-100' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(group({ chatId: '-200', threadId: 'T7' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(group({ chatId: 'C5' }))).toEqual({ kind: 'allow' });
    expect(await access.decide(group({ chatId: '-200', mentionsBot: true }))).toEqual({ kind: 'ignore', reason: 'group-not-allowed' });
  });

  it('disabled ignores every group message, even a mention', async () => {
    const { access } = setup({ groups: 'disabled' });
    expect(await access.decide(group({ mentionsBot: true }))).toEqual({ kind: 'ignore', reason: 'groups-disabled' });
    expect(await access.decide(msg({ senderId: '1' }))).toMatchObject({ kind: 'deny' }); // DMs follow the DM policy
  });
});

describe('AccessControl: admins and commands', () => {
  it('recognizes admins by user id and by Discord role', () => {
    const { access } = setup({ admins: ['9'], adminRoles: ['R1'] });
    expect(access.isAdmin(msg({ senderId: '9' }))).toBe(true);
    expect(access.isAdmin(msg({ senderId: '1', senderRoles: ['R0', 'R1'] }))).toBe(true);
    expect(access.isAdmin(msg({ senderId: '1', senderRoles: ['R0'] }))).toBe(false);
    expect(access.isAdmin(msg({ senderId: '1' }))).toBe(false);
  });

  it('/stopall is admin-only in groups, allowed in DMs; /approve is admin-only; others allowed', () => {
    const { access } = setup({ admins: ['9'] });
    const user = { senderId: '1', peer: 'group' as const };
    const admin = { senderId: '9', peer: 'group' as const };
    expect(access.mayRunCommand(user, 'stopall')).toBe(false);
    expect(access.mayRunCommand(admin, 'stopall')).toBe(true);
    expect(access.mayRunCommand({ ...user, peer: 'dm' }, 'stopall')).toBe(true);
    expect(access.mayRunCommand({ ...user, peer: 'dm' }, 'approve')).toBe(false);
    expect(access.mayRunCommand({ ...admin, peer: 'dm' }, 'APPROVE')).toBe(true);
    for (const name of ['stop', 'status', 'help', 'pin', 'unpin', 'pins']) expect(access.mayRunCommand(user, name)).toBe(true);
  });
});

describe('AccessControl: policy and codes', () => {
  it('takes the config access block as is', async () => {
    const config = parseConfig(
      `agents: { default: { provider: { baseUrl: "http://127.0.0.1:1/v1", model: m } } }
channels:
  - { id: tg, type: telegram, token: t, access: { dm: allowlist, allowFrom: [1], admins: [2] } }
`,
      'x.yaml',
      {},
    );
    const store = new MemoryStore();
    const access = new AccessControl({ channelId: 'tg', policy: config.channels[0]!.access, pairings: store });
    expect(access.policy.dm).toBe('allowlist');
    expect(await access.decide(msg({ senderId: '1' }))).toEqual({ kind: 'allow' });
    expect(access.isAdmin(msg({ senderId: '2' }))).toBe(true);
  });

  it('rejects an invalid policy at construction', () => {
    expect(() => setup({ dm: 'closed' as never })).toThrow(/Expected `access.dm` to be one of `open`, `allowlist`, `pairing`, got "closed"/);
    expect(() => setup({ pairing: { maxPending: 0 } })).toThrow(/maxPending/);
  });

  it('makes unambiguous codes and reads them forgivingly', () => {
    for (let i = 0; i < 50; i++) {
      const code = newPairingCode();
      expect(code).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
      expect([...code.replace('-', '')].every((c) => PAIRING_ALPHABET.includes(c))).toBe(true);
      expect(canonicalPairingCode(code.toLowerCase().replace('-', '  '))).toBe(code);
    }
    expect(PAIRING_ALPHABET).not.toMatch(/[01OIL]/);
    expect(canonicalPairingCode('ABCD-EFG0')).toBeUndefined();
    expect(canonicalPairingCode('ABC')).toBeUndefined();
  });
});
