// Shares the event loop between a server's connections: each loop turn runs at most `requestsMax`
// queued-up (bulk) requests, handed out round robin in quanta, so a turn stays short and accepting,
// reading and a newcomer's request never wait behind a whole flood's worth of work.

export interface TurnBudget {
  /** Takes one request's place in this turn; false when the turn's budget is spent. */
  take(): boolean;
  /** Runs `resume` in a later turn, after the connections already waiting (round robin). */
  defer(resume: () => void): void;
  readonly waiting: number;
}

export function createTurnBudget(requestsMax: number): TurnBudget {
  let used = 0;
  let scheduled = false;
  // A queue of waiting connections: an array with a moving head, compacted when it is drained.
  let queue: Array<() => void> = [];
  let head = 0;

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(turn);
  }

  function turn(): void {
    scheduled = false;
    used = 0;
    // Those not reached this turn stay at the front for the next; those that ran and still have
    // work have queued themselves again at the back.
    while (head < queue.length && used < requestsMax) queue[head++]!();
    if (head === queue.length) {
      queue = [];
      head = 0;
    }
    if (head < queue.length) schedule();
  }

  return {
    take() {
      if (used >= requestsMax) return false;
      used++;
      schedule();
      return true;
    },
    defer(resume) {
      queue.push(resume);
      schedule();
    },
    get waiting() {
      return queue.length - head;
    },
  };
}
