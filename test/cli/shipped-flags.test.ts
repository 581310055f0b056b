import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHIPPED_NODE_FLAGS } from '../../bench/_gateway.js';

const root = join(import.meta.dirname, '..', '..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

/**
 * The gateway's Node flags are set in four places: `npm start`, the Docker image's entry point, the production
 * smoke test (which stands in for the image in CI) and the benchmarks (which must measure what ships).
 */
describe('the Node flags the gateway ships with', () => {
  it('are the same in npm start, the Dockerfile, the smoke test and the benchmarks', () => {
    expect(SHIPPED_NODE_FLAGS.length).toBeGreaterThan(0);
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start']!;
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(entrypoint).toBeDefined();
    const image = JSON.parse(entrypoint!) as string[];
    const smoke = /^\s*node (.*) dist\/cli\/main\.js start/m.exec(read('scripts/smoke-prod.sh'))?.[1];
    expect(start).toBe(`node ${SHIPPED_NODE_FLAGS.join(' ')} dist/cli/main.js start`);
    expect(image).toEqual(['node', ...SHIPPED_NODE_FLAGS, 'dist/cli/main.js']);
    expect(smoke).toBe(SHIPPED_NODE_FLAGS.join(' '));
  });
});
