#!/usr/bin/env node
// Entry point of the `sigledger` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit once stdout/stderr are flushed; a served process has already shut down cleanly here.
process.stdout.write('', () => process.exit(code));
