import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, loadConfig, renderConfigReference } from '../../src/config/index.js';
import { REFERENCE_BEGIN, REFERENCE_END } from '../../src/config/reference.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ENV = {
  TELEGRAM_BOT_TOKEN: '123:abc',
  DISCORD_BOT_TOKEN: 'dc.token',
  DISCORD_GUILD_ID: '42',
  TELEGRAM_ADMIN_ID: '7',
};

describe('shipped config files', () => {
  it('the embedded default loads with an empty environment: SQLite under ./data, webchat, a local model', () => {
    const config = loadConfig(DEFAULT_CONFIG_FILE, {});
    expect(config.store.path).toBe('./data/switchyard.db');
    expect(config.channels.map((c) => [c.id, c.type])).toEqual([['local', 'webchat']]);
    expect(config.agents.default!.provider).toMatchObject({ baseUrl: 'http://127.0.0.1:11434/v1', model: 'qwen2.5:7b', apiKey: undefined });
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 8787, adminToken: undefined });
  });

  it('the default takes the model from the environment', () => {
    const config = loadConfig(DEFAULT_CONFIG_FILE, { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', OPENAI_MODEL: 'gpt-x', SWITCHYARD_PORT: '0' });
    expect(config.agents.default!.provider).toMatchObject({ baseUrl: 'http://127.0.0.1:1/v1', model: 'gpt-x' });
    expect(config.http.port).toBe(0);
  });

  const examples = readdirSync(`${root}config/examples`).filter((f) => f.endsWith('.yaml'));
  it('ships the three examples', () => expect(examples.sort()).toEqual(['both.yaml', 'discord.yaml', 'telegram.yaml']));
  it.each(examples)('config/examples/%s loads', (file) => {
    const config = loadConfig(`${root}config/examples/${file}`, ENV);
    expect(config.channels.length).toBeGreaterThan(0);
  });

  it('examples that need a bot token say so when it is missing', () => {
    expect(() => loadConfig(`${root}config/examples/telegram.yaml`, {})).toThrow(/TELEGRAM_BOT_TOKEN is not set/);
  });
});

describe('docs/CONFIG.md', () => {
  it('contains the reference generated from the schema (run `npx tsx scripts/config-reference.ts`)', () => {
    const doc = readFileSync(`${root}docs/CONFIG.md`, 'utf8');
    const start = doc.indexOf(REFERENCE_BEGIN);
    const end = doc.indexOf(REFERENCE_END);
    expect(start).toBeGreaterThan(0);
    expect(doc.slice(start, end + REFERENCE_END.length)).toBe(renderConfigReference());
  });

  it('documents every key of every section', () => {
    const ref = renderConfigReference();
    for (const key of ['pruneTtlMs', 'adminToken', 'warnAfterMs', 'keepRecentTokens', 'secretToken', 'registerCommands', 'catchUp', 'groupAllow', 'maxPending']) {
      expect(ref).toContain(`\`${key}\``);
    }
  });
});
