/**
 * Which hosts count as loopback. The HTTP server refuses any other bind address unless an admin token is set,
 * because without a token the admin API and dashboard are only safe when nobody else can reach them.
 */
import { isIP } from 'node:net';

/**
 * True for addresses only this machine can reach: `localhost`, `127.0.0.0/8`, `::1` and IPv4-mapped
 * `::ffff:127.x.x.x`. Wildcards (`0.0.0.0`, `::`) and every other hostname are not loopback (a name may
 * resolve anywhere).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v = isIP(h);
  if (v === 4) return h.startsWith('127.');
  if (v === 6) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/**
 * True when a request's `Host` header names a loopback host (any port). Used without an admin token to refuse
 * requests that reach a loopback server under a foreign name (DNS rebinding from a web page).
 */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(hostHeader.trim());
  return m !== null && isLoopbackHost(m[1]!);
}
