/**
 * The `Store` contract as tests, run against every implementation (MemoryStore, SqliteStore) so they agree.
 * Not a test file itself: `memory-store.test.ts` and `sqlite-store.test.ts` call `describeStoreContract`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/channels/index.js';
import type { RunRecord, RunTransition, Store } from '../../src/store/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';

/** Builds a store for one test; `clock` lets tests move time. */
export type StoreFactory = (opts: { now: () => number; onRunTransition?: (t: RunTransition) => void }) => Promise<Store>;

let counter = 0;
/** A valid inbound message; `n` picks the platform message id. */
export function msg(n: number, overrides: Partial<InboundMessage> = {}): InboundMessage {
  const chatId = overrides.chatId ?? '100';
  const channelId = overrides.channelId ?? 'tg-main';
  return {
    id: `${channelId}:${chatId}:${n}`,
    channelId,
    platform: 'telegram',
    sessionKey: `${channelId}:dm:${chatId}`,
    chatId,
    senderId: chatId,
    senderName: 'Ada',
    peer: 'dm',
    text: `message ${n} (${++counter})`,
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(n),
    sentAt: 1_000 + n,
    receivedAt: 2_000 + n,
    ...overrides,
  };
}

/** A run record with sensible defaults. */
export function run(owner: InboundMessage, state: RunRecord['state'], attempt = 1, members: InboundMessage[] = []): RunRecord {
  return {
    runId: `${owner.id}#${attempt}`,
    sessionKey: owner.sessionKey,
    messageIds: [owner.id, ...members.map((m) => m.id)],
    state,
    attempt,
    createdAt: 10,
    updatedAt: 10,
  };
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name}: Store contract`, () => {
    let time = 1_000_000;
    const now = (): number => time;
    const opened: Store[] = [];
    const make = async (onRunTransition?: (t: RunTransition) => void): Promise<Store> => {
      const s = await factory(onRunTransition === undefined ? { now } : { now, onRunTransition });
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
      time = 1_000_000;
    });

    it('accepts once, reports duplicates, keeps arrival order in seq', async () => {
      const store = await make();
      const a = await store.accept(msg(1));
      const b = await store.accept(msg(2));
      expect(a.status).toBe('accepted');
      expect(b.status).toBe('accepted');
      if (a.status !== 'accepted' || b.status !== 'accepted') return;
      expect(b.seq).toBeGreaterThan(a.seq);
      expect(await store.accept(msg(1))).toEqual({ status: 'duplicate' });
      const got = await store.getMessage(msg(1).id);
      expect(got?.message.id).toBe(msg(1).id);
      expect(got?.message.platformMessageId).toBe('1');
      expect(got?.outcome).toBeUndefined();
      expect(await store.getMessage('nope')).toBeUndefined();
    });

    it('accepts concurrent duplicates exactly once', async () => {
      const store = await make();
      const results = await Promise.all([store.accept(msg(5)), store.accept(msg(5)), store.accept(msg(6))]);
      expect(results.map((r) => r.status)).toEqual(['accepted', 'duplicate', 'accepted']);
    });

    it('round-trips the envelope, optional fields included', async () => {
      const store = await make();
      const m = msg(7, {
        threadId: '9',
        replyTo: { platformMessageId: '3', text: 'hi' },
        command: { name: 'stop', args: '' },
        attachments: [{ kind: 'photo', id: 'f1', size: 10 }],
      });
      await store.accept(m);
      expect((await store.getMessage(m.id))?.message).toEqual(m);
    });

    it('stores a copy: mutating the envelope after accept changes nothing stored', async () => {
      const store = await make();
      const m = msg(8);
      await store.accept(m);
      m.text = 'edited later';
      expect((await store.getMessage(m.id))?.message.text).not.toBe('edited later');
    });

    it('records the first outcome of a message and ignores later ones', async () => {
      const store = await make();
      await store.accept(msg(1));
      await store.recordOutcomes([{ messageId: msg(1).id, outcome: 'answered', runId: 'r#1', at: 5 }]);
      await store.recordOutcomes([{ messageId: msg(1).id, outcome: 'failed', error: 'late', at: 6 }]);
      await store.recordOutcomes([{ messageId: 'never-accepted', outcome: 'answered', at: 7 }]);
      const got = await store.getMessage(msg(1).id);
      expect(got?.outcome).toMatchObject({ messageId: msg(1).id, outcome: 'answered', runId: 'r#1', at: 5 });
      expect(got?.outcome?.error).toBeUndefined();
    });

    it('stores run transitions, ignores transitions out of terminal states, reports each change', async () => {
      const seen: Array<[string | undefined, string]> = [];
      const store = await make((t) => seen.push([t.previousState, t.run.state]));
      const m = msg(1);
      await store.accept(m);
      await store.saveRun(run(m, 'queued'));
      await store.saveRun({ ...run(m, 'running'), updatedAt: 20 });
      await store.saveRun({ ...run(m, 'answered'), updatedAt: 30 });
      await store.saveRun({ ...run(m, 'failed'), updatedAt: 40, error: 'late' });
      const got = await store.getRun(`${m.id}#1`);
      expect(got).toMatchObject({ state: 'answered', attempt: 1, createdAt: 10, updatedAt: 30, messageIds: [m.id] });
      expect(seen).toEqual([
        [undefined, 'queued'],
        ['queued', 'running'],
        ['running', 'answered'],
      ]);
      expect(await store.getRun('missing#1')).toBeUndefined();
    });

    it('keeps a delivery log per run, first record of a chunk wins', async () => {
      const store = await make();
      await store.record({ runId: 'a#1', chunkIndex: 1, platformMessageId: '11' });
      await store.record({ runId: 'a#1', chunkIndex: 0, platformMessageId: '10' });
      await store.record({ runId: 'a#1', chunkIndex: 0, platformMessageId: '99' });
      expect(await store.delivered('a#1')).toEqual([
        { runId: 'a#1', chunkIndex: 0, platformMessageId: '10' },
        { runId: 'a#1', chunkIndex: 1, platformMessageId: '11' },
      ]);
      expect(await store.delivered('b#1')).toEqual([]);
    });

    it('returns history from the latest summary on, and applies a summary only if history is unchanged', async () => {
      const store = await make();
      const k = 'tg-main:dm:1';
      const [u1, a1, u2, a2] = await store.appendHistory([
        { sessionKey: k, role: 'user', content: 'q1', name: 'Ada', at: 1 },
        { sessionKey: k, role: 'assistant', content: 'a1', tokens: 3, runId: 'r#1', at: 2 },
        { sessionKey: k, role: 'user', content: 'q2', at: 3 },
        { sessionKey: k, role: 'assistant', content: 'a2', at: 4 },
      ]);
      await store.appendHistory([{ sessionKey: 'other', role: 'user', content: 'x', at: 5 }]);
      expect(u1!.id).toBeLessThan(a1!.id);
      expect((await store.history(k)).map((e) => e.content)).toEqual(['q1', 'a1', 'q2', 'a2']);
      expect((await store.history(k))[0]).toMatchObject({ name: 'Ada', role: 'user' });
      expect((await store.history(k))[1]).toMatchObject({ tokens: 3, runId: 'r#1' });

      // Stale: the history grew since the summary was made.
      expect(await store.applySummary(k, { content: 'S', throughId: a1!.id, expectedLastId: u2!.id })).toBe(false);
      expect((await store.history(k)).map((e) => e.content)).toEqual(['q1', 'a1', 'q2', 'a2']);

      expect(await store.applySummary(k, { content: 'S', tokens: 2, throughId: a1!.id, expectedLastId: a2!.id })).toBe(true);
      const h = await store.history(k);
      expect(h.map((e) => [e.role, e.content])).toEqual([
        ['summary', 'S'],
        ['user', 'q2'],
        ['assistant', 'a2'],
      ]);
      expect(h[0]!.id).toBeLessThan(u2!.id);
      // An id that is not an entry of this session is refused (the entries a summary covered are gone).
      expect(await store.applySummary(k, { content: 'S2', throughId: u1!.id, expectedLastId: a2!.id })).toBe(false);
      expect((await store.history(k))[0]!.content).toBe('S');
      const [u3] = await store.appendHistory([{ sessionKey: k, role: 'user', content: 'q3', at: 6 }]);
      expect(u3!.id).toBeGreaterThan(a2!.id);
      expect((await store.history(k)).map((e) => e.content)).toEqual(['S', 'q2', 'a2', 'q3']);
      expect((await store.history('other')).map((e) => e.content)).toEqual(['x']);
      expect(await store.history('nobody')).toEqual([]);
    });

    it('rejects a summary whose ids are inconsistent', async () => {
      const store = await make();
      await expect(store.applySummary('k', { content: 'S', throughId: 5, expectedLastId: 4 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
    });

    it('keeps stale cutoffs synchronously', async () => {
      const store = await make();
      expect(store.cutoffs.get('s')).toBeUndefined();
      store.cutoffs.set('s', { platformMessageId: '123456789012345678901', sentAt: 5 });
      store.cutoffs.set('t', { sentAt: 6 });
      expect(store.cutoffs.get('s')).toEqual({ platformMessageId: '123456789012345678901', sentAt: 5 });
      expect(store.cutoffs.get('t')).toEqual({ sentAt: 6 });
      store.cutoffs.set('s', undefined);
      expect(store.cutoffs.get('s')).toBeUndefined();
    });

    it('caps auto pins per session, never evicts manual pins', async () => {
      const store = await make();
      const k = 'sess';
      const manual = await store.addPin({ sessionKey: k, text: 'manual', source: 'manual', createdAt: 1 });
      for (let i = 0; i < 4; i++) await store.addPin({ sessionKey: k, text: `auto${i}`, source: 'auto', createdAt: 2 + i }, { autoCap: 2 });
      await store.addPin({ sessionKey: 'other', text: 'o', source: 'auto', createdAt: 1 }, { autoCap: 2 });
      expect((await store.listPins(k)).map((p) => p.text)).toEqual(['manual', 'auto2', 'auto3']);
      expect(await store.removePin(k, manual.id)).toBe(true);
      expect(await store.removePin(k, manual.id)).toBe(false);
      expect(await store.removePin('other', (await store.listPins(k))[0]!.id)).toBe(false);
      expect((await store.listPins(k)).map((p) => p.text)).toEqual(['auto2', 'auto3']);
      expect((await store.listPins('other')).map((p) => p.text)).toEqual(['o']);
    });

    it('approves an unexpired pairing code once, per channel', async () => {
      const store = await make();
      const req = { channelId: 'tg', senderId: 'u1', senderName: 'Ada', code: 'ABC123', createdAt: 100, expiresAt: 200 };
      await store.savePairing(req);
      await store.savePairing({ ...req, senderId: 'u2', code: 'OLD111', expiresAt: 150 });
      expect((await store.listPairings('tg', 160)).map((r) => r.senderId)).toEqual(['u1']);
      expect(await store.approvePairing('other', 'ABC123', 160)).toBeUndefined();
      expect(await store.approvePairing('tg', 'OLD111', 160)).toBeUndefined();
      expect(await store.approvePairing('tg', 'ABC123', 160)).toEqual(req);
      expect(await store.approvePairing('tg', 'ABC123', 160)).toBeUndefined();
      expect(await store.isPaired('tg', 'u1')).toBe(true);
      expect(await store.isPaired('tg', 'u2')).toBe(false);
      expect(await store.isPaired('other', 'u1')).toBe(false);
      expect(await store.listPairings('tg', 160)).toEqual([]);
    });

    it('a new code for the same sender replaces the previous one', async () => {
      const store = await make();
      await store.savePairing({ channelId: 'tg', senderId: 'u1', senderName: 'Ada', code: 'AAA', createdAt: 1, expiresAt: 100 });
      await store.savePairing({ channelId: 'tg', senderId: 'u1', senderName: 'Ada', code: 'BBB', createdAt: 2, expiresAt: 100 });
      expect((await store.listPairings('tg', 50)).map((r) => r.code)).toEqual(['BBB']);
      expect(await store.approvePairing('tg', 'AAA', 50)).toBeUndefined();
    });

    it('prunes terminal records older than the cutoff and keeps open work and history', async () => {
      const store = await make();
      const [old, open, fresh] = [msg(1), msg(2), msg(3)];
      time = 1_000;
      for (const m of [old, open, fresh]) await store.accept(m);
      await store.saveRun({ ...run(old, 'answered'), updatedAt: 1_000 });
      await store.saveRun({ ...run(open, 'running'), updatedAt: 1_000 });
      await store.record({ runId: `${old.id}#1`, chunkIndex: 0, platformMessageId: 'p1' });
      await store.recordOutcomes([{ messageId: old.id, outcome: 'answered', at: 1_000 }]);
      await store.recordOutcomes([{ messageId: fresh.id, outcome: 'answered', at: 9_000 }]);
      await store.appendHistory([{ sessionKey: old.sessionKey, role: 'user', content: 'kept', at: 1 }]);
      time = 10_000;
      expect(await store.prune(5_000)).toEqual({ messages: 1, runs: 1 });
      expect(await store.getMessage(old.id)).toBeUndefined();
      expect(await store.getMessage(open.id)).toBeDefined();
      expect(await store.getMessage(fresh.id)).toBeDefined();
      expect(await store.getRun(`${old.id}#1`)).toBeUndefined();
      expect(await store.getRun(`${open.id}#1`)).toBeDefined();
      expect(await store.delivered(`${old.id}#1`)).toEqual([]);
      expect((await store.history(old.sessionKey)).map((e) => e.content)).toEqual(['kept']);
      expect(await store.prune(5_000)).toEqual({ messages: 0, runs: 0 });
    });

    it('lists recent chats of a channel with their newest platform message id (numeric order)', async () => {
      const store = await make();
      time = 1_000;
      await store.accept(msg(9, { chatId: 'a' }));
      time = 5_000;
      await store.accept(msg(10, { chatId: 'a' }));
      await store.accept(msg(7, { chatId: 'a', threadId: 't1' }));
      await store.accept(msg(3, { chatId: 'b', channelId: 'other' }));
      const chats = await store.recentChats('tg-main', 500);
      expect(chats.sort((x, y) => (x.threadId ?? '').localeCompare(y.threadId ?? ''))).toEqual([
        { chatId: 'a', threadId: undefined, lastPlatformMessageId: '10' },
        { chatId: 'a', threadId: 't1', lastPlatformMessageId: '7' },
      ]);
      expect(await store.recentChats('tg-main', 6_000)).toEqual([]);
    });

    it('refuses calls after close with E_STORE_CLOSED', async () => {
      const store = await make();
      await store.close();
      const err = await store.accept(msg(1)).catch((e: unknown) => e);
      expect(isSwitchyardError(err, 'E_STORE_CLOSED')).toBe(true);
    });

    describe('recover', () => {
      it('re-queues a running run as the next attempt, keeps queued runs, in original order', async () => {
        const store = await make();
        const [a, b, c, d] = [msg(1), msg(2), msg(3), msg(4)];
        for (const m of [a, b, c, d]) await store.accept(m);
        // c's run was created first, but a arrived first: original order is by arrival.
        await store.saveRun({ ...run(c, 'queued'), createdAt: 5 });
        await store.saveRun({ ...run(a, 'running'), createdAt: 6 });
        time = 50_000;
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.runs.map((r) => [r.run.runId, r.run.state, r.run.attempt])).toEqual([
          [`${a.id}#2`, 'queued', 2],
          [`${c.id}#1`, 'queued', 1],
        ]);
        expect(plan.runs[0]!.messages).toEqual([a]);
        expect(plan.pending.map((m) => m.id)).toEqual([b.id, d.id]);
        expect(plan.exhausted).toEqual([]);
        expect(plan.alreadyAnswered).toEqual([]);
        expect(await store.getRun(`${a.id}#1`)).toMatchObject({ state: 'failed' });
        expect(await store.getRun(`${a.id}#2`)).toMatchObject({ state: 'queued', attempt: 2, createdAt: 50_000 });

        // Recovery is repeatable: crashing before the resumed runs start finds the same work, no attempt burnt.
        const again = await store.recover({ maxAttempts: 3 });
        expect(again.runs.map((r) => [r.run.runId, r.run.attempt])).toEqual([
          [`${a.id}#2`, 2],
          [`${c.id}#1`, 1],
        ]);
        expect(again.pending.map((m) => m.id)).toEqual([b.id, d.id]);
      });

      it('never re-runs a turn whose reply was delivered: marks it answered', async () => {
        const store = await make();
        const [a, m1] = [msg(1), msg(2)];
        await store.accept(a);
        await store.accept(m1);
        await store.saveRun(run(a, 'running', 1, [m1]));
        await store.recordOutcomes([{ messageId: m1.id, outcome: 'merged', ownerId: a.id, runId: `${a.id}#1`, at: 1 }]);
        await store.record({ runId: `${a.id}#1`, chunkIndex: 0, platformMessageId: '900' });
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.runs).toEqual([]);
        expect(plan.pending).toEqual([]);
        expect(plan.alreadyAnswered).toEqual([a.id, m1.id]);
        expect((await store.getMessage(a.id))?.outcome?.outcome).toBe('answered');
        expect((await store.getMessage(m1.id))?.outcome).toMatchObject({ outcome: 'merged', ownerId: a.id });
        expect((await store.getRun(`${a.id}#1`))?.state).toBe('answered');
      });

      it('recognizes a delivery of an earlier attempt, even without its run record', async () => {
        const store = await make();
        const a = msg(1);
        await store.accept(a);
        await store.saveRun(run(a, 'running', 2));
        await store.record({ runId: `${a.id}#1`, chunkIndex: 0, platformMessageId: '900' });
        const plan = await store.recover({ maxAttempts: 5 });
        expect(plan.alreadyAnswered).toEqual([a.id]);
        expect(plan.runs).toEqual([]);
      });

      it('fails a run past maxAttempts once and tells the plan', async () => {
        const store = await make();
        const a = msg(1);
        await store.accept(a);
        await store.saveRun(run(a, 'running', 3));
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.runs).toEqual([]);
        expect(plan.exhausted).toHaveLength(1);
        expect(plan.exhausted[0]!.run).toMatchObject({ runId: `${a.id}#3`, state: 'failed' });
        expect(plan.exhausted[0]!.messages).toEqual([a]);
        expect((await store.getMessage(a.id))?.outcome).toMatchObject({ outcome: 'failed', reason: 'error' });
        const again = await store.recover({ maxAttempts: 3 });
        expect(again).toEqual({ runs: [], pending: [], exhausted: [], alreadyAnswered: [] });
      });

      it('completes outcomes of a finished run whose outcome write was lost', async () => {
        const store = await make();
        const [a, m1] = [msg(1), msg(2)];
        await store.accept(a);
        await store.accept(m1);
        await store.saveRun(run(a, 'running', 1, [m1]));
        await store.saveRun(run(a, 'answered', 1, [m1]));
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan).toEqual({ runs: [], pending: [], exhausted: [], alreadyAnswered: [] });
        expect((await store.getMessage(a.id))?.outcome?.outcome).toBe('answered');
        expect((await store.getMessage(m1.id))?.outcome).toMatchObject({ outcome: 'merged', ownerId: a.id });
      });

      it('closes a run whose owner already has an outcome', async () => {
        const store = await make();
        const a = msg(1);
        await store.accept(a);
        await store.saveRun(run(a, 'running'));
        await store.recordOutcomes([{ messageId: a.id, outcome: 'superseded', reason: 'interrupt', at: 1 }]);
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.runs).toEqual([]);
        expect((await store.getRun(`${a.id}#1`))?.state).toBe('superseded');
      });

      it('re-runs messages merged into an interrupted turn together with their owner', async () => {
        const store = await make();
        const [a, m1, m2] = [msg(1), msg(2), msg(3)];
        for (const m of [a, m1, m2]) await store.accept(m);
        await store.saveRun(run(a, 'running', 1, [m1, m2]));
        await store.recordOutcomes([
          { messageId: m1.id, outcome: 'merged', ownerId: a.id, at: 1 },
          { messageId: m2.id, outcome: 'merged', ownerId: a.id, at: 1 },
        ]);
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.runs).toHaveLength(1);
        expect(plan.runs[0]!.messages.map((m) => m.id)).toEqual([a.id, m1.id, m2.id]);
        expect(plan.runs[0]!.run.messageIds).toEqual([a.id, m1.id, m2.id]);
        expect(plan.pending).toEqual([]);
      });

      it('reopens messages merged into an owner whose run was never saved', async () => {
        const store = await make();
        const [a, m1, b] = [msg(1), msg(2), msg(3)];
        for (const m of [a, m1, b]) await store.accept(m);
        await store.recordOutcomes([{ messageId: m1.id, outcome: 'merged', ownerId: a.id, at: 1 }]);
        const plan = await store.recover({ maxAttempts: 3 });
        expect(plan.pending.map((m) => m.id)).toEqual([a.id, m1.id, b.id]);
        expect((await store.getMessage(m1.id))?.outcome).toBeUndefined();
      });

      it('decides nothing for finished messages', async () => {
        const store = await make();
        const a = msg(1);
        await store.accept(a);
        await store.saveRun(run(a, 'answered'));
        await store.recordOutcomes([{ messageId: a.id, outcome: 'answered', at: 1 }]);
        expect(await store.recover({ maxAttempts: 1 })).toEqual({ runs: [], pending: [], exhausted: [], alreadyAnswered: [] });
      });

      it('validates maxAttempts', async () => {
        const store = await make();
        await expect(store.recover({ maxAttempts: 0 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
      });
    });
  });
}
