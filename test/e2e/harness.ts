/**
 * Browser end-to-end plumbing: finds Debian's Chromium and playwright-core, or says exactly why the suite is
 * skipped. Install both with `apt-get install chromium` and the `playwright-core` devDependency (`.ci/run`).
 */
import { existsSync } from 'node:fs';
import type * as PlaywrightCore from 'playwright-core';

/** Where Debian puts Chromium; `SWITCHYARD_CHROMIUM` overrides. */
export const CHROMIUM_PATH = process.env.SWITCHYARD_CHROMIUM ?? '/usr/bin/chromium';

type Playwright = typeof PlaywrightCore;

/** playwright-core and Chromium, or the reason the browser suite cannot run here. */
export async function loadBrowserKit(): Promise<{ playwright: Playwright; skip?: undefined } | { playwright?: undefined; skip: string }> {
  if (!existsSync(CHROMIUM_PATH)) {
    return { skip: `browser e2e skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set SWITCHYARD_CHROMIUM)` };
  }
  try {
    return { playwright: await import('playwright-core') };
  } catch {
    return { skip: 'browser e2e skipped: playwright-core is not installed (npm install --save-dev playwright-core)' };
  }
}

/** Flags that let Chromium run headless in containers and CI (no sandbox namespaces, small /dev/shm). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'];
