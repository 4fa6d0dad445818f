// How many of a listener's connections one client's channels may hold: half of them, so that one
// client (a runaway build farm, a stolen certificate) can never take every place from the others.
import { DaemonError } from '../errors.js';

function channelsPerClientMax(connectionsMax: number): number {
  return Math.max(1, Math.floor(connectionsMax / 2));
}

/** The refusal for a client already holding its share, or null. `open` counts its channels open now. */
export function overShare(name: string, open: number, connectionsMax: number): DaemonError | null {
  const max = channelsPerClientMax(connectionsMax);
  return open >= max ? new DaemonError('BUSY', `client ${name} has ${open} channels open (at most ${max}, half of --connections-max); close some`) : null;
}
