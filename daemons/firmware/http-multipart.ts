// A small, strict multipart/form-data reader for the firmware HTTP front end: only the fields a
// route declares, each at most once, text fields kept in memory and file fields streamed to files
// in the request's private directory, every part and the whole body bounded.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DaemonError } from '../../lib/errors.js';
import { MULTIPART_PREAMBLE_BYTES_MAX } from '../../lib/limits.js';
import { writeChunk } from './tar-writer.js';

export type FieldSpec = { kind: 'text'; bytesMax: number } | { kind: 'file'; bytesMax: number; types: readonly string[] };

interface UploadedFile {
  path: string;
  size: number;
}

export interface Form {
  text: Map<string, string>;
  files: Map<string, UploadedFile>;
}

export interface MultipartLimits {
  bodyBytesMax: number;
  headerBytesMax: number;
  partsMax: number;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

function bad(message: string): DaemonError {
  return new DaemonError('BAD_REQUEST', message);
}

/** The boundary from a Content-Type header, or BAD_REQUEST when the body is not multipart/form-data. */
export function multipartBoundary(contentType: string | undefined): string {
  const match = /^multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  if (!match) throw bad('expected a multipart/form-data body');
  const param = /(?:^|;)\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(?:;|$)/i.exec(match[1]!);
  const boundary = param?.[1] ?? param?.[2];
  if (!boundary || !/^[0-9A-Za-z'()+_,./:=? -]*[0-9A-Za-z'()+_,./:=?-]$/.test(boundary)) throw bad('multipart boundary missing or invalid');
  return boundary;
}

type State = 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'epilogue';

interface Parse {
  state: State;
  buf: Buffer;
  preamble: number;
  parts: number;
  readonly delimiter: Buffer;
  readonly writer: PartWriter;
  readonly limits: MultipartLimits;
}

/** Reads the whole form; file fields land in `dir` as `upload-<field>`. Throws BAD_REQUEST / PAYLOAD_TOO_LARGE. */
export async function readMultipart(body: Readable, boundary: string, spec: Record<string, FieldSpec>, dir: string, limits: MultipartLimits): Promise<Form> {
  const form: Form = { text: new Map(), files: new Map() };
  const writer = new PartWriter(form, spec, dir);
  // A virtual CRLF before the body makes the first delimiter look like every other one.
  const parse: Parse = { state: 'preamble', buf: Buffer.from(CRLF), preamble: 0, parts: 0, delimiter: Buffer.from(`\r\n--${boundary}`), writer, limits };
  let total = 0;
  try {
    // destroyOnReturn false: on a refusal the request must stay open so the reply can still be sent.
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limits.bodyBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${limits.bodyBytesMax} bytes`);
      parse.buf = parse.buf.length === 0 ? chunk : Buffer.concat([parse.buf, chunk]);
      while (await step(parse));
    }
    if (parse.state !== 'epilogue') throw bad('multipart body ended early');
    return form;
  } catch (err) {
    // The client hung up or the request deadline cut the upload: not a fault of ours.
    if (!(err instanceof DaemonError) && (err as NodeJS.ErrnoException).code === 'ECONNRESET') throw bad('upload aborted by the client');
    throw err;
  } finally {
    await writer.abort();
  }
}

/** Consumes what it can of `p.buf`; false when it needs more bytes. */
async function step(p: Parse): Promise<boolean> {
  if (p.state === 'preamble' || p.state === 'body') {
    const at = p.buf.indexOf(p.delimiter);
    // Without a delimiter, keep the tail that could be the start of one.
    const usable = at === -1 ? Math.max(0, p.buf.length - p.delimiter.length + 1) : at;
    if (p.state === 'body') await p.writer.data(p.buf.subarray(0, usable));
    else if ((p.preamble += usable) > MULTIPART_PREAMBLE_BYTES_MAX) throw bad('multipart preamble too long');
    if (at === -1) {
      p.buf = p.buf.subarray(usable);
      return false;
    }
    if (p.state === 'body') await p.writer.finish();
    p.buf = p.buf.subarray(at + p.delimiter.length);
    p.state = 'after-delimiter';
    return true;
  }
  if (p.state === 'after-delimiter') {
    if (p.buf.length < 2) return false;
    const tail = p.buf.toString('latin1', 0, 2);
    if (tail === '--') p.state = 'epilogue';
    else if (tail === '\r\n') p.state = 'headers';
    else throw bad('malformed multipart delimiter');
    p.buf = p.buf.subarray(2);
    return true;
  }
  if (p.state === 'headers') {
    const end = p.buf.indexOf(HEADER_END);
    if ((end === -1 ? p.buf.length : end) > p.limits.headerBytesMax) throw bad('multipart part headers too long');
    if (end === -1) return false;
    if (++p.parts > p.limits.partsMax) throw bad(`more than ${p.limits.partsMax} form parts`);
    await p.writer.start(p.buf.toString('latin1', 0, end));
    p.buf = p.buf.subarray(end + HEADER_END.length);
    p.state = 'body';
    return true;
  }
  // Epilogue: ignored (the body limit still bounds it).
  p.buf = Buffer.alloc(0);
  return false;
}

/** Receives one part at a time and routes its bytes to memory or to a file. */
class PartWriter {
  private current: { name: string; spec: FieldSpec; size: number; chunks: Buffer[]; file?: fs.WriteStream; path?: string } | null = null;

  constructor(
    private readonly form: Form,
    private readonly spec: Record<string, FieldSpec>,
    private readonly dir: string,
  ) {}

  async start(headerText: string): Promise<void> {
    const headers = parsePartHeaders(headerText);
    const disposition = parseDisposition(headers.get('content-disposition'));
    const { name, filename } = disposition;
    const spec = Object.hasOwn(this.spec, name) ? this.spec[name] : undefined;
    if (!spec) throw bad(`unexpected form field ${JSON.stringify(name.slice(0, 40))}`);
    if (this.form.text.has(name) || this.form.files.has(name)) throw bad(`form field ${name} given twice`);
    const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (spec.kind === 'text') {
      if (filename !== undefined) throw bad(`form field ${name} must be a plain value, not a file`);
      if (type !== '' && type !== 'text/plain') throw bad(`form field ${name} must be text`);
      this.current = { name, spec, size: 0, chunks: [] };
      return;
    }
    if (filename === undefined) throw bad(`form field ${name} must be a file upload`);
    if (!spec.types.includes(type)) throw bad(`form field ${name} must have content type ${spec.types.join(' or ')}`);
    const file = path.join(this.dir, `upload-${name}`);
    this.current = { name, spec, size: 0, chunks: [], path: file, file: fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }) };
  }

  async data(chunk: Buffer): Promise<void> {
    const part = this.current;
    if (!part || chunk.length === 0) return;
    part.size += chunk.length;
    if (part.size > part.spec.bytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `form field ${part.name} larger than ${part.spec.bytesMax} bytes`);
    if (part.file) await writeChunk(part.file, chunk);
    else part.chunks.push(Buffer.from(chunk));
  }

  async finish(): Promise<void> {
    const part = this.current;
    this.current = null;
    if (!part) return;
    if (part.file) {
      await closeStream(part.file);
      this.form.files.set(part.name, { path: part.path!, size: part.size });
      return;
    }
    const bytes = Buffer.concat(part.chunks);
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    try {
      this.form.text.set(part.name, text.decode(bytes));
    } catch {
      throw bad(`form field ${part.name} is not UTF-8 text`);
    }
  }

  /** Closes a half-written file on failure; the request directory removal deletes it. */
  async abort(): Promise<void> {
    const part = this.current;
    this.current = null;
    if (part?.file) await closeStream(part.file).catch(() => undefined);
  }
}

function closeStream(stream: fs.WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}

function parsePartHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad('malformed multipart part header');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (headers.has(name)) throw bad(`duplicate part header ${name}`);
    headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

/** `form-data; name="x"; filename="y"`, with quoted-string escapes; `filename*` is refused. */
function parseDisposition(value: string | undefined): { name: string; filename?: string } {
  const match = /^form-data\s*(;.*)?$/i.exec(value ?? '');
  if (!match) throw bad('multipart part without Content-Disposition: form-data');
  const params = new Map<string, string>();
  const re = /;\s*([A-Za-z*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]+))\s*/gy;
  const rest = match[1] ?? '';
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(rest)) !== null) {
    const key = m[1]!.toLowerCase();
    if (params.has(key) || key.endsWith('*')) throw bad('malformed Content-Disposition');
    params.set(key, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    consumed = re.lastIndex;
  }
  if (consumed !== rest.length) throw bad('malformed Content-Disposition');
  const name = params.get('name');
  if (!name) throw bad('multipart part without a field name');
  const filename = params.get('filename');
  return filename === undefined ? { name } : { name, filename };
}
