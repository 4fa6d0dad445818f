// verify-ecdsa: the seed's ECDSA verify daemon, compatible on the wire, without its "missing record means empty message" bug.
import { verifyDaemonCommand } from '../../lib/signature/verify-daemon.js';
import { ECDSA_PROFILE } from '../../lib/signature/profiles.js';

export const command = () => verifyDaemonCommand(ECDSA_PROFILE);
