import { describe, expect, it } from 'vitest';
import { ConfigError, expandString, parseConfig } from '../../src/config/index.js';

const base = (http: string) => `agents:
  default:
    provider: { baseUrl: "\${BASE:-http://127.0.0.1:11434/v1}", model: m }
http: ${http}
channels: [{ id: local, type: webchat }]
`;

describe('${VAR} interpolation', () => {
  it('expands set variables and defaults like the shell', () => {
    expect(expandString('a${X}b', { X: '1' }).value).toBe('a1b');
    expect(expandString('${X:-d}', {}).value).toBe('d');
    expect(expandString('${X:-d}', { X: '' }).value).toBe('d');
    expect(expandString('${X:-}', {}).value).toBe('');
    expect(expandString('${X:-a:b-c}', {}).value).toBe('a:b-c');
    expect(expandString('$${X}', { X: '1' }).value).toBe('${X}');
    expect(expandString('${X}', {}).missing).toEqual(['X']);
    expect(expandString('${1X}', {}).malformed).toEqual(['${1X}']);
  });

  it('re-types unquoted values and keeps quoted ones as strings', () => {
    const config = parseConfig(base('{ port: ${PORT}, host: "${HOST}" }'), 'x.yaml', { PORT: '9000', HOST: '127.0.0.2' });
    expect(config.http.port).toBe(9000);
    expect(config.http.host).toBe('127.0.0.2');
    expect(config.agents.default!.provider.baseUrl).toBe('http://127.0.0.1:11434/v1');
  });

  it('treats an empty secret as unset', () => {
    const config = parseConfig(base('{ adminToken: ${TOKEN:-} }'), 'x.yaml', {});
    expect(config.http.adminToken).toBeUndefined();
  });

  it('cannot change the YAML structure through a value', () => {
    const config = parseConfig(base('{ adminToken: ${TOKEN} }'), 'x.yaml', { TOKEN: 'a: b # c\n  port: 1' });
    expect(config.http.adminToken).toBe('a: b # c\n  port: 1');
    expect(config.http.port).toBe(8787);
  });

  it('ignores ${VAR} in comments', () => {
    expect(() => parseConfig(`# \${NOT_SET}\n${base('{}')}`, 'x.yaml', {})).not.toThrow();
  });

  it('E_CONFIG_ENV lists every missing variable with path and line', () => {
    try {
      parseConfig(base('{ adminToken: ${A_TOKEN}, host: "${B_HOST}" }'), 'x.yaml', {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.code).toBe('E_CONFIG_ENV');
      expect(e.problems.map((p) => [p.path, p.line, p.message])).toEqual([
        ['http.adminToken', 4, 'environment variable A_TOKEN is not set'],
        ['http.host', 4, 'environment variable B_HOST is not set'],
      ]);
      expect(e.problems[0]!.hint).toContain('${A_TOKEN:-default}');
      expect(e.message).toContain('x.yaml:4');
    }
  });

  it('E_CONFIG_INVALID for a malformed reference', () => {
    try {
      parseConfig(base('{ host: "${bad name}" }'), 'x.yaml', {});
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).code).toBe('E_CONFIG_INVALID');
      expect((err as ConfigError).problems[0]).toMatchObject({ path: 'http.host', line: 4 });
    }
  });
});
