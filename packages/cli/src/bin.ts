#!/usr/bin/env node
import { exitStatus, nodeIO } from './io.js';
import { main } from './main.js';

const io = nodeIO();
process.exitCode = await exitStatus(await main(process.argv.slice(2), io), io);
