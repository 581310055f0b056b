import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSwitchyardError } from '../../../src/errors/index.js';
import { SqliteStore } from '../../../src/store/index.js';
import { alice, captureLogger, dmAlice, forum, group, harness, targetOf, type Harness } from './helpers.js';

function longReply(): string {
  const prose = 'The gateway keeps one queue per session and answers in order. '.repeat(50);
  const code = Array.from({ length: 160 }, (_, i) => `    total += step_${i}(x)  # accumulate`).join('\n');
  const text = `${prose}\n\n\`\`\`python\ndef run(x):\n    total = 0\n${code}\n    return total\n\`\`\`\n\n${prose}`;
  return text.slice(0, 10_000);
}

describe('TelegramChannel replies (real grammY against the fake Bot API)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await h?.close();
    h = undefined;
  });

  it('chunks a 10,000-character reply with a code block into valid messages <= 4096', async () => {
    h = await harness({ streaming: { enabled: false } });
    await h.channel.start();
    const text = longReply();
    expect(text.length).toBe(10_000);
    const ac = new AbortController();
    const reply = h.channel.openReply(targetOf(dmAlice, { replyTo: '1' }), { runId: 'run-long', signal: ac.signal });
    await reply.complete(text);
    const sent = h.fake.messagesIn(dmAlice.id);
    expect(sent.length).toBe(3);
    for (const m of sent) {
      expect(m.parse_mode).toBe('HTML'); // the fake parsed the entities and counted the visible length
      expect((m.text.match(/<pre>/g) ?? []).length).toBe((m.text.match(/<\/pre>/g) ?? []).length);
    }
    // The code block spans a boundary: both sides render as python code.
    const withCode = sent.filter((m) => m.text.includes('language-python'));
    expect(withCode.length).toBeGreaterThanOrEqual(2);
    // Only the first chunk replies to the user's message.
    expect(sent.map((m) => m.reply_to_message_id)).toEqual([1, undefined, undefined]);
    expect(h.deliveries.records.map((r) => r.chunkIndex)).toEqual([0, 1, 2]);
    expect(h.deliveries.records.map((r) => r.platformMessageId)).toEqual(sent.map((m) => String(m.message_id)));
  });

  it('falls back to plain text when Telegram rejects the entities', async () => {
    h = await harness({ streaming: { enabled: false } });
    await h.channel.start();
    h.fake.failNext('sendMessage', { kind: 'error', status: 400, description: "Bad Request: can't parse entities: Unsupported start tag" }, 1, (p) => p.parse_mode === 'HTML');
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-plain', signal: new AbortController().signal });
    await reply.complete('Use **bold** and <tags> freely.');
    const sent = h.fake.messagesIn(dmAlice.id);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.parse_mode).toBeUndefined();
    expect(sent[0]!.text).toBe('Use **bold** and <tags> freely.');
  });

  it('renders Markdown as HTML Telegram accepts', async () => {
    h = await harness({ streaming: { enabled: false } });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-html', signal: new AbortController().signal });
    await reply.complete('# Title\n\nSome **bold**, *italic*, `a < b` and [a link](https://example.com). 5 > 3 & 2 < 4.');
    const [m] = h.fake.messagesIn(dmAlice.id);
    expect(m!.parse_mode).toBe('HTML');
    expect(m!.text).toBe(
      '<b>Title</b>\n\nSome <b>bold</b>, <i>italic</i>, <code>a &lt; b</code> and <a href="https://example.com">a link</a>. 5 &gt; 3 &amp; 2 &lt; 4.',
    );
  });

  it('honours 429 retry_after', async () => {
    const limited: Array<{ method: string; retryAfterSeconds: number | undefined }> = [];
    h = await harness({ streaming: { enabled: false }, onRateLimited: (i) => limited.push(i) });
    await h.channel.start();
    h.fake.failNext('sendMessage', { kind: 'error', status: 429, retryAfter: 1 });
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-429', signal: new AbortController().signal });
    await reply.complete('after a flood wait');
    const sends = h.fake.callsOf('sendMessage');
    expect(sends.map((c) => c.status)).toEqual([429, 200]);
    expect(sends[1]!.at - sends[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(1);
    expect(limited).toEqual([{ method: 'sendMessage', retryAfterSeconds: 1 }]);
  });

  it('fails a send whose retry_after exceeds the bound instead of stalling the run', async () => {
    h = await harness({ streaming: { enabled: false }, retry: { maxRetryAfterSeconds: 5 } });
    await h.channel.start();
    h.fake.failNext('sendMessage', { kind: 'error', status: 429, retryAfter: 3600 });
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-flood', signal: new AbortController().signal });
    const t0 = Date.now();
    const err = await reply.complete('flood wait').catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CHANNEL_SEND')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(h.deliveries.records).toHaveLength(0);
  });

  it('never repeats a delivered chunk when the run is re-run', async () => {
    h = await harness({ streaming: { enabled: false } });
    await h.channel.start();
    const text = longReply();
    // Attempt 1: chunk 0 goes through, chunk 1 is refused.
    h.fake.failNext('sendMessage', { kind: 'error', status: 400, description: 'Bad Request: chat not found' }, 1, () => h!.fake.messagesIn(dmAlice.id).length === 1);
    const first = h.channel.openReply(targetOf(dmAlice), { runId: 'run-x', signal: new AbortController().signal });
    const err = await first.complete(text).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CHANNEL_SEND')).toBe(true);
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(1);
    // Attempt 2 (after a crash, same run id): only the missing chunks are sent.
    const second = h.channel.openReply(targetOf(dmAlice), { runId: 'run-x', signal: new AbortController().signal });
    await second.complete(text);
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(3);
    expect(h.deliveries.records.map((r) => r.chunkIndex)).toEqual([0, 1, 2]);
    // Attempt 3: everything delivered, nothing sent.
    const before = h.fake.callsOf('sendMessage').length;
    const third = h.channel.openReply(targetOf(dmAlice), { runId: 'run-x', signal: new AbortController().signal });
    await third.complete(text);
    expect(h.fake.callsOf('sendMessage').length).toBe(before);
  });

  it('streams a preview at a bounded edit rate and turns it into the first chunk', async () => {
    h = await harness({ streaming: { editIntervalMs: 150, minInitialChars: 5 } });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-stream', signal: new AbortController().signal });
    let full = '';
    // A fast token stream: 300 deltas over ~1.2 s.
    for (let i = 0; i < 300; i++) {
      const d = `word${i} `;
      full += d;
      reply.delta(d);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 40));
    }
    await reply.complete(full);
    const sends = h.fake.callsOf('sendMessage');
    const edits = h.fake.callsOf('editMessageText');
    expect(sends).toHaveLength(1); // the preview, reused as the final message
    expect(edits.length).toBeGreaterThanOrEqual(3);
    const previewCalls = [...sends, ...edits].sort((a, b) => a.at - b.at);
    const streamingCalls = previewCalls.slice(0, -1); // the last edit is the final, formatted one
    // Calls start >= 150 ms apart in the client; arrival times at the server jitter by a few ms.
    for (let i = 1; i < streamingCalls.length; i++) {
      expect(streamingCalls[i]!.at - streamingCalls[i - 1]!.at).toBeGreaterThanOrEqual(120);
    }
    const span = streamingCalls.at(-1)!.at - streamingCalls[0]!.at;
    expect(span / (streamingCalls.length - 1)).toBeGreaterThanOrEqual(145);
    expect(edits.length).toBeLessThan(300 / 5);
    const msgs = h.fake.messagesIn(dmAlice.id);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.text).toBe(full.trimEnd()); // the final text, in full (Telegram trims trailing spaces)
    expect(msgs[0]!.parse_mode).toBe('HTML');
    expect(h.deliveries.records).toEqual([{ runId: 'r-stream', chunkIndex: 0, platformMessageId: String(msgs[0]!.message_id) }]);
  });

  it('sends typing every interval while the run works, in the forum topic', async () => {
    h = await harness({ typingIntervalMs: 100, typingDelayMs: 0, streaming: { enabled: false } });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(forum, { threadId: '77' }), { runId: 'r-typing', signal: new AbortController().signal });
    await new Promise((r) => setTimeout(r, 350));
    await reply.complete('done');
    // A tick already on the wire when the reply completed may still land: let it, then expect silence.
    await new Promise((r) => setTimeout(r, 100));
    const n = h.fake.callsOf('sendChatAction').length;
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(6);
    expect(h.fake.callsOf('sendChatAction')[0]!.params).toMatchObject({ action: 'typing', message_thread_id: 77 });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.fake.callsOf('sendChatAction').length).toBe(n); // stopped with the reply
    expect(h.fake.messagesIn(forum.id, 77)).toHaveLength(1);
  });

  it('sends no typing indicator for a reply that completes before typingDelayMs', async () => {
    h = await harness({ typingDelayMs: 60_000, streaming: { enabled: false } });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-fast', signal: new AbortController().signal });
    await reply.complete('quick answer');
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(1);
    expect(h.fake.callsOf('sendChatAction')).toHaveLength(0);
  });

  it('sends nothing after the run is aborted, and removes the preview on cancel', async () => {
    h = await harness({ streaming: { editIntervalMs: 50, minInitialChars: 1 } });
    await h.channel.start();
    const ac = new AbortController();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-abort', signal: ac.signal });
    reply.delta('partial answer');
    await vi.waitFor(() => expect(h!.fake.messagesIn(dmAlice.id)).toHaveLength(1));
    ac.abort();
    reply.delta(' more');
    await reply.cancel('stopped');
    const chatCalls = () => h!.fake.calls.filter((c) => c.method !== 'getUpdates');
    const callsAfter = chatCalls().length;
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(0); // preview deleted
    await new Promise((r) => setTimeout(r, 150));
    expect(chatCalls().slice(callsAfter).map((c) => c.method)).toEqual([]);
    const late = h.channel.openReply(targetOf(dmAlice), { runId: 'r-abort2', signal: ac.signal });
    await expect(late.complete('too late')).rejects.toBeDefined();
    expect(h.fake.callsOf('sendMessage').filter((c) => c.params.text === 'too late')).toHaveLength(0);
  });

  it('paces messages to one chat without dropping any (~1/s per chat)', async () => {
    h = await harness({ streaming: { enabled: false }, pacing: { chatIntervalMs: 200 } });
    await h.channel.start();
    const target = targetOf(group);
    await Promise.all([
      h.channel.notify(target, 'one'),
      h.channel.notify(target, 'two'),
      h.channel.notify(target, 'three'),
      h.channel.notify(targetOf(dmAlice), 'elsewhere'),
    ]);
    const inGroup = h.fake.callsOf('sendMessage').filter((c) => c.params.chat_id === group.id);
    expect(inGroup.map((c) => c.params.text)).toEqual(['one', 'two', 'three']);
    // The pacer starts sends >= 200 ms apart; arrival times at the server jitter by a few ms under load.
    for (let i = 1; i < inGroup.length; i++) expect(inGroup[i]!.at - inGroup[i - 1]!.at).toBeGreaterThanOrEqual(150);
    expect(inGroup[2]!.at - inGroup[0]!.at).toBeGreaterThanOrEqual(380);
    const dm = h.fake.callsOf('sendMessage').find((c) => c.params.chat_id === dmAlice.id)!;
    expect(dm.at - inGroup[0]!.at).toBeLessThan(150); // another chat is not held back
    expect(alice.id).toBe(dmAlice.id);
  });

  it('paces bot-wide (30/s by default) across chats', async () => {
    h = await harness({ streaming: { enabled: false }, pacing: { chatIntervalMs: 0, globalPerSecond: 3 } });
    await h.channel.start();
    await Promise.all(Array.from({ length: 6 }, (_, i) => h!.channel.notify(targetOf({ id: 5000 + i, type: 'private' }), `m${i}`)));
    const at = h.fake.callsOf('sendMessage').map((c) => c.at);
    expect(at).toHaveLength(6);
    // No 1 s window holds more than 3 sends (server-side arrival jitter: allow 30 ms).
    for (let i = 3; i < at.length; i++) expect(at[i]! - at[i - 3]!).toBeGreaterThanOrEqual(970);
  });

  it('sends the first chunk fresh and removes the preview when the preview cannot be finalized', async () => {
    h = await harness({ streaming: { editIntervalMs: 30, minInitialChars: 1 } });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-fin', signal: new AbortController().signal });
    reply.delta('streaming text');
    await vi.waitFor(() => expect(h!.fake.messagesIn(dmAlice.id)).toHaveLength(1));
    // Finalizing edits fail (both the HTML try and the plain fallback).
    h.fake.failNext('editMessageText', { kind: 'error', status: 400, description: "Bad Request: can't parse entities: x" }, 1);
    h.fake.failNext('editMessageText', { kind: 'error', status: 400, description: 'Bad Request: message can not be edited now' }, 1);
    await reply.complete('streaming text, final');
    const msgs = h.fake.messagesIn(dmAlice.id);
    expect(msgs.map((m) => m.text)).toEqual(['streaming text, final']);
    expect(h.deliveries.records.map((r) => r.platformMessageId)).toEqual([String(msgs[0]!.message_id)]);
  });

  it('a preview whose request is out when the run aborts is still removed (no orphan half answer)', async () => {
    h = await harness({ streaming: { editIntervalMs: 30, minInitialChars: 1 } });
    await h.channel.start();
    h.fake.failNext('sendMessage', { kind: 'delay', ms: 300 });
    const ac = new AbortController();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-orphan', signal: ac.signal });
    reply.delta('half an answer');
    await vi.waitFor(() => expect(h!.fake.callsOf('sendMessage')).toHaveLength(1)); // request is at the server
    ac.abort();
    await reply.cancel('stopped');
    expect(h.fake.callsOf('deleteMessage')).toHaveLength(1);
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(0);
  });

  it('records every chunk but the last before the next send; the last one commits with a write queued after complete()', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    h = await harness({ streaming: { enabled: false }, deliveries: store });
    await h.channel.start();
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-joined', signal: new AbortController().signal });
    const commitsBefore = store.commits;
    await reply.complete(longReply()); // three chunks
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(3);
    // Chunks 0 and 1 were each committed before the next chunk went out; chunk 2's record is still queued.
    expect(store.commits - commitsBefore).toBe(2);
    // The run's outcome, queued now (as the runner does once complete() resolves), shares chunk 2's commit.
    await store.recordOutcomes([{ messageId: 'm-joined', outcome: 'answered', runId: 'r-joined', at: 1 }]);
    expect(store.commits - commitsBefore).toBe(3);
    expect((await store.delivered('r-joined')).map((d) => d.chunkIndex)).toEqual([0, 1, 2]);
    await store.close();
  });

  it('a chunk sent while the store refuses to record it completes the reply: sent once, not failed', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const log = captureLogger();
    h = await harness({ streaming: { enabled: false }, deliveries: store, logger: log.logger });
    await h.channel.start();
    store.simulateFault('readonly');
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-unrecorded', signal: new AbortController().signal });
    await reply.complete('answer');
    expect(h.fake.messagesIn(dmAlice.id).map((m) => m.text)).toEqual(['answer']);
    expect(await store.delivered('r-unrecorded')).toEqual([]);
    // The last chunk's record is queued, not awaited, by complete() (it commits with the run's outcome): its
    // refusal is logged once that write settles. The reply's logger is bound lazily, but its lines still say
    // which channel and which run.
    await vi.waitFor(() => {
      const line = log.lines.find((l) => l['msg'] === 'delivered chunk not recorded (store refused the write)');
      expect(line).toMatchObject({ channelId: 'tg-test', runId: 'r-unrecorded', chunkIndex: 0 });
    });
    await store.close();
  });
});
