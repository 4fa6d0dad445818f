// verify-rsa: the seed's RSA verify daemon, compatible on the wire, without its "missing record means empty message" bug.
import { verifyDaemonCommand } from '../../lib/signature/verify-daemon.js';
import { RSA_PROFILE } from '../../lib/signature/profiles.js';

export const command = () => verifyDaemonCommand(RSA_PROFILE);
