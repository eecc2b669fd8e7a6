/**
 * `npm run bench:sign`: the real service (child process, SQLite store with durable group-commit
 * appends, auth on) under autocannon load — 1 KiB payloads, 64 connections, every request a new
 * payload so every request really signs and appends — compared with raw node:crypto Ed25519
 * signing of the same PAE measured in the same run on one core.
 *
 * Env: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (64), BENCH_PAYLOAD_BYTES (1024).
 * Target: requests/s ÷ raw signs/s ≥ 0.4.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { pae } from '../src/crypto/dsse.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'sigledger.mjs');
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const payloadBytes = Number(process.env.BENCH_PAYLOAD_BYTES ?? 1024);
const TARGET = 0.4;

function rawSignsPerSecond(message: Buffer, ms = 3000): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  for (let i = 0; i < 2000; i++) sign(null, message, privateKey); // warm-up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 500; i++) sign(null, message, privateKey);
    n += 500;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function payloadFor(i: number): string {
  const prefix = Buffer.from(`bench-${process.pid}-${i}-`);
  const buf = Buffer.alloc(payloadBytes, 0x61);
  prefix.copy(buf);
  return buf.toString('base64');
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-bench-sign-'));
  const env = { ...process.env, SIGLEDGER_LOG_LEVEL: 'warn', SIGLEDGER_DATA_DIR: dataDir };
  const token = spawnSync(process.execPath, [bin, 'token', '--plan', 'unlimited', '--tenant', 'bench', '--ttl', '3600'], { env, encoding: 'utf8' });
  if (token.status !== 0) throw new Error(`sigledger token failed: ${token.stderr}`);
  const { authorization, poe } = JSON.parse(token.stdout) as { authorization: string; poe: string };

  const server = spawn(process.execPath, [bin, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
  server.stdout.resume();

  try {
    const samplePae = pae('application/octet-stream', Buffer.from(payloadFor(0), 'base64'));
    const raw = rawSignsPerSecond(samplePae);

    let i = 0;
    const headers = { 'content-type': 'application/json', authorization, 'x-proof-of-entitlement': poe };
    // Warm-up: JIT, SQLite page cache, token cache.
    await autocannon({ url: `${url}/api/v1/signer/sign/dsse`, connections, duration: 3, method: 'POST', headers, requests: [{ setupRequest: (r) => ({ ...r, body: JSON.stringify({ payloadType: 'application/octet-stream', payload: payloadFor(i++) }) }) }] });
    const result = await autocannon({
      url: `${url}/api/v1/signer/sign/dsse`,
      connections,
      duration: seconds,
      method: 'POST',
      headers,
      requests: [{ setupRequest: (r) => ({ ...r, body: JSON.stringify({ payloadType: 'application/octet-stream', payload: payloadFor(i++) }) }) }],
    });
    const non2xx = result.non2xx;
    const rps = result.requests.average;
    const ratio = rps / raw;
    const lines = [
      `sign bench: ${connections} connections, ${payloadBytes} B payloads, ${seconds}s, sqlite store (synchronous=FULL, group commit), auth on`,
      `  service:            ${rps.toFixed(0)} requests/s (2xx ${result['2xx']}, non-2xx ${non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`,
      `  latency:            p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
      `  raw node:crypto:    ${raw.toFixed(0)} Ed25519 signs/s of the same PAE (one core)`,
      `  ratio:              ${ratio.toFixed(2)} (target ≥ ${TARGET}) ${ratio >= TARGET ? 'PASS' : 'FAIL'}`,
    ];
    console.log(lines.join('\n'));
    console.log(JSON.stringify({ bench: 'sign', rps: Math.round(rps), p50: result.latency.p50, p99: result.latency.p99, rawSignsPerSecond: Math.round(raw), ratio: Number(ratio.toFixed(3)), target: TARGET, non2xx, errors: result.errors }));
    if (non2xx > 0 || result.errors > 0) process.exitCode = 1;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
