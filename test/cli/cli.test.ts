import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT, runCli, type CliIo, type CliSignal } from '../../src/cli/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { parseConfig } from '../../src/config/index.js';
import { ChatClient, LogSink, testYaml } from '../gateway/helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** An in-process terminal: captured output, a fake environment, signals the test can raise. */
function term(env: Record<string, string> = {}, extra: Partial<CliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const handlers = new Map<CliSignal, Set<() => void>>();
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env,
    onSignal(signal, handler) {
      const set = handlers.get(signal) ?? new Set();
      set.add(handler);
      handlers.set(signal, set);
      return () => set.delete(handler);
    },
    ...extra,
  };
  return {
    io,
    get out() {
      return out.join('');
    },
    get err() {
      return err.join('');
    },
    raise: (signal: CliSignal) => {
      for (const h of [...(handlers.get(signal) ?? [])]) h();
    },
    listeners: (signal: CliSignal) => handlers.get(signal)?.size ?? 0,
  };
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-cli-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const GOOD = testYaml({ baseUrl: 'http://127.0.0.1:9/v1' });

describe('switchyard check-config', () => {
  it('exits 0 and summarizes a valid file', async () => {
    const t = term();
    const code = await runCli(['check-config', '--config', tempFile('ok.yaml', GOOD)], t.io);
    expect(code).toBe(EXIT.ok);
    expect(t.out).toMatch(/ok\n/);
    expect(t.out).toContain('channels: local (webchat, agent default, lane main)');
    expect(t.out).toContain('warning:  http.adminToken is not set');
  });

  it('uses SWITCHYARD_CONFIG, then the shipped default', async () => {
    const t = term({ SWITCHYARD_CONFIG: tempFile('env.yaml', GOOD) });
    expect(await runCli(['check-config'], t.io)).toBe(EXIT.ok);
    expect(t.out).toContain('env.yaml: ok');
    const d = term();
    expect(await runCli(['check-config'], d.io)).toBe(EXIT.ok);
    expect(d.out).toContain('config/switchyard.yaml: ok');
    expect(d.out).toContain('qwen2.5:7b at http://127.0.0.1:11434/v1');
  });

  it('exits 2 with every problem, its line and a hint, for an invalid file', async () => {
    const t = term();
    const file = tempFile('bad.yaml', GOOD.replace('lanes: { main: 2 }', 'lanes: { main: 0 }').replace('type: webchat', 'type: webchat\n    agnet: x'));
    expect(await runCli(['check-config', '--config', file], t.io)).toBe(EXIT.badConfig);
    expect(t.err).toContain('is invalid (2 problems)');
    expect(t.err).toMatch(/bad\.yaml:4:\d+ lanes\.main:/);
    expect(t.err).toMatch(/bad\.yaml:12:5 channels\[0\]\.agnet: unknown key "agnet" \(Did you mean "agent"\?\)/);
    expect(t.out).toBe('');
  });

  it('exits 2 for a missing file and for an unset variable', async () => {
    const missing = term();
    expect(await runCli(['check-config', '--config', '/nonexistent/sy.yaml'], missing.io)).toBe(EXIT.badConfig);
    expect(missing.err).toContain('Cannot read config file /nonexistent/sy.yaml');
    const env = term();
    expect(await runCli(['check-config', '--config', tempFile('env.yaml', GOOD.replace('fake-model', '${MODEL_NAME}'))], env.io)).toBe(EXIT.badConfig);
    expect(env.err).toContain('environment variable MODEL_NAME is not set');
  });
});

describe('switchyard usage', () => {
  it('exits 1 on an unknown command or option, 0 for help', async () => {
    const a = term();
    expect(await runCli(['frobnicate'], a.io)).toBe(EXIT.failure);
    expect(a.err).toContain('unknown command "frobnicate"');
    const b = term();
    expect(await runCli(['check-config', '--nope'], b.io)).toBe(EXIT.failure);
    expect(b.err).toContain("Unknown option '--nope'");
    const c = term();
    expect(await runCli(['help'], c.io)).toBe(EXIT.ok);
    expect(c.out).toContain('pairing approve <channel> <code>');
    const d = term();
    expect(await runCli([], d.io)).toBe(EXIT.failure);
    const e = term();
    expect(await runCli(['stop', '--config', tempFile('ok.yaml', GOOD)], e.io)).toBe(EXIT.failure);
    expect(e.err).toContain('stop takes one session key');
  });

  it('exits 1 with a clear message when the gateway is not running', async () => {
    const t = term();
    const code = await runCli(['sessions', '--config', tempFile('ok.yaml', GOOD), '--url', 'http://127.0.0.1:9'], t.io);
    expect(code).toBe(EXIT.failure);
    expect(t.err).toContain('Cannot reach the gateway at http://127.0.0.1:9');
    expect(t.err).toContain('E_GATEWAY_UNREACHABLE');
  });
});

describe('switchyard commands against a running gateway', () => {
  async function running(yamlOptions: Partial<Parameters<typeof testYaml>[0]> = {}) {
    const model = new FakeOpenAIServer({ tokenDelayMs: 0 });
    await model.start();
    cleanups.push(() => model.close());
    const yaml = testYaml({ baseUrl: model.url, ...yamlOptions });
    const file = tempFile('gw.yaml', yaml);
    const gateway: Gateway = await startGateway(parseConfig(yaml, file, {}), { logDestination: new LogSink() });
    cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
    return { model, gateway, file, url: gateway.url! };
  }

  it('sessions, stop and stop --all talk to the admin API with the token', async () => {
    const { model, file, url } = await running({ adminToken: 'cli-token-12345' });
    model.script({ kind: 'stall', text: 'thinking', afterTokens: 1 });
    const c = await ChatClient.open(url, 'browser-cli01');
    cleanups.push(() => c.close());
    c.say('take your time');
    await c.next('reply:start');
    const env = { SWITCHYARD_ADMIN_TOKEN: 'ignored-when-config-has-one' };

    const s = term(env);
    expect(await runCli(['sessions', '--config', file, '--url', url], s.io)).toBe(EXIT.ok);
    expect(s.out).toMatch(/SESSION\s+MODE\s+LANE\s+ACTIVE\s+PENDING\s+STATE/);
    expect(s.out).toMatch(/local:dm:browser-cli01\s+followup\s+main\s+1\/1\s+0\s+running/);

    const j = term(env);
    expect(await runCli(['sessions', '--json', '--config', file, '--url', url], j.io)).toBe(EXIT.ok);
    expect(JSON.parse(j.out)).toEqual([expect.objectContaining({ key: 'local:dm:browser-cli01' })]);

    const st = term(env);
    expect(await runCli(['stop', 'local:dm:browser-cli01', '--config', file, '--url', url], st.io)).toBe(EXIT.ok);
    expect(st.out).toMatch(/Stopped run local:browser-cli01:\S+#1 of local:dm:browser-cli01 \(1 message\(s\)\); its queue continues\./);
    await c.next('reply:cancel');

    const all = term(env);
    expect(await runCli(['stop', 'local:dm:browser-cli01', '--all', '--config', file, '--url', url], all.io)).toBe(EXIT.ok);
    expect(all.out).toContain('0 run(s) aborted');
  });

  it('a wrong token is refused with exit 1 and a hint', async () => {
    const { url } = await running({ adminToken: 'right-token-12345' });
    const file = tempFile('other.yaml', testYaml({ baseUrl: 'http://127.0.0.1:9/v1', adminToken: 'wrong-token-12345' }));
    const t = term();
    expect(await runCli(['sessions', '--config', file, '--url', url], t.io)).toBe(EXIT.failure);
    expect(t.err).toContain('401');
    expect(t.err).toContain('SWITCHYARD_ADMIN_TOKEN');
  });

  it('pairing list and approve', async () => {
    const { file, url } = await running({ access: '{ dm: pairing }' });
    const c = await ChatClient.open(url, 'browser-cli02');
    cleanups.push(() => c.close());
    c.say('hello?');
    const notice = await c.next('notice', (f) => /pairing code/.test(f.text));
    const code = /([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(notice.text)![1]!;

    const list = term();
    expect(await runCli(['pairing', 'list', '--config', file, '--url', url], list.io)).toBe(EXIT.ok);
    expect(list.out).toMatch(new RegExp(`local\\s+${code}\\s+browser-cli02`));

    const bad = term();
    expect(await runCli(['pairing', 'approve', 'local', 'ZZZZ-ZZZZ', '--config', file, '--url', url], bad.io)).toBe(EXIT.failure);
    expect(bad.err).toContain('E_PAIRING_INVALID');

    const ok = term();
    expect(await runCli(['pairing', 'approve', 'local', code, '--config', file, '--url', url], ok.io)).toBe(EXIT.ok);
    expect(ok.out).toContain('Approved');
    c.say('and now?');
    expect((await c.next('reply:done')).text).toBe('echo: and now?');

    const empty = term();
    expect(await runCli(['pairing', 'list', '--config', file, '--url', url], empty.io)).toBe(EXIT.ok);
    expect(empty.out).toBe('No pending pairing requests.\n');
  });
});

describe('switchyard start and backup', () => {
  it('starts, reloads on SIGHUP (keeping the old config when the new one is bad), drains on SIGTERM, exits 0', async () => {
    const model = new FakeOpenAIServer();
    await model.start();
    cleanups.push(() => model.close());
    const file = tempFile('start.yaml', testYaml({ baseUrl: model.url }));
    let gateway: Gateway | undefined;
    const logs = new LogSink();
    const t = term({}, {
      startGateway: async (config, options) => {
        gateway = await startGateway(config, { ...options, logDestination: logs });
        return gateway;
      },
    });
    const exit = runCli(['start', '--config', file, '--deadline', '2000'], t.io);
    await vi.waitFor(() => expect(t.out).toMatch(/Switchyard is running: chat http:\/\/127\.0\.0\.1:\d+\//));
    expect(t.listeners('SIGTERM')).toBe(1);

    writeFileSync(file, testYaml({ baseUrl: model.url }).replace('lanes: { main: 2 }', 'lanes: { main: 3 }'));
    t.raise('SIGHUP');
    await vi.waitFor(() => expect(gateway!.scheduler.lane('main').stats().concurrency).toBe(3));
    writeFileSync(file, 'lanes: { main: -1 }');
    t.raise('SIGHUP');
    await vi.waitFor(() => expect(logs.text).toContain('config reload failed; keeping the running config'));
    expect(gateway!.scheduler.lane('main').stats().concurrency).toBe(3);

    const c = await ChatClient.open(gateway!.url!, 'browser-start1');
    cleanups.push(() => c.close());
    c.say('ping');
    await c.next('reply:done');

    t.raise('SIGTERM');
    expect(await exit).toBe(EXIT.ok);
    expect(t.listeners('SIGTERM')).toBe(0);
    await expect(fetch(`${gateway!.url}/healthz`)).rejects.toThrow();
  });

  it('exits 2 before starting anything when the config is bad', async () => {
    const startGatewaySpy = vi.fn();
    const t = term({}, { startGateway: startGatewaySpy });
    expect(await runCli(['start', '--config', tempFile('bad.yaml', 'nope: 1')], t.io)).toBe(EXIT.badConfig);
    expect(startGatewaySpy).not.toHaveBeenCalled();
  });

  it('backup writes an online backup of the configured SQLite store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-backup-'));
    const yaml = testYaml({ baseUrl: 'http://127.0.0.1:9/v1', storePath: join(dir, 'sy.db') }).replace(
      'store: {',
      `store: { backup: { dir: "${join(dir, 'backups')}", keep: 2 },`,
    );
    const file = tempFile('b.yaml', yaml);
    for (let i = 0; i < 3; i++) {
      const t = term();
      expect(await runCli(['backup', '--config', file], t.io)).toBe(EXIT.ok);
      expect(t.out).toContain(`Backup written: ${join(dir, 'backups')}`);
    }
    expect(readdirSync(join(dir, 'backups')).filter((f) => !f.startsWith('.'))).toHaveLength(2);
  });
});
