/**
 * Run-state webhooks through the whole gateway: a channel with `webhooks` gets one signed POST per committed
 * run transition of its sessions (here: running, then answered), on a real HTTP receiver on loopback.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { createGateway } from '../../src/gateway/index.js';
import type { RunStateEvent } from '../../src/store/index.js';
import { ChatClient, testYaml } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

describe('run-state webhooks in the gateway', () => {
  it('POSTs each run transition of the channel, signed with its secret', async () => {
    const got: Array<{ body: string; signature: string | undefined }> = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ body: Buffer.concat(chunks).toString('utf8'), signature: req.headers['x-switchyard-signature'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => receiver.close(r)));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const model = new FakeOpenAIServer();
    await model.start();
    cleanups.push(() => model.close());
    model.respondWith(() => ({ kind: 'reply', text: 'Noted.' }));
    const yaml = testYaml({ baseUrl: model.url }).replace('    type: webchat\n', `    type: webchat\n    webhooks: { url: "${hookUrl}", secret: hook-secret }\n`);
    const dir = mkdtempSync(join(tmpdir(), 'sy-hooks-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const storePath = join(dir, 'db.sqlite');
    const gateway = await createGateway(parseConfig(yaml.replace('":memory:"', JSON.stringify(storePath)), 'test.yaml', {}));
    cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
    const { url } = await gateway.start();

    const c = await ChatClient.open(url, 'browser-hook1');
    cleanups.push(() => c.close());
    c.say('remember this');
    await c.next('reply:done');
    await vi.waitFor(() => expect(got.map((g) => (JSON.parse(g.body) as RunStateEvent).state)).toEqual(['running', 'answered']), { timeout: 5_000 });
    for (const g of got) {
      expect(g.signature).toBe(`sha256=${createHmac('sha256', 'hook-secret').update(g.body).digest('hex')}`);
    }
    expect(JSON.parse(got[1]!.body)).toMatchObject({ sessionKey: 'local:dm:browser-hook1', previousState: 'running', attempt: 1 });
  });
});
