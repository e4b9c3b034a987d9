// The editor's shapes as a list of buttons, one per zone, line and mask outline: pressing one selects its shape
// (again: none), so a keyboard reaches every shape, however small or covered on the picture.
//
// The list is one stop of Tab, on the shape chosen (else the first), and the arrow keys, Home and End
// go from shape to shape within it: with a stop per shape, a camera of 50 zones took 50 presses of
// Tab to pass the list, and as many of Shift+Tab from a shape chosen back to the picture, where the
// keys move it.
import { h } from "./core.js";

const STEPS = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };

function roam(event) {
  const buttons = [...event.currentTarget.querySelectorAll("button")];
  const at = buttons.indexOf(document.activeElement);
  if (at === -1) return;
  let next;
  if (event.key === "Home") next = 0;
  else if (event.key === "End") next = buttons.length - 1;
  else if (STEPS[event.key]) next = Math.min(buttons.length - 1, Math.max(0, at + STEPS[event.key]));
  else return;
  event.preventDefault();
  buttons[at].tabIndex = -1;
  buttons[next].tabIndex = 0;
  buttons[next].focus();
}

export function shapeList(editor) {
  const entries = [
    ...editor.zones.map((zone, index) => ["zone", index, `Zone ${zone.name}`]),
    ...editor.lines.map((line, index) => ["line", index, `Line ${line.name}`]),
    ...editor.masks.map((_, index) => ["mask", index, `Motion mask ${index + 1}`]),
  ];
  if (!entries.length) return h("p", { class: "muted", text: "No zones, lines or motion mask yet." });
  const isChosen = (kind, index) => Boolean(editor.selected && editor.selected.kind === kind && editor.selected.index === index);
  const anyChosen = entries.some(([kind, index]) => isChosen(kind, index));
  return h("ul", { class: "shape-list", onkeydown: roam }, entries.map(([kind, index, label], position) => {
    const chosen = isChosen(kind, index);
    return h("li", {}, h("button", {
      type: "button",
      "aria-pressed": chosen ? "true" : "false",
      "data-shape": `${kind}-${index}`,
      tabindex: chosen || (!anyChosen && position === 0) ? "0" : "-1",
      text: label,
      onclick: () => editor.select(kind, chosen ? null : index),
    }));
  }));
}
