import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');

/**
 * Runs an allocation pattern V8 pretenures by default (one site whose objects all survive many scavenges),
 * then asks whether the next object from that site is born young. `%InYoungGeneration` needs
 * --allow-natives-syntax, so this runs in a child node.
 */
function bornYoungAfterSurvivors(options: { tuning: boolean; nodeFlags?: string[] }): boolean {
  const script = `
    ${options.tuning ? "await import('./src/cli/v8-tuning.ts');" : ''}
    function make(i) { return { i, pair: [i, i + 1] }; }
    const keep = [];
    for (let round = 0; round < 20; round++) for (let i = 0; i < 20_000; i++) keep.push(make(i));
    console.log(JSON.stringify({ young: %InYoungGeneration(make(1)), kept: keep.length }));
  `;
  const out = execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--single-threaded', ...(options.nodeFlags ?? []), '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repo, encoding: 'utf8' },
  );
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as { young: boolean; kept: number };
  expect(result.kept).toBe(400_000);
  return result.young;
}

describe('v8 tuning (src/cli/v8-tuning.ts, imported first by the executable)', () => {
  it('control: without it, V8 tenures a site whose objects survive, so its next object is born old', () => {
    expect(bornYoungAfterSurvivors({ tuning: false })).toBe(false);
  });

  it('turns allocation-site pretenuring off: the same pattern still allocates young', () => {
    expect(bornYoungAfterSurvivors({ tuning: true })).toBe(true);
  });

  it('leaves an explicit --allocation-site-pretenuring on the node command line alone', () => {
    expect(bornYoungAfterSurvivors({ tuning: true, nodeFlags: ['--allocation-site-pretenuring'] })).toBe(false);
  });

  it('is the first import of the executable, before any module that allocates', async () => {
    const { readFile } = await import('node:fs/promises');
    const main = await readFile(join(repo, 'src', 'cli', 'main.ts'), 'utf8');
    const firstImport = main.split('\n').find((line) => line.startsWith('import '));
    expect(firstImport).toBe("import './v8-tuning.js';");
  });
});
