// The bytes of request bodies being read, across one HTTP server's connections: past the budget the
// body holding the most is shed (its reader refuses it), so many large bodies sent slowly at once
// cannot grow memory, and a small request arriving beside them is still read.
interface BodyHold {
  /** More bytes of this body are held; may shed this body or another before it returns. */
  add(bytes: number): void;
  /** The body is read (or refused): its bytes leave the budget. Safe to call twice. */
  release(): void;
}

export interface BodyBudget {
  /** A body starts; `shed` is called at most once, if the budget refuses it. */
  hold(shed: () => void): BodyHold;
}

interface Held {
  bytes: number;
  shed: () => void;
}

export function createBodyBudget(bytesMax: number): BodyBudget {
  const bodies = new Set<Held>();
  let total = 0;
  const release = (body: Held): void => {
    if (!bodies.delete(body)) return;
    total -= body.bytes;
  };
  return {
    hold(shed) {
      const body: Held = { bytes: 0, shed };
      bodies.add(body);
      return {
        add(bytes) {
          if (!bodies.has(body)) return;
          body.bytes += bytes;
          total += bytes;
          while (total > bytesMax) {
            let largest: Held | undefined;
            for (const b of bodies) if (!largest || b.bytes > largest.bytes) largest = b;
            if (!largest) return;
            release(largest);
            largest.shed();
          }
        },
        release: () => release(body),
      };
    },
  };
}
