// `npm run demo`: the gateway with the default config, answered by the bundled fake OpenAI-compatible server,
// so a new user sees streamed replies in the browser without installing a model. Builds first if needed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import process from 'node:process';
import { URL } from 'node:url';

const root = new URL('..', import.meta.url);
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).pathname;
if (!existsSync(dist('cli/main.js')) || !existsSync(dist('fakes/openai-server-main.js'))) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const fake = spawn(process.execPath, [dist('fakes/openai-server-main.js')], {
  cwd: root,
  env: { ...process.env, FAKE_OPENAI_PORT: process.env.FAKE_OPENAI_PORT ?? '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve, reject) => {
  const lines = createInterface({ input: fake.stdout });
  lines.once('line', (line) => {
    try {
      resolve(JSON.parse(line).fakeOpenAI);
    } catch (err) {
      reject(err);
    }
  });
  fake.once('exit', (code) => reject(new Error(`fake model server exited (${code})`)));
});
process.stderr.write(`demo: fake model at ${url}\n`);

const gateway = spawn(process.execPath, [dist('cli/main.js'), 'start', ...process.argv.slice(2)], {
  cwd: root,
  env: { ...process.env, OPENAI_BASE_URL: url, OPENAI_MODEL: 'fake-model', OPENAI_API_KEY: '' },
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => gateway.kill(signal));
gateway.on('exit', (code) => {
  fake.kill('SIGTERM');
  process.exitCode = code ?? 1;
});
