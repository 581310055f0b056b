/**
 * Rewrites the generated part of docs/CONFIG.md from the config schema.
 * Usage: npx tsx scripts/config-reference.ts   (test/config/reference.test.ts fails until it is run after a change)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/index.js';
import { REFERENCE_BEGIN, REFERENCE_END } from '../src/config/reference.js';

const file = new URL('../docs/CONFIG.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const start = doc.indexOf(REFERENCE_BEGIN);
const end = doc.indexOf(REFERENCE_END);
if (start < 0 || end < start) throw new Error(`docs/CONFIG.md lacks the ${REFERENCE_BEGIN} / ${REFERENCE_END} markers`);
writeFileSync(file, doc.slice(0, start) + renderConfigReference() + doc.slice(end + REFERENCE_END.length));
console.warn('docs/CONFIG.md updated');
