// An alert's evidence image at its own size (a small one larger), in a modal dialog over the page,
// with the alert's box drawn over it: on the gateway's events page and on a device's page of the
// audit service. The thumbnail, 200 pixels wide, was the only view of it there, and the image
// opened alone carries no box: it is the frame as captured and signed.
import { h, s } from "./core.js";

// In place of the picture of a start or instant alert that has none: an alert v1 had no field for
// one, a v2 alert was committed so (`why`, in its tooltip).
export function withoutImage(alert, why) {
  const v1 = alert.schema === "edge-gateway.alert.v1";
  return h("span", { class: "placeholder", text: v1 ? "no evidence (alert v1)" : "committed without an image", title: v1 ? null : why });
}

// The alert's box (normalised corners), over an image the overlay is stretched to; or, given the
// `image` under it, over that image as it is fitted whole into the overlay's frame (a thumbnail's
// `object-fit: contain`: a 4:3 camera's picture stretched to the thumbnail's 16:9 showed its people
// wide), once the image has loaded and its shape is known.
//
// The box is the rectangle its two corners span, its part inside the frame: the alert contract names
// two corners, and neither the gateway's nor the audit's checks ask them in order, so a signed alert
// with x1 > x2 was drawn as no box at all. A coordinate far beyond the frame (1e300, an integer read
// exactly as a BigInt) is drawn at the frame's edge.
export function boxOverlay(box, image = null) {
  const overlay = s("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none", "aria-hidden": "true" });
  if (!Array.isArray(box)) return overlay;
  const inFrame = (value) => Math.min(1, Math.max(0, Number(value)));
  const [x1, x2] = [inFrame(box[0]), inFrame(box[2])].sort((a, b) => a - b);
  const [y1, y2] = [inFrame(box[1]), inFrame(box[3])].sort((a, b) => a - b);
  const rect = s("rect");
  const place = (width, height) => {
    rect.setAttribute("x", x1 * width);
    rect.setAttribute("y", y1 * height);
    rect.setAttribute("width", (x2 - x1) * width);
    rect.setAttribute("height", (y2 - y1) * height);
  };
  place(1, 1);
  overlay.append(rect);
  // Once: the dialog's image is one element, given a new source at each picture it shows.
  image?.addEventListener("load", () => {
    const { naturalWidth: width, naturalHeight: height } = image;
    if (!width || !height) return;
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    overlay.setAttribute("preserveAspectRatio", "xMidYMid meet");
    place(width, height);
  }, { once: true });
  return overlay;
}

// One viewer for a page. `open(shown, opener)` shows `shown`: its image's `source` and `alt`, the
// `box`, a `title` and a `caption` (text, or nodes such as a device's own strings). `within` holds
// the page's thumbnails (`button.larger[data-evidence]`) in the page's order: Previous and Next, or
// the left and right arrow keys, show the one before or after it (Frigate's review steps through its
// items so; opening each thumbnail in turn took a close and a scroll each). Past the last one, Next
// asks `pages.next` (optional: `what` it shows, such as "older events"; `can()`, whether the page can
// show more; `show()`, a promise that shows it, below or as the next page, and resolves to a
// failure's text or null), as the page's own Older button would, and goes on to the first picture
// it brought; before the first one, Previous asks `pages.previous` so (a page of newer alerts) and
// goes on to the last picture it brought. The keyboard goes back to the last one shown when it
// closes (Escape, Close, or a click beside it), or, when the page rebuilt it meanwhile, to the
// thumbnail that has its `data-evidence` now.
export function evidenceViewer(within, pages = {}) {
  const image = h("img");
  const frame = h("div", { class: "evidence-frame" });
  const title = h("h2", { id: "evidence-title" });
  const caption = h("p", { class: "timeline" });
  const close = h("button", { type: "button", text: "Close" });
  const previous = h("button", { type: "button", text: "← Previous" });
  const next = h("button", { type: "button", text: "Next →" });
  const position = h("span", { class: "muted" });
  const steps = h("div", { class: "evidence-steps" }, previous, position, next);
  const dialog = h("dialog", { class: "evidence", "aria-labelledby": "evidence-title" },
    h("div", { class: "evidence-head" }, title, close),
    steps,
    frame,
    caption,
  );
  let opener = null;
  let fetching = null; // the pages Previous or Next is waiting on to show
  let failure = ""; // why the last pages asked for brought nothing
  close.addEventListener("click", () => dialog.close());
  // A click on the backdrop lands on the dialog itself, as does one on its padding: only one outside
  // its box closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });
  dialog.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (step === undefined || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    showNeighbour(step);
  });
  previous.addEventListener("click", () => showNeighbour(-1));
  next.addEventListener("click", () => showNeighbour(1));
  image.addEventListener("error", () => {
    if (!image.getAttribute("src")) return;
    frame.replaceChildren(h("p", { class: "evidence-missing", text: "The image could not be loaded (pruned, or the service is unreachable)." }));
  });
  // The page refreshes its list while the picture is shown: where it stands in it is read again.
  const watcher = new MutationObserver(() => placed());
  dialog.addEventListener("close", () => {
    watcher.disconnect();
    image.removeAttribute("src");
    // The browser gives the keyboard back to the first thumbnail opened: it goes to the last one
    // shown instead, or, when the page rebuilt it meanwhile (an event's end alert came), to its new
    // one, where it went to the top of the page.
    current()?.focus();
    opener = null;
    failure = "";
  });

  // The page's thumbnails that can be opened now (one whose image is missing has no button shown).
  function thumbnails() {
    return within ? [...within.querySelectorAll("button.larger[data-evidence]")].filter((button) => button.getClientRects().length > 0) : [];
  }

  function current() {
    if (!opener) return null;
    if (opener.isConnected) return opener;
    return (within ?? document).querySelector(`button.larger[data-evidence="${CSS.escape(opener.dataset.evidence)}"]`);
  }

  function placed() {
    const all = thumbnails();
    const here = current();
    const index = here ? all.indexOf(here) : -1;
    const first = index === 0;
    const last = index >= 0 && index === all.length - 1;
    const before = first && Boolean(pages.previous?.can());
    const more = last && Boolean(pages.next?.can());
    // Kept enabled while they wait (a second press does nothing): a disabled button would drop the
    // keyboard to Close.
    previous.disabled = !fetching && (index < 0 || (first && !before));
    next.disabled = !fetching && (index < 0 || (last && !more));
    position.textContent = fetching ? `Loading ${fetching.what}…`
      : index < 0 ? ""
        : `${before ? `${pages.previous.what} before, ` : ""}${index + 1} of ${all.length}${more ? `, ${pages.next.what} next` : ""}${(first || last) && failure ? ` (${failure})` : ""}`;
    // While a step waits the row stays as it is, the keyboard on its button: the page may empty the
    // list before it shows the pictures asked for.
    steps.hidden = !fetching && (index < 0 || (all.length < 2 && !more && !before));
    if (!fetching && steps.contains(document.activeElement) && (steps.hidden || document.activeElement.disabled)) close.focus();
    return { all, index };
  }

  async function showNeighbour(step) {
    if (fetching) return;
    let { all, index } = placed();
    if (index < 0) return;
    const shown = current();
    const further = step > 0 ? pages.next : pages.previous;
    const atEdge = () => (step > 0 ? index === all.length - 1 : index === 0);
    // Past the last picture (or before the first): what the page shows further, read on while it
    // brings cards but no picture (older events may have none), and stopping where it brings nothing.
    while (atEdge() && further?.can()) {
      const cards = within.childElementCount;
      fetching = further;
      failure = "";
      placed();
      try {
        failure = (await further.show()) ?? "";
      } finally {
        fetching = null;
      }
      if (!dialog.open) return;
      // The page shown replaced the list (a device's page of older or newer alerts): its picture
      // nearest the one left, or, on a page with none, the page after it.
      if (current() === null) {
        const pictures = thumbnails();
        const nearest = step > 0 ? pictures[0] : pictures[pictures.length - 1];
        if (nearest) nearest.click();
        else if (!failure && further.can()) continue;
        else placed();
        return;
      }
      ({ all, index } = placed());
      // Moved to another picture meanwhile: the step was for that one.
      if (current() !== shown) return;
      if (failure || within.childElementCount <= cards) break;
    }
    all[index + step]?.click();
  }

  return {
    element: dialog,
    open(shown, from) {
      opener = from;
      title.replaceChildren(...[shown.title].flat());
      caption.replaceChildren(...[shown.caption].flat());
      image.alt = shown.alt;
      image.src = shown.source;
      frame.replaceChildren(image, boxOverlay(shown.box, image));
      if (!dialog.open) {
        dialog.showModal();
        close.focus();
        if (within) watcher.observe(within, { childList: true, subtree: true, attributes: true, attributeFilter: ["class", "hidden"] });
      }
      placed();
    },
  };
}
