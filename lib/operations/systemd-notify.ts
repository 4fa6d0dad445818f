// Tells systemd (Type=notify) that the daemon is ready, once readiness first passes. Node has no
// unix datagram sockets, so the message goes through systemd's own `systemd-notify`, which waits
// until systemd took it; the unit needs NotifyAccess=all because the sender is that child process.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { SYSTEMD_NOTIFY_MS_MAX } from '../limits.js';

/** Sends READY=1 (and a status line) when NOTIFY_SOCKET is set; does nothing otherwise. */
export function notifySystemdReady(log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env['NOTIFY_SOCKET']) return Promise.resolve();
  return new Promise((resolve) => {
    execFile(
      'systemd-notify',
      ['--ready', `--status=ready (pid ${process.pid})`],
      { env: { PATH: env['PATH'] ?? '/usr/bin:/bin', NOTIFY_SOCKET: env['NOTIFY_SOCKET'] }, timeout: SYSTEMD_NOTIFY_MS_MAX },
      (err, _stdout, stderr) => {
        // Not fatal: the daemon serves either way; systemd's start timeout reports the missed notification.
        if (err) log.error({ err: err.message, stderr: stderr.trim().slice(0, 200) }, 'systemd-notify --ready failed');
        else log.info({}, 'told systemd: ready');
        resolve();
      },
    );
  });
}
