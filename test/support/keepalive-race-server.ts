/**
 * A raw HTTP/1.1 server on loopback that answers the first request on each connection (keeping it alive) and
 * drops the connection unread when a second request arrives on it: what a server closing an idle kept-alive
 * socket just as the client writes looks like to the client. For the keep-alive retry of our fetch clients.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

/** A started race server: its base URL, what it saw, and `close()`. */
export interface KeepAliveRaceServer {
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bodies of the requests it answered, in order. */
  readonly bodies: string[];
  close(): Promise<void>;
}

/** Starts the server; every answer is `{"ok":true,"result":{"n":<answers so far>}}`. */
export async function startKeepAliveRaceServer(): Promise<KeepAliveRaceServer> {
  let connections = 0;
  const bodies: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    let received = '';
    let served = false;
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      if (served) {
        socket.destroy(); // a second request on this connection: drop it unread
        return;
      }
      received += chunk.toString();
      const [head, body = ''] = received.split('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(head ?? '')?.[1] ?? 0);
      if (!received.includes('\r\n\r\n') || body.length < length) return; // wait for the whole request
      served = true;
      bodies.push(body);
      const answer = JSON.stringify({ ok: true, result: { n: bodies.length } });
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${answer.length}\r\nconnection: keep-alive\r\n\r\n${answer}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    bodies,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
