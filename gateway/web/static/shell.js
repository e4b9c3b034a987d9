// The page shell shared by the gateway's console and the audit service's fleet page: the session
// check and the login form, hash routing between pages, the health badge, and the refresh loop that
// keeps a page's numbers live without reloading it.
import { api, errorText, h, onUnauthorized, session } from "./core.js";

const REFRESH_MS = 2000;

// A hash typed or pasted by hand may hold an escape that is not UTF-8 ("%E0%A4%A"): it is taken as
// written, so the page says what it cannot find rather than not changing at all.
function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// pages: name -> module with mount(view, parameter) returning { refresh, dispose };
// fallback: the page for an unknown hash; parents: page -> the nav entry it belongs to;
// health: async () => ({ text, ok }) for the badge; loginText: what the login form asks for.
export function startShell({ pages, fallback, parents = {}, health, loginText }) {
  const view = document.getElementById("view");
  let current = null;
  let timer = null;

  function route() {
    const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
    const page = pages[name] ? name : fallback;
    return { page, parameter: rest.length ? decoded(rest.join("/")) : null };
  }

  function stop() {
    clearTimeout(timer);
    if (current && current.dispose) current.dispose();
    current = null;
  }

  async function badge() {
    const element = document.getElementById("health");
    try {
      const state = await health();
      element.textContent = state ? state.text : "";
      element.className = `pill ${state && state.ok ? "ok" : "bad"}`;
    } catch (error) {
      element.textContent = error.status === 404 ? "" : "unreachable";
      element.className = "pill bad";
    }
  }

  async function show() {
    stop();
    if (session.required && !session.authenticated) return showLogin();
    const { page, parameter } = route();
    for (const link of document.querySelectorAll("nav a")) {
      const active = link.dataset.page === page || parents[page] === link.dataset.page;
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    view.replaceChildren();
    const mounted = pages[page].mount(view, parameter) || {};
    current = mounted;
    const tick = async () => {
      if (current !== mounted) return;
      try {
        await Promise.all([mounted.refresh ? mounted.refresh() : null, badge()]);
      } catch (error) {
        console.warn(error);
      }
      if (current === mounted) timer = setTimeout(tick, REFRESH_MS);
    };
    tick();
  }

  function showLogin() {
    stop();
    const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true });
    const message = h("p", { id: "login-error", class: "error", role: "alert" });
    const form = h("form", { id: "login-form" },
      h("label", { for: "token", text: "API token" }), input,
      h("button", { type: "submit", text: "Log in" }), message);
    view.replaceChildren(h("section", { class: "login card", "aria-labelledby": "login-title" },
      h("h1", { id: "login-title", text: "Log in" }), h("p", {}, ...loginText), form));
    input.focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
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
}
