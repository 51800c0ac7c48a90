// The commands of `sigpost`, one file each in this folder.
//
// Convention: a command file `<verb>.ts` exports `register: RegisterCommand`, which adds the command
// to the program (`program.command('<verb>')…`) and writes only through the `io` it is given
// (`io.stdout` for results, `io.stderr` for the rest). To add a command, add ONE line to the list
// below: `import('./<verb>.js'),` (the list order is the order in `sigpost --help`).
//
// - Flag values are parsed with the parsers of `../args.js`, so every bad value gets the same
//   one-line `error: --flag expects …, received …` (exit 2). `main()` collects them all (and the
//   missing required flags) and reports them after any unknown flag; a received value that looks
//   like a credential is described by `args.quote` by its length and kind only. An id flag uses
//   `args.identifier`, which never shows a value that is not an id.
// - Failures throw `CommandFailedError` (exit 1) or `UsageError` (exit 2) from `../errors.js`;
//   `main()` prints them. Never call `process.exit` or write to `process.stdout` directly.
// - Register synchronously and load heavy dependencies inside the action (`await import(…)`), so
//   that `sigpost sign` does not load the server.
import type { Command } from 'commander';
import type { CliIO } from '../io.js';

/** Adds one command to the program. */
export type RegisterCommand = (program: Command, io: CliIO) => void;

const modules = await Promise.all([
  import('./sign.js'),
  import('./verify.js'),
  import('./send.js'),
  import('./keygen.js'),
  import('./serve.js'),
  import('./producers.js'),
  import('./tokens.js'),
  import('./subscribers.js'),
  import('./signals.js'),
  import('./outbox.js'),
  import('./stream.js'),
]);

/** Every command's registration, in help order. */
export const commands: readonly RegisterCommand[] = modules.map((m) => m.register);
