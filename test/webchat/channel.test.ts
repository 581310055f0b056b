import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { DeliveryRecord, InboundMessage, IngressPort, IngressResult, ReplyTarget } from '../../src/channels/index.js';
import { SwitchyardError } from '../../src/errors/index.js';
import { RunTimeoutError } from '../../src/scheduler/index.js';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { WebchatChannel, type ServerFrame } from '../../src/webchat/index.js';

/** Records what ingress got; answers like the real one would for commands. */
class RecordingIngress implements IngressPort {
  readonly received: InboundMessage[] = [];
  fail: Error | undefined;
  async receive(message: InboundMessage): Promise<IngressResult> {
    if (this.fail) throw this.fail;
    this.received.push(message);
    return { status: message.command ? 'command' : 'accepted' };
  }
}

/** A ws client that keeps every frame and can wait for one. */
class Client {
  readonly frames: ServerFrame[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as ServerFrame));
  }
  static async open(url: string, headers: Record<string, string> = {}): Promise<Client> {
    const ws = new WebSocket(url, { headers });
    const client = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }
  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }
  async next<T extends ServerFrame['type']>(type: T, from = 0): Promise<Extract<ServerFrame, { type: T }>> {
    return vi.waitFor(
      () => {
        const f = this.frames.slice(from).find((x) => x.type === type);
        if (!f) throw new Error(`no ${type} frame yet`);
        return f as Extract<ServerFrame, { type: T }>;
      },
      { timeout: 3000, interval: 5 },
    );
  }
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

const CLIENT_ID = 'browser0001';
let ingress: RecordingIngress;
let channel: WebchatChannel;
let server: HttpServer;
let url: string;
let clients: Client[];
let deliveries: DeliveryRecord[];

async function connect(headers?: Record<string, string>): Promise<Client> {
  const c = await Client.open(url, headers);
  clients.push(c);
  return c;
}

async function hello(c: Client, clientId = CLIENT_ID): Promise<Extract<ServerFrame, { type: 'ready' }>> {
  c.send({ type: 'hello', clientId });
  return c.next('ready');
}

function target(clientId = CLIENT_ID): ReplyTarget {
  return { channelId: 'local', sessionKey: `local:dm:${clientId}`, chatId: clientId, peer: 'dm' };
}

beforeEach(async () => {
  ingress = new RecordingIngress();
  deliveries = [];
  channel = new WebchatChannel({
    id: 'local',
    ingress,
    deliveryLog: {
      delivered: async (runId) => deliveries.filter((d) => d.runId === runId),
      record: async (d) => {
        deliveries.push(d);
      },
    },
  });
  await channel.start();
  server = createHttpServer({ port: 0, webchat: channel, pages: false });
  const { port } = await server.listen();
  url = `ws://127.0.0.1:${port}/ws/chat`;
  clients = [];
});
afterEach(async () => {
  for (const c of clients) await c.close();
  await channel.stop();
  await server.close();
});

describe('inbound', () => {
  it('binds the socket to a DM session and turns a message into an InboundMessage for ingress', async () => {
    const c = await connect();
    const ready = await hello(c);
    expect(ready).toEqual({ type: 'ready', clientId: CLIENT_ID, sessionKey: `local:dm:${CLIENT_ID}`, channelId: 'local' });
    c.send({ type: 'message', text: '  hello there ', clientMessageId: '1700000000000001' });
    const ack = await c.next('ack');
    expect(ack).toEqual({ type: 'ack', clientMessageId: '1700000000000001', messageId: `local:${CLIENT_ID}:1700000000000001`, status: 'accepted' });
    expect(ingress.received).toHaveLength(1);
    const m = ingress.received[0]!;
    expect(m).toMatchObject({
      id: `local:${CLIENT_ID}:1700000000000001`,
      channelId: 'local',
      platform: 'webchat',
      sessionKey: `local:dm:${CLIENT_ID}`,
      chatId: CLIENT_ID,
      senderId: CLIENT_ID,
      peer: 'dm',
      text: 'hello there',
      platformMessageId: '1700000000000001',
      mentionsBot: true,
    });
    expect(m.command).toBeUndefined();
    expect(m.sentAt).toBe(m.receivedAt);
  });

  it('turns the stop button into a /stop command message', async () => {
    const c = await connect();
    await hello(c);
    c.send({ type: 'command', name: 'stop', clientMessageId: '1700000000000002' });
    expect((await c.next('ack')).status).toBe('command');
    expect(ingress.received[0]).toMatchObject({ text: '/stop', command: { name: 'stop', args: '' } });
  });

  it('parses typed commands too', async () => {
    const c = await connect();
    await hello(c);
    c.send({ type: 'message', text: '/pin remember tea', clientMessageId: '3' });
    await c.next('ack');
    expect(ingress.received[0]!.command).toEqual({ name: 'pin', args: 'remember tea' });
  });

  it('answers bad frames with E_WEBCHAT_PROTOCOL and keeps the socket', async () => {
    const c = await connect();
    c.send('not json');
    expect((await c.next('error')).code).toBe('E_WEBCHAT_PROTOCOL');
    c.send({ type: 'message', text: 'x', clientMessageId: '1' });
    await vi.waitFor(() => expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(2));
    expect(c.frames[1]).toMatchObject({ type: 'error', message: expect.stringContaining('hello') });
    await hello(c);
    c.send({ type: 'message', text: '   ', clientMessageId: '2' });
    await vi.waitFor(() => expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(3));
    c.send({ type: 'message', text: 'x', clientMessageId: 'bad id with spaces' });
    await vi.waitFor(() => expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(4));
    expect(ingress.received).toHaveLength(0);
    c.send({ type: 'message', text: 'fine', clientMessageId: '5' });
    await c.next('ack');
    expect(ingress.received).toHaveLength(1);
  });

  it('reports an ingress error to the sender with its code', async () => {
    ingress.fail = new SwitchyardError('E_MESSAGE_TOO_LARGE');
    const c = await connect();
    await hello(c);
    c.send({ type: 'message', text: 'x', clientMessageId: '9' });
    expect(await c.next('error')).toMatchObject({ code: 'E_MESSAGE_TOO_LARGE', clientMessageId: '9' });
  });

  it('refuses a cross-origin socket (403) and accepts a same-origin one', async () => {
    await expect(Client.open(url, { origin: 'https://attacker.example' })).rejects.toThrow(/403/);
    const host = new URL(url).host;
    const ok = await connect({ origin: `http://${host}` });
    await hello(ok);
  });

  it('refuses sockets after stop (503)', async () => {
    await channel.stop();
    await expect(Client.open(url)).rejects.toThrow(/503/);
  });
});

describe('replies', () => {
  it('streams deltas then the final text to every tab of the browser', async () => {
    const [a, b] = [await connect(), await connect()];
    await hello(a);
    await hello(b);
    const controller = new AbortController();
    const reply = channel.openReply(target(), { runId: 'r1#1', signal: controller.signal });
    reply.delta('Hel');
    reply.delta('lo');
    await reply.complete('Hello');
    for (const c of [a, b]) {
      await c.next('reply:done');
      expect(c.frames.slice(1)).toEqual([
        { type: 'reply:start', runId: 'r1#1' },
        { type: 'reply:delta', runId: 'r1#1', text: 'Hel' },
        { type: 'reply:delta', runId: 'r1#1', text: 'lo' },
        { type: 'reply:done', runId: 'r1#1', text: 'Hello' },
      ]);
    }
    expect(deliveries).toEqual([{ runId: 'r1#1', chunkIndex: 0, platformMessageId: 'r1#1' }]);
  });

  it('sends nothing but a cancel after the run is aborted', async () => {
    const c = await connect();
    await hello(c);
    const controller = new AbortController();
    const reply = channel.openReply(target(), { runId: 'r2#1', signal: controller.signal });
    reply.delta('partial');
    controller.abort();
    reply.delta(' more');
    await reply.complete('partial more');
    await reply.cancel('late');
    await c.next('reply:cancel');
    // A later frame proves the socket delivered everything the channel sent before it.
    await channel.notify(target(), 'marker');
    await c.next('notice');
    expect(c.frames.slice(1).map((f) => f.type)).toEqual(['reply:start', 'reply:delta', 'reply:cancel', 'notice']);
    expect(c.frames[3]).toEqual({ type: 'reply:cancel', runId: 'r2#1', reason: 'stopped' });
    expect(deliveries).toHaveLength(0);
  });

  it('tells the page why the reply stopped (the scheduler abort cause)', async () => {
    const c = await connect();
    await hello(c);
    const controller = new AbortController();
    const reply = channel.openReply(target(), { runId: 'r5#1', signal: controller.signal });
    reply.delta('slow');
    controller.abort(new RunTimeoutError('r5#1', 1000));
    expect(await c.next('reply:cancel')).toEqual({ type: 'reply:cancel', runId: 'r5#1', reason: 'timeout' });
  });

  it('never shows a reply twice when a recovered run completes again', async () => {
    const c = await connect();
    await hello(c);
    deliveries.push({ runId: 'r3#1', chunkIndex: 0, platformMessageId: 'r3#1' });
    await channel.openReply(target(), { runId: 'r3#1', signal: new AbortController().signal }).complete('again');
    await channel.notify(target(), 'marker');
    await c.next('notice');
    expect(c.frames.some((f) => f.type === 'reply:done')).toBe(false);
  });

  it('keeps final replies and notices for a browser with no open tab and delivers them on its next hello', async () => {
    const first = await connect();
    await hello(first);
    await first.close();
    await vi.waitFor(() => expect(channel.socketCount).toBe(0));
    const reply = channel.openReply(target(), { runId: 'r4#1', signal: new AbortController().signal });
    reply.delta('streamed while away');
    await reply.complete('the answer');
    await channel.notify(target(), 'a notice');
    const back = await connect();
    await hello(back);
    await back.next('notice');
    expect(back.frames.map((f) => f.type)).toEqual(['ready', 'reply:done', 'notice']);
    expect(back.frames[1]).toMatchObject({ text: 'the answer' });
  });

  it('bounds the outboxes of browsers that went away: the one gone longest is forgotten', async () => {
    const small = new WebchatChannel({ id: 'local', ingress, maxOfflineClients: 1 });
    await small.start();
    const other = createHttpServer({ port: 0, webchat: small, pages: false });
    const { port } = await other.listen();
    try {
      await small.notify(target('browserAAAA'), 'for A');
      await small.notify(target('browserBBBB'), 'for B');
      const a = await Client.open(`ws://127.0.0.1:${port}/ws/chat`);
      const b = await Client.open(`ws://127.0.0.1:${port}/ws/chat`);
      clients.push(a, b);
      await hello(a, 'browserAAAA');
      await hello(b, 'browserBBBB');
      await b.next('notice');
      expect(b.frames[1]).toEqual({ type: 'notice', text: 'for B' });
      await small.notify(target('browserAAAA'), 'live for A');
      expect((await a.next('notice')).text).toBe('live for A'); // A's old outbox was dropped, live delivery works
      expect(a.frames.filter((f) => f.type === 'notice')).toHaveLength(1);
    } finally {
      await small.stop();
      await other.close();
    }
  });

  it('sends the stored conversation to a new tab before any live frame', async () => {
    const withHistory = new WebchatChannel({
      id: 'local',
      ingress,
      historyLines: 2,
      history: async (key) => [
        { role: 'summary', content: 'older talk', at: 1 },
        { role: 'user', content: 'first', at: 2 },
        { role: 'assistant', content: 'answer one', at: 3, runId: 'r0#1' },
        { role: 'user', content: `second (${key})`, at: 4 },
      ],
    });
    await withHistory.start();
    const other = createHttpServer({ port: 0, webchat: withHistory, pages: false });
    const { port } = await other.listen();
    try {
      await withHistory.notify(target(), 'waiting in the outbox');
      const c = await Client.open(`ws://127.0.0.1:${port}/ws/chat`);
      clients.push(c);
      await hello(c);
      await c.next('notice');
      expect(c.frames.map((f) => f.type)).toEqual(['ready', 'history', 'notice']);
      expect(c.frames[1]).toEqual({
        type: 'history',
        entries: [
          { role: 'assistant', text: 'answer one', at: 3, runId: 'r0#1' },
          { role: 'user', text: `second (local:dm:${CLIENT_ID})`, at: 4 },
        ],
      });
    } finally {
      await withHistory.stop();
      await other.close();
    }
  });

  it('closes sockets on stop', async () => {
    const c = await connect();
    await hello(c);
    const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
    await channel.stop();
    expect(await closed).toBe(1001);
  });
});
