// Fixtures for the UEFI tests: real PE/COFF images from Debian's systemd-boot-efi, and the signingTime
// a tool wrote into its signature, so our output can be compared byte for byte with the tool's.

/** Two real EFI applications (PE32+ x86-64) shipped by systemd-boot-efi. */
export const PE_IMAGES = ['/usr/lib/systemd/boot/efi/systemd-bootx64.efi', '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'] as const;

/** DER of the signingTime attribute's OID (1.2.840.113549.1.9.5). */
const SIGNING_TIME_OID = Buffer.from('06092a864886f70d010905', 'hex');

/** The UTCTime after the first signingTime OID in a signature (or a signed image): SET { UTCTime(13) }. */
export function signingTimeOf(der: Buffer): Date {
  const at = der.indexOf(SIGNING_TIME_OID);
  if (at < 0) throw new Error('no signingTime attribute');
  const text = der.subarray(at + SIGNING_TIME_OID.length + 4, at + SIGNING_TIME_OID.length + 17).toString('latin1');
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (!m) throw new Error(`signingTime ${text} is not a UTCTime`);
  const [yy, mo, dd, hh, mi, ss] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss));
}
