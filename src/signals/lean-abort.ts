/**
 * An `AbortController` / `AbortSignal` pair for the per-message hot path (one per run, lane job, typing loop,
 * preview) that V8 can keep in one hidden class.
 *
 * Why not the built-in: on Node 20, every `AbortSignal` is made by `new EventTarget()`, a prototype swap and
 * three added properties, and V8 gives each such object a hidden class of its own (`%HaveSameMap` is false for
 * two fresh signals; test/signals checks ours is true). Those per-object maps are born in the old generation and
 * drag the signal, its listeners and whatever their closures hold through every scavenge until a mark-compact:
 * a micro-run creating 1,000 short-lived signals/s promoted ~100 KB per scavenge, a plain `EventTarget`
 * subclass nothing. In the gateway the run signal was the largest remaining source of promoted memory
 * (docs/notes/e2e.md, stop 14).
 *
 * `LeanAbortSignal` extends Node's `EventTarget`, so `addEventListener` (with `once`, and the internal options
 * Node's own `addAbortListener` passes), `removeEventListener` and `dispatchEvent` are Node's. It satisfies
 * Node's duck-typed signal checks (`http.request`, `events.once`, `timers/promises`, undici). One difference:
 * Node 20's `AbortSignal.any([...])` only follows built-in signals, so never pass a lean signal to it; bridge
 * with a listener instead.
 */

/** The signal half: read-only to its holders, fired only by its `LeanAbortController`. */
export class LeanAbortSignal extends EventTarget implements AbortSignal {
  #aborted = false;
  #reason: unknown = undefined;
  /** Called after the `abort` listeners, like the built-in event handler property. */
  onabort: ((this: AbortSignal, event: Event) => unknown) | null = null;

  /** True once the controller aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The reason given to `abort` (an `AbortError` `DOMException` by default). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the DOM type of `AbortSignal.reason`
  get reason(): any {
    return this.#reason;
  }

  /** Throws the reason if aborted. */
  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  /** Fires the signal once; later calls do nothing. Internal to `LeanAbortController`. */
  static fire(signal: LeanAbortSignal, reason: unknown): void {
    if (signal.#aborted) return;
    signal.#aborted = true;
    signal.#reason = reason;
    const event = new Event('abort');
    signal.dispatchEvent(event);
    signal.onabort?.call(signal, event);
  }
}

/** Drop-in for `AbortController` where one is made per message (see the module comment). */
export class LeanAbortController implements AbortController {
  /** The signal handed to the work this controller can cancel. */
  readonly signal: LeanAbortSignal = new LeanAbortSignal();

  /** Aborts the signal with `reason`; idempotent (the first reason stays). */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    LeanAbortSignal.fire(this.signal, reason);
  }
}
