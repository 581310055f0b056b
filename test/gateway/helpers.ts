import { vi } from 'vitest';
import WebSocket from 'ws';
import type { ServerFrame } from '../../src/webchat/index.js';

/** A webchat browser over a real WebSocket. */
export class ChatClient {
  readonly frames: ServerFrame[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as ServerFrame));
  }
  static async open(httpUrl: string, clientId: string): Promise<ChatClient> {
    const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/ws/chat`);
    const client = new ChatClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    client.send({ type: 'hello', clientId });
    await client.next('ready');
    return client;
  }
  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }
  say(text: string, id = String(Date.now()) + Math.floor(Math.random() * 1000)): void {
    this.send({ type: 'message', text, clientMessageId: id });
  }
  async next<T extends ServerFrame['type']>(type: T, where: (f: Extract<ServerFrame, { type: T }>) => boolean = () => true, timeout = 5000) {
    return vi.waitFor(
      () => {
        const f = this.frames.find((x): x is Extract<ServerFrame, { type: T }> => x.type === type && where(x as Extract<ServerFrame, { type: T }>));
        if (!f) throw new Error(`no ${type} frame yet; got ${JSON.stringify(this.frames.map((x) => x.type))}`);
        return f;
      },
      { timeout, interval: 5 },
    );
  }
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** A YAML config for tests: loopback HTTP on a free port, one webchat channel, one agent at `baseUrl`. */
export function testYaml(options: { baseUrl: string; storePath?: string; access?: string; extra?: string; adminToken?: string; apiKey?: string }): string {
  return `store: { path: "${options.storePath ?? ':memory:'}" }
http: { host: 127.0.0.1, port: 0${options.adminToken ? `, adminToken: "${options.adminToken}"` : ''} }
log: { level: debug }
lanes: { main: 2 }
agents:
  default:
    provider: { baseUrl: "${options.baseUrl}", model: fake-model, timeoutMs: 5000, maxAttempts: 1${options.apiKey ? `, apiKey: "${options.apiKey}"` : ''} }
    contextWindow: 8192
channels:
  - id: local
    type: webchat
    ${options.access ? `access: ${options.access}` : ''}
${options.extra ?? ''}`;
}

/** Collects log lines (what a real stdout would get, after scrubbing). */
export class LogSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  get text(): string {
    return this.lines.join('');
  }
}
