import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, isLoopbackHost, isLoopbackHostHeader, type HttpServer } from '../../src/http/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { Metrics, bindScheduler } from '../../src/metrics/index.js';
import { captureLogger, flush, gatedScheduler, msg } from './helpers.js';

const servers: HttpServer[] = [];
function track(s: HttpServer): HttpServer {
  servers.push(s);
  return s;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe('loopback rule', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.5', false],
    ['10.0.0.1', false],
    ['example.com', false],
    ['::ffff:10.0.0.1', false],
  ])('%s → %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it('reads Host headers with ports', () => {
    expect(isLoopbackHostHeader('127.0.0.1:8787')).toBe(true);
    expect(isLoopbackHostHeader('[::1]:8787')).toBe(true);
    expect(isLoopbackHostHeader('localhost')).toBe(true);
    expect(isLoopbackHostHeader('evil.example:8787')).toBe(false);
    expect(isLoopbackHostHeader(undefined)).toBe(false);
  });
});

describe('unsafe bind', () => {
  it('refuses a non-loopback host without an admin token', () => {
    let caught: unknown;
    try {
      createHttpServer({ host: '0.0.0.0', port: 0, pages: false });
    } catch (err) {
      caught = err;
    }
    expect(isSwitchyardError(caught, 'E_HTTP_UNSAFE_BIND')).toBe(true);
    expect((caught as Error).message).toContain('0.0.0.0');
  });

  it('treats an empty token (unset ${VAR:-}) as no token', () => {
    expect(() => createHttpServer({ host: '0.0.0.0', port: 0, adminToken: '', pages: false })).toThrow(/without an admin token/);
  });

  it('allows a non-loopback host with a token, and actually listens there', async () => {
    const s = track(createHttpServer({ host: '0.0.0.0', port: 0, adminToken: 'a-long-enough-token', pages: false }));
    const { port } = await s.listen();
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('rejects a bad port at construction', () => {
    expect(() => createHttpServer({ port: 70_000 })).toThrow(/http.port/);
  });
});

describe('probes', () => {
  it('/healthz is 200 as soon as the process serves; /readyz follows the gateway state', async () => {
    const s = track(createHttpServer({ port: 0, pages: false }));
    expect((await s.app.inject('/healthz')).json()).toMatchObject({ status: 'ok' });
    let r = await s.app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ status: 'starting' });
    s.setReadiness('ready');
    r = await s.app.inject('/readyz');
    expect(r.statusCode).toBe(200);
    s.setReadiness('draining');
    r = await s.app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ status: 'draining' });
    expect(() => s.setReadiness('sleepy' as never)).toThrow(/readiness/);
  });

  it('answers unknown routes with a JSON E_NOT_FOUND', async () => {
    const s = track(createHttpServer({ port: 0, pages: false }));
    const r = await s.app.inject('/nope?x=1');
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ code: 'E_NOT_FOUND', message: 'GET /nope was not found' });
  });
});

describe('route schemas', () => {
  // fastify's ajv / fast-json-stringify compilers are required on first use (idle memory); a route that declares
  // a schema must still be validated and serialized by them.
  it('validates a body schema and serializes a response schema with the lazily loaded compilers', async () => {
    const s = track(createHttpServer({ port: 0, pages: false }));
    s.app.post(
      '/echo',
      {
        schema: {
          body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
          response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
        },
      },
      async (req) => ({ n: (req.body as { n: number }).n, dropped: 'by the response schema' }),
    );
    const ok = await s.app.inject({ method: 'POST', url: '/echo', payload: { n: 3 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ n: 3 });
    const bad = await s.app.inject({ method: 'POST', url: '/echo', payload: { n: 'three' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'E_HTTP_BAD_REQUEST' });
  });
});

describe('/metrics', () => {
  it('serves the gateway registry with scheduler-fed series', async () => {
    const { scheduler, gates } = gatedScheduler();
    const metrics = new Metrics({ processMetrics: false });
    bindScheduler(metrics, scheduler);
    const s = track(createHttpServer({ port: 0, metrics, pages: false }));
    scheduler.submit(msg('a'));
    scheduler.submit(msg('b'));
    scheduler.submit(msg('c'));
    scheduler.submit(msg('c')); // collected behind c's active run
    await flush();
    let body = (await s.app.inject('/metrics')).body;
    expect(body).toContain('switchyard_lane_active{lane="main"} 2');
    expect(body).toContain('switchyard_lane_pending{lane="main"} 1');
    expect(body).toContain('switchyard_queue_depth 1');
    gates[0]!.resolve();
    await flush();
    body = (await s.app.inject('/metrics')).body;
    expect(body).toContain('switchyard_messages_total{outcome="answered",reason=""} 1');
    expect(body).toMatch(/switchyard_run_duration_seconds_count\{lane="main",outcome="answered"\} 1/);
    const res = await s.app.inject('/metrics');
    expect(res.headers['content-type']).toContain('text/plain');
    await scheduler.drain({ deadlineMs: 0 });
  });

  it('is 404 when no metrics are configured', async () => {
    const s = track(createHttpServer({ port: 0, pages: false }));
    expect((await s.app.inject('/metrics')).statusCode).toBe(404);
  });
});

describe('logging', () => {
  it('never writes a configured admin token (or a wrong one) to the log', async () => {
    const token = 'tok-SECRET-5c1e9a7f';
    const wrong = 'tok-WRONG-0b7d33aa';
    const { logger, lines } = captureLogger('trace');
    const { scheduler } = gatedScheduler();
    const s = track(
      createHttpServer({
        host: '127.0.0.1',
        port: 0,
        adminToken: token,
        logger,
        pages: false,
        admin: {
          listSessions: () => scheduler.snapshot().sessions,
          getSession: () => undefined,
          listLanes: () => scheduler.snapshot().lanes,
          resizeLane: () => {
            throw new Error(`boom with ${token}`.replace(token, 'x'));
          },
          stop: (k) => scheduler.stop(k),
          stopAll: (k) => scheduler.stopAll(k),
          listPins: () => [],
          addPin: () => {
            throw new Error('no');
          },
          removePin: () => false,
          listPairings: () => [],
          approvePairing: () => undefined,
        },
      }),
    );
    const { port } = await s.listen();
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/admin/lanes`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${base}/admin/lanes`, { headers: { authorization: `Bearer ${wrong}` } })).status).toBe(401);
    expect((await fetch(`${base}/admin/lanes?token=${wrong}`)).status).toBe(401);
    expect((await fetch(`${base}/admin/lanes/main/resize`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"concurrency":2}' })).status).toBe(500);
    logger.info({ adminToken: token, headers: { authorization: `Bearer ${token}` } }, 'a careless caller');
    await s.close();
    expect(lines.length).toBeGreaterThan(5); // the capture really saw the requests
    expect(lines.some((l) => l.includes('/admin/lanes'))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain(token);
      expect(line).not.toContain(wrong);
    }
  });
});
