// The seam between the HTTP server and a daemon's service: what a request and a reply are, what an
// upload route takes, and what a service must answer. Services own their routes and body shapes;
// lib/server/serve-http.ts owns the connections and requests.
import type { FormFieldSpec, UploadedForm } from './multipart-form.js';
import type { RequestContext } from './request-runner.js';
import type { DaemonError } from '../errors.js';
import type http from 'node:http';

/** A request as a service sees it before its body is read. */
export interface HttpRequestHead {
  method: string;
  /** Decoded path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export interface HttpRequest extends HttpRequestHead {
  body: Buffer;
}

export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** A file (in the upload's directory) streamed as the body instead. */
  file?: string;
}

/** An upload route: the form it takes (each field bounded) and its work once the form is in and a job slot is free. */
export interface UploadRoute {
  fields: Record<string, FormFieldSpec>;
  run(form: UploadedForm, ctx: UploadContext): Promise<HttpReply>;
  /**
   * Told once how the request ended, with the outcome its record has (also a refusal before run(): a
   * full queue, a malformed or oversized form; or the deadline's 504 while run() goes on).
   */
  answered?(outcome: string): void;
}

export interface UploadContext extends RequestContext {
  /** The request's private directory (the form's files are in it); removed once the reply is sent. */
  readonly dir: string;
}

export interface HttpService {
  /** A request whose body was read whole (at most httpBodyBytesMax). */
  handle(req: HttpRequest, ctx: RequestContext): Promise<HttpReply>;
  formatError(err: DaemonError): HttpReply;
  /**
   * Services that take uploads: the route for a request head, or null to read its body whole and
   * call handle(). Called before any body byte is read; a throw refuses the request there.
   */
  upload?(head: HttpRequestHead): UploadRoute | null;
}
