#!/usr/bin/env node
/**
 * The `switchyard` executable (package.json `bin` → dist/cli/main.js). Wires the real process into `runCli`
 * and exits with its code.
 */
// First: V8 flags must be set before the program's modules allocate (see v8-tuning.ts).
import './v8-tuning.js';
import { runCli, type CliIo } from './run.js';

const io: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.off(signal, handler);
  },
};

const code = await runCli(process.argv.slice(2), io);
// Let stdout flush, then exit even if a library left a handle open.
process.exitCode = code;
setTimeout(() => process.exit(code), 100).unref();
