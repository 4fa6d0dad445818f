// A minimal line-protocol client for tests: send lines on one connection, collect reply lines.
import net from 'node:net';

/** Sends each line, half-closes, and resolves with every reply line once the server closes. */
export function exchange(port: number, lines: Array<string | Buffer>, host = '127.0.0.1'): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let data = '';
    socket.on('connect', () => {
      for (const line of lines) socket.write(typeof line === 'string' ? line + '\n' : line);
      socket.end();
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
