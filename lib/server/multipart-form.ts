// multipart/form-data uploads on busboy: only the fields a route declares, each at most once, text
// fields in memory and file fields streamed to files in the request's private directory; the body,
// each field and each part's headers bounded, busboy's limits and errors mapped to our codes.
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { DaemonError, isDaemonError } from '../errors.js';
import { bodyPiecesMax } from '../limits.js';

export type FormFieldSpec = { kind: 'text'; bytesMax: number } | { kind: 'file'; bytesMax: number; types: readonly string[] };

export interface UploadedForm {
  text: Map<string, string>;
  /** Each file field as `upload-<field>` in the request's directory, with the file name the client gave (busboy keeps only its last path element). */
  files: Map<string, { path: string; size: number; filename: string }>;
}

export interface MultipartLimits {
  bodyBytesMax: number;
  /** Headers of one part. */
  headerBytesMax: number;
  partsMax: number;
}

/** A form about to be read: its Content-Type was checked before any room was reserved for it. */
export interface MultipartUpload {
  /** Reads the whole body; BAD_REQUEST or PAYLOAD_TOO_LARGE past a rule or a bound. The body stays open (the reply must still go out). */
  read(body: Readable, dir: string): Promise<UploadedForm>;
}

/** BAD_REQUEST unless the request is multipart/form-data with a usable boundary. */
export function multipartUpload(headers: IncomingHttpHeaders, spec: Record<string, FormFieldSpec>, limits: MultipartLimits): MultipartUpload {
  const boundary = multipartBoundary(headers['content-type']);
  return { read: (body, dir) => readForm(body, headers, boundary, spec, dir, limits) };
}

function bad(message: string): DaemonError {
  return new DaemonError('BAD_REQUEST', message);
}

function multipartBoundary(contentType: string | undefined): string {
  const match = /^multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  if (!match) throw bad('expected a multipart/form-data body');
  const param = /(?:^|;)\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(?:;|$)/i.exec(match[1]!);
  const boundary = param?.[1] ?? param?.[2];
  // RFC 2046 §5.1.1's bchars, not ending in a space.
  if (!boundary || !/^[0-9A-Za-z'()+_,./:=? -]*[0-9A-Za-z'()+_,./:=?-]$/.test(boundary)) throw bad('multipart boundary missing or invalid');
  return boundary;
}

async function readForm(
  body: Readable,
  headers: IncomingHttpHeaders,
  boundary: string,
  spec: Record<string, FormFieldSpec>,
  dir: string,
  limits: MultipartLimits,
): Promise<UploadedForm> {
  const specs = Object.values(spec);
  const largest = (kind: FormFieldSpec['kind']) => Math.max(0, ...specs.filter((s) => s.kind === kind).map((s) => s.bytesMax));
  // One byte over the largest field of each kind: busboy's truncation then always means "too large" to us.
  const parser = busboy({
    headers,
    defCharset: 'utf8',
    limits: { fieldSize: largest('text') + 1, fileSize: largest('file') + 1, parts: limits.partsMax + 1 },
  });
  const form: UploadedForm = { text: new Map(), files: new Map() };
  const seen = new Set<string>();
  const writes: Array<Promise<void>> = [];
  // The first refusal, from a handler, a file write or busboy itself; it ends the read.
  const outcome: { failure: DaemonError | null } = { failure: null };
  let rejectFailed: (err: DaemonError) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => undefined);
  const fail = (err: unknown): void => {
    if (outcome.failure) return;
    outcome.failure = isDaemonError(err) ? err : bad(`malformed multipart body (${(err as Error).message})`);
    rejectFailed(outcome.failure);
  };
  const declared = (name: string | undefined): FormFieldSpec => {
    const field = name !== undefined && Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!field) throw bad(`unexpected form field ${JSON.stringify((name ?? '').slice(0, 40))}`);
    if (seen.has(name!)) throw bad(`form field ${name} given twice`);
    seen.add(name!);
    return field;
  };

  parser.on('field', (name, value, info) => {
    try {
      const field = declared(name);
      if (field.kind !== 'text') throw bad(`form field ${name} must be a file upload`);
      if (info.mimeType !== 'text/plain') throw bad(`form field ${name} must be text`);
      if (info.valueTruncated || Buffer.byteLength(value) > field.bytesMax)
        throw new DaemonError('PAYLOAD_TOO_LARGE', `form field ${name} larger than ${field.bytesMax} bytes`);
      // busboy decodes UTF-8 leniently; a replacement character means the bytes were not UTF-8.
      if (value.includes('\uFFFD')) throw bad(`form field ${name} is not UTF-8 text`);
      form.text.set(name, value);
    } catch (err) {
      fail(err);
    }
  });
  parser.on('file', (name, stream, info) => {
    // A refused part's stream is left half read, and parser.destroy() below then destroys it with an
    // error: with no listener that error would be uncaught and end the process. The refusal itself
    // goes through fail(); a part being written reports through its pipeline.
    stream.on('error', () => undefined);
    try {
      const field = declared(name);
      if (field.kind !== 'file') throw bad(`form field ${name} must be a plain value, not a file`);
      const filename = info.filename;
      if (filename === undefined) throw bad(`form field ${name} must be a file upload`);
      if (!field.types.includes(info.mimeType)) throw bad(`form field ${name} must have content type ${field.types.join(' or ')}`);
      const file = path.join(dir, `upload-${name}`);
      const counted = sizeBound(name, field.bytesMax);
      stream.once('limit', () => fail(new DaemonError('PAYLOAD_TOO_LARGE', `form field ${name} larger than ${field.bytesMax} bytes`)));
      writes.push(
        pipeline(stream, counted, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 })).then(
          () => void form.files.set(name, { path: file, size: counted.bytes, filename }),
          fail,
        ),
      );
    } catch (err) {
      stream.resume();
      fail(err);
    }
  });
  parser.on('partsLimit', () => fail(bad(`more than ${limits.partsMax} form parts`)));
  parser.on('error', fail);
  const finished = new Promise<void>((resolve) => parser.once('finish', resolve));

  const guard = partHeaderGuard(boundary, limits);
  const piecesMax = bodyPiecesMax(limits.bodyBytesMax);
  let total = 0;
  let pieces = 0;
  let done = false;
  try {
    // destroyOnReturn false: on a refusal the request must stay open so the reply can still be sent.
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limits.bodyBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${limits.bodyBytesMax} bytes`);
      // Each piece is a parser turn and, in a file, a write of its own: a body sent a byte at a time
      // took hundreds of times its size in memory.
      if (++pieces > piecesMax) throw bad(`body sent in more than ${piecesMax} pieces (chunks of a few bytes); send it in larger ones`);
      guard(chunk);
      if (outcome.failure) throw outcome.failure;
      if (!parser.write(chunk)) await Promise.race([new Promise((resolve) => parser.once('drain', resolve)), failed]);
    }
    if (outcome.failure) throw outcome.failure;
    parser.end();
    await Promise.race([finished, failed]);
    await Promise.race([Promise.all(writes), failed]);
    done = true;
    return form;
  } catch (err) {
    // The client hung up (or the request deadline cut the upload): not a fault of ours.
    if (!isDaemonError(err) && (err as NodeJS.ErrnoException).code === 'ECONNRESET') throw bad('upload aborted by the client');
    throw err;
  } finally {
    // A refused form leaves half-written files: closed here, removed with the request's directory.
    if (!done) parser.destroy();
    await Promise.allSettled(writes);
  }
}

/** A pass-through that counts a file field's bytes and refuses it past its bound. */
function sizeBound(name: string, bytesMax: number): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      counter.bytes += chunk.length;
      if (counter.bytes > bytesMax) done(new DaemonError('PAYLOAD_TOO_LARGE', `form field ${name} larger than ${bytesMax} bytes`));
      else done(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * The part-header rules busboy does not keep: it silently skips a part without a form-data
 * Content-Disposition, reads `filename*` (which RFC 7578 §4.2 forbids senders to use) in place of
 * `filename`, ignores a Content-Transfer-Encoding (§4.7), and allows 16 KiB of headers per part. This watches the same delimiters busboy cuts
 * at and refuses such parts, over-long part headers and too many parts, before busboy reads them.
 * It only ever refuses; what a part holds is busboy's to read.
 */
function partHeaderGuard(boundary: string, limits: MultipartLimits): (chunk: Buffer) => void {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // busboy reads the body as if a CRLF came first, so the first delimiter looks like every other one.
  let pending: Buffer = Buffer.from(CRLF);
  let inHeaders = false;
  let closed = false;
  let parts = 0;
  return (chunk) => {
    if (closed) return;
    let buf: Buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    pending = Buffer.alloc(0);
    for (;;) {
      if (inHeaders) {
        // `buf` starts with the CRLF after the delimiter, so a part without headers is found too.
        const end = buf.indexOf(HEADER_END);
        if ((end === -1 ? buf.length : end) > limits.headerBytesMax) throw bad('multipart part headers too long');
        if (end === -1) return void (pending = buf);
        if (++parts > limits.partsMax) throw bad(`more than ${limits.partsMax} form parts`);
        checkPartHeaders(buf.toString('latin1', CRLF.length, end));
        buf = buf.subarray(end + HEADER_END.length);
        inHeaders = false;
        continue;
      }
      const at = buf.indexOf(delimiter);
      if (at === -1) return void (pending = buf.subarray(Math.max(0, buf.length - delimiter.length + 1)));
      const after = buf.subarray(at + delimiter.length);
      if (after.length < 2) return void (pending = buf.subarray(at));
      if (after[0] === 0x2d && after[1] === 0x2d) return void (closed = true);
      // Anything but CRLF after a delimiter is busboy's to refuse; here it is not the start of a part.
      inHeaders = after[0] === 0x0d && after[1] === 0x0a;
      buf = after;
    }
  };
}

function checkPartHeaders(text: string): void {
  const dispositions = text
    .split('\r\n')
    .filter((line) => /^content-disposition\s*:/i.test(line))
    .map((line) => line.slice(line.indexOf(':') + 1).trim());
  if (dispositions.length !== 1 || !/^form-data\s*(;|$)/i.test(dispositions[0]!)) throw bad('multipart part without one Content-Disposition: form-data');
  if (/;\s*filename\*\s*=/i.test(dispositions[0]!)) throw bad('multipart part with a filename* parameter (RFC 7578 §4.2)');
  // RFC 7578 §4.7: senders must not use a Content-Transfer-Encoding. Parts are read as sent, so a
  // base64 or quoted-printable part would be signed in its encoded form; only identity names pass.
  for (const line of text.split('\r\n')) {
    const m = /^content-transfer-encoding\s*:(.*)$/i.exec(line);
    if (m && !/^\s*(7bit|8bit|binary)\s*$/i.test(m[1]!))
      throw bad('multipart part with a Content-Transfer-Encoding (RFC 7578 §4.7): send the bytes as they are');
  }
}
