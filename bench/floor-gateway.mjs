/**
 * The e2e benchmark's floor: the least a Node gateway can do for a message, run through the same fakes, driver
 * and machine as the real one. It long-polls `getUpdates`, asks the model (streamed, as the gateway does) and
 * sends the answer with `sendMessage`, over keep-alive `node:http` agents. Nothing else: no store (so no
 * durability), no scheduler, queue, lanes, history, token counting, pacing or metrics.
 *
 * Its overhead is what the driver, the loopback hops and this 2-core machine cost by themselves; the
 * gateway's figures mean something only next to it (see `floor` in `e2e.ts`). Started as
 * `node floor-gateway.mjs start --config <the bench's switchyard.yaml>`, it reads the three values it needs
 * from that file and prints the same "running" line as `switchyard start`.
 */
import { Buffer } from 'node:buffer';
import console from 'node:console';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';
import { URL } from 'node:url';

const config = readFileSync(process.argv[process.argv.indexOf('--config') + 1], 'utf8');
const field = (name) => {
  const m = new RegExp(`${name}: "([^"]+)"`).exec(config);
  if (m === null) throw new Error(`floor-gateway: no ${name} in the config`);
  return m[1];
};
const token = field('token');
const apiRoot = field('apiRoot');
const modelUrl = `${field('baseUrl').replace(/\/$/, '')}/chat/completions`;
const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });

/** POSTs JSON and resolves with the whole response body. */
function post(url, body) {
  const u = new URL(url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function answer(message) {
  const sse = await post(modelUrl, {
    model: 'fake',
    stream: true,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: message.text },
    ],
  });
  let text = '';
  for (const line of sse.split('\n')) {
    if (line.startsWith('data: {')) text += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
  }
  await post(`${apiRoot}/bot${token}/sendMessage`, { chat_id: message.chat.id, text });
}

async function poll() {
  let offset = 0;
  for (;;) {
    const { result } = JSON.parse(await post(`${apiRoot}/bot${token}/getUpdates`, { offset, timeout: 25 }));
    for (const update of result) {
      offset = update.update_id + 1;
      if (update.message?.text !== undefined) answer(update.message).catch((err) => console.error(err));
    }
  }
}

const server = http.createServer((_req, res) => res.end(''));
server.listen(0, '127.0.0.1', () => {
  console.log(`Switchyard is running: chat http://127.0.0.1:${server.address().port} (floor pass-through)`);
  poll().catch((err) => {
    console.error(err);
    process.exit(1);
  });
});
process.on('SIGTERM', () => process.exit(0));
