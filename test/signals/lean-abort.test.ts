import { execFileSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LeanAbortController, LeanAbortSignal } from '../../src/signals/lean-abort.js';

const repo = join(import.meta.dirname, '..', '..');

describe('LeanAbortController', () => {
  it('starts unaborted, then aborts once with the first reason, listeners and onabort fire once', () => {
    const c = new LeanAbortController();
    const calls: string[] = [];
    c.signal.addEventListener('abort', (e) => calls.push(`listener:${e.type}`));
    c.signal.addEventListener('abort', () => calls.push('once'), { once: true });
    c.signal.onabort = function (e) {
      calls.push(`onabort:${e.type}:${this === c.signal}`);
    };
    expect(c.signal.aborted).toBe(false);
    expect(c.signal.reason).toBeUndefined();
    expect(() => c.signal.throwIfAborted()).not.toThrow();

    const first = new Error('first');
    c.abort(first);
    c.abort(new Error('second'));
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(first);
    expect(() => c.signal.throwIfAborted()).toThrow(first);
    expect(calls).toEqual(['listener:abort', 'once', 'onabort:abort:true']);
  });

  it('defaults the reason to an AbortError DOMException, like the built-in', () => {
    const c = new LeanAbortController();
    c.abort();
    const native = new AbortController();
    native.abort();
    expect(c.signal.reason).toBeInstanceOf(DOMException);
    expect((c.signal.reason as DOMException).name).toBe('AbortError');
    expect((c.signal.reason as DOMException).name).toBe((native.signal.reason as DOMException).name);
  });

  it('does not call a listener that was removed, and takes object listeners (handleEvent)', () => {
    const c = new LeanAbortController();
    let removed = 0;
    const fn = (): void => {
      removed += 1;
    };
    const obj = { seen: 0, handleEvent(): void { this.seen += 1; } };
    c.signal.addEventListener('abort', fn);
    c.signal.addEventListener('abort', obj);
    c.signal.removeEventListener('abort', fn);
    c.abort();
    expect(removed).toBe(0);
    expect(obj.seen).toBe(1);
  });

  it('is accepted by Node APIs that take a signal: events.once and timers/promises reject with the reason', async () => {
    const c = new LeanAbortController();
    const waiting = once(new EventEmitter(), 'never', { signal: c.signal });
    const sleeping = delay(60_000, undefined, { signal: c.signal });
    c.abort(new Error('stop'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await expect(sleeping).rejects.toMatchObject({ name: 'AbortError' });
  });

  describe('with http.request', () => {
    let server: Server | undefined;
    afterEach(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
    });

    it('cancels a request that is waiting on a loopback server', async () => {
      let arrived!: () => void;
      const requestArrived = new Promise<void>((r) => (arrived = r));
      server = createServer(() => arrived()); // never answers
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const c = new LeanAbortController();
      const req = request({ host: '127.0.0.1', port, path: '/', signal: c.signal });
      const failed = once(req, 'error');
      req.end();
      await requestArrived;
      c.abort();
      const [err] = (await failed) as [Error];
      expect(err.name).toBe('AbortError');
    });
  });

  it('is a subclass of EventTarget, not of the built-in AbortSignal', () => {
    const c = new LeanAbortController();
    expect(c.signal).toBeInstanceOf(EventTarget);
    expect(c.signal).toBeInstanceOf(LeanAbortSignal);
    expect(c.signal instanceof AbortSignal).toBe(false);
  });

  it('gives every signal the same hidden class (the point of the class; Node 20 built-ins each get their own)', () => {
    // %HaveSameMap needs --allow-natives-syntax, which vitest's workers do not have: ask a child node.
    const script = `
      const { LeanAbortController } = await import('./src/signals/lean-abort.ts');
      const a = new LeanAbortController(), b = new LeanAbortController();
      a.signal.addEventListener('abort', () => {});
      b.abort();
      const fresh = [new LeanAbortController().signal, new LeanAbortController().signal];
      console.log(JSON.stringify({ fresh: %HaveSameMap(fresh[0], fresh[1]), used: %HaveSameMap(a.signal, new LeanAbortController().signal) }));
    `;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repo,
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ fresh: true, used: true });
  });
});
