/**
 * Streams a `DashboardFeed` as Server-Sent Events: a `snapshot` event first, then every feed event, and a
 * comment line every 15 s so proxies keep the connection open. A client that stops reading is dropped once its
 * unsent backlog passes 1 MiB, so a stalled tab cannot grow the gateway's memory.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardEvent, DashboardFeed } from '../webchat/index.js';

const HEARTBEAT_MS = 15_000;
const MAX_BACKLOG_BYTES = 1024 * 1024;

/** Takes over `reply` and streams `feed` until the client goes away or `streams` are ended. Internal. */
export function streamFeed(req: FastifyRequest, reply: FastifyReply, feed: DashboardFeed, streams: Set<() => void>): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let ended = false;
  const write = (event: DashboardEvent): void => {
    if (ended) return;
    if (res.writableLength > MAX_BACKLOG_BYTES) {
      req.log.warn('dashboard stream dropped: the client is not reading');
      end();
      return;
    }
    res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const unsubscribe = feed.subscribe(write);
  const heartbeat = setInterval(() => {
    if (!ended) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    streams.delete(end);
    res.off('close', end);
    res.end();
  };
  streams.add(end);
  res.on('close', end);
  write({ type: 'snapshot', snapshot: feed.snapshot() });
}
