import { describe, expect, it, beforeAll } from 'vitest';
import { tsaChainOf } from '../../src/cli/trust/pem.ts';
import { InputError } from '../../src/cli/common/errors.ts';
import { createTsaChain, type TsaChain } from '../../src/tsa/chain.ts';

const rootWith = (certs: unknown[]) => ({ tlogs: [{}], timestampAuthorities: [{ certChain: { certificates: certs } }] });
const raw = (der: Buffer) => ({ rawBytes: der.toString('base64') });

describe('tsaChainOf', () => {
  let chain: TsaChain;
  beforeAll(async () => {
    chain = await createTsaChain({ now: new Date(Date.now() - 60_000), validityDays: 30, subjectPrefix: 'unit' });
  });

  describe('when the TrustedRoot lists a leaf and its root', () => {
    it('returns both, leaf first', () => {
      const certs = tsaChainOf(rootWith([raw(chain.leafCertDer), raw(chain.rootCertDer)]));
      expect(certs.map((c) => c.raw.equals(chain.leafCertDer) || c.raw.equals(chain.rootCertDer))).toEqual([true, true]);
      expect(certs[0]!.raw.equals(chain.leafCertDer)).toBe(true);
    });
  });

  describe('when the chain is hostile or wrong', () => {
    const cases: [string, () => Record<string, unknown>, RegExp][] = [
      ['no timestamp authority', () => ({ tlogs: [{}] }), /lists no timestamp authority/],
      ['an empty chain', () => rootWith([]), /must list 1 to 8 certificates/],
      ['too many certificates', () => rootWith(Array.from({ length: 9 }, () => raw(chain.rootCertDer))), /must list 1 to 8 certificates/],
      ['rawBytes that are not base64', () => rootWith([{ rawBytes: '%%%' }, raw(chain.rootCertDer)]), /certificates\[0\] is not a base64 DER X\.509 certificate/],
      ['bytes that are not a certificate', () => rootWith([{ rawBytes: Buffer.from('not a cert').toString('base64') }]), /certificates\[0\] is not a base64 DER/],
      ['the root before the leaf', () => rootWith([raw(chain.rootCertDer), raw(chain.leafCertDer)]), /certificates\[0\] .* is not issued by certificates\[1\]/],
      ['a leaf without its root', () => rootWith([raw(chain.leafCertDer)]), /certificates\[0\] .* is not a self-signed root/],
      ['a root alone (no time-stamping leaf)', () => rootWith([raw(chain.rootCertDer)]), /is not a time-stamping certificate/],
    ];
    for (const [what, root, message] of cases) {
      it(`refuses ${what} with an InputError naming it`, () => {
        let thrown: unknown;
        try {
          tsaChainOf(root());
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InputError);
        expect((thrown as InputError).code).toBe('cli_input_invalid');
        expect((thrown as Error).message).toMatch(message);
      });
    }
  });
});
