import { afterEach, describe, expect, it } from 'vitest';
import { agentRouter, charCounter, createAgent, type Agent } from '../../src/agent/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { message, RecordingReply } from './helpers.js';

let server: FakeOpenAIServer | undefined;
let scheduler: Scheduler<InboundMessage> | undefined;
afterEach(async () => {
  await scheduler?.drain({ deadlineMs: 100 });
  await server?.close();
});

describe('agentRouter', () => {
  it('answers each channel with its own agent through one Scheduler', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    const store = new MemoryStore();
    const make = (model: string): Agent =>
      createAgent({
        config: { provider: { baseUrl: url, model }, classifier: { enabled: false } },
        memory: store,
        counter: charCounter,
        openReply: (_t, signal) => new RecordingReply(signal),
        lane: (n) => scheduler!.lane(n),
      });
    const agents = new Map([
      ['tg', make('model-tg')],
      ['dc', make('model-dc')],
    ]);
    const router = agentRouter((id) => agents.get(id));
    scheduler = new Scheduler<InboundMessage>({ run: router.run, contextRatio: router.contextRatio });
    const tg = message({ channelId: 'tg', sessionKey: 'tg:dm:1' });
    const dc = message({ channelId: 'dc', sessionKey: 'dc:dm:1' });
    const orphan = message({ channelId: 'zz', sessionKey: 'zz:dm:1' });
    expect((await scheduler.submitAndWait(tg)).outcome).toBe('answered');
    expect((await scheduler.submitAndWait(dc)).outcome).toBe('answered');
    const failed = await scheduler.submitAndWait(orphan);
    expect(failed.outcome).toBe('failed');
    expect(failed.error?.message).toMatch(/No agent is configured for channel zz/);
    expect(isSwitchyardError(failed.error?.cause, 'E_INTERNAL')).toBe(true);
    expect(server.chatRequests.map((r) => r.body?.model)).toEqual(['model-tg', 'model-dc']);
    expect(router.contextRatio('tg:dm:1')).toBeGreaterThan(0);
    expect(router.contextRatio('zz:dm:1')).toBe(0);
    await expect(router.handlePinCommand(message({ channelId: 'dc', sessionKey: 'dc:dm:1', text: '/pins', command: { name: 'pins', args: '' } }))).resolves.toMatch(/No pinned/);
    expect(router.handlePinCommand(message({ channelId: 'zz', text: '/pins', command: { name: 'pins', args: '' } }))).toBeUndefined();
  });
});
