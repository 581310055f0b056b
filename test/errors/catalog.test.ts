import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, InvalidOptionError, SwitchyardError, isSwitchyardError, toError } from '../../src/errors/index.js';

describe('error catalog', () => {
  const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^### (E_[A-Z0-9_]+)$/gm)].map((m) => m[1]));

  it('documents every code in docs/ERRORS.md, and nothing else', () => {
    const codes = Object.keys(ERROR_CATALOG);
    expect(codes.filter((c) => !documented.has(c))).toEqual([]);
    expect([...documented].filter((c) => !(c! in ERROR_CATALOG))).toEqual([]);
  });

  it('gives every code a message and a hint', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(spec.message.length).toBeGreaterThan(5);
      expect(spec.hint.length).toBeGreaterThan(5);
    }
  });

  it('carries code, cause, context and hint', () => {
    const cause = new Error('disk');
    const err = new SwitchyardError('E_STORE_WRITE', undefined, { cause, context: { file: 'x.db' } });
    expect(err.code).toBe('E_STORE_WRITE');
    expect(err.cause).toBe(cause);
    expect(err.context).toEqual({ file: 'x.db' });
    expect(err.hint).toBe(ERROR_CATALOG.E_STORE_WRITE.hint);
    expect(err.name).toBe('SwitchyardError');
    expect(isSwitchyardError(err, 'E_STORE_WRITE')).toBe(true);
    expect(isSwitchyardError(err, 'E_QUEUE_FULL')).toBe(false);
  });

  it('names the option, the expectation and the value in InvalidOptionError', () => {
    const err = new InvalidOptionError('cap', 'an integer >= 1', 0);
    expect(err.code).toBe('E_INVALID_OPTION');
    expect(err.message).toBe('Expected `cap` to be an integer >= 1, got 0 (number)');
    expect(err).toBeInstanceOf(SwitchyardError);
  });

  it('wraps non-Error throwables', () => {
    expect(toError('boom').message).toBe('boom');
    expect(toError(42).message).toContain('42 (number)');
    const e = new Error('x');
    expect(toError(e)).toBe(e);
  });
});
