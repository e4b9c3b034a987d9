// The console: its pages in the shared shell (session check and login, routing, refresh loop),
// with the gateway's health on the badge.
import { counted, h } from "./core.js";
import { startShell } from "./shell.js";
import * as cameras from "./cameras.js";
import * as camera from "./camera.js";
import * as events from "./events.js";
import * as models from "./models.js";
import * as system from "./system.js";

async function health(read) {
  const status = await read("/v1/status");
  // JSON of another shape (a proxy's, another server's) is no health: a "healthy" that was not a
  // boolean read as healthy, in green.
  if (typeof status.healthy !== "boolean" || !Array.isArray(status.problems)) throw new Error("the answer is not the gateway's status");
  return { text: status.healthy ? "healthy" : counted(status.problems.length, "problem"), ok: status.healthy };
}

startShell({
  pages: { cameras, camera, events, models, system },
  fallback: "cameras",
  parents: { camera: "cameras" },
  health,
  loginText: ["This gateway asks for one of its API tokens (the lines of ", h("code", { text: "http.tokens_file" }), ")."],
});
