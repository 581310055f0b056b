import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, configSecrets, type ConfigProblem } from '../../src/config/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';

const AGENT = `agents:
  default:
    provider: { baseUrl: http://127.0.0.1:11434/v1, model: m }
`;

function problemsOf(text: string, env: Record<string, string> = {}): { code: string; problems: readonly ConfigProblem[]; message: string } {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return { code: err.code, problems: err.problems, message: err.message };
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: valid files', () => {
  it('fills every default and normalizes lanes, ids and URLs', () => {
    const config = parseConfig(
      `${AGENT}lanes: { main: 2, slow: { concurrency: 1, policy: drain-by-model } }
channels:
  - id: tg
    type: telegram
    token: abc
    apiRoot: http://127.0.0.1:9999/
    access: { allowFrom: [12345, "678", ""], admins: [1] }
`,
      'x.yaml',
      {},
    );
    expect(config.store).toEqual({ path: './data/switchyard.db', pruneTtlMs: 86_400_000, maxRunAttempts: 3, backup: { dir: './data/backups', hour: 3, keep: 14 } });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8787, adminToken: undefined });
    expect(config.lanes).toEqual({
      main: { concurrency: 2, policy: 'fair', warnAfterMs: 30_000 },
      subagent: { concurrency: 8, policy: 'fair', warnAfterMs: 30_000 },
      background: { concurrency: 2, policy: 'fair', warnAfterMs: 30_000 },
      slow: { concurrency: 1, policy: 'drain-by-model', warnAfterMs: 30_000 },
    });
    expect(config.agents.default!.compactAt).toBe(24_576);
    const tg = config.channels[0]!;
    expect(tg.type).toBe('telegram');
    if (tg.type !== 'telegram') throw new Error('type');
    expect(tg.apiRoot).toBe('http://127.0.0.1:9999');
    expect(tg.access.allowFrom).toEqual(['12345', '678']);
    expect(tg.access.admins).toEqual(['1']);
    expect(tg.access.dm).toBe('pairing');
    expect(tg.access.pairing).toEqual({ codeTtlMs: 3_600_000, maxPending: 3 });
    expect(tg.queue).toEqual({
      mode: 'followup',
      cap: 10,
      drop: 'summarize',
      debounceMs: 800,
      maxConcurrent: { dm: 1, group: 3 },
      runTimeoutMs: 600_000,
      throttleRatio: 0.6,
      groupScope: 'chat',
    });
    expect(tg.ingress).toBe('polling');
  });

  it('returns a deeply frozen object', () => {
    const config = parseConfig(`${AGENT}channels: [{ id: local, type: webchat }]`, 'x.yaml', {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.channels[0]!.access.allowFrom)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('gives webchat an open DM policy and telegram a webhook path default', () => {
    const config = parseConfig(
      `${AGENT}channels:
  - { id: local, type: webchat }
  - { id: tg, type: telegram, token: t, ingress: webhook, webhook: { secretToken: s3cret } }
`,
      'x.yaml',
      {},
    );
    expect(config.channels[0]!.access.dm).toBe('open');
    const tg = config.channels[1]!;
    if (tg.type !== 'telegram') throw new Error('type');
    expect(tg.webhook?.path).toBe('/telegram/tg');
  });

  it('reads a file from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `${AGENT}channels: [{ id: local, type: webchat }]\n`);
    expect(loadConfig(file, {}).channels[0]!.id).toBe('local');
  });

  it('lists every configured secret for log scrubbing', () => {
    const config = parseConfig(
      `${AGENT.replace('model: m', 'model: m, apiKey: sk-abc123')}http: { adminToken: admintok }
channels:
  - { id: tg, type: telegram, token: "123:tgtoken", webhooks: { url: "http://127.0.0.1/x", secret: hooksecret } }
  - { id: dc, type: discord, token: dctoken }
`,
      'x.yaml',
      {},
    );
    expect(configSecrets(config).sort()).toEqual(['123:tgtoken', 'admintok', 'dctoken', 'hooksecret', 'sk-abc123'].sort());
  });
});

describe('loadConfig: errors name the path, line and column, with a hint', () => {
  it('E_CONFIG_READ for a missing file or a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-config-'));
    for (const [file, text] of [
      [join(dir, 'nope.yaml'), 'no such file'],
      [dir, 'is a directory'],
    ] as const) {
      try {
        loadConfig(file, {});
        expect.unreachable();
      } catch (err) {
        expect(isSwitchyardError(err, 'E_CONFIG_READ')).toBe(true);
        expect((err as Error).message).toContain(text);
        expect((err as ConfigError).hint).toMatch(/--config/);
      }
    }
    mkdirSync(join(dir, 'x'));
  });

  it('E_CONFIG_INVALID for YAML syntax, with the line', () => {
    const { code, problems } = problemsOf('http:\n  port: 1\n  host: [unclosed\n');
    expect(code).toBe('E_CONFIG_INVALID');
    expect(problems[0]!.message).toMatch(/YAML syntax/);
    expect(problems[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('E_CONFIG_INVALID for a duplicate key', () => {
    const { problems } = problemsOf('http:\n  port: 1\n  port: 2\n');
    expect(problems[0]!.line).toBe(3);
    expect(problems[0]!.hint).toMatch(/once/);
  });

  it('rejects unknown keys at any depth, with a did-you-mean and the key position', () => {
    const { code, problems, message } = problemsOf(`${AGENT}channels:
  - id: local
    type: webchat
    queue:
      mdoe: queue
htpp: {}
`);
    expect(code).toBe('E_CONFIG_INVALID');
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(byPath['channels[0].queue.mdoe']).toMatchObject({ line: 8, column: 7, hint: 'Did you mean "mode"?' });
    expect(byPath['htpp']).toMatchObject({ line: 9, column: 1, hint: 'Did you mean "http"?' });
    expect(message).toContain('test.yaml:8:7 channels[0].queue.mdoe: unknown key "mdoe" (Did you mean "mode"?)');
  });

  it('offers the allowed keys of the right channel type when nothing is close', () => {
    const { problems } = problemsOf(`${AGENT}channels:
  - { id: dc, type: discord, token: x, zzzzzzzz: 1 }
`);
    expect(problems[0]!.path).toBe('channels[0].zzzzzzzz');
    expect(problems[0]!.hint).toContain('registerCommands');
    expect(problems[0]!.hint).not.toContain('apiRoot');
  });

  it('reports wrong types and values at their line', () => {
    const { problems } = problemsOf(`${AGENT}http:
  port: high
channels:
  - id: local
    type: webchat
    queue: { mode: sometimes }
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(byPath['http.port']).toMatchObject({ line: 5 });
    expect(byPath['http.port']!.message).toMatch(/number/);
    expect(byPath['channels[0].queue.mode']).toMatchObject({ line: 9 });
    expect(byPath['channels[0].queue.mode']!.message).toMatch(/followup/);
  });

  it('names a missing required key at its parent, with a hint', () => {
    const { problems } = problemsOf(`${AGENT}channels:
  - id: tg
    type: telegram
`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'channels[0].token', line: 5 });
    expect(problems[0]!.hint).toMatch(/bot token/);
  });

  it('rejects an unknown channel type with the allowed ones', () => {
    const { problems } = problemsOf(`${AGENT}channels:\n  - { id: x, type: slack }\n`);
    expect(problems[0]).toMatchObject({ path: 'channels[0].type', line: 5 });
    expect(problems[0]!.hint).toContain('telegram | discord | webchat');
  });

  it('cross-checks agents, lanes, ids, tokens, webhooks, group allowlists, compaction and binding', () => {
    const { problems } = problemsOf(`${AGENT.replace('model: m }', 'model: m }\n    contextWindow: 4096\n    keepRecentTokens: 4000')}http: { host: 0.0.0.0 }
channels:
  - { id: a, type: webchat, agent: nobody }
  - { id: a, type: webchat, lane: fast }
  - { id: t1, type: telegram, token: same, ingress: webhook }
  - { id: t2, type: telegram, token: same, access: { groups: allowlist } }
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(byPath['channels[0].agent']).toMatchObject({ message: 'unknown agent "nobody"', hint: 'Defined agents: default.' });
    expect(byPath['channels[1].id']!.message).toContain('duplicate channel id "a"');
    expect(byPath['channels[1].lane']!.message).toBe('unknown lane "fast"');
    expect(byPath['channels[2].ingress']!.message).toMatch(/webhook/);
    expect(byPath['channels[3].token']!.message).toBe('same bot token as channels[2]');
    expect(byPath['channels[3].access.groupAllow']!.hint).toMatch(/disabled/);
    expect(byPath['agents.default.keepRecentTokens']!.message).toMatch(/below compactAt \(3072\)/);
    expect(byPath['http.host']!.message).toMatch(/needs http.adminToken/);
    // Every problem has a line, and they are sorted by it.
    const lines = problems.map((p) => p.line!);
    expect(lines.every((l) => l > 0)).toBe(true);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
    expect(byPath['channels[3].token']!.line).toBe(11);
  });

  it('rejects channel ids that would break session keys', () => {
    const { problems } = problemsOf(`${AGENT}channels: [{ id: "tg:main", type: webchat }]`);
    expect(problems[0]!.path).toBe('channels[0].id');
  });

  it('rejects a file that is not a mapping', () => {
    expect(problemsOf('- a\n- b\n').problems[0]!.message).toMatch(/mapping/);
  });
});
