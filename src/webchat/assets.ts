/**
 * The static pages (chat, dashboard) and their scripts and styles: plain files in `public/`, no framework, no
 * CDN. Read once into memory when the server is built (they are a few KiB), so serving them needs no file
 * system access per request and no path from a request ever reaches the file system.
 *
 * Build note: `tsc` does not copy them; the build copies `src/webchat/public` to `dist/webchat/public`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One servable file. */
export interface WebAsset {
  body: Buffer;
  contentType: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/** Where the pages live next to this module (in `src/` under tsx, in `dist/` after the build). */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Loads every file of `dir` (not recursive) by file name. Unknown extensions are skipped. */
export function loadWebAssets(dir: string = PUBLIC_DIR): Map<string, WebAsset> {
  const assets = new Map<string, WebAsset>();
  for (const name of readdirSync(dir)) {
    const contentType = TYPES[extname(name)];
    if (contentType === undefined) continue;
    assets.set(name, { body: readFileSync(join(dir, name)), contentType });
  }
  return assets;
}
