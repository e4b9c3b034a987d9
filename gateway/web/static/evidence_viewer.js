// An alert's evidence image at its own size, in a modal dialog over the page, with the alert's box
// drawn over it: on the gateway's events page and on a device's page of the audit service. The
// thumbnail, 200 pixels wide, was the only view of it there, and the image opened alone carries no
// box: it is the frame as captured and signed.
import { h, s } from "./core.js";

// The alert's box (normalised corners), over an image the overlay is stretched to.
export function boxOverlay(box) {
  const overlay = s("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none", "aria-hidden": "true" });
  if (Array.isArray(box)) {
    const [x1, y1, x2, y2] = box;
    overlay.append(s("rect", { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1) }));
  }
  return overlay;
}

// One viewer for a page. `open(shown, opener)` shows `shown`: its image's `source` and `alt`, the
// `box`, a `title` and a `caption` (text, or nodes such as a device's own strings). The keyboard goes
// back to `opener` when it closes (Escape, Close, or a click beside it), or, when the page rebuilt it
// meanwhile, to the element that has the opener's `data-evidence` now.
export function evidenceViewer() {
  const image = h("img");
  const frame = h("div", { class: "evidence-frame" });
  const title = h("h2", { id: "evidence-title" });
  const caption = h("p", { class: "timeline" });
  const close = h("button", { type: "button", text: "Close" });
  const dialog = h("dialog", { class: "evidence", "aria-labelledby": "evidence-title" },
    h("div", { class: "evidence-head" }, title, close),
    frame,
    caption,
  );
  let opener = null;
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
  dialog.addEventListener("close", () => {
    image.removeAttribute("src");
    // The browser gives the keyboard back to the opener, unless the page rebuilt it meanwhile (an
    // event's end alert came): then to its new one, where it went to the top of the page.
    if (opener && !opener.isConnected) {
      document.querySelector(`[data-evidence="${CSS.escape(opener.dataset.evidence)}"]`)?.focus();
    }
    opener = null;
  });

  return {
    element: dialog,
    open(shown, from) {
      opener = from;
      title.replaceChildren(...[shown.title].flat());
      caption.replaceChildren(...[shown.caption].flat());
      image.alt = shown.alt;
      image.src = shown.source;
      frame.replaceChildren(image, boxOverlay(shown.box));
      if (!dialog.open) dialog.showModal();
      close.focus();
    },
  };
}
