// A minimal line-protocol client for tests: send lines on one connection, collect reply lines.
import net from 'node:net';

/**
 * Sends the lines in one write, as `printf 'a\nb\n' | nc -N` does, half-closes, and resolves with
 * every reply line once the server closes. (One write: a one-shot daemon closes once the lines it
 * has are answered and no more bytes are on their way; lines written one by one, with the client
 * descheduled in between, may arrive after that.)
 */
export function exchange(port: number, lines: Array<string | Buffer>, host = '127.0.0.1'): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let data = '';
    socket.on('connect', () => {
      socket.end(Buffer.concat(lines.map((line) => (typeof line === 'string' ? Buffer.from(line + '\n') : line))));
    });
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(data.split('\n').filter((l, i, all) => l.length > 0 || i < all.length - 1)));
  });
}

/** One request, one reply line. */
export async function request(port: number, line: string | Buffer): Promise<string> {
  const replies = await exchange(port, [line]);
  return replies[0] ?? '';
}
