/**
 * Run-state webhooks against a real node:http server on loopback: signed JSON, retries on 500 / a slow
 * receiver / a receiver that is down, a bounded queue, and `send` that never waits or throws.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, RunStateWebhook, type RunRecord, type RunStateEvent, type RunTransition } from '../../src/store/index.js';
import { msg } from './contract.js';

const SECRET = 'webhook-test-secret';

interface Received {
  body: string;
  headers: IncomingMessage['headers'];
}

/** A loopback receiver; `respond` decides each answer (default 200). */
async function receiver(respond?: (req: Received, n: number, res: ServerResponse) => void): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { body: Buffer.concat(chunks).toString('utf8'), headers: req.headers };
      got.push(r);
      if (respond) respond(r, got.length, res);
      else res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/run`, got };
}

function transition(state: RunRecord['state'], previousState?: RunRecord['state'], extra: Partial<RunRecord> = {}): RunTransition {
  const m = msg(1);
  return {
    run: { runId: `${m.id}#1`, sessionKey: m.sessionKey, messageIds: [m.id], state, attempt: 1, createdAt: 5, updatedAt: 7, ...extra },
    previousState,
  };
}

function verify(r: Received): boolean {
  const expected = `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`;
  return r.headers['x-switchyard-signature'] === expected;
}

const servers: Server[] = [];
const hooks: RunStateWebhook[] = [];
afterEach(async () => {
  for (const h of hooks.splice(0)) await h.close({ deadlineMs: 0 });
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
const hook = (o: Partial<ConstructorParameters<typeof RunStateWebhook>[0]> & { url: string }): RunStateWebhook => {
  const h = new RunStateWebhook({ secret: SECRET, baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 2_000, random: () => 0.5, ...o });
  hooks.push(h);
  return h;
};

describe('RunStateWebhook', () => {
  it('POSTs the transition as signed JSON', async () => {
    const r = await receiver();
    servers.push(r.server);
    const h = hook({ url: r.url });
    h.send(transition('failed', 'running', { error: 'model down' }));
    await h.idle();
    expect(r.got).toHaveLength(1);
    const got = r.got[0]!;
    expect(verify(got)).toBe(true);
    expect(verify({ ...got, body: got.body.replace('failed', 'answered') })).toBe(false);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-switchyard-event']).toBe('run.state');
    const event = JSON.parse(got.body) as RunStateEvent;
    expect(event).toEqual({
      runId: `${msg(1).id}#1`,
      sessionKey: msg(1).sessionKey,
      messageIds: [msg(1).id],
      state: 'failed',
      previousState: 'running',
      at: 7,
      attempt: 1,
      error: 'model down',
    });
    expect(h.stats()).toMatchObject({ delivered: 1, failed: 0, dropped: 0, queued: 0, inFlight: 0 });
  });

  it('retries a 500 and delivers on the next try with the same delivery id', async () => {
    const r = await receiver((_req, n, res) => res.writeHead(n === 1 ? 500 : 200).end());
    servers.push(r.server);
    const h = hook({ url: r.url });
    h.send(transition('queued'));
    await h.idle();
    expect(r.got).toHaveLength(2);
    expect(r.got[0]!.headers['x-switchyard-delivery']).toBe(r.got[1]!.headers['x-switchyard-delivery']);
    expect(r.got.map((g) => g.headers['x-switchyard-attempt'])).toEqual(['1', '2']);
    expect(JSON.parse(r.got[1]!.body)).toMatchObject({ state: 'queued', previousState: null });
    expect(r.got.every(verify)).toBe(true);
    expect(h.stats()).toMatchObject({ delivered: 1, failed: 0 });
  });

  it('gives up after maxAttempts against a receiver that is down, without throwing', async () => {
    const r = await receiver();
    const { url } = r;
    await new Promise((resolve) => r.server.close(resolve)); // nothing listens on that port now
    const warnings: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o), debug: () => undefined } as never;
    const h = hook({ url, logger, maxAttempts: 5 });
    expect(() => h.send(transition('running', 'queued'))).not.toThrow();
    await h.idle();
    expect(h.stats()).toMatchObject({ delivered: 0, failed: 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ attempts: 5 });
    expect(JSON.stringify(warnings)).not.toContain(SECRET);
  });

  it('times out a slow receiver and retries; send never waits for it', async () => {
    let first = true;
    const r = await receiver((_req, _n, res) => {
      if (first) {
        first = false; // never answer the first request
        return;
      }
      res.writeHead(204).end();
    });
    servers.push(r.server);
    const h = hook({ url: r.url, timeoutMs: 100 });
    const t0 = performance.now();
    h.send(transition('running', 'queued'));
    expect(performance.now() - t0).toBeLessThan(20);
    await h.idle();
    expect(r.got).toHaveLength(2);
    expect(h.stats()).toMatchObject({ delivered: 1, failed: 0 });
  });

  it('does not retry a 4xx refusal', async () => {
    const r = await receiver((_req, _n, res) => res.writeHead(401).end());
    servers.push(r.server);
    const h = hook({ url: r.url });
    h.send(transition('answered', 'running'));
    await h.idle();
    expect(r.got).toHaveLength(1);
    expect(h.stats()).toMatchObject({ failed: 1, delivered: 0 });
  });

  it('bounds its queue: the oldest events are dropped and counted', async () => {
    const held: ServerResponse[] = [];
    const r = await receiver((_req, _n, res) => held.push(res));
    servers.push(r.server);
    const h = hook({ url: r.url, concurrency: 1, queueLimit: 2 });
    for (let i = 0; i < 5; i++) h.send(transition('running', 'queued', { runId: `r${i}#1` }));
    await vi.waitFor(() => expect(held).toHaveLength(1));
    expect(h.stats()).toMatchObject({ inFlight: 1, queued: 2, dropped: 2 });
    // Answer each held request as it arrives until the three kept events are delivered. (Each wait yields to
    // the event loop, so the receiver's sockets make progress.)
    while (h.stats().delivered < 3) {
      await vi.waitFor(
        () => {
          if (held.length === 0 && h.stats().delivered < 3) throw new Error('no request held yet');
        },
        { timeout: 5_000, interval: 5 },
      );
      held.shift()?.writeHead(200).end();
    }
    await h.idle();
    expect(r.got.map((g) => (JSON.parse(g.body) as RunStateEvent).runId)).toEqual(['r0#1', 'r3#1', 'r4#1']);
  });

  it('is wired to a store through onRunTransition: one event per committed change', async () => {
    const r = await receiver();
    servers.push(r.server);
    const h = hook({ url: r.url, concurrency: 1 });
    const store = new MemoryStore({ onRunTransition: h.onTransition });
    const m = msg(1);
    const base = { runId: `${m.id}#1`, sessionKey: m.sessionKey, messageIds: [m.id], attempt: 1, createdAt: 1 };
    await store.saveRun({ ...base, state: 'queued', updatedAt: 1 });
    await store.saveRun({ ...base, state: 'running', updatedAt: 2 });
    await store.saveRun({ ...base, state: 'running', updatedAt: 3 });
    await store.saveRun({ ...base, state: 'answered', updatedAt: 4 });
    await h.idle();
    expect(r.got.map((g) => JSON.parse(g.body) as RunStateEvent).map((e) => [e.previousState, e.state])).toEqual([
      [null, 'queued'],
      ['queued', 'running'],
      ['running', 'answered'],
    ]);
  });

  it('validates its options without echoing the secret', () => {
    expect(() => new RunStateWebhook({ url: 'not a url', secret: 's' })).toThrow(/webhook\.url/);
    expect(() => new RunStateWebhook({ url: 'ftp://x', secret: 's' })).toThrow(/webhook\.url/);
    expect(() => new RunStateWebhook({ url: 'http://x', secret: '' })).toThrow(/webhook\.secret/);
    expect(() => new RunStateWebhook({ url: 'http://x', secret: 's', maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});
