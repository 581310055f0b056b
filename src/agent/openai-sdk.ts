/**
 * The `openai` SDK, loaded on first use instead of at import: it is ~150 modules and ~7 MB of resident memory
 * that an idle gateway (nobody has written yet) never needs. `ProviderClient` awaits `loadOpenAISdk()` before
 * its first request; code that only inspects errors uses `loadedOpenAISdk()`, because an SDK error instance
 * can only exist once the SDK was loaded by this same loader.
 */
import type * as OpenAISdk from 'openai';

/** The SDK's module namespace (`OpenAI` default export, `APIError` and friends). */
export type OpenAISdkModule = typeof OpenAISdk;

let loaded: OpenAISdkModule | undefined;
let loading: Promise<OpenAISdkModule> | undefined;

/** Imports the SDK once per process; later calls share the same promise. */
export function loadOpenAISdk(): Promise<OpenAISdkModule> {
  loading ??= import('openai').then((sdk) => (loaded = sdk));
  return loading;
}

/** The SDK if `loadOpenAISdk` has finished, else undefined (then no SDK error can have been thrown yet). */
export function loadedOpenAISdk(): OpenAISdkModule | undefined {
  return loaded;
}
