/**
 * The gateway the fault suites run: SQLite in `dir`, one agent on the fake model, one Telegram channel `tg` on
 * the fake Bot API (DMs open, queue mode, no streaming). Suites differ only in the knobs below.
 */
import { join } from 'node:path';
import type { FakeTelegramApi } from '../../src/fakes/telegram-api.js';

/** Knobs of `telegramGatewayYaml`. */
export interface TelegramGatewayYamlOptions {
  dir: string;
  modelUrl: string;
  tg: FakeTelegramApi;
  logLevel: string;
  provider: { timeoutMs: number; maxAttempts: number };
  /** Extra YAML lines for the channel block, e.g. `polling: { ... }` (indented by this helper). */
  channelExtra?: string[];
}

/** The config file text (parse it with `parseConfig`). */
export function telegramGatewayYaml(o: TelegramGatewayYamlOptions): string {
  const extra = (o.channelExtra ?? []).map((line) => `    ${line}\n`).join('');
  return `store: { path: ${JSON.stringify(join(o.dir, 'db.sqlite'))} }
http: { host: 127.0.0.1, port: 0 }
log: { level: ${o.logLevel} }
lanes: { main: 4 }
agents:
  default:
    provider: { baseUrl: "${o.modelUrl}", model: fake-model, timeoutMs: ${o.provider.timeoutMs}, maxAttempts: ${o.provider.maxAttempts} }
    contextWindow: 32768
channels:
  - id: tg
    type: telegram
    token: "${o.tg.token}"
    apiRoot: "${o.tg.apiRoot}"
    streaming: { enabled: false }
    queue: { mode: queue, debounceMs: 0, cap: 50 }
    access: { dm: open }
${extra}`;
}
