/** A runner test rig: fake model server, MemoryStore, a real Scheduler, and recording replies. Cleaned by `closeRigs`. */
import { createAgent, charCounter, type AgentConfig, type AgentDeps } from '../../src/agent/index.js';
import { FakeOpenAIServer, type FakeChatRequest } from '../../src/fakes/index.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import { RecordingReply } from './helpers.js';

let server: FakeOpenAIServer | undefined;
const schedulers: Scheduler<InboundMessage>[] = [];

/** Drains the schedulers and closes the server of every rig built since the last call (use in afterEach). */
export async function closeRigs(): Promise<void> {
  for (const s of schedulers.splice(0)) await s.drain({ deadlineMs: 100 });
  await server?.close();
  server = undefined;
}

/** What a rig holds. */
export interface Rig {
  s: FakeOpenAIServer;
  store: MemoryStore;
  agent: ReturnType<typeof createAgent>;
  replies: RecordingReply[];
  scheduler: Scheduler<InboundMessage>;
}

/** An agent (system prompt `SYS`, window 4096, one attempt, no classifier) over a fresh fake server and store. */
export async function rig(over: Partial<AgentConfig> = {}, deps: Partial<AgentDeps> = {}, replyHooks: ConstructorParameters<typeof RecordingReply>[1] = {}): Promise<Rig> {
  server = new FakeOpenAIServer();
  const { url } = await server.start();
  const store = new MemoryStore();
  const replies: RecordingReply[] = [];
  const holder: { scheduler?: Scheduler<InboundMessage> } = {};
  const agent = createAgent({
    config: {
      provider: { baseUrl: url, model: 'chat-model', maxAttempts: 1 },
      systemPrompt: 'SYS',
      contextWindow: 4096,
      classifier: { enabled: false },
      ...over,
    },
    memory: store,
    counter: charCounter,
    openReply: (_turn, signal) => {
      const r = new RecordingReply(signal, replyHooks);
      replies.push(r);
      return r;
    },
    lane: (name) => holder.scheduler!.lane(name),
    ...deps,
  });
  const scheduler = (holder.scheduler = new Scheduler<InboundMessage>({ lanes: { main: 4, background: 2 }, run: agent.run, contextRatio: agent.contextRatio, cutoffs: store.cutoffs }));
  schedulers.push(scheduler);
  return { s: server, store, agent, replies, scheduler };
}

/** Body of the last chat request the fake received. */
export function lastBody(s: FakeOpenAIServer): FakeChatRequest {
  return s.chatRequests[s.chatRequests.length - 1]!.body!;
}
