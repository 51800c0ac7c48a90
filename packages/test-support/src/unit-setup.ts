// Setup of the `unit` test project (vitest.config.ts): a unit test runs in process, so starting a
// child process from one fails at once with what to do, instead of silently slowing the editing loop.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const names = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
for (const name of names) {
  Object.defineProperty(childProcess, name, {
    configurable: true,
    writable: true,
    value: () => {
      throw new Error(
        `child_process.${name} in a unit test: a test that starts a process belongs to the system project; ` +
          'name its file *.system.test.ts (see DEVELOPERS.md, "Tests")',
      );
    },
  });
}
syncBuiltinESMExports();
