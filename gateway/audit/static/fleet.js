// The fleet page of the audit service: its pages in the shared shell (session check and login,
// routing, refresh loop), with the service's own problems and the fleet's problem count on the badge.
import { counted, h } from "./core.js";
import { startShell } from "./shell.js";
import * as devices from "./devices.js";
import * as device from "./device.js";

// This instance's own problems (a keys reload that failed: its devices look healthy while their
// alerts are checked with keys the operator thinks were replaced) come before the devices' count.
// An audit service older than /v1/status answers 404 there: it has none to show.
async function ownProblems(read) {
  try {
    return (await read("/v1/status")).problems || [];
  } catch (error) {
    if (error.status === 404) return [];
    throw error;
  }
}

async function health(read) {
  const [answer, own] = await Promise.all([read("/v1/fleet"), ownProblems(read)]);
  const count = answer.summary.with_problems;
  // JSON of another shape (a proxy's, another server's) is no health: a count that was missing read
  // as "fleet healthy", in red.
  if (!Number.isInteger(count)) throw new Error("the answer is not the fleet's summary");
  const devices = count ? `${counted(count, "device")} with problems` : "fleet healthy";
  return { text: own.length ? `audit service: ${own.join("; ")}; ${devices}` : devices, ok: count === 0 && !own.length };
}

startShell({
  pages: { devices, device },
  fallback: "devices",
  parents: { device: "devices" },
  health,
  loginText: ["This audit service asks for one of its API tokens (the lines of its ", h("code", { text: "http.tokens_file" }), ")."],
});
