// Flags and input shared by `sign` and `verify`: both compute the signature of one request.
import { type Command, Option } from 'commander';
import * as args from './args.js';
import { readFileCapped, readStdinCapped } from './input.js';
import type { CliIO } from './io.js';

export interface SigningOptions {
  readonly secret?: string;
  readonly producerId?: string;
  readonly timestamp: string;
  readonly bodyFile?: string;
}

/** The resolved inputs of a signature. */
export interface SigningInput {
  readonly secret: string;
  readonly producerId: string;
  readonly timestamp: string;
  readonly body: Buffer;
}

/** Adds `--secret`, `--producer-id`, `--timestamp` and `--body-file` to a command. */
export function addSigningOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--secret <secret>',
        'the producer secret, at least 16 bytes (default: $HMAC_PRODUCER_SECRET). Prefer the ' +
          'variable: a secret typed on the command line is kept in your shell history',
      ).argParser(args.secret('--secret')),
    )
    .addOption(
      new Option('--producer-id <id>', 'the X-Producer-Id value (default: $PRODUCER_ID)').argParser(
        args.producerId('--producer-id'),
      ),
    )
    .addOption(
      new Option('--timestamp <rfc3339>', 'the X-Timestamp value, signed byte for byte')
        .argParser(args.timestamp('--timestamp'))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--body-file <path>', 'file holding the exact body bytes (default: read stdin)').argParser(
        args.readableFile('--body-file'),
      ),
    );
}

/** Resolves the flags, falling back to the environment, and reads the body's exact bytes. */
export async function resolveSigningInput(options: SigningOptions, io: CliIO): Promise<SigningInput> {
  const secret = args.fromFlagOrEnv(
    options.secret,
    io.env,
    'HMAC_PRODUCER_SECRET',
    '--secret <secret>',
    args.secret,
  );
  const producerId = args.fromFlagOrEnv(
    options.producerId,
    io.env,
    'PRODUCER_ID',
    '--producer-id <id>',
    args.producerId,
  );
  const body =
    options.bodyFile === undefined
      ? await readStdinCapped(io.stdin)
      : await readFileCapped(options.bodyFile, '--body-file');
  return { secret, producerId, timestamp: options.timestamp, body };
}
