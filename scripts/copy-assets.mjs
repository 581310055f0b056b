// Build step after `tsc`: copies files tsc does not emit (the webchat / dashboard pages) into dist/.
import { cpSync, existsSync } from 'node:fs';
import { URL } from 'node:url';

const from = new URL('../src/webchat/public/', import.meta.url);
const to = new URL('../dist/webchat/public/', import.meta.url);
if (existsSync(from)) cpSync(from, to, { recursive: true });
