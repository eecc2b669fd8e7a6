/**
 * `sigledger trust pem --url URL --out DIR [--force]`: the PEM files `openssl ts -verify` needs for
 * a timestamp of this ledger's TSA, from `timestampAuthorities[0].certChain` of
 * GET /api/v1/trust/trusted_root.json (leaf first, root last):
 *
 *   DIR/tsa.pem         the TSA's own certificate (the leaf, which signs the timestamps)
 *   DIR/tsa-root.pem    the root certificate: the one to trust (-CAfile)
 *   DIR/tsa-chain.pem   the whole chain, leaf first (-untrusted: the leaf and any intermediates)
 *
 * The chain is checked before anything is written (each certificate is issued and signed by the
 * next, the root by itself, the leaf is for time stamping), and existing files are only
 * replaced with --force. The root is trusted as fetched: its fingerprint is printed so it can be
 * compared out of band.
 */
import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isObject } from '../../json.ts';
import { exists } from '../common/bounded-read.ts';
import { InputError, UsageError } from '../common/errors.ts';
import { baseUrl } from '../common/http-client.ts';
import { writeOutputFile } from '../common/output-files.ts';
import { printable } from '../common/printable.ts';
import { fetchTrustedRoot, TRUSTED_ROOT_PATH } from './trust-client.ts';

export const PEM_FILES = { leaf: 'tsa.pem', root: 'tsa-root.pem', chain: 'tsa-chain.pem' } as const;

/** Extended key usage of a time-stamping certificate (RFC 3161 §2.3). */
const TIME_STAMPING_EKU = '1.3.6.1.5.5.7.3.8';
const MAX_CHAIN = 8;

export interface TrustPemOptions {
  readonly url: string;
  readonly out: string;
  readonly force: boolean;
}

export interface TrustPemIo {
  readonly out: (line: string) => void;
}

const pem = (cert: X509Certificate): string => `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

/** The TSA chain of a TrustedRoot, parsed and checked link by link; InputError naming what is wrong. */
export function tsaChainOf(root: Record<string, unknown>): X509Certificate[] {
  const where = `${TRUSTED_ROOT_PATH}: timestampAuthorities[0].certChain`;
  const tsa = Array.isArray(root.timestampAuthorities) ? root.timestampAuthorities[0] : undefined;
  if (!isObject(tsa)) throw new InputError(`${TRUSTED_ROOT_PATH} lists no timestamp authority (the service runs no TSA)`);
  const list = isObject(tsa.certChain) && Array.isArray(tsa.certChain.certificates) ? tsa.certChain.certificates : undefined;
  if (!list || list.length === 0 || list.length > MAX_CHAIN) throw new InputError(`${where} must list 1 to ${MAX_CHAIN} certificates`);
  const chain = list.map((c, i) => {
    const b64 = isObject(c) && typeof c.rawBytes === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(c.rawBytes) ? c.rawBytes : undefined;
    try {
      if (b64 === undefined) throw new Error('no base64 rawBytes');
      return new X509Certificate(Buffer.from(b64, 'base64'));
    } catch {
      throw new InputError(`${where}.certificates[${i}] is not a base64 DER X.509 certificate`);
    }
  });
  chain.forEach((cert, i) => {
    const issuer = chain[i + 1] ?? cert; // the last one must be self-signed
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new InputError(`${where}.certificates[${i}] (${printable(cert.subject, 120)}) is not ${i + 1 < chain.length ? `issued by certificates[${i + 1}]` : 'a self-signed root'}`);
    }
  });
  if (!(chain[0]!.keyUsage ?? []).includes(TIME_STAMPING_EKU)) throw new InputError(`${where}.certificates[0] is not a time-stamping certificate (extended key usage ${TIME_STAMPING_EKU})`);
  return chain;
}

/** DIR must be a directory or not exist; the files must not exist unless --force. */
async function checkOut(dir: string, force: boolean): Promise<void> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new UsageError(`cannot use --out ${printable(dir, 200)} (${err.code ?? 'error'})`);
  });
  if (info && !info.isDirectory()) throw new UsageError(`--out ${printable(dir, 200)} exists and is not a directory`);
  if (force || !info) return;
  const present: string[] = [];
  for (const name of Object.values(PEM_FILES)) if (await exists(join(dir, name))) present.push(name);
  if (present.length > 0) throw new UsageError(`--out ${printable(dir, 200)} already has ${present.join(', ')}; nothing was written (add --force to replace ${present.length === 1 ? 'it' : 'them'})`);
}

export async function trustPem(options: TrustPemOptions, io: TrustPemIo): Promise<number> {
  const base = baseUrl(options.url);
  const dir = resolve(options.out);
  await checkOut(dir, options.force);
  const chain = tsaChainOf(await fetchTrustedRoot(base));
  const leaf = chain[0]!;
  const root = chain[chain.length - 1]!;
  await writeOutputFile(join(dir, PEM_FILES.leaf), pem(leaf));
  await writeOutputFile(join(dir, PEM_FILES.root), pem(root));
  await writeOutputFile(join(dir, PEM_FILES.chain), chain.map(pem).join(''));
  const name = (c: X509Certificate) => printable(c.subject.replace(/\n/g, ', '), 120);
  io.out(`wrote ${join(dir, PEM_FILES.leaf)}: the TSA certificate (${name(leaf)}), valid until ${leaf.validTo}`);
  io.out(`wrote ${join(dir, PEM_FILES.root)}: the root to trust (${name(root)}), SHA-256 fingerprint ${root.fingerprint256}`);
  io.out(`wrote ${join(dir, PEM_FILES.chain)}: the chain, ${chain.length} certificate${chain.length === 1 ? '' : 's'}, leaf first`);
  io.out(`the root is trusted as fetched from ${base}: compare its fingerprint with one obtained another way`);
  io.out(`verify a timestamp: openssl ts -verify -in REPLY.tsr -queryfile QUERY.tsq -CAfile ${join(dir, PEM_FILES.root)} -untrusted ${join(dir, PEM_FILES.chain)}`);
  return 0;
}
