// Whether a process still runs, for files named after the process that made them (the log's
// temporary files, HTTP upload directories): what a dead process left may be removed, a live one's not.

export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
