import { readFileSync } from 'node:fs';
import * as ed from '@noble/ed25519';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519Sign, privateKeyFromSeed, rawFromSpki, spkiOf } from '../../src/crypto/ed25519.ts';
import {
  formatCheckpointBody,
  MAX_NOTE_SIGNATURES,
  noteKeyHash,
  noteKeyId,
  openCheckpoint,
  openNote,
  parseCheckpointBody,
  parseVerifierKey,
  signNote,
  verifierKey,
  verifyNote,
} from '../../src/log/checkpoint.ts';

interface CheckpointVector {
  checkpoint: string;
  ed25519SeedHex: string;
  fullKeyHashHex: string;
  keyIdHex: string;
  origin: string;
  publicKeyHex: string;
  verifierKey: string;
}
const V = JSON.parse(readFileSync(new URL('../vectors/checkpoint.json', import.meta.url), 'utf8')) as CheckpointVector;
const R = JSON.parse(readFileSync(new URL('../vectors/rfc6962.json', import.meta.url), 'utf8')) as { rootsHexBySize: string[] };

const priv = privateKeyFromSeed(Buffer.from(V.ed25519SeedHex, 'hex'));
const rawPublicKey = rawFromSpki(spkiOf(priv));
const key = { name: V.origin, rawPublicKey };
const signer = { ...key, sign: (msg: Buffer) => ed25519Sign(priv, msg) };
const body = V.checkpoint.slice(0, V.checkpoint.lastIndexOf('\n\n') + 1);
const sigLine = V.checkpoint.slice(V.checkpoint.lastIndexOf('\n\n') + 2);

const otherPriv = privateKeyFromSeed(Buffer.alloc(32, 7));
const otherKey = { name: V.origin, rawPublicKey: rawFromSpki(spkiOf(otherPriv)) };

describe('checkpoint', () => {
  describe('when given the shared vector (RFC 8032 test-1 key, signed by golang.org/x/mod/sumdb/note)', () => {
    it('derives the key id, the full key hash and the verifier key', () => {
      expect(rawPublicKey.toString('hex')).toBe(V.publicKeyHex);
      expect(noteKeyId(V.origin, rawPublicKey).toString('hex')).toBe(V.keyIdHex);
      expect(noteKeyHash(V.origin, rawPublicKey).toString('hex')).toBe(V.fullKeyHashHex);
      expect(verifierKey(V.origin, rawPublicKey)).toBe(V.verifierKey);
    });

    it('formats the body and signs it byte for byte', () => {
      const formatted = formatCheckpointBody({ origin: V.origin, size: 8, rootHash: Buffer.from(R.rootsHexBySize[7]!, 'hex') });
      expect(formatted).toBe(body);
      expect(signNote(formatted, signer)).toBe(V.checkpoint);
    });

    it('signs with a signature made beforehand, as an asynchronous key store does', async () => {
      const signature = await ed.signAsync(Buffer.from(body), Buffer.from(V.ed25519SeedHex, 'hex'));
      expect(signNote(body, { ...key, signature })).toBe(V.checkpoint);
    });

    it('opens and verifies the note, and parses its body', () => {
      const note = openNote(V.checkpoint);
      expect(note?.body).toBe(body);
      expect(note?.signatures).toHaveLength(1);
      expect(note?.signatures[0]?.name).toBe(V.origin);
      expect(note?.signatures[0]?.keyId.toString('hex')).toBe(V.keyIdHex);
      expect(note?.signatures[0]?.signature).toHaveLength(64);
      expect(verifyNote(V.checkpoint, key)).toBe(true);
      expect(verifyNote(Buffer.from(V.checkpoint), key)).toBe(true);
      const cp = openCheckpoint(V.checkpoint, key);
      expect(cp).toEqual({ origin: V.origin, size: 8, rootHash: Buffer.from(R.rootsHexBySize[7]!, 'hex'), extensions: [] });
    });

    it('has a signature that @noble/ed25519 verifies independently', async () => {
      const sig = openNote(V.checkpoint)!.signatures[0]!.signature;
      expect(await ed.verifyAsync(sig, Buffer.from(body), Buffer.from(V.publicKeyHex, 'hex'))).toBe(true);
    });

    it('parses its own verifier key and refuses tampered ones', () => {
      const parsed = parseVerifierKey(V.verifierKey);
      expect(parsed?.name).toBe(V.origin);
      expect(parsed?.keyId.toString('hex')).toBe(V.keyIdHex);
      expect(parsed?.rawPublicKey.toString('hex')).toBe(V.publicKeyHex);
      for (const bad of [
        V.verifierKey.replace('+270689b9+', '+270689ba+'),
        V.verifierKey.replace('+270689b9+', '+270689B9+'),
        V.verifierKey.replace('+Ad', '+Ai'),
        `other.example/log${V.verifierKey.slice(V.origin.length)}`,
        V.verifierKey.slice(0, -1),
        V.origin,
        '',
      ]) {
        expect(parseVerifierKey(bad), bad).toBeUndefined();
      }
    });
  });

  describe('when formatting and parsing checkpoint bodies', () => {
    it('round-trips random origins, sizes, roots and extension lines', () => {
      const line = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => !/[\u0000-\u001f]/.test(s));
      fc.assert(
        fc.property(line, fc.maxSafeNat(), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(line, { maxLength: 3 }), (origin, size, root, extensions) => {
          const text = formatCheckpointBody({ origin, size, rootHash: root, extensions });
          expect(parseCheckpointBody(text)).toEqual({ origin, size, rootHash: Buffer.from(root), extensions });
        }),
        { seed: 1, numRuns: 300 },
      );
    });

    it('writes the empty tree as size 0 with the SHA-256 of nothing', () => {
      const empty = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex');
      expect(formatCheckpointBody({ origin: 'o', size: 0, rootHash: empty })).toBe('o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n');
    });

    it('refuses to format invalid fields', () => {
      const rootHash = Buffer.alloc(32);
      expect(() => formatCheckpointBody({ origin: '', size: 1, rootHash })).toThrow(TypeError);
      expect(() => formatCheckpointBody({ origin: 'a\nb', size: 1, rootHash })).toThrow(TypeError);
      expect(() => formatCheckpointBody({ origin: 'a', size: -1, rootHash })).toThrow(RangeError);
      expect(() => formatCheckpointBody({ origin: 'a', size: 2 ** 53, rootHash })).toThrow(RangeError);
      expect(() => formatCheckpointBody({ origin: 'a', size: 1, rootHash: Buffer.alloc(31) })).toThrow(TypeError);
      expect(() => formatCheckpointBody({ origin: 'a', size: 1, rootHash, extensions: [''] })).toThrow(TypeError);
      expect(() => formatCheckpointBody({ origin: 'a', size: 1, rootHash, extensions: ['x\ny'] })).toThrow(TypeError);
    });

    const root = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    it.each([
      ['no final newline', `o\n1\n${root}`],
      ['two lines', `o\n1\n`],
      ['an empty origin', `\n1\n${root}\n`],
      ['a leading zero in the size', `o\n01\n${root}\n`],
      ['a signed size', `o\n+1\n${root}\n`],
      ['a negative size', `o\n-1\n${root}\n`],
      ['a size beyond 2^53', `o\n9007199254740993\n${root}\n`],
      ['a size with spaces', `o\n 1\n${root}\n`],
      ['Arabic-Indic digits', `o\n\u0661\n${root}\n`],
      ['a 31-byte root', `o\n1\n${Buffer.alloc(31).toString('base64')}\n`],
      ['a 33-byte root', `o\n1\n${Buffer.alloc(33).toString('base64')}\n`],
      ['unpadded base64', `o\n1\n${root.slice(0, -1)}\n`],
      ['URL-safe base64', `o\n1\n${'_'.repeat(43)}=\n`],
      ['non-canonical base64', `o\n1\n${root.slice(0, -2)}B=\n`],
      ['an empty extension line', `o\n1\n${root}\n\n`],
      ['a carriage return', `o\r\n1\n${root}\n`],
      ['a tab', `o\t\n1\n${root}\n`],
      ['a NUL', `o\u0000\n1\n${root}\n`],
      ['a lone surrogate', `o\ud800\n1\n${root}\n`],
    ])('rejects a body with %s', (_why, text) => {
      expect(parseCheckpointBody(text)).toBeUndefined();
    });
  });

  describe('when signing and verifying notes', () => {
    it('signs any valid note text so that it verifies with the key and not with another', () => {
      fc.assert(
        fc.property(fc.array(fc.string({ maxLength: 30, unit: 'grapheme' }).filter((s) => !/[\u0000-\u001f]/.test(s)), { minLength: 1, maxLength: 4 }), (lines) => {
          const text = lines.map((l) => `${l}\n`).join('');
          const note = signNote(text, signer);
          expect(openNote(note)?.body).toBe(text);
          expect(verifyNote(note, key)).toBe(true);
          expect(verifyNote(note, otherKey)).toBe(false);
          expect(verifyNote(note, { ...key, name: 'other.example/log' })).toBe(false);
        }),
        { seed: 2, numRuns: 100 },
      );
    });

    it('ignores signatures by other keys, and accepts a note that also carries one', () => {
      const cosigned = signNote(body, { ...otherKey, name: 'witness.example/w1', sign: (m) => ed25519Sign(otherPriv, m) });
      const both = `${V.checkpoint}${cosigned.slice(cosigned.lastIndexOf('\n\n') + 2)}`;
      expect(openNote(both)?.signatures.map((s) => s.name)).toEqual([V.origin, 'witness.example/w1']);
      expect(verifyNote(both, key)).toBe(true);
      expect(verifyNote(both, { ...otherKey, name: 'witness.example/w1' })).toBe(true);
    });

    it('accepts at least 16 and at most MAX_NOTE_SIGNATURES signature lines', () => {
      expect(verifyNote(V.checkpoint + sigLine.repeat(15), key)).toBe(true);
      expect(openNote(V.checkpoint + sigLine.repeat(MAX_NOTE_SIGNATURES - 1))?.signatures).toHaveLength(MAX_NOTE_SIGNATURES);
      expect(openNote(V.checkpoint + sigLine.repeat(MAX_NOTE_SIGNATURES))).toBeUndefined();
    });

    it('refuses to sign a text without a final newline, with control characters, or with a bad key or signature', () => {
      expect(() => signNote('no newline', signer)).toThrow(TypeError);
      expect(() => signNote('', signer)).toThrow(TypeError);
      expect(() => signNote('tab\there\n', signer)).toThrow(TypeError);
      expect(() => signNote(body, { ...signer, name: 'has space' })).toThrow(TypeError);
      expect(() => signNote(body, { ...signer, name: 'has+plus' })).toThrow(TypeError);
      expect(() => signNote(body, { ...signer, rawPublicKey: Buffer.alloc(31) })).toThrow(TypeError);
      expect(() => signNote(body, { ...key, sign: () => Buffer.alloc(63) })).toThrow(TypeError);
      expect(() => signNote(body, { ...key, signature: Buffer.alloc(65) })).toThrow(TypeError);
    });
  });

  describe('when a note is tampered with', () => {
    const sigB64 = sigLine.slice(sigLine.lastIndexOf(' ') + 1, -1);
    const raw = Buffer.from(sigB64, 'base64');
    const withSig = (bytes: Buffer) => `${body}\n\u2014 ${V.origin} ${bytes.toString('base64')}\n`;
    const flip = (i: number) => {
      const c = Buffer.from(raw);
      c[i]! ^= 1;
      return c;
    };

    it.each([
      ['a changed size', V.checkpoint.replace('\n8\n', '\n9\n')],
      ['a changed root', V.checkpoint.replace('Xcna', 'Xcnb')],
      ['a changed origin', V.checkpoint.replace('sigledger.local/log\n8', 'sigledger.local/loh\n8')],
      ['an added extension line', V.checkpoint.replace('=\n\n', '=\nextra\n\n')],
      ['a flipped signature bit', withSig(flip(10))],
      ['a flipped last signature bit', withSig(flip(raw.length - 1))],
      ['a different key id', withSig(flip(0))],
      ['a truncated signature', withSig(raw.subarray(0, raw.length - 1))],
      ['a signature with a byte too many', withSig(Buffer.concat([raw, Buffer.from([0])]))],
      ['only the key id', withSig(raw.subarray(0, 4))],
      ['the signature under another name', V.checkpoint.replace(`\u2014 ${V.origin} `, '\u2014 other.example/log ')],
    ])('rejects %s', (_why, note) => {
      expect(verifyNote(note, key)).toBe(false);
      expect(openCheckpoint(note, key)).toBeUndefined();
    });

    it('rejects the whole note when one of two signatures by the key fails', () => {
      expect(verifyNote(`${V.checkpoint}${withSig(flip(10)).slice(body.length + 1)}`, key)).toBe(false);
      expect(verifyNote(`${V.checkpoint}${sigLine}`, key)).toBe(true);
    });

    it('rejects a checkpoint whose origin is not the one expected', () => {
      expect(openCheckpoint(V.checkpoint, key, 'other.example/log')).toBeUndefined();
      expect(openCheckpoint(V.checkpoint, key, V.origin)?.size).toBe(8);
    });
  });

  describe('when a note is malformed', () => {
    it.each([
      ['the empty string', ''],
      ['no signature block', body],
      ['no blank line', `${body}${sigLine}`],
      ['an empty signature block', `${body}\n`],
      ['no final newline', V.checkpoint.slice(0, -1)],
      ['a hyphen instead of the em dash', V.checkpoint.replace('\u2014', '-')],
      ['an en dash instead of the em dash', V.checkpoint.replace('\u2014', '\u2013')],
      ['no space after the dash', V.checkpoint.replace('\u2014 ', '\u2014')],
      ['two spaces after the name', V.checkpoint.replace(`${V.origin} J`, `${V.origin}  J`)],
      ['no signature after the name', `${body}\n\u2014 ${V.origin}\n`],
      ['an empty key name', `${body}\n\u2014  ${sigLine.slice(sigLine.lastIndexOf(' ') + 1)}`],
      ['a plus in the key name', V.checkpoint.replace(`\u2014 ${V.origin}`, '\u2014 a+b')],
      ['a non-breaking space in the key name', V.checkpoint.replace(`\u2014 ${V.origin}`, '\u2014 a\u00a0b')],
      ['a trailing blank line', `${V.checkpoint}\n`],
      ['a text line after the signatures', `${V.checkpoint}text\n`],
      ['a carriage return', V.checkpoint.replace(/\n/g, '\r\n')],
      ['a tab in the text', `tab\there${V.checkpoint}`],
      ['a NUL in a signature line', V.checkpoint.replace('JwaJ', 'Jw\u0000aJ')],
      ['unpadded base64', V.checkpoint.replace('I=\n', 'I\n')],
      ['base64 with whitespace', V.checkpoint.replace('JwaJ', 'Jw aJ')],
      ['a signature of 4 bytes', `${body}\n\u2014 ${V.origin} AAAAAA==\n`],
      ['a lone surrogate', `\ud800${V.checkpoint}`],
      ['more than 1 MiB', `${'a'.repeat(1 << 20)}${V.checkpoint}`],
    ])('rejects %s without throwing', (_why, note) => {
      expect(openNote(note)).toBeUndefined();
      expect(verifyNote(note, key)).toBe(false);
      expect(openCheckpoint(note, key)).toBeUndefined();
    });

    it('rejects invalid UTF-8 bytes', () => {
      const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(V.checkpoint)]);
      expect(openNote(bytes)).toBeUndefined();
      expect(verifyNote(bytes, key)).toBe(false);
    });

    it('rejects values that are not notes without throwing', () => {
      for (const v of [undefined, null, 42, {}, ['x']]) {
        expect(openNote(v as unknown as string)).toBeUndefined();
        expect(verifyNote(v as unknown as string, key)).toBe(false);
        expect(parseCheckpointBody(v as unknown as string)).toBeUndefined();
      }
    });

    it('does not throw on arbitrary strings', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (s) => {
          expect(verifyNote(s, key)).toBe(false);
          expect(verifyNote(`${body}\n${s}`, key)).toBe(false);
          parseCheckpointBody(s);
        }),
        { seed: 3, numRuns: 500 },
      );
    });
  });
});
