// Bounds only the tezos daemon uses (shared bounds live in lib/limits.ts); units last in names.

/** Default --payload-bytes-max; octez caps an operation at 32 KiB, consensus payloads are under 300 bytes. */
export const TEZOS_PAYLOAD_BYTES_MAX = 32 * 1024;
/** The most --payload-bytes-max may raise it to: 128 × octez's 32 KiB, and an HTTP body (2× in hex) well inside the 16 MiB read at once. */
export const TEZOS_PAYLOAD_BYTES_CEILING = 4 * 1024 * 1024;
/** How long an identical request waits for a concurrent signer's signature before 409. */
export const TEZOS_PENDING_WAIT_MS = 2_000;
/** How often that waiting request looks for the signature. */
export const TEZOS_PENDING_POLL_MS = 10;
/**
 * etcd: how long a signature's record waits before its quorum write. A baker that signs the next
 * level within this time has made the record useless (a replay of the older level is refused
 * anyway), so it is dropped instead of competing with the new reserve; an identical retry in the
 * meantime waits for it (TEZOS_PENDING_WAIT_MS).
 */
export const TEZOS_ETCD_RECORD_DELAY_MS = 20;
/** Slots the in-process watermark floor remembers; beyond this the oldest are dropped. */
export const TEZOS_FLOOR_SLOTS_MAX = 10_000;
/**
 * Longest DAL attestation bitset, a Zarith natural with one bit per DAL slot: 64 bytes hold 448 bits,
 * far above any protocol's number of DAL slots (mainnet has 32).
 */
export const DAL_BITSET_BYTES_MAX = 64;
/** Longest Zarith number accepted (70 bits of value is already above any Tezos amount or counter). */
export const ZARITH_BYTES_MAX = 10;
/** `signerd tezos watermark audit`: longest log line read; longer ones are counted and skipped. */
export const TEZOS_AUDIT_LINE_BYTES_MAX = 64 * 1024;
