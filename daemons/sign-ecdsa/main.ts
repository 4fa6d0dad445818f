// sign-ecdsa: the seed's ECDSA signing daemon, compatible on the wire. All shared composition is in lib/signature.
import { signDaemonCommand } from '../../lib/signature/sign-daemon.js';
import { ECDSA_PROFILE } from '../../lib/signature/profiles.js';

export const command = () => signDaemonCommand(ECDSA_PROFILE);
