// The fleet page of the audit service: its pages in the shared shell (session check and login,
// routing, refresh loop), with the fleet's problem count on the badge.
import { api, h } from "./core.js";
import { startShell } from "./shell.js";
import * as devices from "./devices.js";
import * as device from "./device.js";

async function health() {
  const answer = await api("/v1/fleet");
  const count = answer.summary.with_problems;
  return { text: count ? `${count} device(s) with problems` : "fleet healthy", ok: count === 0 };
}

startShell({
  pages: { devices, device },
  fallback: "devices",
  parents: { device: "devices" },
  health,
  loginText: ["This audit service asks for one of its API tokens (the lines of its ", h("code", { text: "http.tokens_file" }), ")."],
});
