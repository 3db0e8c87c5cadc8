/**
 * A process that does nothing but wake every millisecond, and prints each wake-up that came
 * STALL_MS or more late: `<epoch ms> <late by ms>` a line. Beside a latency benchmark it says when
 * the machine itself kept an idle process from running (the host descheduling the VM's CPUs, or
 * every core busy), which a proxy's tail cannot be told apart from. Runs until SIGTERM.
 */
const STALL_MS = 4;
const origin = performance.timeOrigin;
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 1;
  if (late >= STALL_MS) process.stdout.write(`${(origin + last).toFixed(1)} ${late.toFixed(1)}\n`);
  last = now;
}, 1);
process.stdout.write("ready\n");
