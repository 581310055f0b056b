import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../../src/agent/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';

const provider = { baseUrl: 'http://127.0.0.1:1/v1', model: 'm' };

describe('resolveAgentConfig', () => {
  it('fills defaults from the context window and freezes the result', () => {
    const c = resolveAgentConfig({ provider, contextWindow: 32_768 });
    expect(c).toMatchObject({
      systemPrompt: 'You are a helpful assistant.',
      contextWindow: 32_768,
      compactAt: 32_768 - 8_192,
      keepRecentTokens: 9_830,
      backgroundLane: 'background',
      compaction: { enabled: true, model: 'm' },
      classifier: { enabled: true, model: 'm', autoCap: 8, timeoutMs: 60_000 },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(resolveAgentConfig({ provider, contextWindow: 200_000 }).compactAt).toBe(200_000 - 16_384);
  });

  it.each([
    [{ contextWindow: 10 }, /agent.contextWindow/],
    [{ compactAt: 9_000 }, /agent.compactAt/],
    [{ keepRecentTokens: 7_000 }, /agent.keepRecentTokens/],
    [{ reserveTokens: 8_192 }, /agent.reserveTokens/],
    [{ classifier: { autoCap: -1 } }, /agent.classifier.autoCap/],
  ])('rejects %j naming the option', (over, name) => {
    let err: unknown;
    try {
      resolveAgentConfig({ provider, ...over });
    } catch (e) {
      err = e;
    }
    expect(isSwitchyardError(err, 'E_INVALID_OPTION')).toBe(true);
    expect((err as Error).message).toMatch(name);
  });

  it('requires a model', () => {
    expect(() => resolveAgentConfig({ provider: { baseUrl: 'http://x/v1', model: '' } })).toThrow(/agent.provider.model/);
  });
});
