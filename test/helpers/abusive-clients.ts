// Abusive clients for the line daemons' abuse tests (issue #10 §2): tricklers that send one byte at a
// time, floods of tiny request lines from connections that never read, and a probe that times one
// normal request while they run. Every socket is tracked so a test can end them all.
import fs from 'node:fs';
import net from 'node:net';
import { sleep } from './polling.js';

export interface ClientGang {
  readonly sockets: net.Socket[];
  /** Sockets the server has closed (or reset) so far. */
  readonly closed: number;
  /** Reply lines each socket received (tricklers read theirs; flooders never read). */
  readonly replies: number[];
  /** The last complete reply line any socket received. */
  readonly lastReply: string;
  destroy(): void;
}

function gang(): ClientGang & { track(socket: net.Socket): void } {
  const sockets: net.Socket[] = [];
  const replies: number[] = [];
  let closed = 0;
  let lastReply = '';
  return {
    sockets,
    replies,
    get closed() {
      return closed;
    },
    get lastReply() {
      return lastReply;
    },
    track(socket) {
      const index = sockets.push(socket) - 1;
      replies[index] = 0;
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n')) {
          replies[index]!++;
          lastReply = text.slice(0, nl);
          text = text.slice(nl + 1);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => closed++);
    },
    destroy() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** `count` connections that each send one byte every `everyMs`, never a newline. */
export function tricklers(port: number, count: number, everyMs: number): ClientGang {
  const g = gang();
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    g.track(socket);
    socket.on('connect', () => {
      const timer = setInterval(() => {
        if (!socket.destroyed && socket.writable) socket.write('a');
      }, everyMs);
      socket.on('close', () => clearInterval(timer));
      socket.write('a');
    });
  }
  return g;
}

/**
 * `count` connections that write `bytes` of request lines (each `line` + LF) as fast as the server
 * takes them, and never read a reply.
 */
export function flooders(port: number, count: number, bytes: number, line = ''): ClientGang {
  const g = gang();
  const unit = Buffer.from(line + '\n');
  const block = Buffer.alloc(Math.max(unit.length, Math.floor(bytes / unit.length) * unit.length));
  for (let i = 0; i < block.length; i += unit.length) unit.copy(block, i);
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    g.track(socket);
    socket.on('connect', () => socket.write(block));
    socket.pause();
  }
  return g;
}

/** flooders() opened in waves of `wave` connections `everyMs` apart, as a flood builds up in practice. */
export async function floodersInWaves(port: number, count: number, bytes: number, wave = 100, everyMs = 100): Promise<ClientGang[]> {
  const gangs: ClientGang[] = [];
  for (let opened = 0; opened < count; opened += wave) {
    gangs.push(flooders(port, Math.min(wave, count - opened), bytes));
    await sleep(everyMs);
  }
  return gangs;
}

/** Waits until every socket has connected (or failed). */
export async function connected(g: ClientGang): Promise<void> {
  await Promise.all(
    g.sockets.map((s) => (s.connecting ? new Promise<void>((resolve) => s.once('connect', resolve).once('error', () => resolve())) : undefined)),
  );
}

/** Sends one request line and resolves with the reply line and how long it took (ms); rejects after timeoutMs. */
export function timedRequest(port: number, line: string, timeoutMs = 5_000): Promise<{ reply: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(line + '\n'));
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const nl = got.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: got.slice(0, nl), ms: performance.now() - started });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Connections waiting in the kernel's accept queue of a loopback listener (Linux: a LISTEN socket's
 * rx_queue in /proc/net/tcp is its accept backlog). Node accepts one connection per event-loop
 * turn, so a burst of connections waits there; a test of the daemon's fairness starts once it is empty.
 */
export function acceptQueueLength(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  return 0;
}
