// Loads the Tezos vector files (test/vectors/tezos/*.json, each naming its source), found by walking up
// from the compiled test so it works from dist/ and from any other build directory.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function vectorsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'test', 'vectors', 'tezos');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('test/vectors/tezos not found above the compiled test');
}

export function loadTezosVectors<T>(name: string): T & { source: string } {
  return JSON.parse(fs.readFileSync(path.join(vectorsDir(), name), 'utf8')) as T & { source: string };
}

export interface SignerVectors {
  message: string;
  keys: Array<{
    name: string;
    secretKey: string;
    passphrase?: string;
    decrypted?: string;
    publicKey: string;
    pkh: string;
    signature: string | null;
    highSTwin?: string;
  }>;
  bls: { secretKey: string; publicKey: string; pkh: string; message: string; signaturePop: string; proofOfPossession: string };
}

export interface VerifyVectors {
  cases: Array<{ name: string; message: string; publicKey: string; signature: string; genericSignature: string; wrongPublicKey: string }>;
  proofOfPossession: { publicKey: string; proof: string };
}

export interface PayloadVectors {
  accepted: Array<{
    name: string;
    hex: string;
    kind: string;
    chainId?: string;
    level?: number;
    round?: number;
    consensusTag?: number;
    operationKinds?: string[];
    ballots?: string[];
    publicKey?: string;
    signature?: string;
  }>;
  refused: Array<{ name: string; hex: string; code?: string }>;
}

export const hex = (text: string): Buffer => Buffer.from(text, 'hex');
