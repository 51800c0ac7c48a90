import { describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

describe('sigpost keygen', () => {
  it('prints 32 random bytes as base64url, alone on its line', async () => {
    const result = await run(['keygen']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(Buffer.from(result.stdout.trim(), 'base64url')).toHaveLength(32);
  });

  it('prints a different secret each time', async () => {
    const first = await run(['keygen']);
    const second = await run(['keygen']);
    expect(first.stdout).not.toBe(second.stdout);
  });

  it('refuses an argument with exit code 2', async () => {
    const result = await run(['keygen', '64']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: too many arguments for 'keygen'. Expected 0 arguments but got 1.\n",
    });
  });
});
