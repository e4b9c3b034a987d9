// The console's shell: session check and login, hash routing between pages, and the refresh loop
// that keeps every page's numbers live without reloading it.
import { api, errorText, h, onUnauthorized, session } from "./core.js";
import * as cameras from "./cameras.js";
import * as camera from "./camera.js";
import * as events from "./events.js";
import * as models from "./models.js";
import * as system from "./system.js";

const REFRESH_MS = 2000;
const PAGES = { cameras, camera, events, models, system };
const view = document.getElementById("view");
let current = null;
let timer = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ? name : "cameras";
  return { page, parameter: rest.length ? decodeURIComponent(rest.join("/")) : null };
}

async function show() {
  stop();
  if (session.required && !session.authenticated) return showLogin();
  const { page, parameter } = route();
  for (const link of document.querySelectorAll("nav a")) {
    const active = link.dataset.page === page || (page === "camera" && link.dataset.page === "cameras");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren();
  const mounted = PAGES[page].mount(view, parameter) || {};
  current = mounted;
  const tick = async () => {
    if (current !== mounted) return;
    try {
      await Promise.all([mounted.refresh ? mounted.refresh() : null, health()]);
    } catch (error) {
      console.warn(error);
    }
    if (current === mounted) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
}

function stop() {
  clearTimeout(timer);
  if (current && current.dispose) current.dispose();
  current = null;
}

async function health() {
  const badge = document.getElementById("health");
  try {
    const status = await api("/v1/status");
    badge.textContent = status.healthy ? "healthy" : `${status.problems.length} problem(s)`;
    badge.className = `pill ${status.healthy ? "ok" : "bad"}`;
  } catch (error) {
    badge.textContent = error.status === 404 ? "" : "unreachable";
    badge.className = "pill bad";
  }
}

function showLogin() {
  stop();
  view.replaceChildren(document.getElementById("login-template").content.cloneNode(true));
  const form = document.getElementById("login-form");
  const input = document.getElementById("token");
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("login-error");
    message.textContent = "";
    try {
      const answer = await api("/v1/session", { method: "POST", body: { token: input.value } });
      session.authenticated = true;
      session.csrf = answer.csrf_token;
      input.value = "";
      document.getElementById("logout").hidden = false;
      show();
    } catch (error) {
      message.textContent = error.status === 401 ? "Wrong token." : errorText(error);
      input.select();
    }
  });
}

async function start() {
  try {
    const state = await api("/v1/session");
    session.required = state.auth_required;
    session.authenticated = state.authenticated;
    session.csrf = state.csrf_token;
  } catch (error) {
    view.replaceChildren(h("p", { class: "error", text: errorText(error) }));
    return;
  }
  const logout = document.getElementById("logout");
  logout.hidden = !(session.required && session.authenticated);
  logout.addEventListener("click", async () => {
    try {
      await api("/v1/session", { method: "DELETE" });
    } finally {
      session.authenticated = false;
      session.csrf = null;
      logout.hidden = true;
      showLogin();
    }
  });
  onUnauthorized(() => {
    if (!session.required) return;
    session.authenticated = false;
    session.csrf = null;
    logout.hidden = true;
    showLogin();
  });
  window.addEventListener("hashchange", () => {
    show();
    view.focus();
  });
  show();
}

start();
