// Bounds only the firmware daemon enforces, units last in the names; the ones with options
// (--http-…-max) are defaults of FirmwareHttpLimits. The HTTP server's own bounds are in lib/limits.ts.

/** Bounds of the digsigserver-compatible HTTP front end; each with an --http-…-max option but tarEntriesMax and swDescriptionBytesMax. */
export interface FirmwareHttpLimits {
  /** Largest request body (the whole multipart form). */
  uploadBytesMax: number;
  /** Largest inflated tarball (modules, OP-TEE) and largest Mender artifact behind artifact-uri. */
  inflatedBytesMax: number;
  /** Largest single module or TA image signed in memory. */
  signedFileBytesMax: number;
  /** Largest sw-description. */
  swDescriptionBytesMax: number;
  /** Entries per tarball. */
  tarEntriesMax: number;
  /** Time to receive a whole request, upload included (408). */
  requestMsMax: number;
  /**
   * Time a connection may take to send its request headers, and the window in which an upload
   * must bring UPLOAD_PROGRESS_BYTES_MIN (or its end); either miss is a 408 and a close.
   */
  idleMsMax: number;
  /** Time to sign and build the reply once the upload is in. */
  processingMsMax: number;
  /** Requests signing at once. */
  jobsMax: number;
  /** Signing requests let in beyond jobsMax (uploading or waiting their turn); more get 503 BUSY. */
  queueMax: number;
  /** Upload bytes the requests let in may hold on disk together (each reserves its Content-Length). */
  queueBytesMax: number;
  /** Longest a request waits for upload room and a signing slot, in all; then 503 BUSY. */
  queueMsMax: number;
  /** Open connections. */
  connectionsMax: number;
  /** On SIGTERM, time allowed for requests in flight. */
  drainMsMax: number;
}

export const DEFAULT_FIRMWARE_HTTP_LIMITS: Readonly<FirmwareHttpLimits> = Object.freeze({
  uploadBytesMax: 600 * 1024 * 1024,
  inflatedBytesMax: 2 * 1024 * 1024 * 1024,
  signedFileBytesMax: 64 * 1024 * 1024,
  swDescriptionBytesMax: 1024 * 1024,
  tarEntriesMax: 100_000,
  requestMsMax: 30 * 60_000,
  idleMsMax: 30_000,
  processingMsMax: 10 * 60_000,
  jobsMax: 4,
  // 100 builds posting at once (a CI farm rebuilding one kernel) fit, with room to spare.
  queueMax: 128,
  queueBytesMax: 4 * 1024 * 1024 * 1024,
  // The classes' curl gives up after --max-time 1800; this leaves half of it for uploading and signing.
  queueMsMax: 15 * 60_000,
  // jobsMax + queueMax requests, plus room for /health, keep-alive clients and refusals; raised
  // to jobsMax + queueMax + FIRMWARE_HTTP_SPARE_CONNECTIONS when those options ask for more.
  connectionsMax: 256,
  drainMsMax: 10_000,
});

/** Connections kept beyond --http-jobs-max + --http-queue-max, so /health and refusals still get through. */
export const FIRMWARE_HTTP_SPARE_CONNECTIONS = 64;
/** Shortest Retry-After of a 503 BUSY; each refusal draws from MIN..MAX so refused builds do not return together. */
export const FIRMWARE_BUSY_RETRY_AFTER_S_MIN = 5;
/** Longest Retry-After of a 503 BUSY (the classes' curl --retry 4 then gives up after at most 2 minutes). */
export const FIRMWARE_BUSY_RETRY_AFTER_S_MAX = 30;
/** A short text form field (machine, hashalg, algo, distro). */
export const FORM_SHORT_FIELD_BYTES_MAX = 256;
/** A URI form field (key-uri, artifact-uri). */
export const FORM_URI_FIELD_BYTES_MAX = 4096;
/** One tar extended (pax) header. */
export const TAR_META_BYTES_MAX = 64 * 1024;
/**
 * Names and link targets of an OP-TEE upload or a Mender artifact, all entries together: those
 * routes hold every entry at once (a TA upload is a handful of files, an artifact a few members).
 */
export const TAR_KEPT_NAMES_BYTES_MAX = 8 * 1024 * 1024;
/** Entries in one Mender artifact. */
export const MENDER_ENTRIES_MAX = 1024;
/** A Mender artifact's manifest. */
export const MENDER_MANIFEST_BYTES_MAX = 1024 * 1024;
/** A small text file in an OP-TEE upload, read whole. */
export const OPTEE_SMALL_FILE_BYTES_MAX = 256;
/**
 * Bytes the Blocks of an i.MX CSF may cover together, as a multiple of the uploaded file's length:
 * real Blocks (SPL, FIT header, U-Boot, ATF, DTBs) are disjoint; overlapping ones must not make the
 * daemon hash gigabytes.
 */
export const HAB_BLOCKS_COVER_FACTOR_MAX = 2;
/** An i.MX CST text CSF (the `csf` field of /sign/imx); NXP's examples are about 1 KiB. */
export const HAB_CSF_TEXT_BYTES_MAX = 16 * 1024;
/** An HSM reference file is one URI and perhaps comments; anything bigger is not one. */
export const HSM_REFERENCE_BYTES_MAX = 4096;
/**
 * Readiness probe signatures of HSM-held keys in flight at once, over the whole key root: a root of
 * hundreds of machines must not take hundreds of HSM sessions every 10 s (requests keep theirs).
 */
export const HSM_KEY_PROBES_MAX = 2;
/** signerd_key_info series of one key root (one per distinct key): a root may hold thousands of machines, a scrape should not. */
export const KEY_INFO_SERIES_MAX = 64;
/** A key's or SRK's certificate file (PEM or DER); certificate chains of real CAs are a few KiB. */
export const CERTIFICATE_FILE_BYTES_MAX = 64 * 1024;
