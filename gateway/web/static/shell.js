// The page shell shared by the gateway's console and the audit service's fleet page: the session
// check and the login form, hash routing between pages, the health badge, and the refresh loop that
// keeps a page's numbers live without reloading it.
import { api, ApiError, errorText, h, onUnauthorized, session } from "./core.js";

const REFRESH_MS = 2000;

// A read of the health that got no answer (no server, no network: the fetch itself failed), told
// apart from an answer the app's health function could not read: an empty or non-JSON body (a
// proxy's own page, say) made it throw a TypeError, as a failed fetch does, and the badge said
// "unreachable" of a server that had answered.
class NoAnswer extends Error {}

async function readHealth(path) {
  try {
    return await api(path);
  } catch (error) {
    throw error instanceof ApiError ? error : new NoAnswer(error.message);
  }
}

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
// health: async (read) => ({ text, ok }) for the badge, reading with `read(path)` (the API client's
// GET, its failures told apart for the badge); loginText: what the login form asks for.
export function startShell({ pages, fallback, parents = {}, health, loginText }) {
  const view = document.getElementById("view");
  const appTitle = document.title;
  let current = null;
  let timer = null;

  function route() {
    const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
    // Only the pages' own names: "constructor" or "__proto__" found the object's inherited
    // properties, and the page stayed blank with a script error instead of showing the fallback.
    const page = Object.hasOwn(pages, name) ? name : fallback;
    return { page, parameter: rest.length ? decoded(rest.join("/")) : null };
  }

  function stop() {
    clearTimeout(timer);
    if (current && current.dispose) current.dispose();
    current = null;
  }

  // While the login form is shown the pages' links are hidden: every one of them showed the form
  // again, offering pages a visitor could not see.
  function showLinks(shown) {
    for (const nav of document.querySelectorAll("header nav")) nav.hidden = !shown;
  }

  // An app with no health to show (a gateway without the camera pipeline answers 404 for its
  // status) shows no badge: it showed an empty red one, which said "unhealthy" in colour alone.
  // Text and colour are set only when they change, so a screen reader is not told the same again.
  function setBadge(text, className) {
    const element = document.getElementById("health");
    element.hidden = !text;
    if (element.textContent !== text) element.textContent = text;
    const wanted = text && className ? `pill ${className}` : "pill";
    if (element.className !== wanted) element.className = wanted;
  }

  async function badge() {
    try {
      const state = await health(readHealth);
      if (session.required && !session.authenticated) setBadge("", ""); // logged out meanwhile
      else setBadge(state ? state.text : "", state && state.ok ? "ok" : "bad");
    } catch (error) {
      // 401: logged out, the login form is shown, and health is not this visitor's to know.
      if (error.status === 404 || error.status === 401) setBadge("", "");
      else if (error instanceof NoAnswer) setBadge("unreachable", "bad");
      // A server error (5xx) is the server saying it is failing: red, as no answer at all. A request
      // refused for the client's own reason (429, its rate limit) says nothing of the server's
      // health, and was red while the server was healthy; nor does an answer that is not a health
      // (no status: what the health function threw reading it). Unknown, in no colour, as the pages
      // show a state they do not know.
      else setBadge("health unknown", error.status >= 500 ? "bad" : "");
    }
  }

  async function show() {
    stop();
    if (session.required && !session.authenticated) return showLogin();
    const { page, parameter } = route();
    showLinks(true);
    for (const link of document.querySelectorAll("nav a")) {
      const active = link.dataset.page === page || parents[page] === link.dataset.page;
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    view.replaceChildren();
    const mounted = pages[page].mount(view, parameter) || {};
    current = mounted;
    // The window's title names the page shown, as its heading does: every page was titled alike in
    // the browser's tabs and history, and a screen reader announcing a page change said nothing new.
    const heading = view.querySelector("h1");
    document.title = heading && heading.textContent ? `${heading.textContent} · ${appTitle}` : appTitle;
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
    setBadge("", "");
    showLinks(false);
    const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true });
    const message = h("p", { id: "login-error", class: "error", role: "alert" });
    const form = h("form", { id: "login-form" },
      h("label", { for: "token", text: "API token" }), input,
      h("button", { type: "submit", text: "Log in" }), message);
    document.title = `Log in · ${appTitle}`;
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
        // The form, and the focus in it, are gone: the focus goes to the page shown, as after a
        // page change (it fell to the document's body, Tab starting again from the skip link).
        view.focus();
      } catch (error) {
        message.textContent = error.status === 401 ? "Wrong token." : errorText(error);
        input.select();
      }
    });
  }

  async function start() {
    setBadge("", ""); // no health is known before the first answer: no empty pill meanwhile
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
    // The skip link's "#view" is a route to the hash router: it showed the first page instead of
    // skipping to the content of the page shown.
    for (const skip of document.querySelectorAll("a.skip")) {
      skip.addEventListener("click", (event) => {
        event.preventDefault();
        view.focus();
      });
    }
    window.addEventListener("hashchange", () => {
      show();
      view.focus();
    });
    show();
  }

  start();
}
