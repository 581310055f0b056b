/**
 * CLI entry of the fake OpenAI-compatible server, for the local demo (`npm run demo`) and manual runs:
 * `FAKE_OPENAI_PORT=11434 tsx src/fakes/openai-server-main.ts`. Answers every chat completion with an echo of
 * the last user message, streamed word by word (`FAKE_OPENAI_TOKEN_DELAY_MS`, default 30 ms per token).
 * Prints one JSON line with the base URL once listening; stops on SIGINT / SIGTERM.
 */
import { FakeOpenAIServer } from './openai-server.js';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`${name} must be an integer >= 0, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

const server = new FakeOpenAIServer({
  port: intFromEnv('FAKE_OPENAI_PORT', 0),
  host: process.env.FAKE_OPENAI_HOST ?? '127.0.0.1',
  tokenDelayMs: intFromEnv('FAKE_OPENAI_TOKEN_DELAY_MS', 30),
  models: (process.env.FAKE_OPENAI_MODELS ?? 'fake-model').split(',').filter((m) => m.length > 0),
});
server.respondWith((request) => {
  const system = request.messages[0]?.role === 'system' ? (request.messages[0].content ?? '') : '';
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const text = (lastUser?.content ?? '').trim();
  // The agent's background jobs (src/agent scoring.ts / summarizer.ts) get answers in the shape they parse,
  // so the demo exercises them without log noise: a low significance score, a one-line summary.
  if (system.startsWith('You rate how significant')) return { kind: 'reply', text: '1' };
  if (system.startsWith('You compact a chat conversation')) {
    const lines = text.split('\n').filter((l) => /^(User|Assistant)/.test(l)).length;
    return { kind: 'reply', text: `Summary of ${lines} earlier messages of a demo chat with the fake model.` };
  }
  return { kind: 'reply', text: text.length > 0 ? `You said: ${text}` : 'Hello from the fake model.' };
});

const { url } = await server.start();
process.stdout.write(`${JSON.stringify({ fakeOpenAI: url })}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
