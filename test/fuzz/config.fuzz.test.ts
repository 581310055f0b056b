/**
 * Fuzz: random and mutated YAML configs through the loader. Whatever the input, the loader either returns a
 * config or throws a `ConfigError` with a stable code and at least one problem that names where it is; it
 * never crashes with anything else.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/index.js';

const FILE = 'fuzz.yaml';
const env = { TELEGRAM_BOT_TOKEN: '123:abc', DISCORD_BOT_TOKEN: 'x.y.z' };

function check(text: string): void {
  try {
    parseConfig(text, FILE, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`non-ConfigError for input ${JSON.stringify(text).slice(0, 300)}: ${String(err)}`);
    expect(err.code).toMatch(/^E_CONFIG_(INVALID|ENV|READ)$/);
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) {
      expect(typeof p.message).toBe('string');
      expect(p.message.length).toBeGreaterThan(0);
    }
    expect(err.message).toContain(FILE);
  }
}

const keys = fc.constantFrom(
  'store', 'http', 'lanes', 'agents', 'channels', 'log', 'path', 'port', 'host', 'adminToken', 'main', 'background',
  'default', 'provider', 'baseUrl', 'model', 'contextWindow', 'id', 'type', 'token', 'queue', 'mode', 'cap', 'drop',
  'access', 'dm', 'allowFrom', 'admins', 'telegram', 'discord', 'webchat', 'concurrency', 'policy', 'bogus',
);
const scalars = fc.oneof(
  fc.integer({ min: -5, max: 100_000 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('${TELEGRAM_BOT_TOKEN}', '${MISSING}', '${MISSING:-x}', '${', 'followup', 'webchat', 'http://127.0.0.1:1/v1'),
);
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, scalars, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(keys, tie('node'), { maxKeys: 5 })),
})).node;

describe('config loader fuzz', () => {
  it('random YAML documents built from plausible keys', () => {
    fc.assert(
      fc.property(fc.dictionary(keys, tree, { maxKeys: 6 }), (doc) => check(stringify(doc))),
      { numRuns: 1_000, seed: 1 },
    );
  });

  it('random text, including broken YAML', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => check(text)), { numRuns: 2_000, seed: 2 });
  });

  it('the shipped default config with random single-character mutations', () => {
    const base = readFileSync('config/switchyard.yaml', 'utf8');
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.constantFrom('', ' ', ':', '-', '{', '"', '\t', '#', 'x', '9', '\n'), (at, ch) =>
        check(base.slice(0, at) + ch + base.slice(at + 1)),
      ),
      { numRuns: 1_500, seed: 3 },
    );
  });
});
