/** A clock that only moves when the code under test sleeps: timestamps differ per attempt, and no test waits. */
export function fakeTime(startMs = Date.UTC(2025, 9, 25, 14, 30, 45)) {
  const time = { now: startMs, delays: [] as number[] };
  return {
    time,
    clock: () => time.now,
    sleep: async (ms: number) => {
      time.delays.push(ms);
      time.now += ms;
    },
  };
}
