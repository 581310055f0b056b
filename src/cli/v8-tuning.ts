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
 *
 * The old generation grows by a fixed factor of 2 after each mark-compact (`--heap-growing-percent=100`)
 * instead of V8's dynamic 1.1-4x. With fewer objects promoted, mark-compacts are rare and V8's dynamic factor
 * kept raising the old generation's limit long after warm-up: in the 1M-message soak, heap capacity grew 48 %
 * after the first 100k messages while the live heap stayed flat (RSS 231 -> 302 MB, outside the soak's 10 %
 * bound). With the fixed factor: RSS 210 -> 214 MB (max +2.8 %), throughput unchanged (3,482 vs 3,357 msgs/s),
 * no mark-compact in a 10 s window at 1,000 msgs/s and p99 within noise of the default (three interleaved
 * pairs). A factor of 1.5 held RSS at ~188 MB but put a mark-compact into every 10 s window (p99 +0.3 ms).
 *
 * Both flags are read by V8 at each GC, so setting them at startup takes effect for the whole run. A flag
 * given on the node command line wins (to measure V8's defaults: `--allocation-site-pretenuring`,
 * `--heap-growing-percent=0`).
 */
import { setFlagsFromString } from 'node:v8';

/** The flags set here, each with the pattern of a command-line flag that overrides it. */
const TUNING: ReadonlyArray<{ flag: string; chosen: RegExp }> = [
  { flag: '--no-allocation-site-pretenuring', chosen: /^--(no-)?allocation[-_]site[-_]pretenuring$/ },
  { flag: '--heap-growing-percent=100', chosen: /^--heap[-_]growing[-_]percent(=|$)/ },
];

for (const { flag, chosen } of TUNING) {
  if (!process.execArgv.some((arg) => chosen.test(arg))) setFlagsFromString(flag);
}
