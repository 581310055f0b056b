/**
 * V8 heap tuning for the gateway process, applied before the rest of the program is loaded (main.ts imports
 * this module first; ES modules evaluate in import order).
 *
 * Allocation-site pretenuring is turned off. V8 watches, per allocation site, how many young objects survive a
 * scavenge; above ~85 % it allocates that site's later objects straight into the old generation. A gateway's
 * per-message objects (session queues, reply streams, timers, HTTP parser state) live a few milliseconds, but
 * during warm-up a site's survivors look long-lived (a burst in flight, objects kept alive by dead old ones),
 * V8 tenures two dozen sites, and from then on every message's objects are born old. Dead old objects that
 * point at young ones keep those alive through every scavenge (a scavenge treats the old generation as roots),
 * so each message's graph was copied and then promoted: ~1.75 MB per scavenge at 1,000 msgs/s, ~4.8 ms
 * scavenge pauses and mark-compacts every few seconds. Without pretenuring: ~0.22 MB promoted per scavenge,
 * ~2.4 ms pauses, end-to-end p99 overhead ~7-8 ms instead of ~12-14 (docs/notes/e2e.md, stop 14).
 *
 * The flag is read by V8 at each GC, so setting it at startup takes effect for the whole run. An explicit
 * `--allocation-site-pretenuring` on the node command line wins (to measure V8's default).
 */
import { setFlagsFromString } from 'node:v8';

/** Whether the node command line already chose a pretenuring mode (then it is left alone). */
function chosenOnCommandLine(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--(no-)?allocation[-_]site[-_]pretenuring$/.test(arg));
}

if (!chosenOnCommandLine(process.execArgv)) setFlagsFromString('--no-allocation-site-pretenuring');
