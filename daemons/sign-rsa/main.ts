// sign-rsa: the seed's RSA signing daemon, compatible on the wire. All shared composition is in lib/signature.
import { signDaemonCommand } from '../../lib/signature/sign-daemon.js';
import { RSA_PROFILE } from '../../lib/signature/profiles.js';

export const command = () => signDaemonCommand(RSA_PROFILE);
