#!/usr/bin/env python3
# Independent reference for signerd hmac's tests: cryptoserver's key selection and tags (and
# signerd's derived mode) written from the notes in Python, sharing no code with the daemon.
# Usage: cryptoserver_reference.py <single|mode16|mode32|derived> <secret_dir> [version]
# stdin: one hex-encoded message per line; stdout: "<hex tag> <murmur3 hash>" per line.
import hashlib
import hmac
import os
import struct
import sys

SEED = 0xC13F64AF
MASK = 0xFFFFFFFF


def rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & MASK


def murmur3_32(data, seed=SEED):
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed
    nblocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: nblocks * 4]):
        k = rotl((k * c1) & MASK, 15)
        h ^= (k * c2) & MASK
        h = (rotl(h, 13) * 5 + 0xE6546B64) & MASK
    tail = data[nblocks * 4 :]
    if tail:
        k = int.from_bytes(tail, "little")
        k = rotl((k * c1) & MASK, 15)
        h ^= (k * c2) & MASK
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h


def read_at(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        key = f.read(32)
    if len(key) != 32:
        raise SystemExit("short secret file " + path)
    return key


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def key_for(mode, directory, data, h, version):
    index = h & 0xFFFF
    if mode == "single":
        return read_at(os.path.join(directory, "secret"), 0)
    if mode == "mode16":
        return read_at(os.path.join(directory, "0000"), index * 32)
    if mode == "mode32":
        padded = os.path.join(directory, "%04x" % (h >> 16))
        unpadded = os.path.join(directory, "%x" % (h >> 16))
        return read_at(padded if os.path.exists(padded) else unpadded, index * 32)
    if mode == "derived":
        master = read_at(os.path.join(directory, "master-v%d" % version), 0)
        info = b"signerd/hmac/derived-key/v1\0" + struct.pack(">II", version, h)
        return hkdf_sha256(master, b"signerd/hmac/derived-key/salt", info, 32)
    raise SystemExit("unknown mode " + mode)


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    version = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for line in sys.stdin:
        data = bytes.fromhex(line.strip())
        h = murmur3_32(data)
        key = key_for(mode, directory, data, h, version)
        print(hmac.new(key, data, hashlib.sha256).hexdigest(), h)


if __name__ == "__main__":
    main()
