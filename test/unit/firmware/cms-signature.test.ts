// The hand-built CMS SignedData: signed attributes in DER order, messageDigest = the content digest,
// the signer certificate inside, and a signature node:crypto verifies over the attribute SET.
import crypto from 'node:crypto';
import forge from 'node-forge';
import t from 'tap';
import { signCmsDigest } from '../../../daemons/firmware/formats/cms.js';
import { DISTRO, openTestKeyRoot, readVector } from '../../integration/firmware/line-fixtures.js';

t.test('CMS over a digest', async (t) => {
  const cms = (await openTestKeyRoot(t.testdir({}))).signer(DISTRO, 'swupdate-cms');
  const content = readVector('swupdate/sw-description');
  const digest = crypto.createHash('sha256').update(content).digest();
  const der = await signCmsDigest(cms, digest, { signingTime: new Date(Date.UTC(2026, 10, 24, 7, 0, 0)) });
  const msg = forge.pkcs7.messageFromAsn1(forge.asn1.fromDer(der.toString('binary'))) as unknown as {
    certificates: forge.pki.Certificate[];
    rawCapture: { authenticatedAttributes: forge.asn1.Asn1[]; signature: string };
  };
  t.equal(msg.certificates.length, 1, 'signer certificate included');
  const attrs = msg.rawCapture.authenticatedAttributes;
  const oids = attrs.map((a) => forge.asn1.derToOid((a.value as forge.asn1.Asn1[])[0]!.value as string));
  t.same(oids, ['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.5', '1.2.840.113549.1.9.4'], 'contentType, signingTime, messageDigest (DER order)');
  const md = ((attrs[2]!.value as forge.asn1.Asn1[])[1]!.value as forge.asn1.Asn1[])[0]!.value as string;
  t.ok(Buffer.from(md, 'binary').equals(digest), 'messageDigest is the content digest');
  const set = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SET, true, attrs);
  const signedBytes = Buffer.from(forge.asn1.toDer(set).getBytes(), 'binary');
  const sig = Buffer.from(msg.rawCapture.signature, 'binary');
  t.ok(crypto.verify('sha256', signedBytes, cms.publicKey, sig), 'signature over the attribute SET verifies');
  await t.rejects(signCmsDigest(cms, Buffer.alloc(20)), { code: 'BAD_REQUEST' });
});
