import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpServer, SchedulerAdminBackend, type HttpServer } from '../../src/http/index.js';
import type { Scheduler } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { flush, gatedScheduler, msg, type Gate, type TestMessage } from './helpers.js';

const TOKEN = 'admin-token-4f8a2c';
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

let server: HttpServer;
let scheduler: Scheduler<TestMessage>;
let gates: Gate[];
let store: MemoryStore;

beforeEach(() => {
  ({ scheduler, gates } = gatedScheduler({ main: 2, subagent: 1, background: 1 }));
  store = new MemoryStore();
  const admin = new SchedulerAdminBackend({ scheduler, store, channelIds: ['tg', 'local'] });
  server = createHttpServer({ port: 0, adminToken: TOKEN, admin, pages: false });
});
afterEach(async () => {
  await server.close();
  await scheduler.drain({ deadlineMs: 0 });
});

describe('admin auth', () => {
  it('answers 401 E_UNAUTHORIZED without, or with a wrong, bearer token', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }]) {
      const r = await server.app.inject({ url: '/admin/sessions', headers });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ code: 'E_UNAUTHORIZED' });
      expect(r.body).not.toContain(TOKEN);
    }
    const ok = await server.app.inject({ url: '/admin/sessions', headers: auth });
    expect(ok.statusCode).toBe(200);
  });

  it('does not run the handler for an unauthorized request', async () => {
    scheduler.submit(msg('s1'));
    await flush();
    const r = await server.app.inject({ method: 'POST', url: '/admin/sessions/s1/stop', headers: { authorization: 'Bearer wrong' } });
    expect(r.statusCode).toBe(401);
    expect(gates[0]!.ctx.signal.aborted).toBe(false);
  });

  describe('without a token (loopback only)', () => {
    let open: HttpServer;
    beforeEach(() => {
      open = createHttpServer({ port: 0, admin: new SchedulerAdminBackend({ scheduler, store, channelIds: [] }), pages: false });
    });
    afterEach(async () => open.close());

    it('serves loopback Host headers', async () => {
      const r = await open.app.inject({ url: '/admin/lanes', headers: { host: '127.0.0.1:8787' } });
      expect(r.statusCode).toBe(200);
    });

    it('refuses a foreign Host (DNS rebinding) and a cross-origin browser request', async () => {
      let r = await open.app.inject({ url: '/admin/lanes', headers: { host: 'attacker.example:8787' } });
      expect(r.statusCode).toBe(401);
      r = await open.app.inject({
        method: 'POST',
        url: '/admin/sessions/s1/stopall',
        headers: { host: '127.0.0.1:8787', origin: 'https://attacker.example' },
      });
      expect(r.statusCode).toBe(401);
      r = await open.app.inject({ url: '/admin/lanes', headers: { host: '127.0.0.1:8787', origin: 'http://127.0.0.1:8787' } });
      expect(r.statusCode).toBe(200);
    });
  });
});

describe('sessions', () => {
  it('lists busy sessions with mode, depth and active runs', async () => {
    scheduler.submit(msg('s1'));
    scheduler.submit(msg('s1'));
    scheduler.submit(msg('s2'));
    await flush();
    const r = await server.app.inject({ url: '/admin/sessions', headers: auth });
    const sessions = r.json().sessions as Array<{ key: string; mode: string; pending: number; active: unknown[] }>;
    expect(sessions.map((s) => s.key).sort()).toEqual(['s1', 's2']);
    const s1 = sessions.find((s) => s.key === 's1')!;
    expect(s1).toMatchObject({ mode: 'followup', pending: 1 });
    expect(s1.active).toHaveLength(1);
  });

  it('shows one session with its history and pins, and 404s an unknown one', async () => {
    await store.appendHistory([
      { sessionKey: 'tg:dm:7', role: 'user', content: 'hello', at: 1 },
      { sessionKey: 'tg:dm:7', role: 'assistant', content: 'hi!', at: 2 },
    ]);
    await store.addPin({ sessionKey: 'tg:dm:7', text: 'likes tea', source: 'manual', createdAt: 3 });
    const r = await server.app.inject({ url: `/admin/sessions/${encodeURIComponent('tg:dm:7')}`, headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      key: 'tg:dm:7',
      history: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi!' }],
      pins: [{ text: 'likes tea' }],
    });
    expect(r.json().live).toBeUndefined();
    const missing = await server.app.inject({ url: '/admin/sessions/nobody', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('E_NOT_FOUND');
  });

  it('stop aborts the oldest active run; the backlog continues', async () => {
    const [a, b] = [msg('s1', 'one'), msg('s1', 'two')];
    const outcomes = new Map<string, string>();
    scheduler.on('outcome', (o) => outcomes.set(o.messageId, `${o.outcome}/${o.reason ?? ''}`));
    scheduler.submit(a);
    scheduler.submit(b);
    await flush();
    const r = await server.app.inject({ method: 'POST', url: '/admin/sessions/s1/stop', headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ stopped: { runId: `${a.id}#1`, messageIds: [a.id] }, cancelled: [] });
    await flush();
    expect(outcomes.get(a.id)).toBe('cancelled/stop');
    expect(gates).toHaveLength(2); // b runs now
    expect(gates[1]!.turn.messages[0]!.id).toBe(b.id);
  });

  it('stopall aborts everything and sets a stale cutoff', async () => {
    scheduler.submit(msg('s1'));
    scheduler.submit(msg('s1'));
    await flush();
    const r = await server.app.inject({ method: 'POST', url: '/admin/sessions/s1/stopall', headers: auth });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.aborted).toHaveLength(1);
    expect(body.cancelled).toHaveLength(1);
    expect(body.cutoff.sentAt).toBeGreaterThan(0);
  });
});

describe('operator stops', () => {
  it('reports each stop to onStopped, so the gateway can tell the chat', async () => {
    const seen: string[] = [];
    const admin = new SchedulerAdminBackend({
      scheduler,
      store,
      channelIds: [],
      onStopped: (key, e) => seen.push(`${key}:${e.kind}:${e.kind === 'stop' ? (e.result.stopped?.runId ?? '-') : e.result.aborted.length}`),
    });
    const m = msg('s7');
    scheduler.submit(m);
    await flush();
    expect(admin.stop('s7').stopped?.runId).toBe(`${m.id}#1`);
    admin.stopAll('s7');
    expect(seen).toEqual([`s7:stop:${m.id}#1`, 's7:stopall:0']);
  });
});

describe('lanes', () => {
  it('lists lanes and resizes one at runtime, starting waiting runs', async () => {
    for (const k of ['a', 'b', 'c']) scheduler.submit(msg(k));
    await flush();
    expect(gates).toHaveLength(2);
    let r = await server.app.inject({ url: '/admin/lanes', headers: auth });
    expect(r.json().lanes.find((l: { name: string }) => l.name === 'main')).toMatchObject({ concurrency: 2, active: 2, pending: 1 });
    r = await server.app.inject({ method: 'POST', url: '/admin/lanes/main/resize', headers: json, payload: { concurrency: 3 } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ name: 'main', concurrency: 3, active: 3, pending: 0 });
    expect(gates).toHaveLength(3);
  });

  it('rejects an unknown lane and a bad size with 400 and a code', async () => {
    let r = await server.app.inject({ method: 'POST', url: '/admin/lanes/nope/resize', headers: json, payload: { concurrency: 3 } });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('E_UNKNOWN_LANE');
    r = await server.app.inject({ method: 'POST', url: '/admin/lanes/main/resize', headers: json, payload: { concurrency: 0 } });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'E_HTTP_BAD_REQUEST' });
    expect(r.json().message).toContain('concurrency');
    r = await server.app.inject({ method: 'POST', url: '/admin/lanes/main/resize', headers: json, payload: { concurrency: 2, extra: 1 } });
    expect(r.statusCode).toBe(400);
    r = await server.app.inject({ method: 'POST', url: '/admin/lanes/main/resize', headers: json, payload: '{not json' });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('E_HTTP_BAD_REQUEST');
    expect(scheduler.lane('main').stats().concurrency).toBe(2);
  });
});

describe('pins', () => {
  it('adds, lists and removes manual pins', async () => {
    let r = await server.app.inject({ method: 'POST', url: '/admin/pins', headers: json, payload: { session: 's1', text: ' remember me ' } });
    expect(r.statusCode).toBe(201);
    const pin = r.json();
    expect(pin).toMatchObject({ sessionKey: 's1', text: 'remember me', source: 'manual' });
    r = await server.app.inject({ url: '/admin/pins?session=s1', headers: auth });
    expect(r.json().pins).toHaveLength(1);
    r = await server.app.inject({ method: 'DELETE', url: `/admin/pins/${pin.id}?session=s1`, headers: auth });
    expect(r.json()).toEqual({ removed: pin.id });
    r = await server.app.inject({ method: 'DELETE', url: `/admin/pins/${pin.id}?session=s1`, headers: auth });
    expect(r.statusCode).toBe(404);
    r = await server.app.inject({ url: '/admin/pins', headers: auth });
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toContain('session');
  });
});

describe('pairing', () => {
  it('lists pending requests across channels and approves a code', async () => {
    const now = Date.now();
    await store.savePairing({ channelId: 'tg', senderId: '42', senderName: 'Ann', code: 'ABC123', createdAt: now, expiresAt: now + 60_000 });
    await store.savePairing({ channelId: 'local', senderId: '43', senderName: 'Bob', code: 'XYZ789', createdAt: now, expiresAt: now + 60_000 });
    await store.savePairing({ channelId: 'tg', senderId: '44', senderName: 'Old', code: 'OLD000', createdAt: now - 10, expiresAt: now - 1 });
    let r = await server.app.inject({ url: '/admin/pairing', headers: auth });
    expect(r.json().requests.map((p: { code: string }) => p.code).sort()).toEqual(['ABC123', 'XYZ789']);
    r = await server.app.inject({ url: '/admin/pairing?channel=tg', headers: auth });
    expect(r.json().requests).toHaveLength(1);
    r = await server.app.inject({ method: 'POST', url: '/admin/pairing/approve', headers: json, payload: { channel: 'tg', code: 'ABC123' } });
    expect(r.statusCode).toBe(200);
    expect(r.json().approved).toMatchObject({ senderId: '42' });
    expect(await store.isPaired('tg', '42')).toBe(true);
    r = await server.app.inject({ method: 'POST', url: '/admin/pairing/approve', headers: json, payload: { channel: 'tg', code: 'OLD000' } });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('E_PAIRING_INVALID');
    r = await server.app.inject({ url: '/admin/pairing?channel=nope', headers: auth });
    expect(r.statusCode).toBe(404);
  });
});

describe('over a real socket', () => {
  it('serves the admin API on 127.0.0.1:0', async () => {
    const { port } = await server.listen();
    const res = await fetch(`http://127.0.0.1:${port}/admin/lanes`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { lanes: Array<{ name: string }> };
    expect(body.lanes.map((l) => l.name)).toEqual(['main', 'subagent', 'background']);
    const denied = await fetch(`http://127.0.0.1:${port}/admin/lanes`);
    expect(denied.status).toBe(401);
  });
});
